// Several processes using one cluster at once, as nginx workers, a Java
// service and pkcs11-tool would: keys generated concurrently by two
// processes end on every member, once each, and each process finds the
// other's keys.
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "integration/cluster_fixture.h"
#include "integration/crypto_helpers.h"
#include "support/member_host.h"

using namespace p11c::test;

namespace {

// In a child process: loads the module afresh, logs in, generates `count`
// EC key pairs with ids "<prefix>-<n>". Exit status 0 when all worked.
// `ready` is written once this process has initialised, `go` read before
// it generates: the processes start one after the other (SoftHSM, loaded
// in-process, can miss a token while another process initialises it) and
// then generate at the same time.
int generateInChild(const std::string& prefix, int count, int ready, int go) {
    Module module(clusterModulePath());
    CK_FUNCTION_LIST* p11 = module.fn();
    char byte = 1;
    CK_RV initialized = p11->C_Initialize(nullptr);
    if (::write(ready, &byte, 1) != 1) return 14;  // the parent goes on either way
    if (initialized != CKR_OK) return 10;
    if (::read(go, &byte, 1) != 1) return 14;
    CK_SLOT_ID slot;
    CK_ULONG n = 1;
    if (p11->C_GetSlotList(CK_TRUE, &slot, &n) != CKR_OK || n != 1) return 11;
    CK_SESSION_HANDLE s;
    if (p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s) !=
        CKR_OK)
        return 12;
    CK_RV rv = p11->C_Login(s, CKU_USER, pin(kUserPin), pinLen(kUserPin));
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) return 13;
    for (int i = 0; i < count; ++i) {
        generateEcPair(p11, s, prefix + "-" + std::to_string(i), &rv);
        if (rv != CKR_OK) return 20;
    }
    p11->C_Finalize(nullptr);
    return 0;
}

}  // namespace

TEST_CASE("two processes generating keys at once: every key on every member, once",
          "[replication][processes]") {
    // The members are served by their own processes, as in a deployment
    // where several applications share them (SoftHSM loaded into each
    // application would have every process write the same token files).
    ClusterFixture f;
    MemberHosts hosts(f.env);
    f.env.writeConfig("label = \"test-cluster\"\n", hosts.memberTables());
    REQUIRE(f.env.initTransportKey() == 0);
    constexpr int kKeys = 15;
    int ready[2], go[2];
    REQUIRE(::pipe(ready) == 0);
    REQUIRE(::pipe(go) == 0);
    pid_t children[2];
    char byte = 0;
    for (int c = 0; c < 2; ++c) {
        children[c] = ::fork();
        REQUIRE(children[c] >= 0);
        if (children[c] == 0)
            ::_exit(generateInChild("proc" + std::to_string(c), kKeys, ready[1], go[0]));
        pollfd p{ready[0], POLLIN, 0};  // initialised (or failed): start the next one
        REQUIRE(::poll(&p, 1, 30000) == 1);
        REQUIRE(::read(ready[0], &byte, 1) == 1);
    }
    REQUIRE(::write(go[1], "gg", 2) == 2);  // both generate at once
    for (pid_t child : children) {
        int status = 0;
        REQUIRE(::waitpid(child, &status, 0) == child);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    // This process finds the others' keys: each id once as a private and
    // once as a public key.
    f.start();
    for (int c = 0; c < 2; ++c)
        for (int i = 0; i < kKeys; ++i) {
            std::string id = "proc" + std::to_string(c) + "-" + std::to_string(i);
            CK_ATTRIBUTE templ{CKA_ID, id.data(), id.size()};
            INFO(id);
            CHECK(findObjects(f.p11(), f.session, {templ}).size() == 2);
        }
    f.finalize();
    std::string report;
    CHECK(f.env.verify(&report) == 0);
    INFO(report);
    // And directly on each member token: 2 x 15 pairs, no duplicates.
    DirectMembers direct(f.env);
    CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY;
    for (unsigned m = 0; m < 3; ++m) {
        INFO("member " << m);
        CHECK(findObjects(direct.module.fn(), direct.sessions[m],
                          {CK_ATTRIBUTE{CKA_CLASS, &priv, sizeof priv}})
                  .size() == 2 * kKeys);
    }
}

namespace {

// In a child process: how many objects labelled `label` it finds through
// the cluster (exit status; 100 + the C_* step that failed otherwise).
int countInChild(const std::string& label, int go) {
    char byte;
    if (::read(go, &byte, 1) != 1) return 114;
    Module module(clusterModulePath());
    CK_FUNCTION_LIST* p11 = module.fn();
    if (p11->C_Initialize(nullptr) != CKR_OK) return 110;
    CK_SLOT_ID slot;
    CK_ULONG n = 1;
    if (p11->C_GetSlotList(CK_TRUE, &slot, &n) != CKR_OK || n != 1) return 111;
    CK_SESSION_HANDLE s;
    if (p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s) !=
        CKR_OK)
        return 112;
    CK_RV rv = p11->C_Login(s, CKU_USER, pin(kUserPin), pinLen(kUserPin));
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) return 113;
    CK_ATTRIBUTE templ{CKA_LABEL, const_cast<char*>(label.data()), label.size()};
    size_t found = findObjects(p11, s, {templ}).size();
    p11->C_Finalize(nullptr);
    return static_cast<int>(found);
}

}  // namespace

TEST_CASE("another process does not find this process's session objects through member hosts",
          "[processes]") {
    ClusterFixture f;
    MemberHosts hosts(f.env);
    f.env.writeConfig("label = \"test-cluster\"\n", hosts.memberTables());
    REQUIRE(f.env.initTransportKey() == 0);
    int go[2];
    REQUIRE(::pipe(go) == 0);
    pid_t children[2];
    for (int c = 0; c < 2; ++c) {
        children[c] = ::fork();
        REQUIRE(children[c] >= 0);
        if (children[c] == 0) ::_exit(countInChild(c == 0 ? "only-mine" : "everyone's", go[0]));
    }
    f.start();
    CK_OBJECT_CLASS data = CKO_DATA;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    std::string mine = "only-mine", shared = "everyone's";
    CK_ATTRIBUTE session[] = {{CKA_CLASS, &data, sizeof data},
                              {CKA_TOKEN, &no, 1},
                              {CKA_LABEL, mine.data(), mine.size()}};
    CK_ATTRIBUTE token[] = {{CKA_CLASS, &data, sizeof data},
                            {CKA_TOKEN, &yes, 1},
                            {CKA_LABEL, shared.data(), shared.size()}};
    CK_OBJECT_HANDLE h;
    REQUIRE_OK(f.p11()->C_CreateObject(f.session, session, 3, &h));
    REQUIRE_OK(f.p11()->C_CreateObject(f.session, token, 3, &h));
    CK_ATTRIBUTE byLabel{CKA_LABEL, mine.data(), mine.size()};
    CHECK(findObjects(f.p11(), f.session, {byLabel}).size() == 1);  // this process sees it
    REQUIRE(::write(go[1], "gg", 2) == 2);
    int status[2];
    for (int c = 0; c < 2; ++c) REQUIRE(::waitpid(children[c], &status[c], 0) == children[c]);
    CHECK(WEXITSTATUS(status[0]) == 0);  // the other process: not its session object
    CHECK(WEXITSTATUS(status[1]) == 1);  // ... but the token object, yes
}

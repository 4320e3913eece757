// Members in their own processes (`p11cluster serve`): the cluster works
// over them exactly as over loaded modules, and goes on serving while
// member processes are killed, frozen and restarted for real.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "integration/cluster_fixture.h"
#include "integration/crypto_helpers.h"
#include "support/member_host.h"

using namespace p11c::test;

namespace {

CK_BBOOL yes = CK_TRUE;
const CK_BYTE kP256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

struct RemoteCluster : ClusterFixture {
    explicit RemoteCluster(unsigned members = 3, const std::string& cluster = "")
        : ClusterFixture(members), hosts(env), statusDir(env.dir() + "/status") {
        ::mkdir(statusDir.c_str(), 0700);
        env.writeConfig("label = \"remote\"\nstatus_dir = \"" + statusDir + "\"\n" + cluster,
                        hosts.memberTables());
        REQUIRE(env.initTransportKey() == 0);
    }

    // This process's view of a member's health, as the module publishes it.
    std::string health(const std::string& member) const {
        return publishedHealth(statusDir, "remote", member);
    }
    bool healthWithin(const std::string& member, const std::string& wanted,
                      std::chrono::seconds limit) const {
        return waitForHealth(statusDir, "remote", member, wanted, static_cast<int>(limit.count()));
    }

    MemberHosts hosts;
    std::string statusDir;
};

KeyPair generateEc(ClusterFixture& f, const std::string& id) {
    CK_RV rv;
    KeyPair p = generateEcPair(f.p11(), f.session, id, &rv);
    REQUIRE_OK(rv);
    return p;
}

CK_RV signAndVerify(ClusterFixture& f, const KeyPair& key) {
    return ecdsaSignAndVerify(f.p11(), f.session, key);
}

// How many view records (the caller's view of a key, lib/core/views.h) a
// member token holds, read directly with SoftHSM.
size_t viewRecords(DirectMembers& direct, unsigned m) {
    CK_OBJECT_CLASS data = CKO_DATA;
    const std::string prefix = "p11cluster view ";
    size_t n = 0;
    for (CK_OBJECT_HANDLE h :
         findObjects(direct.p11(), direct.sessions[m], {{CKA_CLASS, &data, sizeof data}})) {
        auto label = attribute(direct.p11(), direct.sessions[m], h, CKA_LABEL);
        n += std::string(label.begin(), label.end()).rfind(prefix, 0) == 0;
    }
    return n;
}

// Polls until every member holds `wanted` view records, or `seconds` pass.
bool viewRecordsWithin(const SoftHsmEnv& env, size_t wanted, int seconds) {
    for (int i = 0; i < seconds * 5; ++i) {
        DirectMembers direct(env);
        bool all = true;
        for (unsigned m = 0; m < env.members(); ++m) all = all && viewRecords(direct, m) == wanted;
        if (all) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return false;
}

}  // namespace

TEST_CASE("remote members: a length query answers whatever length the caller left in place",
          "[remote]") {
    RemoteCluster f;
    f.start();
    KeyPair key = generateEc(f, "remote-query");
    Bytes digest = sha256(bytesOf("length query"));
    CK_MECHANISM ecdsa{CKM_ECDSA, nullptr, 0};
    REQUIRE_OK(f.p11()->C_SignInit(f.session, &ecdsa, key.privateKey));
    CK_ULONG size = ~CK_ULONG{0};  // not set by the caller (GnuTLS's certtool)
    REQUIRE_OK(f.p11()->C_Sign(f.session, digest.data(), digest.size(), nullptr, &size));
    CHECK(size == 64);
    Bytes sig(size);
    REQUIRE_OK(f.p11()->C_Sign(f.session, digest.data(), digest.size(), sig.data(), &size));
    CHECK(size == 64);
}

TEST_CASE("remote members: keys are generated, replicated and used over member hosts", "[remote]") {
    RemoteCluster f;
    f.start();
    KeyPair key = generateEc(f, "remote-ec");
    for (int i = 0; i < 6; ++i) CHECK_RV(signAndVerify(f, key), CKR_OK);

    // AES-GCM and RSA-OAEP carry parameters with pointers in them.
    CK_MECHANISM aesGen{CKM_AES_KEY_GEN, nullptr, 0};
    CK_ULONG len = 32;
    CK_ATTRIBUTE aesTemplate[] = {{CKA_TOKEN, &yes, 1},
                                  {CKA_VALUE_LEN, &len, sizeof len},
                                  {CKA_ENCRYPT, &yes, 1},
                                  {CKA_DECRYPT, &yes, 1}};
    CK_OBJECT_HANDLE aes;
    REQUIRE_OK(f.p11()->C_GenerateKey(f.session, &aesGen, aesTemplate, 4, &aes));
    Bytes iv = randomBytes(12), aad = bytesOf("header"), plain = bytesOf("secret message");
    CK_GCM_PARAMS gcm{iv.data(), iv.size(), 96, aad.data(), aad.size(), 128};
    CK_MECHANISM mech{CKM_AES_GCM, &gcm, sizeof gcm};
    CK_BYTE cipher[64], back[64];
    CK_ULONG cipherLen = sizeof cipher, backLen = sizeof back;
    REQUIRE_OK(f.p11()->C_EncryptInit(f.session, &mech, aes));
    REQUIRE_OK(f.p11()->C_Encrypt(f.session, plain.data(), plain.size(), cipher, &cipherLen));
    CHECK(cipherLen == plain.size() + 16);
    // Every member decrypts what one of them encrypted (round-robin moves on).
    for (int i = 0; i < 3; ++i) {
        backLen = sizeof back;
        REQUIRE_OK(f.p11()->C_DecryptInit(f.session, &mech, aes));
        REQUIRE_OK(f.p11()->C_Decrypt(f.session, cipher, cipherLen, back, &backLen));
        CHECK(Bytes(back, back + backLen) == plain);
    }
    // A wrong AAD is the caller's result, not a member fault.
    Bytes otherAad = bytesOf("other");
    CK_GCM_PARAMS wrong{iv.data(), iv.size(), 96, otherAad.data(), otherAad.size(), 128};
    CK_MECHANISM wrongMech{CKM_AES_GCM, &wrong, sizeof wrong};
    REQUIRE_OK(f.p11()->C_DecryptInit(f.session, &wrongMech, aes));
    backLen = sizeof back;
    CHECK(f.p11()->C_Decrypt(f.session, cipher, cipherLen, back, &backLen) != CKR_OK);

    // ECDH: CK_ECDH1_DERIVE_PARAMS points at the peer's public point.
    KeyPair peer = generateEc(f, "remote-peer");
    Bytes point = attribute(f.p11(), f.session, peer.publicKey, CKA_EC_POINT);
    REQUIRE(point.size() == 67);  // DER OCTET STRING around 04 || X || Y
    CK_ECDH1_DERIVE_PARAMS ecdh{CKD_NULL, 0, nullptr, 65, point.data() + 2};
    CK_MECHANISM derive{CKM_ECDH1_DERIVE, &ecdh, sizeof ecdh};
    CK_OBJECT_CLASS secretClass = CKO_SECRET_KEY;
    CK_KEY_TYPE generic = CKK_GENERIC_SECRET;
    CK_ULONG secretLen = 32;
    CK_BBOOL no = CK_FALSE;
    CK_ATTRIBUTE derived[] = {{CKA_CLASS, &secretClass, sizeof secretClass},
                              {CKA_KEY_TYPE, &generic, sizeof generic},
                              {CKA_VALUE_LEN, &secretLen, sizeof secretLen},
                              {CKA_TOKEN, &no, 1},
                              {CKA_SENSITIVE, &no, 1},
                              {CKA_EXTRACTABLE, &yes, 1}};
    CK_OBJECT_HANDLE secret;
    REQUIRE_OK(f.p11()->C_DeriveKey(f.session, &derive, key.privateKey, derived, 6, &secret));
    CHECK(attribute(f.p11(), f.session, secret, CKA_VALUE).size() == 32);

    f.finalize();
    std::string report;
    CHECK(f.env.verify(&report) == 0);
    INFO(report);
}

TEST_CASE("remote members: a killed member process is routed around without errors",
          "[remote][failover]") {
    RemoteCluster f;
    f.start();
    KeyPair key = generateEc(f, "kill-me");
    for (int i = 0; i < 3; ++i) REQUIRE_RV(signAndVerify(f, key), CKR_OK);

    f.hosts[1].kill();
    int errors = 0;
    for (int i = 0; i < 30; ++i) errors += signAndVerify(f, key) != CKR_OK;
    CHECK(errors == 0);

    f.hosts[0].kill();
    for (int i = 0; i < 30; ++i) errors += signAndVerify(f, key) != CKR_OK;
    CHECK(errors == 0);  // one member holding the key is enough

    // With every member gone the caller gets a clean device error.
    f.hosts[2].kill();
    CHECK_RV(signAndVerify(f, key), CKR_DEVICE_ERROR);
}

TEST_CASE("remote members: a frozen member costs one deadline, then is routed around",
          "[remote][failover]") {
    RemoteCluster f(3, "call_timeout_ms = 400\n");
    f.start();
    KeyPair key = generateEc(f, "frozen");
    for (int i = 0; i < 3; ++i) REQUIRE_RV(signAndVerify(f, key), CKR_OK);

    f.hosts[0].freeze();
    using Clock = std::chrono::steady_clock;
    std::vector<double> ms;
    int errors = 0;
    for (int i = 0; i < 20; ++i) {
        auto t0 = Clock::now();
        errors += signAndVerify(f, key) != CKR_OK;
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    f.hosts[0].thaw();
    CHECK(errors == 0);
    int slow = 0;
    for (double m : ms) {
        CHECK(m < 400 + 1500);  // one deadline at most, plus the work
        slow += m >= 400;
    }
    CHECK(slow <= 1);  // the frozen member costs one caller one deadline, once
}

TEST_CASE("remote members: a member host that restarts is not used with stale sessions",
          "[remote][failover]") {
    RemoteCluster f;
    f.start();
    KeyPair key = generateEc(f, "restart");
    for (int i = 0; i < 3; ++i) REQUIRE_RV(signAndVerify(f, key), CKR_OK);
    f.hosts[2].restart();
    int errors = 0;
    for (int i = 0; i < 20; ++i) errors += signAndVerify(f, key) != CKR_OK;
    CHECK(errors == 0);
    // The restarted host's log shows no session from the old process was used.
    f.finalize();
    CHECK(f.env.verify() == 0);
}

TEST_CASE("remote members: a host refuses a socket path in use and a missing module", "[remote]") {
    SoftHsmEnv env(1);
    MemberHost host(env, "busy");
    std::string second = std::string(toolPath()) + " serve --module " + softhsmPath() +
                         " --socket " + env.dir() + "/busy.sock 2>" + env.dir() + "/err.txt";
    CHECK(std::system(second.c_str()) != 0);
    std::string missing = std::string(toolPath()) + " serve --module /nonexistent.so --socket " +
                          env.dir() + "/x.sock 2>" + env.dir() + "/err2.txt";
    CHECK(std::system(missing.c_str()) != 0);
}

namespace {

// Finds token objects with CKA_ID `id` through the cluster.
size_t countById(ClusterFixture& f, const std::string& id) {
    CK_ATTRIBUTE templ[] = {{CKA_ID, const_cast<char*>(id.data()), id.size()}};
    return findObjects(f.p11(), f.session, {templ[0]}).size();
}

}  // namespace

TEST_CASE("remote members: a returning member is repaired before it serves again",
          "[remote][repair]") {
    RemoteCluster f(3, "write_quorum = \"majority\"\n");
    f.start();
    KeyPair kept = generateEc(f, "kept");
    KeyPair doomed = generateEc(f, "doomed");
    f.hosts[2].kill();
    // While c is away: a new key (c misses it) and a destroy (c misses it).
    KeyPair fresh = generateEc(f, "fresh");
    REQUIRE_OK(f.p11()->C_DestroyObject(f.session, doomed.privateKey));
    REQUIRE_OK(f.p11()->C_DestroyObject(f.session, doomed.publicKey));
    CHECK(countById(f, "doomed") == 0);

    f.hosts[2].start();
    REQUIRE(f.env.verifiesWithin(20));
    // The caller's views follow their keys: the kept and the fresh pair's
    // on every member, none left of the destroyed pair's.
    CHECK(viewRecordsWithin(f.env, 4, 10));
    // c serves again, in sync: with a and b gone, c alone serves every key.
    f.hosts[0].kill();
    f.hosts[1].kill();
    int errors = 0;
    CK_RV last = CKR_OK;
    for (int i = 0; i < 10; ++i)
        for (const KeyPair* key : {&kept, &fresh})
            if (CK_RV rv = signAndVerify(f, *key); rv != CKR_OK) ++errors, last = rv;
    CHECK(errors == 0);
    CHECK_RV(last, CKR_OK);
    CHECK(countById(f, "doomed") == 0);
}

TEST_CASE("remote members: a key destroyed while a member was away stays gone in a new process",
          "[remote][repair]") {
    RemoteCluster f(3, "write_quorum = \"majority\"\n");
    f.start();
    KeyPair doomed = generateEc(f, "doomed");
    f.hosts[1].kill();
    REQUIRE_OK(f.p11()->C_DestroyObject(f.session, doomed.privateKey));
    REQUIRE_OK(f.p11()->C_DestroyObject(f.session, doomed.publicKey));
    f.finalize();

    // b comes back still holding the key; a new process (a new C_Initialize)
    // meets it before any repair did.
    f.hosts[1].start();
    f.start();
    CHECK(countById(f, "doomed") == 0);
    f.finalize();
    std::string report;
    CHECK(f.env.verify(&report) == 0);
    INFO(report);
    DirectMembers direct(f.env);
    for (unsigned i = 0; i < 3; ++i) {
        CK_ATTRIBUTE templ{CKA_ID, const_cast<char*>("doomed"), 6};
        INFO("member " << i);
        CHECK(findObjects(direct.module.fn(), direct.sessions[i], {templ}).empty());
    }
}

TEST_CASE("remote members: quorum 2 of 3 writes with one member down, fails cleanly with two",
          "[remote][quorum]") {
    RemoteCluster f(3, "write_quorum = 2\n");
    f.start();
    f.hosts[2].kill();
    KeyPair one = generateEc(f, "with-one-down");
    CHECK_RV(signAndVerify(f, one), CKR_OK);

    f.hosts[1].kill();
    CK_MECHANISM mech{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
    std::string id = "with-two-down";
    CK_ATTRIBUTE pub[] = {{CKA_TOKEN, &yes, 1},
                          {CKA_EC_PARAMS, const_cast<CK_BYTE*>(kP256), sizeof kP256},
                          {CKA_ID, id.data(), id.size()}};
    CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &yes, 1},
                           {CKA_PRIVATE, &yes, 1},
                           {CKA_SIGN, &yes, 1},
                           {CKA_ID, id.data(), id.size()}};
    CK_OBJECT_HANDLE h1 = 0, h2 = 0;
    CHECK_RV(f.p11()->C_GenerateKeyPair(f.session, &mech, pub, 3, priv, 4, &h1, &h2),
             CKR_DEVICE_ERROR);
    CK_BYTE value[] = {1, 2, 3};
    CK_OBJECT_CLASS data = CKO_DATA;
    CK_ATTRIBUTE object[] = {{CKA_CLASS, &data, sizeof data},
                             {CKA_TOKEN, &yes, 1},
                             {CKA_LABEL, id.data(), id.size()},
                             {CKA_VALUE, value, 3}};
    CHECK_RV(f.p11()->C_CreateObject(f.session, object, 4, &h1), CKR_DEVICE_ERROR);
    // Nothing half-written: the surviving member holds nothing of either.
    CK_ATTRIBUTE byId{CKA_ID, id.data(), id.size()}, byLabel{CKA_LABEL, id.data(), id.size()};
    CHECK(findObjects(f.p11(), f.session, {byId}).empty());
    CHECK(findObjects(f.p11(), f.session, {byLabel}).empty());
    f.finalize();
    DirectMembers direct(f.env);
    CHECK(findObjects(direct.module.fn(), direct.sessions[0], {byId}).empty());
    CHECK(findObjects(direct.module.fn(), direct.sessions[0], {byLabel}).empty());
}

TEST_CASE("remote members: a frozen member that thaws serves again", "[remote][repair]") {
    RemoteCluster f(3, "call_timeout_ms = 300\n");
    f.start();
    KeyPair key = generateEc(f, "thaw");
    f.hosts[0].freeze();
    int errors = 0;
    for (int i = 0; i < 6; ++i) errors += signAndVerify(f, key) != CKR_OK;
    REQUIRE(f.healthWithin("a", "down", std::chrono::seconds(20)));
    f.hosts[0].thaw();
    // The prober brings a back (its status says so), then a alone serves.
    REQUIRE(f.healthWithin("a", "up", std::chrono::seconds(20)));
    f.hosts[1].kill();
    f.hosts[2].kill();
    CK_RV last = CKR_OK;
    for (int i = 0; i < 6; ++i)
        if (CK_RV rv = signAndVerify(f, key); rv != CKR_OK) ++errors, last = rv;
    CHECK(errors == 0);
    CHECK_RV(last, CKR_OK);
}

TEST_CASE("remote members: the cluster starts with a member host down and takes it in later",
          "[remote][repair]") {
    RemoteCluster f(3, "write_quorum = \"majority\"\n");
    f.hosts[1].kill();
    f.start();  // C_Initialize and login succeed with b unreachable
    KeyPair key = generateEc(f, "late");
    for (int i = 0; i < 4; ++i) CHECK_RV(signAndVerify(f, key), CKR_OK);
    f.hosts[1].start();
    REQUIRE(f.env.verifiesWithin(20));
    // b was located, logged in and repaired: it alone serves the key now.
    f.hosts[0].kill();
    f.hosts[2].kill();
    int errors = 0;
    for (int i = 0; i < 4; ++i) errors += signAndVerify(f, key) != CKR_OK;
    CHECK(errors == 0);
}

TEST_CASE("remote members: with no member reachable C_Initialize fails and says why", "[remote]") {
    RemoteCluster f;
    for (unsigned i = 0; i < 3; ++i) f.hosts[i].kill();
    std::string err = captureStderr([&] { CHECK(f.p11()->C_Initialize(nullptr) != CKR_OK); });
    CHECK(err.find("no member can be reached") != std::string::npos);
}

TEST_CASE("remote members: p11cluster status shows members and this process's view",
          "[remote][status]") {
    RemoteCluster f;
    f.start();
    KeyPair key = generateEc(f, "status");
    f.hosts[1].kill();
    for (int i = 0; i < 4; ++i) CHECK_RV(signAndVerify(f, key), CKR_OK);
    REQUIRE(f.healthWithin("b", "down", std::chrono::seconds(20)));

    std::string out = f.env.dir() + "/status.json";
    std::string command = std::string(toolPath()) + " status --json --config " +
                          f.env.configPath() + " > " + out + " 2>/dev/null";
    int rc = std::system(command.c_str());
    CHECK(WEXITSTATUS(rc) == 1);  // a member is unreachable
    std::ifstream in(out);
    std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    INFO(json);
    CHECK(json.find("\"reachable\" : false") != std::string::npos);
    CHECK(json.find("\"pid\" : " + std::to_string(::getpid())) != std::string::npos);
    CHECK(json.find("\"health\" : \"down\"") != std::string::npos);
    CHECK(json.find("\"health\" : \"up\"") != std::string::npos);

    f.hosts[1].start();
    REQUIRE(f.healthWithin("b", "up", std::chrono::seconds(20)));
    command = std::string(toolPath()) + " status --config " + f.env.configPath() + " > " + out;
    CHECK(std::system(command.c_str()) == 0);
    std::ifstream human(out);
    std::string text((std::istreambuf_iterator<char>(human)), std::istreambuf_iterator<char>());
    INFO(text);
    CHECK(text.find("process " + std::to_string(::getpid())) != std::string::npos);
    CHECK(text.find("NO") == std::string::npos);

    // The same figures as Prometheus text: b failed over once and came back
    // repaired once; calls were timed.
    command = std::string(toolPath()) + " status --prometheus --config " + f.env.configPath() +
              " > " + out;
    CHECK(std::system(command.c_str()) == 0);
    std::ifstream prom(out);
    std::string metrics((std::istreambuf_iterator<char>(prom)), std::istreambuf_iterator<char>());
    INFO(metrics);
    const std::string b = "{cluster=\"remote\",member=\"b\",zone=\"\",role=\"active\",pid=\"" +
                          std::to_string(::getpid()) + "\"}";
    CHECK(metrics.find("# TYPE p11cluster_member_call_duration_seconds histogram") !=
          std::string::npos);
    CHECK(metrics.find("p11cluster_member_up" + b + " 1") != std::string::npos);
    CHECK(metrics.find("p11cluster_member_failovers_total" + b + " 1") != std::string::npos);
    CHECK(metrics.find("p11cluster_member_repairs_total" + b + " 1") != std::string::npos);
    CHECK(metrics.find("p11cluster_member_reachable{cluster=\"remote\",member=\"b\"") !=
          std::string::npos);
    auto count = metrics.find("p11cluster_member_call_duration_seconds_count" + b + " ");
    REQUIRE(count != std::string::npos);
    CHECK(std::stol(metrics.substr(
              count + std::string("p11cluster_member_call_duration_seconds_count").size() +
              b.size() + 1)) > 0);
}

namespace {

KeyPair generateRsa(ClusterFixture& f, const std::string& id) {
    CK_RV rv;
    KeyPair p = generateRsaPair(f.p11(), f.session, id, &rv);
    REQUIRE_OK(rv);
    return p;
}

CK_SESSION_HANDLE openSession(ClusterFixture& f) {
    CK_SESSION_HANDLE s;
    REQUIRE_OK(f.p11()->C_OpenSession(f.slot(), CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr,
                                      nullptr, &s));
    return s;
}

}  // namespace

TEST_CASE("remote members: multi-part operations interrupted half-way finish on another member",
          "[remote][failover]") {
    RemoteCluster f(2);
    f.start();
    KeyPair key = generateRsa(f, "multipart");
    CK_MECHANISM aesGen{CKM_AES_KEY_GEN, nullptr, 0};
    CK_ULONG len = 32;
    CK_ATTRIBUTE aesTemplate[] = {{CKA_TOKEN, &yes, 1},
                                  {CKA_VALUE_LEN, &len, sizeof len},
                                  {CKA_ENCRYPT, &yes, 1},
                                  {CKA_DECRYPT, &yes, 1}};
    CK_OBJECT_HANDLE aes;
    REQUIRE_OK(f.p11()->C_GenerateKey(f.session, &aesGen, aesTemplate, 4, &aes));

    // Four signatures and four encryptions in flight, spread over both members.
    Bytes part1 = bytesOf(std::string(100, 'x')), part2 = bytesOf(std::string(50, 'y'));
    Bytes whole = part1;
    whole.insert(whole.end(), part2.begin(), part2.end());
    CK_MECHANISM rsaSha256{CKM_SHA256_RSA_PKCS, nullptr, 0};
    Bytes iv(16, 7);
    CK_MECHANISM cbc{CKM_AES_CBC_PAD, iv.data(), iv.size()};
    std::vector<CK_SESSION_HANDLE> signers, encrypters;
    std::vector<Bytes> cipher(4);
    for (int i = 0; i < 4; ++i) {
        signers.push_back(openSession(f));
        REQUIRE_OK(f.p11()->C_SignInit(signers.back(), &rsaSha256, key.privateKey));
        REQUIRE_OK(f.p11()->C_SignUpdate(signers.back(), part1.data(), part1.size()));
        encrypters.push_back(openSession(f));
        REQUIRE_OK(f.p11()->C_EncryptInit(encrypters.back(), &cbc, aes));
        CK_BYTE out[256];
        CK_ULONG outLen = sizeof out;
        REQUIRE_OK(
            f.p11()->C_EncryptUpdate(encrypters.back(), part1.data(), part1.size(), out, &outLen));
        cipher[i].assign(out, out + outLen);
    }
    f.hosts[0].kill();
    for (int i = 0; i < 4; ++i) {
        INFO("operation " << i);
        REQUIRE_OK(f.p11()->C_SignUpdate(signers[i], part2.data(), part2.size()));
        CK_BYTE sig[512];
        CK_ULONG sigLen = sizeof sig;
        REQUIRE_OK(f.p11()->C_SignFinal(signers[i], sig, &sigLen));
        REQUIRE_OK(f.p11()->C_VerifyInit(f.session, &rsaSha256, key.publicKey));
        CHECK_RV(f.p11()->C_Verify(f.session, whole.data(), whole.size(), sig, sigLen), CKR_OK);

        CK_BYTE out[256];
        CK_ULONG outLen = sizeof out;
        REQUIRE_OK(
            f.p11()->C_EncryptUpdate(encrypters[i], part2.data(), part2.size(), out, &outLen));
        cipher[i].insert(cipher[i].end(), out, out + outLen);
        outLen = sizeof out;
        REQUIRE_OK(f.p11()->C_EncryptFinal(encrypters[i], out, &outLen));
        cipher[i].insert(cipher[i].end(), out, out + outLen);
        REQUIRE_OK(f.p11()->C_DecryptInit(f.session, &cbc, aes));
        CK_BYTE plain[256];
        CK_ULONG plainLen = sizeof plain;
        REQUIRE_OK(
            f.p11()->C_Decrypt(f.session, cipher[i].data(), cipher[i].size(), plain, &plainLen));
        CHECK(Bytes(plain, plain + plainLen) == whole);
    }
}

TEST_CASE("remote members: an operation beyond the replay bound ends with a clear error",
          "[remote][failover]") {
    RemoteCluster f(2, "replay_limit_bytes = 64\n");
    f.start();
    KeyPair key = generateRsa(f, "bounded");
    Bytes part = bytesOf(std::string(100, 'z'));
    CK_MECHANISM rsaSha256{CKM_SHA256_RSA_PKCS, nullptr, 0};
    std::vector<CK_SESSION_HANDLE> signers;
    for (int i = 0; i < 4; ++i) {
        signers.push_back(openSession(f));
        REQUIRE_OK(f.p11()->C_SignInit(signers.back(), &rsaSha256, key.privateKey));
        REQUIRE_OK(f.p11()->C_SignUpdate(signers.back(), part.data(), part.size()));
    }
    f.hosts[1].kill();
    int ok = 0, lost = 0;
    for (CK_SESSION_HANDLE s : signers) {
        CK_RV rv = f.p11()->C_SignUpdate(s, part.data(), part.size());
        CK_BYTE sig[512];
        CK_ULONG sigLen = sizeof sig;
        if (rv == CKR_OK) rv = f.p11()->C_SignFinal(s, sig, &sigLen);
        if (rv == CKR_OK) {
            ++ok;
            Bytes whole = part;
            whole.insert(whole.end(), part.begin(), part.end());
            REQUIRE_OK(f.p11()->C_VerifyInit(f.session, &rsaSha256, key.publicKey));
            CHECK_RV(f.p11()->C_Verify(f.session, whole.data(), whole.size(), sig, sigLen), CKR_OK);
        } else {
            CHECK_RV(rv, CKR_DEVICE_ERROR);
            ++lost;
            // The operation is over: the session can start a new one.
            CHECK_RV(f.p11()->C_SignInit(s, &rsaSha256, key.privateKey), CKR_OK);
        }
    }
    CHECK(ok > 0);
    CHECK(lost > 0);
}

TEST_CASE("remote members: a member whose login fails on return stays out, then returns",
          "[remote][repair]") {
    SoftHsmEnv env(3);
    MemberHosts hosts(env);
    std::string statusDir = env.dir() + "/status";
    ::mkdir(statusDir.c_str(), 0700);
    std::string pinFile = env.dir() + "/c.pin";
    auto writePin = [&](const char* text) {
        std::ofstream out(pinFile, std::ios::trunc);
        out << text;
        out.close();
        ::chmod(pinFile.c_str(), 0600);
    };
    writePin(kUserPin);
    std::string members = hosts.memberTables();
    // member c logs in with its own PIN file
    auto at = members.find("name = \"c\"");
    members.insert(members.find('\n', at) + 1, "pin_file = \"" + pinFile + "\"\n");
    env.writeConfig(
        "label = \"remote\"\nwrite_quorum = \"majority\"\nstatus_dir = \"" + statusDir + "\"\n",
        members);
    REQUIRE(env.initTransportKey() == 0);
    Module module(clusterModulePath());
    CK_FUNCTION_LIST* p11 = module.fn();
    REQUIRE_OK(p11->C_Initialize(nullptr));
    CK_SLOT_ID slot;
    CK_ULONG n = 1;
    REQUIRE_OK(p11->C_GetSlotList(CK_TRUE, &slot, &n));
    CK_SESSION_HANDLE s;
    REQUIRE_OK(p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s));
    REQUIRE_OK(p11->C_Login(s, CKU_USER, pin(kUserPin), pinLen(kUserPin)));
    auto health = [&](const std::string& name) {
        return publishedHealth(statusDir, "remote", name);
    };
    auto waitFor = [&](const std::string& name, const std::string& wanted) {
        return waitForHealth(statusDir, "remote", name, wanted);
    };

    hosts[2].kill();
    writePin("0000");  // c's PIN file now holds a wrong PIN
    hosts[2].start();
    // Calls find c's new process (the old sessions are gone): c is probed,
    // answers, but its login fails: it stays out of service. Callers see
    // nothing of it.
    CK_BYTE random[16];
    for (int i = 0; i < 6; ++i) CHECK_RV(p11->C_GenerateRandom(s, random, sizeof random), CKR_OK);
    CHECK(waitFor("c", "down"));
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    CHECK(health("c") == "down");
    for (int i = 0; i < 6; ++i) CHECK_RV(p11->C_GenerateRandom(s, random, sizeof random), CKR_OK);
    writePin(kUserPin);  // fixed: the prober logs it in and it serves again
    CHECK(waitFor("c", "up"));
    p11->C_Finalize(nullptr);
}

TEST_CASE(
    "remote members: an object lost on one member behind the cluster's back comes back by the "
    "periodic comparison",
    "[remote][repair]") {
    RemoteCluster f(3);
    f.start();
    generateEc(f, "lost");
    {
        // Someone removes the private key from member b's token directly.
        DirectMembers direct(f.env);
        CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY;
        auto found = findObjects(direct.p11(), direct.sessions[1],
                                 {{CKA_CLASS, &priv, sizeof priv}, {CKA_ID, (void*)"lost", 4}});
        REQUIRE(found.size() == 1);
        REQUIRE_OK(direct.p11()->C_DestroyObject(direct.sessions[1], found[0]));
    }
    REQUIRE(f.env.verify() != 0);
    // No call through the cluster: its prober compares the members' object
    // counts every 5 s and repairs b.
    std::string report;
    bool clean = f.env.verifiesWithin(20, &report);
    INFO(report);
    CHECK(clean);
}

TEST_CASE("remote members: a wrong PIN is refused while another process is logged in",
          "[remote][security]") {
    RemoteCluster f;
    f.start();  // this process is logged in on every member host
    // Another process (p11cluster verify) with a wrong PIN: the hosts' tokens
    // are logged in already, yet the PIN is checked.
    ::setenv("P11C_WRONG_PIN", "9999", 1);
    std::string out = f.env.dir() + "/wrong-pin.out";
    std::string command = std::string(toolPath()) + " verify --config " + f.env.configPath() +
                          " --user-pin-env P11C_WRONG_PIN >" + out + " 2>&1";
    int status = std::system(command.c_str());
    std::ifstream in(out);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    INFO(text);
    CHECK(WEXITSTATUS(status) == 1);
    CHECK(text.find("CKR_PIN_INCORRECT") != std::string::npos);
    // The right PIN still joins the login, and this process stays logged in.
    std::string report;
    CHECK(f.env.verify(&report) == 0);
    KeyPair key = generateEc(f, "after-wrong-pin");
    CHECK_RV(signAndVerify(f, key), CKR_OK);
}

// The Cryptoki ABI as an application meets it: initialisation rules, argument
// checks, invalid handles and slots, the interface and function lists.
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "integration/cluster_fixture.h"
#include "integration/crypto_helpers.h"
#include "support/member_host.h"

using namespace p11c::test;

namespace {

template <class Fn>
Fn exported(ClusterFixture& f, const char* name) {
    void* symbol = ::dlsym(f.module.handle(), name);
    REQUIRE(symbol != nullptr);
    return reinterpret_cast<Fn>(symbol);
}

std::string padded(const CK_UTF8CHAR* field, size_t size) {
    std::string s(reinterpret_cast<const char*>(field), size);
    s.erase(s.find_last_not_of(' ') + 1);
    return s;
}

CK_SESSION_HANDLE openSession(ClusterFixture& f,
                              CK_FLAGS flags = CKF_SERIAL_SESSION | CKF_RW_SESSION) {
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    REQUIRE_OK(f.p11()->C_OpenSession(f.slot(), flags, nullptr, nullptr, &s));
    return s;
}

}  // namespace

TEST_CASE("calls before C_Initialize give CKR_CRYPTOKI_NOT_INITIALIZED") {
    ClusterFixture f;
    CK_FUNCTION_LIST* p11 = f.p11();
    CK_INFO info;
    CK_ULONG count = 0;
    CK_SLOT_INFO slotInfo;
    CK_TOKEN_INFO tokenInfo;
    CK_SESSION_HANDLE s;
    CK_SESSION_INFO sessionInfo;
    CK_BYTE random[8];
    CHECK_RV(p11->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK_RV(p11->C_GetSlotList(CK_FALSE, nullptr, &count), CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK_RV(p11->C_GetSlotInfo(0, &slotInfo), CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK_RV(p11->C_GetTokenInfo(0, &tokenInfo), CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK_RV(p11->C_OpenSession(0, CKF_SERIAL_SESSION, nullptr, nullptr, &s),
             CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK_RV(p11->C_GetSessionInfo(1, &sessionInfo), CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK_RV(p11->C_CloseSession(1), CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK_RV(p11->C_CloseAllSessions(0), CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK_RV(p11->C_Login(1, CKU_USER, pin(kUserPin), 4), CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK_RV(p11->C_GenerateRandom(1, random, sizeof random), CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK_RV(p11->C_Finalize(nullptr), CKR_CRYPTOKI_NOT_INITIALIZED);
    // The function list may be fetched before C_Initialize.
    CK_FUNCTION_LIST* list = nullptr;
    CHECK_RV(exported<CK_C_GetFunctionList>(f, "C_GetFunctionList")(&list), CKR_OK);
}

TEST_CASE(
    "after C_Finalize calls give CKR_CRYPTOKI_NOT_INITIALIZED and C_Initialize starts afresh") {
    ClusterFixture f;
    f.start();
    CK_SESSION_HANDLE old = f.session;
    f.finalize();
    CK_ULONG count = 0;
    CK_SESSION_INFO info;
    CHECK_RV(f.p11()->C_GetSlotList(CK_FALSE, nullptr, &count), CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK_RV(f.p11()->C_GetSessionInfo(old, &info), CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK_RV(f.p11()->C_Finalize(nullptr), CKR_CRYPTOKI_NOT_INITIALIZED);

    REQUIRE_OK(f.p11()->C_Initialize(nullptr));
    CHECK_RV(f.p11()->C_GetSessionInfo(old, &info), CKR_SESSION_HANDLE_INVALID);
    CK_SESSION_HANDLE fresh = openSession(f);
    REQUIRE_OK(f.p11()->C_GetSessionInfo(fresh, &info));
    CHECK(info.state == CKS_RW_PUBLIC_SESSION);  // the old login did not survive
    REQUIRE_OK(f.p11()->C_Finalize(nullptr));
}

TEST_CASE("a second C_Initialize gives CKR_CRYPTOKI_ALREADY_INITIALIZED and changes nothing") {
    ClusterFixture f;
    f.start();
    CHECK_RV(f.p11()->C_Initialize(nullptr), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    CHECK_RV(f.p11()->C_Initialize(&args), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    CK_SESSION_INFO info;
    REQUIRE_OK(f.p11()->C_GetSessionInfo(f.session, &info));
    CHECK(info.state == CKS_RW_USER_FUNCTIONS);
}

TEST_CASE("C_Initialize accepts OS locking, with and without CKF_LIBRARY_CANT_CREATE_OS_THREADS") {
    ClusterFixture f;
    for (CK_FLAGS flags :
         {CKF_OS_LOCKING_OK, CKF_OS_LOCKING_OK | CKF_LIBRARY_CANT_CREATE_OS_THREADS}) {
        INFO("flags " << flags);
        CK_C_INITIALIZE_ARGS args{};
        args.flags = flags;
        REQUIRE_OK(f.p11()->C_Initialize(&args));
        CK_SESSION_HANDLE s = openSession(f);
        REQUIRE_OK(f.p11()->C_Login(s, CKU_USER, pin(kUserPin), pinLen(kUserPin)));
        Pkey key = generateEcP256();
        KeyPair pair = importEc(f.p11(), s, key.get(), "locking", "locking", false);
        const Bytes digest = sha256(bytesOf("works after this C_Initialize"));
        CHECK(opensslVerifyEcdsaRaw(
            key.get(), digest, sign(f.p11(), s, {CKM_ECDSA, nullptr, 0}, pair.privateKey, digest)));
        REQUIRE_OK(f.p11()->C_Finalize(nullptr));
    }
}

TEST_CASE("C_Initialize refuses some but not all mutex functions with CKR_ARGUMENTS_BAD") {
    ClusterFixture f;
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    args.CreateMutex = [](CK_VOID_PTR_PTR) -> CK_RV { return CKR_OK; };
    CHECK_RV(f.p11()->C_Initialize(&args), CKR_ARGUMENTS_BAD);
    CK_ULONG count;
    CHECK_RV(f.p11()->C_GetSlotList(CK_FALSE, nullptr, &count), CKR_CRYPTOKI_NOT_INITIALIZED);
}

TEST_CASE("NULL pointers give CKR_ARGUMENTS_BAD") {
    ClusterFixture f;
    f.start();
    CK_FUNCTION_LIST* p11 = f.p11();
    const CK_SLOT_ID slot = f.slot();
    CHECK_RV(p11->C_GetInfo(nullptr), CKR_ARGUMENTS_BAD);
    CK_SLOT_ID slots[2];
    CHECK_RV(p11->C_GetSlotList(CK_TRUE, slots, nullptr), CKR_ARGUMENTS_BAD);
    CHECK_RV(p11->C_GetSlotList(CK_FALSE, nullptr, nullptr), CKR_ARGUMENTS_BAD);
    CHECK_RV(p11->C_GetSlotInfo(slot, nullptr), CKR_ARGUMENTS_BAD);
    CHECK_RV(p11->C_GetTokenInfo(slot, nullptr), CKR_ARGUMENTS_BAD);
    CHECK_RV(p11->C_GetMechanismList(slot, nullptr, nullptr), CKR_ARGUMENTS_BAD);
    CHECK_RV(p11->C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, nullptr),
             CKR_ARGUMENTS_BAD);
    CHECK_RV(p11->C_GetSessionInfo(f.session, nullptr), CKR_ARGUMENTS_BAD);

    Pkey key = generateEcP256();
    KeyPair pair = importEc(p11, f.session, key.get(), "args", "args");
    CK_ATTRIBUTE label{CKA_LABEL, nullptr, 0};
    CHECK_RV(p11->C_GetAttributeValue(f.session, pair.publicKey, nullptr, 1), CKR_ARGUMENTS_BAD);
    CHECK_RV(p11->C_CreateObject(f.session, &label, 1, nullptr), CKR_ARGUMENTS_BAD);

    CK_MECHANISM ecdsa{CKM_ECDSA, nullptr, 0};
    REQUIRE_OK(p11->C_SignInit(f.session, &ecdsa, pair.privateKey));
    Bytes digest = sha256(bytesOf("x")), sig(64);
    CHECK_RV(p11->C_Sign(f.session, digest.data(), digest.size(), sig.data(), nullptr),
             CKR_ARGUMENTS_BAD);
    CHECK_RV(p11->C_SignInit(f.session, nullptr, pair.privateKey), CKR_ARGUMENTS_BAD);

    CHECK_RV(p11->C_Finalize(reinterpret_cast<CK_VOID_PTR>(0x1)), CKR_ARGUMENTS_BAD);
    CK_INFO info;
    CHECK_RV(p11->C_GetInfo(&info), CKR_OK);  // still initialised

    CHECK_RV(exported<CK_C_GetFunctionList>(f, "C_GetFunctionList")(nullptr), CKR_ARGUMENTS_BAD);
    CHECK_RV(exported<CK_C_GetInterfaceList>(f, "C_GetInterfaceList")(nullptr, nullptr),
             CKR_ARGUMENTS_BAD);
    CHECK_RV(exported<CK_C_GetInterface>(f, "C_GetInterface")(nullptr, nullptr, nullptr, 0),
             CKR_ARGUMENTS_BAD);
}

TEST_CASE("bogus and closed session handles give CKR_SESSION_HANDLE_INVALID") {
    ClusterFixture f;
    f.start();
    CK_SESSION_HANDLE closed = openSession(f);
    REQUIRE_OK(f.p11()->C_CloseSession(closed));
    for (CK_SESSION_HANDLE s : {CK_SESSION_HANDLE{0}, closed, CK_SESSION_HANDLE{987654}}) {
        INFO("session " << s);
        CK_FUNCTION_LIST* p11 = f.p11();
        CK_SESSION_INFO info;
        CK_BYTE buffer[16];
        CK_MECHANISM digest{CKM_SHA256, nullptr, 0};
        CK_OBJECT_CLASS cls = CKO_DATA;
        CK_ATTRIBUTE templ{CKA_CLASS, &cls, sizeof cls};
        CHECK_RV(p11->C_GetSessionInfo(s, &info), CKR_SESSION_HANDLE_INVALID);
        CHECK_RV(p11->C_CloseSession(s), CKR_SESSION_HANDLE_INVALID);
        CHECK_RV(p11->C_Login(s, CKU_USER, pin(kUserPin), 4), CKR_SESSION_HANDLE_INVALID);
        CHECK_RV(p11->C_Logout(s), CKR_SESSION_HANDLE_INVALID);
        CHECK_RV(p11->C_FindObjectsInit(s, &templ, 1), CKR_SESSION_HANDLE_INVALID);
        CHECK_RV(p11->C_DigestInit(s, &digest), CKR_SESSION_HANDLE_INVALID);
        CHECK_RV(p11->C_GenerateRandom(s, buffer, sizeof buffer), CKR_SESSION_HANDLE_INVALID);
        CK_OBJECT_HANDLE made;
        CHECK_RV(p11->C_CreateObject(s, &templ, 1, &made), CKR_SESSION_HANDLE_INVALID);
    }
    CK_SESSION_INFO info;
    REQUIRE_OK(f.p11()->C_GetSessionInfo(f.session, &info));  // the good one is untouched
    CHECK(info.state == CKS_RW_USER_FUNCTIONS);
}

TEST_CASE("an unknown slot gives CKR_SLOT_ID_INVALID") {
    ClusterFixture f;
    f.start(false);
    const CK_SLOT_ID bad = f.slot() + 17;
    CK_SLOT_INFO slotInfo;
    CK_TOKEN_INFO tokenInfo;
    CK_SESSION_HANDLE s;
    CK_ULONG count = 0;
    CK_MECHANISM_INFO mechInfo;
    CHECK_RV(f.p11()->C_GetSlotInfo(bad, &slotInfo), CKR_SLOT_ID_INVALID);
    CHECK_RV(f.p11()->C_GetTokenInfo(bad, &tokenInfo), CKR_SLOT_ID_INVALID);
    CHECK_RV(f.p11()->C_OpenSession(bad, CKF_SERIAL_SESSION, nullptr, nullptr, &s),
             CKR_SLOT_ID_INVALID);
    CHECK_RV(f.p11()->C_GetMechanismList(bad, nullptr, &count), CKR_SLOT_ID_INVALID);
    CHECK_RV(f.p11()->C_GetMechanismInfo(bad, CKM_SHA256, &mechInfo), CKR_SLOT_ID_INVALID);
    CHECK_RV(f.p11()->C_CloseAllSessions(bad), CKR_SLOT_ID_INVALID);
    CK_SESSION_INFO info;
    REQUIRE_OK(f.p11()->C_GetSessionInfo(f.session, &info));  // C_CloseAllSessions did nothing
}

TEST_CASE("C_GetSlotList follows the two-call convention") {
    ClusterFixture f;
    f.start(false);
    for (CK_BBOOL present : {CK_FALSE, CK_TRUE}) {
        CK_ULONG count = 0;
        REQUIRE_OK(f.p11()->C_GetSlotList(present, nullptr, &count));
        CHECK(count == 1);
        CK_SLOT_ID slots[1] = {999};
        count = 0;
        CHECK_RV(f.p11()->C_GetSlotList(present, slots, &count), CKR_BUFFER_TOO_SMALL);
        CHECK(count == 1);
        REQUIRE_OK(f.p11()->C_GetSlotList(present, slots, &count));
        CHECK(slots[0] == f.slot());
    }
    CK_SLOT_INFO info;
    REQUIRE_OK(f.p11()->C_GetSlotInfo(f.slot(), &info));
    CHECK((info.flags & CKF_TOKEN_PRESENT));
}

TEST_CASE("C_GetInterfaceList lists PKCS 11 3.0 and 2.40, whose functions are the exported ones") {
    ClusterFixture f;  // allowed before C_Initialize
    auto getList = exported<CK_C_GetInterfaceList>(f, "C_GetInterfaceList");
    CK_ULONG count = 0;
    REQUIRE_OK(getList(nullptr, &count));
    REQUIRE(count == 2);
    CK_INTERFACE list[2];
    CK_ULONG small = 1;
    CHECK_RV(getList(list, &small), CKR_BUFFER_TOO_SMALL);
    CHECK(small == 2);
    REQUIRE_OK(getList(list, &count));
    const auto exportedSign = exported<CK_C_Sign>(f, "C_Sign");
    const auto exportedInit = exported<CK_C_Initialize>(f, "C_Initialize");
    bool saw30 = false, saw240 = false;
    for (const CK_INTERFACE& iface : list) {
        CHECK(std::strcmp(reinterpret_cast<const char*>(iface.pInterfaceName), "PKCS 11") == 0);
        const auto* version = static_cast<const CK_VERSION*>(iface.pFunctionList);
        REQUIRE(version != nullptr);
        const auto* fl = static_cast<const CK_FUNCTION_LIST*>(iface.pFunctionList);
        CHECK(fl->C_Sign == exportedSign);
        CHECK(fl->C_Initialize == exportedInit);
        if (version->major == 3 && version->minor == 0) {
            saw30 = true;
            const auto* fl30 = static_cast<const CK_FUNCTION_LIST_3_0*>(iface.pFunctionList);
            CHECK(fl30->C_GetInterface == exported<CK_C_GetInterface>(f, "C_GetInterface"));
            CHECK(fl30->C_SessionCancel == exported<CK_C_SessionCancel>(f, "C_SessionCancel"));
        }
        if (version->major == 2 && version->minor == 40) saw240 = true;
    }
    CHECK(saw30);
    CHECK(saw240);
}

TEST_CASE("C_GetInterface picks the interface by name and version") {
    ClusterFixture f;
    auto getInterface = exported<CK_C_GetInterface>(f, "C_GetInterface");
    const auto exportedSign = exported<CK_C_Sign>(f, "C_Sign");
    auto versionOf = [](CK_INTERFACE* iface) {
        const auto* v = static_cast<const CK_VERSION*>(iface->pFunctionList);
        return std::make_pair(int(v->major), int(v->minor));
    };
    CK_INTERFACE* iface = nullptr;
    REQUIRE_OK(getInterface(nullptr, nullptr, &iface, 0));
    REQUIRE(iface != nullptr);
    CHECK(versionOf(iface) == std::make_pair(3, 0));
    CHECK(static_cast<CK_FUNCTION_LIST_3_0*>(iface->pFunctionList)->C_Sign == exportedSign);

    CK_UTF8CHAR name[] = "PKCS 11";
    CK_VERSION v240{2, 40};
    iface = nullptr;
    REQUIRE_OK(getInterface(name, &v240, &iface, 0));
    REQUIRE(iface != nullptr);
    CHECK(versionOf(iface) == std::make_pair(2, 40));
    CHECK(static_cast<CK_FUNCTION_LIST*>(iface->pFunctionList)->C_Sign == exportedSign);

    CK_VERSION v30{3, 0};
    REQUIRE_OK(getInterface(name, &v30, &iface, 0));
    CHECK(versionOf(iface) == std::make_pair(3, 0));

    CK_UTF8CHAR other[] = "Vendor Interface";
    CHECK(getInterface(other, nullptr, &iface, 0) != CKR_OK);
    CK_VERSION v99{9, 9};
    CHECK(getInterface(name, &v99, &iface, 0) != CKR_OK);
}

TEST_CASE("C_GetFunctionList gives the 2.40 list of exported functions") {
    ClusterFixture f;
    CK_FUNCTION_LIST* list = nullptr;
    REQUIRE_OK(exported<CK_C_GetFunctionList>(f, "C_GetFunctionList")(&list));
    REQUIRE(list != nullptr);
    CHECK(int(list->version.major) == 2);
    CHECK(int(list->version.minor) == 40);
    CHECK(list->C_Sign == exported<CK_C_Sign>(f, "C_Sign"));
    CHECK(list->C_GetFunctionList == exported<CK_C_GetFunctionList>(f, "C_GetFunctionList"));
    CHECK(list->C_WaitForSlotEvent == exported<CK_C_WaitForSlotEvent>(f, "C_WaitForSlotEvent"));
}

TEST_CASE("C_GetInfo describes the library") {
    ClusterFixture f;
    f.start(false);
    CK_INFO info;
    std::memset(&info, 0xee, sizeof info);
    REQUIRE_OK(f.p11()->C_GetInfo(&info));
    CHECK(int(info.cryptokiVersion.major) >= 2);
    CHECK(info.flags == 0);
    CHECK(padded(info.manufacturerID, sizeof info.manufacturerID) == "p11cluster");
    const std::string description = padded(info.libraryDescription, sizeof info.libraryDescription);
    CHECK(!description.empty());
    CHECK(description.find('\0') == std::string::npos);  // blank-padded, not NUL-terminated
}

TEST_CASE("C_WaitForSlotEvent with CKF_DONT_BLOCK reports no event") {
    ClusterFixture f;
    f.start(false);
    CK_SLOT_ID slot = 999;
    CHECK_RV(f.p11()->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, nullptr), CKR_NO_EVENT);
    CHECK_RV(f.p11()->C_WaitForSlotEvent(CKF_DONT_BLOCK, nullptr, nullptr), CKR_ARGUMENTS_BAD);
}

namespace {

// The child's side of the fork test: raw calls, the exit status says what
// went wrong (Catch2 must not run in the child).
int childAfterFork(CK_FUNCTION_LIST* p11, const EVP_PKEY* key) {
    CK_ULONG count = 0;
    if (p11->C_GetSlotList(CK_FALSE, nullptr, &count) != CKR_CRYPTOKI_NOT_INITIALIZED) return 10;
    if (p11->C_Initialize(nullptr) != CKR_OK) return 11;
    CK_SLOT_ID slot = 0;
    count = 1;
    if (p11->C_GetSlotList(CK_TRUE, &slot, &count) != CKR_OK || count != 1) return 12;
    CK_SESSION_HANDLE s;
    if (p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s) !=
        CKR_OK)
        return 13;
    CK_SESSION_INFO info{};
    if (p11->C_GetSessionInfo(s, &info) != CKR_OK || info.state != CKS_RW_PUBLIC_SESSION) return 14;
    if (p11->C_Login(s, CKU_USER, pin(kUserPin), pinLen(kUserPin)) != CKR_OK) return 15;
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    std::string label = "fork-ec";
    CK_ATTRIBUTE templ[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, label.data(), label.size()}};
    CK_OBJECT_HANDLE found = CK_INVALID_HANDLE;
    count = 0;
    if (p11->C_FindObjectsInit(s, templ, 2) != CKR_OK ||
        p11->C_FindObjects(s, &found, 1, &count) != CKR_OK || count != 1 ||
        p11->C_FindObjectsFinal(s) != CKR_OK)
        return 16;
    for (int i = 0; i < 3; ++i) {
        Bytes digest = sha256(bytesOf("child " + std::to_string(i))), sig(64);
        CK_MECHANISM ecdsa{CKM_ECDSA, nullptr, 0};
        CK_ULONG size = sig.size();
        if (p11->C_SignInit(s, &ecdsa, found) != CKR_OK ||
            p11->C_Sign(s, digest.data(), digest.size(), sig.data(), &size) != CKR_OK)
            return 17;
        if (!opensslVerifyEcdsaRaw(key, digest, sig)) return 18;
    }
    if (p11->C_Finalize(nullptr) != CKR_OK) return 19;
    return 0;
}

}  // namespace

// Forks; the child runs childAfterFork (without $P11CLUSTER_CONF if
// `childLosesEnvironment`, as nginx starts its workers); then the parent
// signs with `pair` in its own session, which the child's life must not have
// disturbed.
void forkChildThenSignInParent(ClusterFixture& f, const EVP_PKEY* key, const KeyPair& pair,
                               bool childLosesEnvironment = false) {
    std::fflush(nullptr);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        if (childLosesEnvironment) ::unsetenv("P11CLUSTER_CONF");
        ::_exit(childAfterFork(f.p11(), key));
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);  // 10..19: the step in childAfterFork that failed
    const Bytes digest = sha256(bytesOf("parent after fork"));
    CHECK(opensslVerifyEcdsaRaw(
        key, digest, sign(f.p11(), f.session, {CKM_ECDSA, nullptr, 0}, pair.privateKey, digest)));
}

TEST_CASE("after fork the child calls C_Initialize and works on its own, the parent goes on") {
    ClusterFixture f;
    f.start();
    Pkey key = generateEcP256();
    KeyPair pair = importEc(f.p11(), f.session, key.get(), "fork-ec", "fork-ec");
    forkChildThenSignInParent(f, key.get(), pair);

    CK_SESSION_INFO info{};
    REQUIRE_OK(f.p11()->C_GetSessionInfo(f.session, &info));
    CHECK(info.state == CKS_RW_USER_FUNCTIONS);
}

TEST_CASE("after fork a child reaches remote members over its own connections") {
    ClusterFixture f;
    MemberHosts hosts(f.env);
    f.env.writeConfig("label = \"test-cluster\"\n", hosts.memberTables());
    f.start();
    Pkey key = generateEcP256();
    KeyPair pair = importEc(f.p11(), f.session, key.get(), "fork-ec", "fork-ec");
    // The child's exit closes its connections only: the parent still signs.
    forkChildThenSignInParent(f, key.get(), pair);
}

TEST_CASE("after fork a child whose environment lost P11CLUSTER_CONF uses its parent's file") {
    ClusterFixture f;
    f.start();
    Pkey key = generateEcP256();
    KeyPair pair = importEc(f.p11(), f.session, key.get(), "fork-ec", "fork-ec");
    forkChildThenSignInParent(f, key.get(), pair, true);
}

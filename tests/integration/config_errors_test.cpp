// Configuration problems stop C_Initialize, and what goes to stderr names the
// file, the key and the problem. Also: where the configuration comes from,
// and members that log in with their own PIN (pin_file / pin_env).
#include <dlfcn.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "integration/cluster_fixture.h"
#include "integration/crypto_helpers.h"

using namespace p11c::test;
using Catch::Matchers::Contains;

namespace {

struct InitResult {
    CK_RV rv = CKR_OK;
    std::string stderrText;
};

InitResult initialize(ClusterFixture& f, CK_C_INITIALIZE_ARGS* args = nullptr) {
    InitResult result;
    result.stderrText = captureStderr([&] { result.rv = f.p11()->C_Initialize(args); });
    return result;
}

// C_Initialize fails, stderr holds every one of `needles`, and the module
// is left uninitialised; then a good configuration initialises it.
void expectRefused(ClusterFixture& f, std::initializer_list<std::string> needles) {
    InitResult result = initialize(f);
    INFO("stderr: " << result.stderrText);
    CHECK(result.rv != CKR_OK);
    for (const std::string& needle : needles) CHECK_THAT(result.stderrText, Contains(needle));
    CK_ULONG count = 0;
    CHECK_RV(f.p11()->C_GetSlotList(CK_FALSE, nullptr, &count), CKR_CRYPTOKI_NOT_INITIALIZED);

    f.env.writeConfig();
    ::setenv("P11CLUSTER_CONF", f.env.configPath().c_str(), 1);
    REQUIRE_OK(f.p11()->C_Initialize(nullptr));
    REQUIRE_OK(f.p11()->C_Finalize(nullptr));
}

// Member tables with member i's table replaced by `table`.
std::string membersWith(const SoftHsmEnv& env, unsigned i, const std::string& table) {
    std::string out;
    for (unsigned m = 0; m < env.members(); ++m) {
        if (m == i) {
            out += table + "\n";
            continue;
        }
        out += "[[member]]\nname = \"" + std::string(1, char('a' + m)) + "\"\nmodule = \"" +
               softhsmPath() + "\"\ntoken = \"pkcs11:token=" + env.memberLabel(m) + "\"\n\n";
    }
    return out;
}

std::string memberTable(const std::string& name, const std::string& module,
                        const std::string& token, const std::string& extra = "") {
    return "[[member]]\nname = \"" + name + "\"\nmodule = \"" + module + "\"\ntoken = \"" + token +
           "\"\n" + extra;
}

void writeFile(const std::string& path, const std::string& text, mode_t mode) {
    std::ofstream(path, std::ios::trunc) << text;
    REQUIRE(::chmod(path.c_str(), mode) == 0);
}

std::string tokenLabel(ClusterFixture& f) {
    CK_TOKEN_INFO info{};
    REQUIRE_OK(f.p11()->C_GetTokenInfo(f.slot(), &info));
    std::string label(reinterpret_cast<char*>(info.label), sizeof info.label);
    return label.erase(label.find_last_not_of(' ') + 1);
}

}  // namespace

TEST_CASE("a missing configuration file stops C_Initialize and is named") {
    ClusterFixture f;
    const std::string missing = f.env.dir() + "/no-such-config.toml";
    ::setenv("P11CLUSTER_CONF", missing.c_str(), 1);
    expectRefused(f, {missing, "cannot open"});
}

TEST_CASE("a TOML syntax error stops C_Initialize with the file and line") {
    ClusterFixture f;
    f.env.writeRawConfig("[cluster]\nlabel = \"unterminated\n" + f.env.memberTables());
    expectRefused(f, {f.env.configPath() + ":2:", "syntax error"});
}

TEST_CASE("an unknown key stops C_Initialize and is named") {
    ClusterFixture f;
    SECTION("in [cluster]") {
        f.env.writeConfig("label = \"test-cluster\"\ncolour = \"blue\"\n");
        expectRefused(f, {f.env.configPath(), "cluster.colour", "unknown key"});
    }
    SECTION("in a [[member]]") {
        f.env.writeConfig("label = \"test-cluster\"\n", f.env.memberTables("flavour = 3\n"));
        expectRefused(f, {f.env.configPath(), "member[0].flavour", "unknown key"});
    }
}

TEST_CASE("a value of the wrong type stops C_Initialize and is named") {
    ClusterFixture f;
    SECTION("a string for an integer") {
        f.env.writeConfig("label = \"test-cluster\"\n",
                          membersWith(f.env, 1,
                                      memberTable("b", softhsmPath(), "pkcs11:token=member-b",
                                                  "weight = \"heavy\"\n")));
        expectRefused(
            f, {f.env.configPath(), "member[1].weight", "expected an integer, got a string"});
    }
    SECTION("an integer for a string") {
        f.env.writeConfig("label = 42\n");
        expectRefused(f,
                      {f.env.configPath(), "cluster.label", "expected a string, got an integer"});
    }
}

TEST_CASE("a duplicate member name stops C_Initialize and is named") {
    ClusterFixture f;
    f.env.writeConfig(
        "label = \"test-cluster\"\n",
        membersWith(f.env, 2, memberTable("a", softhsmPath(), "pkcs11:token=member-c")));
    expectRefused(f, {f.env.configPath(), "member[2].name", "duplicate member name \"a\""});
}

TEST_CASE("a member module that does not load stops C_Initialize and is named") {
    ClusterFixture f;
    SECTION("no such file") {
        const std::string module = f.env.dir() + "/no-such-module.so";
        f.env.writeConfig("label = \"test-cluster\"\n",
                          membersWith(f.env, 1, memberTable("b", module, "pkcs11:token=member-b")));
        expectRefused(f, {f.env.configPath(), "member \"b\"", "cannot load module " + module});
    }
    SECTION("a shared library that is not a PKCS#11 module") {
        Dl_info where{};
        REQUIRE(::dladdr(reinterpret_cast<void*>(&EVP_sha256), &where) != 0);
        const std::string module = where.dli_fname;  // libcrypto
        f.env.writeConfig("label = \"test-cluster\"\n",
                          membersWith(f.env, 1, memberTable("b", module, "pkcs11:token=member-b")));
        expectRefused(f, {f.env.configPath(), "member \"b\"", module, "not a PKCS#11 module"});
    }
}

TEST_CASE("a member token that is not found stops C_Initialize and is named") {
    ClusterFixture f;
    f.env.writeConfig(
        "label = \"test-cluster\"\n",
        membersWith(f.env, 2, memberTable("c", softhsmPath(), "pkcs11:token=no-such-token")));
    expectRefused(f, {f.env.configPath(), "member \"c\"", "token \"pkcs11:token=no-such-token\"",
                      "not found"});
}

TEST_CASE("a PIN file readable by others stops C_Initialize and is named") {
    ClusterFixture f;
    const std::string pinFile = f.env.dir() + "/member-b.pin";
    writeFile(pinFile, "1234\n", 0644);
    f.env.writeConfig("label = \"test-cluster\"\n",
                      membersWith(f.env, 1,
                                  memberTable("b", softhsmPath(), "pkcs11:token=member-b",
                                              "pin_file = \"" + pinFile + "\"\n")));
    expectRefused(f, {f.env.configPath(), "member[1].pin_file", pinFile, "group or others"});
}

TEST_CASE("the configuration path can come from C_Initialize's pReserved") {
    ClusterFixture f;
    const std::string elsewhere = f.env.dir() + "/given-in-init-args.toml";
    std::ofstream(elsewhere) << "[cluster]\nlabel = \"from-init-args\"\n\n" << f.env.memberTables();
    ::unsetenv("P11CLUSTER_CONF");

    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    args.pReserved = const_cast<char*>(elsewhere.c_str());
    REQUIRE_OK(f.p11()->C_Initialize(&args));
    CHECK(tokenLabel(f) == "from-init-args");
    CK_SESSION_HANDLE s;
    REQUIRE_OK(f.p11()->C_OpenSession(f.slot(), CKF_SERIAL_SESSION, nullptr, nullptr, &s));
    REQUIRE_OK(f.p11()->C_Login(s, CKU_USER, pin(kUserPin), pinLen(kUserPin)));
    REQUIRE_OK(f.p11()->C_Finalize(nullptr));

    // $P11CLUSTER_CONF, when set, wins over pReserved.
    ::setenv("P11CLUSTER_CONF", f.env.configPath().c_str(), 1);
    REQUIRE_OK(f.p11()->C_Initialize(&args));
    CHECK(tokenLabel(f) == "test-cluster");
    REQUIRE_OK(f.p11()->C_Finalize(nullptr));

    // Neither: the system default, named when it is missing.
    ::unsetenv("P11CLUSTER_CONF");
    InitResult result = initialize(f);
    CHECK(result.rv != CKR_OK);
    CHECK_THAT(result.stderrText, Contains("/etc/p11cluster/p11cluster.toml"));
}

TEST_CASE("members with pin_file or pin_env log in with their own PIN") {
    const char* kPinB = "member-b-pin";
    const char* kPinC = "member-c-pin";
    ClusterFixture f;
    {
        DirectMembers direct(f.env);  // give members b and c PINs of their own
        REQUIRE_OK(direct.p11()->C_SetPIN(direct.sessions[1], pin(kUserPin), 4, pin(kPinB),
                                          pinLen(kPinB)));
        REQUIRE_OK(direct.p11()->C_SetPIN(direct.sessions[2], pin(kUserPin), 4, pin(kPinC),
                                          pinLen(kPinC)));
    }
    const std::string pinFile = f.env.dir() + "/member-b.pin";
    writeFile(pinFile, std::string(kPinB) + "\n", 0600);
    ::setenv("P11C_TEST_MEMBER_C_PIN", kPinC, 1);
    const std::string members = memberTable("a", softhsmPath(), "pkcs11:token=member-a") + "\n" +
                                memberTable("b", softhsmPath(), "pkcs11:token=member-b",
                                            "pin_file = \"" + pinFile + "\"\n") +
                                "\n" +
                                memberTable("c", softhsmPath(), "pkcs11:token=member-c",
                                            "pin_env = \"P11C_TEST_MEMBER_C_PIN\"\n");
    f.env.writeConfig("label = \"test-cluster\"\n", members);

    f.start(false);
    // The caller's PIN is still checked (by member a, which uses it).
    CHECK_RV(f.p11()->C_Login(f.session, CKU_USER, pin("0000"), 4), CKR_PIN_INCORRECT);
    REQUIRE_OK(f.p11()->C_Login(f.session, CKU_USER, pin(kUserPin), pinLen(kUserPin)));

    // Writes and operations need every member logged in: an imported key
    // reaches all three, and signatures rotating over them all verify.
    Pkey key = generateEcP256();
    KeyPair pair = importEc(f.p11(), f.session, key.get(), "own-pins", "own-pins");
    for (int i = 0; i < 6; ++i) {
        const Bytes digest = sha256(bytesOf("own pin " + std::to_string(i)));
        CHECK(opensslVerifyEcdsaRaw(
            key.get(), digest,
            sign(f.p11(), f.session, {CKM_ECDSA, nullptr, 0}, pair.privateKey, digest)));
    }
    f.finalize();
    DirectMembers direct(f.env, std::vector<std::string>{kUserPin, kPinB, kPinC});
    for (unsigned m = 0; m < f.env.members(); ++m) {
        INFO("member " << f.env.memberLabel(m));
        CHECK(findByLabel(direct.p11(), direct.sessions[m], CKO_PRIVATE_KEY, "own-pins").size() ==
              1);
    }
}

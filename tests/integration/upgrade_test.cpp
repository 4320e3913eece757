// A cluster made by the release before this one (docs/security.md,
// "Upgrading"): its transport and backup keys are public token objects.
// It keeps working, `p11cluster init` and `backup-key` upgrade it without
// losing a key, and its old backup files restore with --legacy.
#include <cstring>

#include "integration/attacker.h"
#include "integration/backup_fixture.h"

using namespace p11c::test;

namespace {

CK_BBOOL yes = CK_TRUE;
CK_BBOOL no = CK_FALSE;

// A cluster key as the earlier release left it: a public token object of a
// value we know (that release made it inside a member; the result on disk
// is the same: its value in the clear).
void legacyKey(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE so, const Bytes& value, const char* id,
               const char* label, bool extractable) {
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_AES;
    CK_BBOOL ext = extractable ? CK_TRUE : CK_FALSE;
    CK_ATTRIBUTE templ[] = {{CKA_CLASS, &cls, sizeof cls},
                            {CKA_KEY_TYPE, &type, sizeof type},
                            {CKA_VALUE, const_cast<CK_BYTE*>(value.data()), value.size()},
                            {CKA_TOKEN, &yes, 1},
                            {CKA_PRIVATE, &no, 1},
                            {CKA_SENSITIVE, &yes, 1},
                            {CKA_EXTRACTABLE, &ext, 1},
                            {CKA_WRAP_WITH_TRUSTED, &yes, 1},
                            {CKA_WRAP, &yes, 1},
                            {CKA_UNWRAP, &yes, 1},
                            {CKA_TRUSTED, &yes, 1},
                            {CKA_ID, const_cast<char*>(id), std::strlen(id)},
                            {CKA_LABEL, const_cast<char*>(label), std::strlen(label)}};
    CK_OBJECT_HANDLE h;
    REQUIRE_OK(p11->C_CreateObject(so, templ, 13, &h));
}

Bytes cbc(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key) {
    CK_BYTE iv[16] = {};
    CK_MECHANISM mech{CKM_AES_CBC_PAD, iv, sizeof iv};
    return encrypt(p11, s, mech, key, bytesOf("upgrade"));
}

}  // namespace

TEST_CASE(
    "a cluster of the earlier release keeps working, is upgraded by init and backup-key "
    "without losing a key, and its backups restore with --legacy",
    "[secrecy][backup]") {
    ClusterFixture f;
    f.env.addToken("recovery");
    const Bytes transport = randomBytes(32), backupKey = randomBytes(32);
    {
        Module softhsm(softhsmPath());
        REQUIRE_OK(softhsm->C_Initialize(nullptr));
        std::vector<std::string> tokens = {"recovery"};
        for (unsigned m = 0; m < f.env.members(); ++m) tokens.push_back(f.env.memberLabel(m));
        for (const std::string& token : tokens) {
            CK_SESSION_HANDLE s;
            REQUIRE_OK(softhsm->C_OpenSession(slotByLabel(softhsm.fn(), token),
                                              CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                                              &s));
            REQUIRE_OK(softhsm->C_Login(s, CKU_SO, pin(kSoPin), pinLen(kSoPin)));
            const bool recovery = token == "recovery";
            if (!recovery)
                legacyKey(softhsm.fn(), s, transport, "p11cluster-transport",
                          "p11cluster transport key", false);
            legacyKey(softhsm.fn(), s, backupKey, "p11cluster-backup", "p11cluster backup key",
                      recovery);
            softhsm->C_Logout(s);
        }
        softhsm->C_Finalize(nullptr);
    }
    // A backup file that release wrote: one AES key of a known value.
    const Bytes oldValue = randomBytes(32), macValue = randomBytes(32);
    attack::BackupImage old;
    old.version = 1;
    old.written = 1700000000;
    old.label = bytesOf("test-cluster");
    old.macKey = attack::kwpWrap(backupKey, macValue);
    attack::BackupObject oldKey = attack::plantedAes("from-old-backup", 1);
    oldKey.wrapped = attack::kwpWrap(backupKey, oldValue);
    old.objects.push_back(oldKey);
    const std::string oldFile = f.env.dir() + "/old.backup";
    attack::writeFile(oldFile, attack::signedBackup(old, macValue));

    // It keeps working: keys are generated and copied under the old
    // transport key, non-extractable and extractable alike.
    f.start();
    CK_RV rv;
    KeyPair before = generateEcPair(f.p11(), f.session, "before", &rv);
    REQUIRE_OK(rv);
    CK_MECHANISM aesGen{CKM_AES_KEY_GEN, nullptr, 0};
    CK_ULONG len = 32;
    CK_ATTRIBUTE openTempl[] = {
        {CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, &yes, 1},   {CKA_EXTRACTABLE, &yes, 1},
        {CKA_SENSITIVE, &no, 1},           {CKA_ENCRYPT, &yes, 1}, {CKA_ID, (void*)"open", 4}};
    CK_OBJECT_HANDLE open;
    REQUIRE_OK(f.p11()->C_GenerateKey(f.session, &aesGen, openTempl, 6, &open));
    f.finalize();
    std::string report;
    REQUIRE(f.env.verify(&report) == 0);
    INFO(report);

    // The upgrade.
    std::string output;
    REQUIRE(f.env.tool("init --so-pin-env P11C_TEST_SO_PIN --user-pin-env P11C_TEST_USER_PIN",
                       &output) == 0);
    INFO(output);
    REQUIRE(f.env.tool("backup-key --recovery-module " + std::string(softhsmPath()) +
                           " --recovery-token recovery --recovery-so-pin-env P11C_TEST_SO_PIN "
                           "--recovery-pin-env P11C_TEST_USER_PIN --so-pin-env P11C_TEST_SO_PIN "
                           "--user-pin-env P11C_TEST_USER_PIN",
                       &output) == 0);
    INFO(output);
    CHECK(output.find("now private") != std::string::npos);

    // No cluster key left that a session without login can see, and the old
    // ones' values no longer in the clear on disk (the new ones never were:
    // secrecy_test.cpp).
    {
        Module softhsm(softhsmPath());
        REQUIRE_OK(softhsm->C_Initialize(nullptr));
        std::vector<std::string> tokens = {"recovery"};
        for (unsigned m = 0; m < f.env.members(); ++m) tokens.push_back(f.env.memberLabel(m));
        for (const std::string& token : tokens) {
            CK_SESSION_HANDLE s;
            REQUIRE_OK(softhsm->C_OpenSession(slotByLabel(softhsm.fn(), token), CKF_SERIAL_SESSION,
                                              nullptr, nullptr, &s));
            INFO(token);
            CHECK(attack::visibleSecretKeys(softhsm.fn(), s).empty());
        }
        softhsm->C_Finalize(nullptr);
    }
    CHECK(!attack::aesKeyInClear(f.env.dir() + "/tokens", {attack::kwpWrap(transport, oldValue),
                                                           attack::kwpWrap(backupKey, oldValue)})
               .has_value());

    // Every key is still there and works; a member that loses one gets it
    // back under the new transport key.
    {
        DirectMembers direct(f.env);
        CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
        auto found = findObjects(direct.p11(), direct.sessions[1],
                                 {{CKA_CLASS, &cls, sizeof cls}, {CKA_ID, (void*)"before", 6}});
        REQUIRE(found.size() == 1);
        REQUIRE_OK(direct.p11()->C_DestroyObject(direct.sessions[1], found[0]));
    }
    REQUIRE(f.env.tool("repair --user-pin-env P11C_TEST_USER_PIN", &output) == 0);
    INFO(output);
    REQUIRE(f.env.verify(&report) == 0);
    INFO(report);
    f.start();
    CK_OBJECT_CLASS privCls = CKO_PRIVATE_KEY, pubCls = CKO_PUBLIC_KEY;
    auto priv = findObjects(f.p11(), f.session,
                            {{CKA_CLASS, &privCls, sizeof privCls}, {CKA_ID, (void*)"before", 6}});
    auto pub = findObjects(f.p11(), f.session,
                           {{CKA_CLASS, &pubCls, sizeof pubCls}, {CKA_ID, (void*)"before", 6}});
    REQUIRE(priv.size() == 1);
    REQUIRE(pub.size() == 1);
    CHECK_RV(ecdsaSignAndVerify(f.p11(), f.session, KeyPair{pub[0], priv[0]}), CKR_OK);
    (void)before;

    // The old file: refused without --legacy, restored by name with it.
    f.finalize();
    CHECK(f.env.tool("restore --in " + oldFile + " --user-pin-env P11C_TEST_USER_PIN", &output) ==
          1);
    CHECK(output.find("--legacy") != std::string::npos);
    CHECK(f.env.tool("restore --in " + oldFile +
                         " --legacy --id from-old-backup --undelete --user-pin-env "
                         "P11C_TEST_USER_PIN",
                     &output) == 0);
    INFO(output);
    f.start();
    auto restored = findObjects(f.p11(), f.session, {{CKA_ID, (void*)"from-old-backup", 15}});
    REQUIRE(restored.size() == 1);
    Bytes sealed = cbc(f.p11(), f.session, restored[0]);
    CHECK(opensslAes256CbcPad(false, oldValue, Bytes(16, 0), sealed) == bytesOf("upgrade"));
    f.finalize();
    // And a new backup restores (the key of the old one kept, the new current).
    const std::string fresh = f.env.dir() + "/new.backup";
    REQUIRE(f.env.tool("backup --out " + fresh + " --user-pin-env P11C_TEST_USER_PIN", &output) ==
            0);
    INFO(output);
    CHECK(f.env.tool("restore --in " + fresh + " --user-pin-env P11C_TEST_USER_PIN", &output) == 0);
    INFO(output);
}

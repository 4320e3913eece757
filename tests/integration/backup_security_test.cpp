// Backups an attacker cannot forge or misuse (docs/security.md,
// docs/backup.md): a file forged with what an attacker without the user PIN
// holds is refused; a backup of another cluster is refused by the cluster's
// identity (not its label); a key destroyed on purpose comes back only when
// asked for by name with --undelete.
#include "integration/attacker.h"
#include "integration/backup_fixture.h"

using namespace p11c::test;

namespace {

CK_BBOOL no = CK_FALSE;

// A secret key an attacker makes in a session object, with a value they know.
CK_OBJECT_HANDLE knownKey(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_KEY_TYPE type,
                          const Bytes& value) {
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE templ[] = {{CKA_CLASS, &cls, sizeof cls},
                            {CKA_KEY_TYPE, &type, sizeof type},
                            {CKA_TOKEN, &no, 1},
                            {CKA_PRIVATE, &no, 1},
                            {CKA_VALUE, const_cast<CK_BYTE*>(value.data()), value.size()},
                            {CKA_SENSITIVE, &no, 1},
                            {CKA_EXTRACTABLE, &yes, 1}};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    p11->C_CreateObject(s, templ, 7, &h);
    return h;
}

std::string memberTable(const std::string& name, const std::string& token) {
    return "[[member]]\nname = \"" + name + "\"\nmodule = \"" + softhsmPath() +
           "\"\ntoken = \"pkcs11:token=" + token + "\"\n\n";
}

}  // namespace

TEST_CASE("a backup forged with the token directories and sessions without login is refused",
          "[backup][secrecy]") {
    BackupCluster f;
    f.start();
    f.makeAes("real");
    f.finalize();
    REQUIRE(f.backup() == 0);
    auto image = attack::parseBackup(attack::readFile(f.file));
    REQUIRE(image.has_value());

    // The forger holds copies of the token directories, the file, and may
    // open sessions on the tokens without logging in. They plant an AES key
    // of their choosing and sign the file with a MAC key of their own.
    const Bytes planted = randomBytes(32);
    const Bytes macValue = randomBytes(32);
    attack::BackupImage forged = *image;
    attack::BackupObject object = attack::plantedAes("planted", 1);
    std::vector<Bytes> wrappedKeys;
    for (const Bytes& blob : attack::candidateBlobs(attack::readFile(f.file)))
        if (blob.size() == 40) wrappedKeys.push_back(blob);
    bool wrapped = false;
    if (auto backupKey = attack::aesKeyInClear(f.env.dir() + "/tokens", wrappedKeys)) {
        forged.macKey = attack::kwpWrap(*backupKey, macValue);
        object.wrapped = attack::kwpWrap(*backupKey, planted);
        wrapped = true;
    } else {
        Module softhsm(softhsmPath());
        REQUIRE_OK(softhsm->C_Initialize(nullptr));
        for (const std::string& token : {std::string("recovery"), f.env.memberLabel(0)}) {
            CK_SESSION_HANDLE s;
            REQUIRE_OK(softhsm->C_OpenSession(slotByLabel(softhsm.fn(), token), CKF_SERIAL_SESSION,
                                              nullptr, nullptr, &s));
            CK_OBJECT_HANDLE mac = knownKey(softhsm.fn(), s, CKK_GENERIC_SECRET, macValue);
            CK_OBJECT_HANDLE aes = knownKey(softhsm.fn(), s, CKK_AES, planted);
            for (CK_OBJECT_HANDLE key : attack::visibleSecretKeys(softhsm.fn(), s)) {
                CK_MECHANISM kwp{CKM_AES_KEY_WRAP_PAD, nullptr, 0};
                CK_BYTE a[128], b[128];
                CK_ULONG aLen = sizeof a, bLen = sizeof b;
                if (softhsm->C_WrapKey(s, &kwp, key, mac, a, &aLen) == CKR_OK &&
                    softhsm->C_WrapKey(s, &kwp, key, aes, b, &bLen) == CKR_OK) {
                    forged.macKey.assign(a, a + aLen);
                    object.wrapped.assign(b, b + bLen);
                    wrapped = true;
                }
            }
        }
        softhsm->C_Finalize(nullptr);
    }
    if (!wrapped) {
        // Nothing of the cluster's to wrap with: the forger's own key.
        const Bytes guess = randomBytes(32);
        forged.macKey = attack::kwpWrap(guess, macValue);
        object.wrapped = attack::kwpWrap(guess, planted);
    }
    forged.objects.push_back(object);
    attack::writeFile(f.file, attack::signedBackup(forged, macValue));

    CHECK(f.restore() != 0);
    INFO(f.output);
    CHECK(f.output.find("is authentic") == std::string::npos);
    f.start();
    CHECK(f.countById("planted") == 0);
}

TEST_CASE("restore refuses the backup of another cluster that shares the recovery token",
          "[backup][secrecy]") {
    BackupCluster f;
    f.start();
    f.makeAes("mine");
    f.finalize();
    REQUIRE(f.backup() == 0);

    // Another cluster, same label, same recovery token (so the same backup key).
    f.env.addToken("other-a");
    f.env.addToken("other-b");
    f.env.writeConfig("label = \"test-cluster\"\n",
                      memberTable("x", "other-a") + memberTable("y", "other-b"));
    REQUIRE(f.env.initTransportKey() == 0);
    REQUIRE(f.backupKey("recovery") == 0);
    CHECK(f.restore() != 0);
    INFO(f.output);
    CHECK(f.output.find("another cluster") != std::string::npos);
    f.start();
    CHECK(f.countById("mine") == 0);
    f.finalize();

    // Its own cluster still restores it.
    f.env.writeConfig();
    CHECK(f.restore() == 0);
    INFO(f.output);
}

TEST_CASE("a key destroyed on purpose comes back only when asked for by name with --undelete",
          "[backup][secrecy]") {
    BackupCluster f;
    f.start();
    f.makeAes("gone");
    f.makeAes("kept");
    f.finalize();
    REQUIRE(f.backup() == 0);
    f.start();
    REQUIRE_OK(f.p11()->C_DestroyObject(f.session, f.one(CKO_SECRET_KEY, "gone")));
    f.finalize();

    // A plain restore leaves it destroyed, and says how to bring it back.
    f.restore();
    INFO(f.output);
    CHECK(f.output.find("--undelete") != std::string::npos);
    f.start();
    CHECK(f.countById("gone") == 0);
    f.finalize();
    // By name alone: still not.
    f.restore("--id gone");
    INFO(f.output);
    CHECK(f.output.find("--undelete") != std::string::npos);
    f.start();
    CHECK(f.countById("gone") == 0);
    f.finalize();
    // The flag alone names nothing: a usage error.
    CHECK(f.restore("--undelete") == 2);
    // By name and flag: back, and it says so.
    CHECK(f.restore("--id gone --undelete") == 0);
    INFO(f.output);
    CHECK(f.output.find("undeleted") != std::string::npos);
    f.start();
    CHECK(f.countById("gone") == 1);
    CHECK(f.countById("kept") == 1);
    f.finalize();
    std::string report;
    CHECK(f.env.verify(&report) == 0);
    INFO(report);
}

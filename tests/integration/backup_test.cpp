// Backup and restore (p11cluster backup-key, backup, restore): a backup
// restores into fresh tokens after every member is lost and the keys work;
// one key destroyed by mistake comes back alone, by name; a file cut short,
// changed or made for a backup key no member holds is refused and changes
// nothing; a new backup key keeps older backups restorable until dropped.
#include <fstream>
#include <sstream>

#include "integration/backup_fixture.h"

using namespace p11c::test;

namespace {

CK_BBOOL yes = CK_TRUE;
CK_BBOOL no = CK_FALSE;

CK_OBJECT_HANDLE makeAes(ClusterFixture& f, const std::string& id) {
    CK_MECHANISM mech{CKM_AES_KEY_GEN, nullptr, 0};
    CK_ULONG len = 32;
    CK_ATTRIBUTE templ[] = {{CKA_VALUE_LEN, &len, sizeof len},
                            {CKA_TOKEN, &yes, 1},
                            {CKA_PRIVATE, &yes, 1},
                            {CKA_SENSITIVE, &yes, 1},
                            {CKA_EXTRACTABLE, &no, 1},
                            {CKA_ENCRYPT, &yes, 1},
                            {CKA_DECRYPT, &yes, 1},
                            {CKA_ID, const_cast<char*>(id.data()), id.size()}};
    CK_OBJECT_HANDLE key;
    REQUIRE_OK(f.p11()->C_GenerateKey(f.session, &mech, templ, 8, &key));
    return key;
}

std::vector<CK_BYTE> aesCbc(ClusterFixture& f, CK_OBJECT_HANDLE key, std::vector<CK_BYTE> in,
                            bool encrypt) {
    CK_BYTE iv[16] = {1, 2, 3};
    CK_MECHANISM mech{CKM_AES_CBC_PAD, iv, sizeof iv};
    CK_BYTE out[256];
    CK_ULONG outLen = sizeof out;
    if (encrypt) {
        REQUIRE_OK(f.p11()->C_EncryptInit(f.session, &mech, key));
        REQUIRE_OK(f.p11()->C_Encrypt(f.session, in.data(), in.size(), out, &outLen));
    } else {
        REQUIRE_OK(f.p11()->C_DecryptInit(f.session, &mech, key));
        REQUIRE_OK(f.p11()->C_Decrypt(f.session, in.data(), in.size(), out, &outLen));
    }
    return {out, out + outLen};
}

std::vector<CK_BYTE> sign(ClusterFixture& f, CK_MECHANISM_TYPE type, CK_OBJECT_HANDLE key,
                          const std::vector<CK_BYTE>& data) {
    CK_MECHANISM mech{type, nullptr, 0};
    CK_BYTE sig[512];
    CK_ULONG sigLen = sizeof sig;
    REQUIRE_OK(f.p11()->C_SignInit(f.session, &mech, key));
    REQUIRE_OK(
        f.p11()->C_Sign(f.session, const_cast<CK_BYTE*>(data.data()), data.size(), sig, &sigLen));
    return {sig, sig + sigLen};
}

CK_RV verify(ClusterFixture& f, CK_MECHANISM_TYPE type, CK_OBJECT_HANDLE key,
             const std::vector<CK_BYTE>& data, std::vector<CK_BYTE> sig) {
    CK_MECHANISM mech{type, nullptr, 0};
    CK_RV rv = f.p11()->C_VerifyInit(f.session, &mech, key);
    if (rv != CKR_OK) return rv;
    return f.p11()->C_Verify(f.session, const_cast<CK_BYTE*>(data.data()), data.size(), sig.data(),
                             sig.size());
}

// The word after `what` in a tool's output ("cluster identity HEX", ...).
std::string wordAfter(const std::string& output, const std::string& what) {
    size_t at = output.find(what);
    REQUIRE(at != std::string::npos);
    at += what.size();
    return output.substr(at, output.find_first_of(" ,\n", at) - at);
}

const std::vector<CK_BYTE> kDigest(32, 0x61);
const std::vector<CK_BYTE> kMessage = {'k', 'e', 'e', 'p', ' ', 'm', 'e'};

}  // namespace

TEST_CASE("a backup restores into fresh tokens after every member is lost, and the keys work",
          "[backup]") {
    BackupCluster f;
    f.start();
    CK_RV rv;
    KeyPair ec = generateEcPair(f.p11(), f.session, "b-ec", &rv);
    REQUIRE_OK(rv);
    KeyPair rsa = generateRsaPair(f.p11(), f.session, "b-rsa", &rv);
    REQUIRE_OK(rv);
    CK_OBJECT_HANDLE aes = makeAes(f, "b-aes");
    // A key the caller made extractable travels under the file key.
    CK_MECHANISM aesGen{CKM_AES_KEY_GEN, nullptr, 0};
    CK_ULONG len = 16;
    CK_ATTRIBUTE openTempl[] = {{CKA_VALUE_LEN, &len, sizeof len},
                                {CKA_TOKEN, &yes, 1},
                                {CKA_PRIVATE, &yes, 1},
                                {CKA_SENSITIVE, &no, 1},
                                {CKA_EXTRACTABLE, &yes, 1},
                                {CKA_ID, (void*)"b-open", 6}};
    CK_OBJECT_HANDLE open;
    REQUIRE_OK(f.p11()->C_GenerateKey(f.session, &aesGen, openTempl, 6, &open));
    const auto openValue = attribute(f.p11(), f.session, open, CKA_VALUE);
    REQUIRE(openValue.size() == 16);
    auto ecSig = sign(f, CKM_ECDSA, ec.privateKey, kDigest);
    auto rsaSig = sign(f, CKM_SHA256_RSA_PKCS, rsa.privateKey, kMessage);
    auto sealed = aesCbc(f, aes, kMessage, true);
    f.finalize();
    REQUIRE(f.backup() == 0);
    INFO(f.output);
    CHECK(f.output.find("backup: 6 objects (4 keys wrapped under the backup key; 6 key views)") !=
          std::string::npos);
    const std::string identity = wordAfter(f.output, "cluster identity ");

    // Every member is lost: fresh, empty tokens under the same labels.
    for (unsigned m = 0; m < 3; ++m) {
        std::string label = f.env.memberLabel(m);
        REQUIRE(std::system(
                    ("softhsm2-util --delete-token --token " + label + " >/dev/null").c_str()) ==
                0);
        f.env.addToken(label);
    }
    // The operator makes the cluster again and brings the recovery token.
    // A cluster made afresh is another cluster: it refuses the backup, and
    // says how a rebuilt cluster takes the identity of the one it replaces.
    REQUIRE(f.env.initTransportKey() == 0);
    REQUIRE(f.backupKey("recovery") == 0);
    CHECK(f.restore() == 1);
    INFO(f.output);
    CHECK(f.output.find("another cluster") != std::string::npos);
    CHECK(f.output.find("--cluster-id " + identity) != std::string::npos);
    REQUIRE(f.tool("init --so-pin-env P11C_TEST_SO_PIN --user-pin-env P11C_TEST_USER_PIN "
                   "--cluster-id " +
                   identity) == 0);
    REQUIRE(f.restore() == 0);
    INFO(f.output);
    CHECK(
        f.output.find("restore: 6 restored, 0 already present, 0 failed (6 key views restored)") !=
        std::string::npos);

    f.start();
    // Signatures made before the loss verify with the restored public keys;
    // the restored private keys sign; data sealed before opens.
    CHECK_RV(verify(f, CKM_ECDSA, f.one(CKO_PUBLIC_KEY, "b-ec"), kDigest, ecSig), CKR_OK);
    CHECK_RV(verify(f, CKM_SHA256_RSA_PKCS, f.one(CKO_PUBLIC_KEY, "b-rsa"), kMessage, rsaSig),
             CKR_OK);
    KeyPair restoredEc{f.one(CKO_PUBLIC_KEY, "b-ec"), f.one(CKO_PRIVATE_KEY, "b-ec")};
    CHECK_RV(ecdsaSignAndVerify(f.p11(), f.session, restoredEc), CKR_OK);
    CK_OBJECT_HANDLE restoredAes = f.one(CKO_SECRET_KEY, "b-aes");
    CHECK(aesCbc(f, restoredAes, sealed, false) == kMessage);
    // The caller's view came back with the keys: non-extractable, generated.
    CHECK(attribute(f.p11(), f.session, restoredAes, CKA_EXTRACTABLE) ==
          std::vector<CK_BYTE>{CK_FALSE});
    CHECK(attribute(f.p11(), f.session, restoredAes, CKA_LOCAL) == std::vector<CK_BYTE>{CK_TRUE});
    // The extractable key came back extractable, with its value.
    CK_OBJECT_HANDLE restoredOpen = f.one(CKO_SECRET_KEY, "b-open");
    CHECK(attribute(f.p11(), f.session, restoredOpen, CKA_VALUE) == openValue);
    CHECK(attribute(f.p11(), f.session, restoredOpen, CKA_WRAP_WITH_TRUSTED) ==
          std::vector<CK_BYTE>{CK_FALSE});
    f.finalize();
    std::string report;
    CHECK(f.env.verify(&report) == 0);
    INFO(report);
}

TEST_CASE("restoring one key destroyed by mistake leaves the rest alone", "[backup]") {
    BackupCluster f;
    f.start();
    CK_RV rv;
    KeyPair lost = generateEcPair(f.p11(), f.session, "oops", &rv);
    REQUIRE_OK(rv);
    generateEcPair(f.p11(), f.session, "kept", &rv);
    REQUIRE_OK(rv);
    auto sig = sign(f, CKM_ECDSA, lost.privateKey, kDigest);
    f.finalize();
    REQUIRE(f.backup() == 0);

    f.start();
    REQUIRE_OK(f.p11()->C_DestroyObject(f.session, f.one(CKO_PRIVATE_KEY, "oops")));
    REQUIRE_OK(f.p11()->C_DestroyObject(f.session, f.one(CKO_PUBLIC_KEY, "oops")));
    // Made after the backup: a restore must not touch it.
    generateEcPair(f.p11(), f.session, "later", &rv);
    REQUIRE_OK(rv);
    f.finalize();

    // Destroyed on purpose or by mistake, it comes back only by name and flag.
    REQUIRE(f.restore("--id oops") == 0);
    CHECK(f.output.find("0 restored") != std::string::npos);
    REQUIRE(f.restore("--id oops --undelete") == 0);
    INFO(f.output);
    CHECK(
        f.output.find("restore: 2 restored, 0 already present, 0 failed (2 key views restored)") !=
        std::string::npos);
    CHECK(f.output.find("undeleted") != std::string::npos);
    f.start();
    CHECK(f.countById("oops") == 2);
    CHECK(f.countById("kept") == 2);
    CHECK(f.countById("later") == 2);
    CHECK_RV(verify(f, CKM_ECDSA, f.one(CKO_PUBLIC_KEY, "oops"), kDigest, sig), CKR_OK);
    f.finalize();
    // A second restore finds everything there.
    REQUIRE(f.restore() == 0);
    CHECK(f.output.find("0 restored") != std::string::npos);
    std::string report;
    CHECK(f.env.verify(&report) == 0);
    INFO(report);
}

TEST_CASE(
    "a backup cut short, changed, or made for a backup key no member holds is refused, and a new "
    "backup key keeps older backups restorable until dropped",
    "[backup]") {
    BackupCluster f;
    f.env.addToken("other-recovery");
    f.start();
    CK_RV rv;
    generateEcPair(f.p11(), f.session, "precious", &rv);
    REQUIRE_OK(rv);
    f.finalize();
    REQUIRE(f.backup() == 0);
    const std::string firstKey = wordAfter(f.output, ", backup key ");
    std::ifstream in(f.file, std::ios::binary);
    std::vector<char> good((std::istreambuf_iterator<char>(in)), {});
    REQUIRE(good.size() > 100);
    auto write = [&](const std::vector<char>& bytes) {
        std::ofstream out(f.file, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    };
    // The key is gone: a refused restore must not bring it back.
    f.start();
    REQUIRE_OK(f.p11()->C_DestroyObject(f.session, f.one(CKO_PRIVATE_KEY, "precious")));
    REQUIRE_OK(f.p11()->C_DestroyObject(f.session, f.one(CKO_PUBLIC_KEY, "precious")));
    f.finalize();

    write(std::vector<char>(good.begin(), good.begin() + static_cast<long>(good.size() / 2)));
    CHECK(f.restore() == 1);
    CHECK(f.output.find("cut short") != std::string::npos);
    INFO(f.output);

    std::vector<char> changed = good;
    changed[changed.size() / 2] ^= 0x01;
    write(changed);
    CHECK(f.restore() == 1);
    CHECK((f.output.find("changed or damaged") != std::string::npos ||
           f.output.find("does not parse") != std::string::npos));
    CHECK(f.output.find("nothing restored") != std::string::npos);
    INFO(f.output);
    changed = good;
    changed.back() ^= 0x01;  // the MAC itself
    write(changed);
    CHECK(f.restore() == 1);
    CHECK(f.output.find("changed or damaged") != std::string::npos);
    INFO(f.output);

    write(good);
    // Another recovery token: its key becomes the members' current one; the
    // first stays, so the file still checks out (it is authentic).
    REQUIRE(f.backupKey("other-recovery") == 0);
    INFO(f.output);
    CHECK(f.restore() == 0);
    CHECK(f.output.find("is authentic") != std::string::npos);
    // New backups use the new key.
    const std::string second = f.env.dir() + "/second.backup";
    REQUIRE(f.backup(second) == 0);
    CHECK(wordAfter(f.output, ", backup key ") != firstKey);
    // Dropped from the members, the first key opens nothing here.
    REQUIRE(f.backupKey("other-recovery", "--drop " + firstKey) == 0);
    INFO(f.output);
    CHECK(f.restore() == 1);
    CHECK(f.output.find("which no reachable member holds") != std::string::npos);
    INFO(f.output);
    CHECK(f.restore("", second) == 0);  // the new one still does

    f.start();
    CHECK(f.countById("precious") == 0);
    f.finalize();
    // With the first backup key back on the members, the file restores.
    REQUIRE(f.backupKey("recovery") == 0);
    CHECK(f.restore("--id precious --undelete") == 0);
    INFO(f.output);
    f.start();
    CHECK(f.countById("precious") == 2);
}

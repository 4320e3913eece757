// No key leaves the cluster in the clear (docs/security.md): each attacker
// of the threat model tries what they would try, against SoftHSM members
// made by `p11cluster init` and `backup-key`, and gets nothing.
//
//   - a session on a member (or the recovery token) that never logged in,
//     with a backup file: unwraps nothing under the cluster's keys;
//   - a copy of the token directories: holds no cluster key in the clear;
//   - a member-user session (the PIN, talking to one member directly):
//     cannot extract a key the caller made non-extractable;
//   - another user with a member host's socket: refused;
//   - the cluster's own API: hides what the caller made secret, and reports
//     CKA_NEVER_EXTRACTABLE / CKA_ALWAYS_SENSITIVE / CKA_LOCAL as the
//     specification says for generated, created, unwrapped and copied keys.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "integration/attacker.h"
#include "integration/backup_fixture.h"
#include "support/member_host.h"

using namespace p11c::test;

namespace {

CK_BBOOL yes = CK_TRUE;
CK_BBOOL no = CK_FALSE;

const Bytes kMessage = bytesOf("sixteen byte msg");

// AES-CBC (zero IV) through any function list.
Bytes aesEncrypt(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key) {
    CK_BYTE iv[16] = {};
    CK_MECHANISM mech{CKM_AES_CBC_PAD, iv, sizeof iv};
    return encrypt(p11, s, mech, key, kMessage);
}

// Whether `value` is the AES key behind `sealed` (kMessage under CBC, zero IV).
bool opens(const Bytes& value, const Bytes& sealed) {
    if (value.size() != 32) return false;
    try {
        return opensslAes256CbcPad(false, value, Bytes(16, 0), sealed) == kMessage;
    } catch (const std::exception&) {
        return false;
    }
}

// A key an attacker makes with a value they know.
CK_OBJECT_HANDLE attackerKey(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, const Bytes& value) {
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_AES;
    CK_ATTRIBUTE templ[] = {{CKA_CLASS, &cls, sizeof cls},
                            {CKA_KEY_TYPE, &type, sizeof type},
                            {CKA_TOKEN, &no, 1},
                            {CKA_PRIVATE, &no, 1},
                            {CKA_VALUE, const_cast<CK_BYTE*>(value.data()), value.size()},
                            {CKA_SENSITIVE, &no, 1},
                            {CKA_EXTRACTABLE, &yes, 1},
                            {CKA_WRAP, &yes, 1},
                            {CKA_UNWRAP, &yes, 1}};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    p11->C_CreateObject(s, templ, 9, &h);
    return h;
}

// Every way an attacker could ask a token to unwrap `blob` under `key` into
// something readable; the secret values that came out.
std::vector<Bytes> unwrapReadable(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key,
                                  const Bytes& blob) {
    std::vector<Bytes> out;
    CK_MECHANISM mech{CKM_AES_KEY_WRAP_PAD, nullptr, 0};
    struct Kind {
        CK_OBJECT_CLASS cls;
        CK_KEY_TYPE type;
        CK_ATTRIBUTE_TYPE secret;
    };
    for (Kind kind :
         {Kind{CKO_SECRET_KEY, CKK_AES, CKA_VALUE},
          Kind{CKO_SECRET_KEY, CKK_GENERIC_SECRET, CKA_VALUE},
          Kind{CKO_PRIVATE_KEY, CKK_RSA, CKA_PRIME_1}, Kind{CKO_PRIVATE_KEY, CKK_EC, CKA_VALUE}}) {
        for (bool trusted : {false, true}) {
            CK_ATTRIBUTE templ[] = {{CKA_CLASS, &kind.cls, sizeof kind.cls},
                                    {CKA_KEY_TYPE, &kind.type, sizeof kind.type},
                                    {CKA_TOKEN, &no, 1},
                                    {CKA_PRIVATE, &no, 1},
                                    {CKA_SENSITIVE, &no, 1},
                                    {CKA_EXTRACTABLE, &yes, 1},
                                    {CKA_WRAP_WITH_TRUSTED, trusted ? &yes : &no, 1}};
            CK_OBJECT_HANDLE made = CK_INVALID_HANDLE;
            if (p11->C_UnwrapKey(s, &mech, key, const_cast<CK_BYTE*>(blob.data()), blob.size(),
                                 templ, 7, &made) != CKR_OK)
                continue;
            Bytes value = attribute(p11, s, made, kind.secret);
            if (!value.empty()) out.push_back(value);
            p11->C_DestroyObject(s, made);
        }
    }
    return out;
}

}  // namespace

TEST_CASE("a session that never logged in unwraps nothing of a backup under the cluster's keys",
          "[secrecy]") {
    BackupCluster f;
    f.start();
    CK_RV rv;
    KeyPair rsa = generateRsaPair(f.p11(), f.session, "nl-rsa", &rv);
    REQUIRE_OK(rv);
    Bytes modulus = attribute(f.p11(), f.session, rsa.publicKey, CKA_MODULUS);
    const Bytes sealed = aesEncrypt(f.p11(), f.session, f.makeAes("nl-aes"));
    f.finalize();
    REQUIRE(f.backup() == 0);
    const auto blobs = attack::candidateBlobs(attack::readFile(f.file));
    REQUIRE(!blobs.empty());

    // The attacker: SoftHSM opened directly, a read-only session on every
    // member and on the recovery token, no login.
    Module softhsm(softhsmPath());
    REQUIRE_OK(softhsm->C_Initialize(nullptr));
    std::vector<std::string> tokens = {"recovery"};
    for (unsigned m = 0; m < f.env.members(); ++m) tokens.push_back(f.env.memberLabel(m));
    unsigned usable = 0;
    std::vector<std::string> leaks;
    for (const std::string& token : tokens) {
        CK_SESSION_HANDLE s;
        REQUIRE_OK(softhsm->C_OpenSession(slotByLabel(softhsm.fn(), token), CKF_SERIAL_SESSION,
                                          nullptr, nullptr, &s));
        const Bytes known(32, 0x5a);
        for (CK_OBJECT_HANDLE key : attack::visibleSecretKeys(softhsm.fn(), s)) {
            // Does it wrap anything for us? (a key of ours, in a session object)
            CK_OBJECT_HANDLE ours = attackerKey(softhsm.fn(), s, known);
            CK_MECHANISM mech{CKM_AES_KEY_WRAP_PAD, nullptr, 0};
            CK_BYTE out[128];
            CK_ULONG outLen = sizeof out;
            if (ours != CK_INVALID_HANDLE &&
                softhsm->C_WrapKey(s, &mech, key, ours, out, &outLen) == CKR_OK)
                ++usable;
            for (const Bytes& blob : blobs)
                for (const Bytes& value : unwrapReadable(softhsm.fn(), s, key, blob)) {
                    ++usable;
                    if (opens(value, sealed))
                        leaks.push_back(token + ": the AES key's value");
                    else
                        leaks.push_back(token + ": " + std::to_string(value.size()) +
                                        " secret bytes of a key");
                }
        }
        softhsm->C_CloseSession(s);
    }
    softhsm->C_Finalize(nullptr);
    INFO("the RSA modulus has " << modulus.size() << " bytes");
    std::string all;
    for (const auto& leak : leaks) all += "leaked: " + leak + "\n";
    INFO(all);
    CHECK(leaks.empty());
    CHECK(usable == 0);
}

TEST_CASE("a copy of the token directories holds no cluster key in the clear", "[secrecy]") {
    BackupCluster f;
    f.start();
    f.makeAes("disk-aes");
    f.finalize();
    REQUIRE(f.backup() == 0);
    // The owner (with the user PIN) wraps a key under every cluster key it
    // can use; the attacker, with only the directories, looks for a run of
    // 32 bytes that unwraps one of those blobs or one in the backup file.
    std::vector<Bytes> blobs;
    {
        DirectMembers direct(f.env);
        auto p11 = direct.p11();
        for (unsigned m = 0; m < f.env.members(); ++m) {
            CK_SESSION_HANDLE s = direct.sessions[m];
            CK_OBJECT_HANDLE known = attackerKey(p11, s, Bytes(32, 0x33));
            REQUIRE(known != CK_INVALID_HANDLE);
            for (CK_OBJECT_HANDLE key : attack::visibleSecretKeys(p11, s)) {
                Bytes id = attribute(p11, s, key, CKA_ID);
                if (textOf(id).rfind("p11cluster-", 0) != 0) continue;
                CK_MECHANISM mech{CKM_AES_KEY_WRAP_PAD, nullptr, 0};
                CK_BYTE out[128];
                CK_ULONG outLen = sizeof out;
                REQUIRE_OK(p11->C_WrapKey(s, &mech, key, known, out, &outLen));
                blobs.emplace_back(out, out + outLen);
            }
        }
    }
    REQUIRE(blobs.size() >= 2 * f.env.members());  // transport and backup keys on each
    for (const Bytes& blob : attack::candidateBlobs(attack::readFile(f.file)))
        if (blob.size() == 40) blobs.push_back(blob);  // wrapped 32-byte keys in the file
    auto found = attack::aesKeyInClear(f.env.dir() + "/tokens", blobs);
    CHECK(!found.has_value());
}

TEST_CASE("a member-user session cannot extract a key the caller made non-extractable",
          "[secrecy]") {
    BackupCluster f;
    f.start();
    CK_RV rv;
    KeyPair rsa = generateRsaPair(f.p11(), f.session, "mu-rsa", &rv);
    REQUIRE_OK(rv);
    const Bytes modulus = attribute(f.p11(), f.session, rsa.publicKey, CKA_MODULUS);
    const Bytes sealedSensitive = aesEncrypt(f.p11(), f.session, f.makeAes("mu-aes"));
    const Bytes sealedPlain = aesEncrypt(f.p11(), f.session, f.makeAes("mu-aes-ns", false));
    // Made extractable and readable, then locked by the caller.
    CK_MECHANISM aesGen{CKM_AES_KEY_GEN, nullptr, 0};
    CK_ULONG len = 32;
    CK_ATTRIBUTE laterTempl[] = {
        {CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, &yes, 1},       {CKA_PRIVATE, &yes, 1},
        {CKA_SENSITIVE, &no, 1},           {CKA_EXTRACTABLE, &yes, 1}, {CKA_ENCRYPT, &yes, 1},
        {CKA_ID, (void*)"mu-later", 8}};
    CK_OBJECT_HANDLE later;
    REQUIRE_OK(f.p11()->C_GenerateKey(f.session, &aesGen, laterTempl, 7, &later));
    CK_ATTRIBUTE lock{CKA_EXTRACTABLE, &no, 1};
    REQUIRE_OK(f.p11()->C_SetAttributeValue(f.session, later, &lock, 1));
    const Bytes sealedLater = aesEncrypt(f.p11(), f.session, later);
    CHECK(attribute(f.p11(), f.session, later, CKA_VALUE).empty());
    CHECK(attribute(f.p11(), f.session, later, CKA_SENSITIVE) == Bytes{CK_FALSE});
    f.finalize();

    // The attacker holds the user PIN and talks to each member directly.
    DirectMembers direct(f.env);
    auto p11 = direct.p11();
    std::vector<std::string> leaks;
    for (unsigned m = 0; m < f.env.members(); ++m) {
        CK_SESSION_HANDLE s = direct.sessions[m];
        const std::string where = f.env.memberLabel(m) + ": ";
        auto byId = [&](CK_OBJECT_CLASS cls, const std::string& id) {
            auto found = findObjects(
                p11, s,
                {{CKA_CLASS, &cls, sizeof cls}, {CKA_ID, const_cast<char*>(id.data()), id.size()}});
            REQUIRE(found.size() == 1);
            return found[0];
        };
        struct Target {
            CK_OBJECT_HANDLE key;
            CK_ATTRIBUTE_TYPE secret;
            std::string name;
        };
        std::vector<Target> targets = {
            {byId(CKO_PRIVATE_KEY, "mu-rsa"), CKA_PRIME_1, "RSA key"},
            {byId(CKO_SECRET_KEY, "mu-aes"), CKA_VALUE, "AES key"},
            {byId(CKO_SECRET_KEY, "mu-aes-ns"), CKA_VALUE, "AES key made non-sensitive"},
            {byId(CKO_SECRET_KEY, "mu-later"), CKA_VALUE, "AES key locked after it was made"}};
        auto judge = [&](const std::string& how, const Bytes& value) {
            if (value.empty()) return;
            if (opens(value, sealedLater) || opens(value, sealedSensitive) ||
                opens(value, sealedPlain) || value.size() == modulus.size() / 2)
                leaks.push_back(where + how);
        };
        CK_OBJECT_HANDLE ours = attackerKey(p11, s, Bytes(32, 0x44));
        REQUIRE(ours != CK_INVALID_HANDLE);
        CK_MECHANISM kwp{CKM_AES_KEY_WRAP_PAD, nullptr, 0};
        std::vector<CK_OBJECT_HANDLE> clusterKeys;
        for (CK_OBJECT_HANDLE key : attack::visibleSecretKeys(p11, s))
            if (textOf(attribute(p11, s, key, CKA_ID)).rfind("p11cluster-", 0) == 0)
                clusterKeys.push_back(key);
        for (const Target& t : targets) {
            // Read it.
            judge("read " + t.name, attribute(p11, s, t.key, t.secret));
            // Wrap it under a key of ours, then open the blob ourselves.
            CK_BYTE blob[4096];
            CK_ULONG blobLen = sizeof blob;
            if (p11->C_WrapKey(s, &kwp, ours, t.key, blob, &blobLen) == CKR_OK)
                leaks.push_back(where + t.name + " wrapped under the attacker's key");
            // A copy that is not sensitive.
            CK_ATTRIBUTE plain[] = {{CKA_SENSITIVE, &no, 1}};
            CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
            if (p11->C_CopyObject(s, t.key, plain, 1, &copy) == CKR_OK)
                judge("a non-sensitive copy of the " + t.name, attribute(p11, s, copy, t.secret));
            // Through each cluster key: wrap, unwrap as readable.
            for (CK_OBJECT_HANDLE ck : clusterKeys) {
                blobLen = sizeof blob;
                if (p11->C_WrapKey(s, &kwp, ck, t.key, blob, &blobLen) != CKR_OK) continue;
                for (const Bytes& value : unwrapReadable(p11, s, ck, Bytes(blob, blob + blobLen)))
                    judge("the " + t.name + " through a cluster key", value);
                // The one unwrap a cluster key allows: does its result leave?
                CK_OBJECT_CLASS cls = t.secret == CKA_VALUE ? CKO_SECRET_KEY : CKO_PRIVATE_KEY;
                CK_KEY_TYPE type = t.secret == CKA_VALUE ? CKK_AES : CKK_RSA;
                CK_ATTRIBUTE locked[] = {
                    {CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &type, sizeof type},
                    {CKA_TOKEN, &no, 1},           {CKA_SENSITIVE, &yes, 1},
                    {CKA_EXTRACTABLE, &yes, 1},    {CKA_WRAP_WITH_TRUSTED, &yes, 1}};
                CK_OBJECT_HANDLE made = CK_INVALID_HANDLE;
                if (p11->C_UnwrapKey(s, &kwp, ck, blob, blobLen, locked, 6, &made) == CKR_OK) {
                    judge("an unwrapped copy of the " + t.name, attribute(p11, s, made, t.secret));
                    CK_BYTE again[4096];
                    CK_ULONG againLen = sizeof again;
                    if (p11->C_WrapKey(s, &kwp, ours, made, again, &againLen) == CKR_OK)
                        leaks.push_back(where + "an unwrapped copy of the " + t.name +
                                        " wrapped under the attacker's key");
                }
            }
        }
        // A cluster key turned into a decryption key would undo AES key wrap.
        for (CK_OBJECT_HANDLE ck : clusterKeys) {
            CK_ATTRIBUTE decrypt{CKA_DECRYPT, &yes, 1};
            p11->C_SetAttributeValue(s, ck, &decrypt, 1);
            CK_MECHANISM ecb{CKM_AES_ECB, nullptr, 0};
            if (p11->C_DecryptInit(s, &ecb, ck) == CKR_OK) {
                leaks.push_back(where + "a cluster key decrypts raw AES blocks");
                CK_BYTE block[16] = {}, plain[16];
                CK_ULONG plainLen = sizeof plain;
                p11->C_Decrypt(s, block, 16, plain, &plainLen);
            }
        }
    }
    std::string all;
    for (const auto& leak : leaks) all += "leaked: " + leak + "\n";
    INFO(all);
    CHECK(leaks.empty());
}

namespace {

// What the caller reads of one attribute: its CK_RV, and the value.
struct Read {
    CK_RV rv;
    CK_ULONG length;
    Bytes value;
};
Read readOne(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
             CK_ATTRIBUTE_TYPE type) {
    CK_BYTE buffer[4096];
    CK_ATTRIBUTE a{type, buffer, sizeof buffer};
    CK_RV rv = p11->C_GetAttributeValue(s, h, &a, 1);
    Read r{rv, a.ulValueLen, {}};
    if (rv == CKR_OK) r.value.assign(buffer, buffer + a.ulValueLen);
    return r;
}

CK_BBOOL flag(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
              CK_ATTRIBUTE_TYPE type) {
    Read r = readOne(p11, s, h, type);
    REQUIRE_OK(r.rv);
    REQUIRE(r.value.size() == 1);
    return r.value[0];
}

CK_OBJECT_HANDLE generateSecret(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_MECHANISM_TYPE gen,
                                CK_ULONG length, bool token, bool extractable, bool sensitive) {
    CK_MECHANISM mech{gen, nullptr, 0};
    CK_BBOOL tok = token, ext = extractable, sens = sensitive;
    std::vector<CK_ATTRIBUTE> templ = {{CKA_TOKEN, &tok, 1},      {CKA_PRIVATE, &yes, 1},
                                       {CKA_SENSITIVE, &sens, 1}, {CKA_EXTRACTABLE, &ext, 1},
                                       {CKA_ENCRYPT, &yes, 1},    {CKA_DERIVE, &yes, 1}};
    if (length != 0) templ.push_back({CKA_VALUE_LEN, &length, sizeof length});
    CK_OBJECT_HANDLE h;
    REQUIRE_OK(p11->C_GenerateKey(s, &mech, templ.data(), templ.size(), &h));
    return h;
}

}  // namespace

TEST_CASE("the API hides the secret attributes of a key the caller made non-extractable",
          "[secrecy]") {
    ClusterFixture f;
    REQUIRE(f.env.initTransportKey() == 0);
    f.start();
    auto p11 = f.p11();
    for (bool token : {true, false}) {
        INFO((token ? "token keys" : "session keys"));
        CK_OBJECT_HANDLE aes =
            generateSecret(p11, f.session, CKM_AES_KEY_GEN, 32, token, false, false);
        CK_OBJECT_HANDLE des3 =
            generateSecret(p11, f.session, CKM_DES3_KEY_GEN, 0, token, false, false);
        CK_MECHANISM rsaGen{CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
        CK_ULONG bits = 2048;
        CK_BYTE exponent[] = {1, 0, 1};
        CK_BBOOL tok = token;
        CK_ATTRIBUTE pub[] = {{CKA_TOKEN, &tok, 1},
                              {CKA_MODULUS_BITS, &bits, sizeof bits},
                              {CKA_PUBLIC_EXPONENT, exponent, 3}};
        CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &tok, 1},
                               {CKA_PRIVATE, &yes, 1},
                               {CKA_SENSITIVE, &no, 1},
                               {CKA_EXTRACTABLE, &no, 1},
                               {CKA_SIGN, &yes, 1}};
        CK_OBJECT_HANDLE rsaPub, rsaPriv;
        REQUIRE_OK(p11->C_GenerateKeyPair(f.session, &rsaGen, pub, 3, priv, 5, &rsaPub, &rsaPriv));

        // As SoftHSM (and the specification) answers: non-extractable hides them.
        for (auto [key, type] :
             {std::pair{aes, CKA_VALUE}, std::pair{des3, CKA_VALUE},
              std::pair{rsaPriv, CKA_PRIVATE_EXPONENT}, std::pair{rsaPriv, CKA_PRIME_1},
              std::pair{rsaPriv, CKA_PRIME_2}, std::pair{rsaPriv, CKA_EXPONENT_1},
              std::pair{rsaPriv, CKA_COEFFICIENT}}) {
            INFO("attribute 0x" << std::hex << type);
            Read r = readOne(p11, f.session, key, type);
            CHECK_RV(r.rv, CKR_ATTRIBUTE_SENSITIVE);
            CHECK(r.length == CK_UNAVAILABLE_INFORMATION);
        }
        // Public parts stay readable, in one call with a hidden one.
        {
            CK_BYTE modulus[512], prime[512];
            CK_ATTRIBUTE both[] = {{CKA_MODULUS, modulus, sizeof modulus},
                                   {CKA_PRIME_1, prime, sizeof prime}};
            CHECK_RV(p11->C_GetAttributeValue(f.session, rsaPriv, both, 2),
                     CKR_ATTRIBUTE_SENSITIVE);
            CHECK(both[0].ulValueLen == 256);
            CHECK(both[1].ulValueLen == CK_UNAVAILABLE_INFORMATION);
        }
        // What the caller asked for, and what the specification derives from it.
        CHECK(flag(p11, f.session, aes, CKA_SENSITIVE) == CK_FALSE);
        CHECK(flag(p11, f.session, aes, CKA_EXTRACTABLE) == CK_FALSE);
        CHECK(flag(p11, f.session, aes, CKA_NEVER_EXTRACTABLE) == CK_TRUE);
        CHECK(flag(p11, f.session, aes, CKA_ALWAYS_SENSITIVE) == CK_FALSE);
        CHECK(flag(p11, f.session, aes, CKA_LOCAL) == CK_TRUE);
        CHECK(flag(p11, f.session, rsaPriv, CKA_SENSITIVE) == CK_FALSE);
        CHECK(flag(p11, f.session, rsaPriv, CKA_ALWAYS_SENSITIVE) == CK_FALSE);
        // Made sensitive later: sensitive, but not always.
        CK_ATTRIBUTE sensitive{CKA_SENSITIVE, &yes, 1};
        CHECK_RV(p11->C_SetAttributeValue(f.session, aes, &sensitive, 1), CKR_OK);
        CHECK(flag(p11, f.session, aes, CKA_SENSITIVE) == CK_TRUE);
        CHECK(flag(p11, f.session, aes, CKA_ALWAYS_SENSITIVE) == CK_FALSE);
        CK_ATTRIBUTE insensitive{CKA_SENSITIVE, &no, 1};
        CHECK_RV(p11->C_SetAttributeValue(f.session, aes, &insensitive, 1),
                 CKR_ATTRIBUTE_READ_ONLY);

        // C_DigestKey digests no key the caller keeps secret.
        CK_MECHANISM sha{CKM_SHA256, nullptr, 0};
        for (CK_OBJECT_HANDLE key : {aes, des3}) {
            REQUIRE_OK(p11->C_DigestInit(f.session, &sha));
            CHECK_RV(p11->C_DigestKey(f.session, key), CKR_KEY_INDIGESTIBLE);
            CK_BYTE digest[32];
            CK_ULONG digestLen = sizeof digest;
            p11->C_DigestFinal(f.session, digest, &digestLen);
        }
        // C_WrapKey wraps none of them.
        CK_OBJECT_HANDLE wrapping =
            generateSecret(p11, f.session, CKM_AES_KEY_GEN, 32, false, true, true);
        CK_ATTRIBUTE canWrap{CKA_WRAP, &yes, 1};
        p11->C_SetAttributeValue(f.session, wrapping, &canWrap, 1);
        CK_MECHANISM kwp{CKM_AES_KEY_WRAP_PAD, nullptr, 0};
        for (CK_OBJECT_HANDLE key : {aes, des3, rsaPriv}) {
            CK_BYTE blob[4096];
            CK_ULONG blobLen = sizeof blob;
            CHECK_RV(p11->C_WrapKey(f.session, &kwp, wrapping, key, blob, &blobLen),
                     CKR_KEY_UNEXTRACTABLE);
        }
        // ... and a key made wrap-with-trusted after it was made, only under a
        // trusted key (the caller's wrapping key is not).
        CK_OBJECT_HANDLE open =
            generateSecret(p11, f.session, CKM_AES_KEY_GEN, 32, token, true, true);
        CK_ATTRIBUTE trustedOnly{CKA_WRAP_WITH_TRUSTED, &yes, 1};
        REQUIRE_OK(p11->C_SetAttributeValue(f.session, open, &trustedOnly, 1));
        {
            CK_BYTE blob[4096];
            CK_ULONG blobLen = sizeof blob;
            CHECK_RV(p11->C_WrapKey(f.session, &kwp, wrapping, open, blob, &blobLen),
                     CKR_KEY_NOT_WRAPPABLE);
        }
        // A key derived from one the caller keeps secret was never extractable
        // or always sensitive only if its base was (PKCS#11 3.0, 4.8).
        CK_BYTE data[32] = {7};
        CK_KEY_DERIVATION_STRING_DATA params{data, sizeof data};
        CK_MECHANISM derive{CKM_AES_ECB_ENCRYPT_DATA, &params, sizeof params};
        CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
        CK_KEY_TYPE type = CKK_AES;
        CK_ULONG derivedLen = 32;
        CK_ATTRIBUTE derivedTempl[] = {{CKA_CLASS, &cls, sizeof cls},
                                       {CKA_KEY_TYPE, &type, sizeof type},
                                       {CKA_VALUE_LEN, &derivedLen, sizeof derivedLen},
                                       {CKA_TOKEN, &tok, 1},
                                       {CKA_SENSITIVE, &yes, 1},
                                       {CKA_EXTRACTABLE, &no, 1}};
        CK_OBJECT_HANDLE derived;
        REQUIRE_OK(p11->C_DeriveKey(f.session, &derive, aes, derivedTempl, 6, &derived));
        CHECK(flag(p11, f.session, derived, CKA_NEVER_EXTRACTABLE) == CK_TRUE);
        CHECK(flag(p11, f.session, derived, CKA_ALWAYS_SENSITIVE) == CK_FALSE);
        CHECK(flag(p11, f.session, derived, CKA_LOCAL) == CK_FALSE);
        CHECK_RV(readOne(p11, f.session, derived, CKA_VALUE).rv, CKR_ATTRIBUTE_SENSITIVE);
    }
}

TEST_CASE(
    "created, unwrapped and copied keys report NEVER_EXTRACTABLE, ALWAYS_SENSITIVE and LOCAL "
    "as the specification says",
    "[secrecy]") {
    ClusterFixture f;
    REQUIRE(f.env.initTransportKey() == 0);
    f.start();
    auto p11 = f.p11();
    // Created: the value was known outside, so never "never extractable".
    Template created =
        aesTemplate(Bytes(32, 0x21), "created", "created");  // sensitive, not extractable
    CK_OBJECT_HANDLE c = createObject(p11, f.session, created);
    CHECK(flag(p11, f.session, c, CKA_EXTRACTABLE) == CK_FALSE);
    CHECK(flag(p11, f.session, c, CKA_NEVER_EXTRACTABLE) == CK_FALSE);
    CHECK(flag(p11, f.session, c, CKA_ALWAYS_SENSITIVE) == CK_FALSE);
    CHECK(flag(p11, f.session, c, CKA_LOCAL) == CK_FALSE);
    CHECK_RV(readOne(p11, f.session, c, CKA_VALUE).rv, CKR_ATTRIBUTE_SENSITIVE);

    // Unwrapped: none of the three.
    CK_OBJECT_HANDLE kek = generateSecret(p11, f.session, CKM_AES_KEY_GEN, 32, false, true, true);
    CK_ATTRIBUTE wrapUnwrap[] = {{CKA_WRAP, &yes, 1}, {CKA_UNWRAP, &yes, 1}};
    REQUIRE_OK(p11->C_SetAttributeValue(f.session, kek, wrapUnwrap, 2));
    CK_OBJECT_HANDLE inner = generateSecret(p11, f.session, CKM_AES_KEY_GEN, 32, false, true, true);
    CK_MECHANISM kwp{CKM_AES_KEY_WRAP_PAD, nullptr, 0};
    CK_BYTE blob[128];
    CK_ULONG blobLen = sizeof blob;
    REQUIRE_OK(p11->C_WrapKey(f.session, &kwp, kek, inner, blob, &blobLen));
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_AES;
    CK_ATTRIBUTE unwrapTempl[] = {{CKA_CLASS, &cls, sizeof cls},
                                  {CKA_KEY_TYPE, &type, sizeof type},
                                  {CKA_TOKEN, &yes, 1},
                                  {CKA_PRIVATE, &yes, 1},
                                  {CKA_SENSITIVE, &yes, 1},
                                  {CKA_EXTRACTABLE, &no, 1},
                                  {CKA_ID, const_cast<char*>("unwrapped"), 9}};
    CK_OBJECT_HANDLE u;
    REQUIRE_OK(p11->C_UnwrapKey(f.session, &kwp, kek, blob, blobLen, unwrapTempl, 7, &u));
    CHECK(flag(p11, f.session, u, CKA_NEVER_EXTRACTABLE) == CK_FALSE);
    CHECK(flag(p11, f.session, u, CKA_ALWAYS_SENSITIVE) == CK_FALSE);
    CHECK(flag(p11, f.session, u, CKA_LOCAL) == CK_FALSE);

    // Generated, then copied: the copy keeps what its source was.
    CK_OBJECT_HANDLE g = generateSecret(p11, f.session, CKM_AES_KEY_GEN, 32, true, false, true);
    CK_ATTRIBUTE label{CKA_LABEL, const_cast<char*>("copy"), 4};
    CK_OBJECT_HANDLE copy;
    REQUIRE_OK(p11->C_CopyObject(f.session, g, &label, 1, &copy));
    for (CK_OBJECT_HANDLE h : {g, copy}) {
        CHECK(flag(p11, f.session, h, CKA_NEVER_EXTRACTABLE) == CK_TRUE);
        CHECK(flag(p11, f.session, h, CKA_ALWAYS_SENSITIVE) == CK_TRUE);
        CHECK(flag(p11, f.session, h, CKA_LOCAL) == CK_TRUE);
    }
}

TEST_CASE(
    "the cluster keys on every member are private, trusted, unmodifiable and for key wrap "
    "only, and there is one transport key after init runs again",
    "[secrecy]") {
    BackupCluster f;
    REQUIRE(f.env.initTransportKey() == 0);  // a rotation
    DirectMembers direct(f.env);
    auto p11 = direct.p11();
    for (unsigned m = 0; m < f.env.members(); ++m) {
        CK_SESSION_HANDLE s = direct.sessions[m];
        INFO(f.env.memberLabel(m));
        unsigned transport = 0, backup = 0;
        for (CK_OBJECT_HANDLE key : attack::visibleSecretKeys(p11, s)) {
            const std::string id = textOf(attribute(p11, s, key, CKA_ID));
            if (id.rfind("p11cluster-", 0) != 0) continue;
            transport += id == "p11cluster-transport";
            backup += id == "p11cluster-backup";
            INFO(id);
            CHECK(attribute(p11, s, key, CKA_PRIVATE) == Bytes{CK_TRUE});
            CHECK(attribute(p11, s, key, CKA_TRUSTED) == Bytes{CK_TRUE});
            CHECK(attribute(p11, s, key, CKA_MODIFIABLE) == Bytes{CK_FALSE});
            CHECK(attribute(p11, s, key, CKA_EXTRACTABLE) == Bytes{CK_FALSE});
            CHECK(attribute(p11, s, key, CKA_SENSITIVE) == Bytes{CK_TRUE});
            CHECK(attribute(p11, s, key, CKA_DECRYPT) == Bytes{CK_FALSE});
            CK_MECHANISM_TYPE only = CKM_AES_KEY_WRAP_PAD;
            Bytes allowed = attribute(p11, s, key, CKA_ALLOWED_MECHANISMS);
            CHECK(allowed == Bytes(reinterpret_cast<CK_BYTE*>(&only),
                                   reinterpret_cast<CK_BYTE*>(&only) + sizeof only));
        }
        CHECK(transport == 1);
        CHECK(backup == 1);
    }
}

TEST_CASE("without the user's login a new key cannot be copied, and the cluster says so",
          "[secrecy]") {
    ClusterFixture f;
    REQUIRE(f.env.initTransportKey() == 0);
    f.start(false);
    CK_MECHANISM mech{CKM_AES_KEY_GEN, nullptr, 0};
    CK_ULONG len = 32;
    CK_ATTRIBUTE templ[] = {
        {CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, &no, 1}, {CKA_PRIVATE, &no, 1}};
    CK_OBJECT_HANDLE key;
    CHECK_RV(f.p11()->C_GenerateKey(f.session, &mech, templ, 3, &key), CKR_USER_NOT_LOGGED_IN);
    REQUIRE_OK(f.p11()->C_Login(f.session, CKU_USER, pin(kUserPin), pinLen(kUserPin)));
    CHECK_RV(f.p11()->C_GenerateKey(f.session, &mech, templ, 3, &key), CKR_OK);
}

TEST_CASE("a member host's socket admits only the host's own user", "[secrecy]") {
    SoftHsmEnv env(1);
    MemberHost host(env, "a");  // started
    const std::string path = host.address().substr(std::strlen("unix:"));
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    if (::geteuid() != 0) {
        WARN("not root: cannot try the socket as another user");
        return;
    }
    // Another user, with the socket and its directory opened to everyone by
    // mistake: the host still checks who is calling (SO_PEERCRED).
    REQUIRE(::chmod(path.c_str(), 0666) == 0);
    REQUIRE(::chmod(env.dir().c_str(), 0711) == 0);
    pid_t child = ::fork();
    if (child == 0) {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
        int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) ::_exit(4);
        char hello[64] = {};
        if (::write(fd, hello, sizeof hello) < 0) ::_exit(0);  // already closed on us
        char answer[16];
        ::_exit(::read(fd, answer, sizeof answer) <= 0 ? 0 : 5);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    std::ifstream log(host.logPath());
    std::stringstream text;
    text << log.rdbuf();
    CHECK(text.str().find("refused a connection from uid 65534") != std::string::npos);
}

TEST_CASE("the security officer alone sees no private key and no cluster key", "[secrecy]") {
    BackupCluster f;
    f.start();
    f.makeAes("so-aes");
    f.finalize();
    Module softhsm(softhsmPath());
    REQUIRE_OK(softhsm->C_Initialize(nullptr));
    for (unsigned m = 0; m < f.env.members(); ++m) {
        CK_SESSION_HANDLE s;
        REQUIRE_OK(softhsm->C_OpenSession(slotByLabel(softhsm.fn(), f.env.memberLabel(m)),
                                          CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                                          &s));
        REQUIRE_OK(softhsm->C_Login(s, CKU_SO, pin(kSoPin), pinLen(kSoPin)));
        INFO(f.env.memberLabel(m));
        CHECK(findObjects(softhsm.fn(), s, {{CKA_PRIVATE, &yes, 1}}).empty());
        CHECK(attack::visibleSecretKeys(softhsm.fn(), s).empty());
        softhsm->C_Logout(s);
    }
    softhsm->C_Finalize(nullptr);
}

// Generated keys reach every member: checked by opening each member token
// directly with SoftHSM after the cluster is finalised.
#include <openssl/evp.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "integration/cluster_fixture.h"
#include "integration/crypto_helpers.h"

using namespace p11c::test;

namespace {

CK_BBOOL yes = CK_TRUE;
CK_BBOOL no = CK_FALSE;

const CK_BYTE kP256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
const CK_BYTE kP384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
const CK_BYTE kEd25519[] = {0x06, 0x03, 0x2b, 0x65, 0x70};  // OID 1.3.101.112

struct Pair {
    CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
};

Pair generateRsa(ClusterFixture& f, const std::string& id, CK_ULONG bits) {
    CK_MECHANISM mech{CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
    CK_BYTE exponent[] = {1, 0, 1};
    CK_ATTRIBUTE pub[] = {{CKA_TOKEN, &yes, 1},
                          {CKA_MODULUS_BITS, &bits, sizeof bits},
                          {CKA_PUBLIC_EXPONENT, exponent, 3},
                          {CKA_VERIFY, &yes, 1},
                          {CKA_ID, const_cast<char*>(id.data()), id.size()},
                          {CKA_LABEL, const_cast<char*>(id.data()), id.size()}};
    CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &yes, 1},
                           {CKA_PRIVATE, &yes, 1},
                           {CKA_SIGN, &yes, 1},
                           {CKA_SENSITIVE, &yes, 1},
                           {CKA_ID, const_cast<char*>(id.data()), id.size()},
                           {CKA_LABEL, const_cast<char*>(id.data()), id.size()}};
    Pair p;
    REQUIRE_OK(f.p11()->C_GenerateKeyPair(f.session, &mech, pub, 6, priv, 6, &p.pub, &p.priv));
    return p;
}

Pair generateEc(ClusterFixture& f, const std::string& id, const CK_BYTE* params, size_t size,
                CK_MECHANISM_TYPE gen = CKM_EC_KEY_PAIR_GEN) {
    CK_MECHANISM mech{gen, nullptr, 0};
    CK_ATTRIBUTE pub[] = {{CKA_TOKEN, &yes, 1},
                          {CKA_EC_PARAMS, const_cast<CK_BYTE*>(params), size},
                          {CKA_VERIFY, &yes, 1},
                          {CKA_ID, const_cast<char*>(id.data()), id.size()}};
    CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &yes, 1},
                           {CKA_PRIVATE, &yes, 1},
                           {CKA_SIGN, &yes, 1},
                           {CKA_SENSITIVE, &yes, 1},
                           {CKA_ID, const_cast<char*>(id.data()), id.size()}};
    Pair p;
    REQUIRE_OK(f.p11()->C_GenerateKeyPair(f.session, &mech, pub, 4, priv, 5, &p.pub, &p.priv));
    return p;
}

CK_OBJECT_HANDLE generateSecret(ClusterFixture& f, const std::string& id, CK_MECHANISM_TYPE gen,
                                CK_KEY_TYPE type, CK_ULONG bytes, bool extractable = false) {
    CK_MECHANISM mech{gen, nullptr, 0};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_BBOOL ext = extractable ? CK_TRUE : CK_FALSE;
    CK_ATTRIBUTE templ[] = {{CKA_CLASS, &cls, sizeof cls},
                            {CKA_KEY_TYPE, &type, sizeof type},
                            {CKA_VALUE_LEN, &bytes, sizeof bytes},
                            {CKA_TOKEN, &yes, 1},
                            {CKA_PRIVATE, &yes, 1},
                            {CKA_SENSITIVE, &yes, 1},
                            {CKA_EXTRACTABLE, &ext, 1},
                            {CKA_ENCRYPT, &yes, 1},
                            {CKA_DECRYPT, &yes, 1},
                            {CKA_SIGN, &yes, 1},
                            {CKA_VERIFY, &yes, 1},
                            {CKA_ID, const_cast<char*>(id.data()), id.size()}};
    CK_ULONG count = 12;
    if (type == CKK_AES) {  // AES keys have no sign/verify in SoftHSM's templates
        templ[9] = {CKA_WRAP, &no, 1};
        templ[10] = {CKA_UNWRAP, &no, 1};
    }
    CK_OBJECT_HANDLE key;
    REQUIRE_OK(f.p11()->C_GenerateKey(f.session, &mech, templ, count, &key));
    return key;
}

CK_OBJECT_HANDLE onMember(DirectMembers& d, unsigned m, CK_OBJECT_CLASS cls,
                          const std::string& id) {
    std::vector<CK_ATTRIBUTE> templ = {{CKA_CLASS, &cls, sizeof cls},
                                       {CKA_ID, const_cast<char*>(id.data()), id.size()}};
    auto found = findObjects(d.p11(), d.sessions[m], templ);
    REQUIRE(found.size() == 1);
    return found[0];
}

std::vector<CK_BYTE> signOn(DirectMembers& d, unsigned m, CK_MECHANISM mech, CK_OBJECT_HANDLE key,
                            std::vector<CK_BYTE> data) {
    REQUIRE_OK(d.p11()->C_SignInit(d.sessions[m], &mech, key));
    CK_BYTE sig[1024];
    CK_ULONG len = sizeof sig;
    REQUIRE_OK(d.p11()->C_Sign(d.sessions[m], data.data(), data.size(), sig, &len));
    return {sig, sig + len};
}

CK_RV verifyOn(DirectMembers& d, unsigned m, CK_MECHANISM mech, CK_OBJECT_HANDLE key,
               std::vector<CK_BYTE> data, std::vector<CK_BYTE> sig) {
    REQUIRE_OK(d.p11()->C_VerifyInit(d.sessions[m], &mech, key));
    return d.p11()->C_Verify(d.sessions[m], data.data(), data.size(), sig.data(), sig.size());
}

// Same class, key type, label, usage and public material on every member.
void sameEverywhere(DirectMembers& d, CK_OBJECT_CLASS cls, const std::string& id) {
    const CK_ATTRIBUTE_TYPE compared[] = {CKA_KEY_TYPE,   CKA_LABEL,     CKA_SIGN,
                                          CKA_VERIFY,     CKA_DECRYPT,   CKA_ENCRYPT,
                                          CKA_SENSITIVE,  CKA_PRIVATE,   CKA_MODULUS,
                                          CKA_EC_POINT,   CKA_EC_PARAMS, CKA_WRAP_WITH_TRUSTED,
                                          CKA_EXTRACTABLE};
    // Not CKA_VALUE_LEN: SoftHSM leaves it 0 on keys it unwrapped (and it
    // cannot be set at unwrap); the cluster reports the source's value, as
    // the AES test below checks through the cluster.
    CK_OBJECT_HANDLE first = onMember(d, 0, cls, id);
    for (unsigned m = 1; m < d.sessions.size(); ++m) {
        CK_OBJECT_HANDLE other = onMember(d, m, cls, id);
        for (CK_ATTRIBUTE_TYPE type : compared) {
            INFO("member " << m << " attribute 0x" << std::hex << type);
            CHECK(attribute(d.p11(), d.sessions[0], first, type) ==
                  attribute(d.p11(), d.sessions[m], other, type));
        }
    }
}

const std::vector<CK_BYTE> kData(200, 0x5a);

}  // namespace

TEST_CASE("generated RSA and EC key pairs are on every member, and A's signature verifies on B") {
    ClusterFixture f;
    REQUIRE(f.env.initTransportKey() == 0);
    f.start();
    generateRsa(f, "rsa2048", 2048);
    generateRsa(f, "rsa3072", 3072);
    generateEc(f, "p256", kP256, sizeof kP256);
    generateEc(f, "p384", kP384, sizeof kP384);
    f.finalize();

    DirectMembers d(f.env);
    CK_MECHANISM rsa{CKM_SHA256_RSA_PKCS, nullptr, 0};
    CK_MECHANISM ecdsa{CKM_ECDSA, nullptr, 0};
    CK_MECHANISM eddsa{CKM_EDDSA, nullptr, 0};
    std::vector<CK_BYTE> digest(32, 0x11);
    for (std::string id : {"rsa2048", "rsa3072", "p256", "p384"}) {
        INFO(id);
        sameEverywhere(d, CKO_PRIVATE_KEY, id);
        sameEverywhere(d, CKO_PUBLIC_KEY, id);
        const bool isRsa = id[0] == 'r', isEd = id == "ed25519";
        CK_MECHANISM mech = isRsa ? rsa : isEd ? eddsa : ecdsa;
        const auto& data = isRsa || isEd ? kData : digest;
        for (unsigned a = 0; a < 3; ++a) {
            unsigned b = (a + 1) % 3;
            auto sig = signOn(d, a, mech, onMember(d, a, CKO_PRIVATE_KEY, id), data);
            CHECK_RV(verifyOn(d, b, mech, onMember(d, b, CKO_PUBLIC_KEY, id), data, sig), CKR_OK);
        }
    }
}

TEST_CASE("generated AES and generic secret keys are on every member, and data crosses members") {
    ClusterFixture f;
    REQUIRE(f.env.initTransportKey() == 0);
    f.start();
    CK_OBJECT_HANDLE aes128 = generateSecret(f, "aes128", CKM_AES_KEY_GEN, CKK_AES, 16);
    generateSecret(f, "aes256", CKM_AES_KEY_GEN, CKK_AES, 32);
    for (int i = 0; i < 6; ++i) {  // reads are spread over the members
        CK_ULONG length = 0;
        CK_ATTRIBUTE attr{CKA_VALUE_LEN, &length, sizeof length};
        REQUIRE_OK(f.p11()->C_GetAttributeValue(f.session, aes128, &attr, 1));
        CHECK(length == 16);
    }
    generateSecret(f, "hmac", CKM_GENERIC_SECRET_KEY_GEN, CKK_GENERIC_SECRET, 32);
    f.finalize();

    DirectMembers d(f.env);
    for (const char* id : {"aes128", "aes256"}) {
        INFO(id);
        sameEverywhere(d, CKO_SECRET_KEY, id);
        CK_BYTE iv[16] = {1, 2, 3};
        CK_MECHANISM cbc{CKM_AES_CBC_PAD, iv, sizeof iv};
        std::vector<CK_BYTE> plain = {'c', 'l', 'u', 's', 't', 'e', 'r'};
        REQUIRE_OK(d.p11()->C_EncryptInit(d.sessions[0], &cbc, onMember(d, 0, CKO_SECRET_KEY, id)));
        CK_BYTE cipher[64];
        CK_ULONG cipherLen = sizeof cipher;
        REQUIRE_OK(
            d.p11()->C_Encrypt(d.sessions[0], plain.data(), plain.size(), cipher, &cipherLen));
        for (unsigned m = 1; m < 3; ++m) {
            REQUIRE_OK(
                d.p11()->C_DecryptInit(d.sessions[m], &cbc, onMember(d, m, CKO_SECRET_KEY, id)));
            CK_BYTE back[64];
            CK_ULONG backLen = sizeof back;
            REQUIRE_OK(d.p11()->C_Decrypt(d.sessions[m], cipher, cipherLen, back, &backLen));
            CHECK(std::vector<CK_BYTE>(back, back + backLen) == plain);
        }
    }
    sameEverywhere(d, CKO_SECRET_KEY, "hmac");
    CK_MECHANISM hmac{CKM_SHA256_HMAC, nullptr, 0};
    auto mac = signOn(d, 2, hmac, onMember(d, 2, CKO_SECRET_KEY, "hmac"), kData);
    CHECK_RV(verifyOn(d, 0, hmac, onMember(d, 0, CKO_SECRET_KEY, "hmac"), kData, mac), CKR_OK);
}

TEST_CASE(
    "a non-extractable generated key is replicated, shows what the caller asked, and "
    "cannot be wrapped by the caller") {
    ClusterFixture f;
    REQUIRE(f.env.initTransportKey() == 0);
    f.start();
    CK_OBJECT_HANDLE key = generateSecret(f, "locked", CKM_AES_KEY_GEN, CKK_AES, 32, false);
    CK_BBOOL extractable = CK_TRUE, never = CK_FALSE, sensitive = CK_FALSE, local = CK_FALSE;
    CK_ATTRIBUTE view[] = {{CKA_EXTRACTABLE, &extractable, 1},
                           {CKA_NEVER_EXTRACTABLE, &never, 1},
                           {CKA_SENSITIVE, &sensitive, 1},
                           {CKA_LOCAL, &local, 1}};
    // Ask several times: reads are spread over the members.
    for (int i = 0; i < 6; ++i) {
        REQUIRE_OK(f.p11()->C_GetAttributeValue(f.session, key, view, 4));
        CHECK(extractable == CK_FALSE);
        CHECK(never == CK_TRUE);
        CHECK(sensitive == CK_TRUE);
        CHECK(local == CK_TRUE);
    }
    // The caller's own wrapping key cannot take it out.
    CK_OBJECT_HANDLE kek = generateSecret(f, "kek", CKM_AES_KEY_GEN, CKK_AES, 32, false);
    CK_ATTRIBUTE wrapOn{CKA_WRAP, &yes, 1};
    REQUIRE_OK(f.p11()->C_SetAttributeValue(f.session, kek, &wrapOn, 1));
    CK_MECHANISM wrap{CKM_AES_KEY_WRAP, nullptr, 0};
    CK_BYTE blob[128];
    CK_ULONG blobLen = sizeof blob;
    CHECK_RV(f.p11()->C_WrapKey(f.session, &wrap, kek, key, blob, &blobLen), CKR_KEY_UNEXTRACTABLE);
    CK_ATTRIBUTE reopen{CKA_EXTRACTABLE, &yes, 1};
    CHECK_RV(f.p11()->C_SetAttributeValue(f.session, key, &reopen, 1), CKR_ATTRIBUTE_READ_ONLY);
    f.finalize();

    // On each member it is held wrappable only under trusted keys: the
    // member itself refuses an ordinary wrapping key.
    DirectMembers d(f.env);
    for (unsigned m = 0; m < 3; ++m) {
        CK_OBJECT_HANDLE held = onMember(d, m, CKO_SECRET_KEY, "locked");
        CHECK(attribute(d.p11(), d.sessions[m], held, CKA_WRAP_WITH_TRUSTED) ==
              std::vector<CK_BYTE>{CK_TRUE});
        CHECK(attribute(d.p11(), d.sessions[m], held, CKA_SENSITIVE) ==
              std::vector<CK_BYTE>{CK_TRUE});
        CK_OBJECT_HANDLE memberKek = onMember(d, m, CKO_SECRET_KEY, "kek");
        blobLen = sizeof blob;
        CK_RV rv = d.p11()->C_WrapKey(d.sessions[m], &wrap, memberKek, held, blob, &blobLen);
        CHECK(rv != CKR_OK);
    }
}

namespace {

// The attributes a caller sees of a key, as one token reports them.
struct Seen {
    CK_BBOOL extractable = 2, never = 2, local = 2;
    CK_MECHANISM_TYPE genMechanism = 0;
    CK_ULONG valueLen = 0;
};

Seen seen(ClusterFixture& f, CK_OBJECT_HANDLE key, bool secret) {
    Seen s;
    CK_ATTRIBUTE templ[] = {{CKA_EXTRACTABLE, &s.extractable, 1},
                            {CKA_NEVER_EXTRACTABLE, &s.never, 1},
                            {CKA_LOCAL, &s.local, 1},
                            {CKA_KEY_GEN_MECHANISM, &s.genMechanism, sizeof s.genMechanism},
                            {CKA_VALUE_LEN, &s.valueLen, sizeof s.valueLen}};
    REQUIRE_OK(f.p11()->C_GetAttributeValue(f.session, key, templ, secret ? 5 : 4));
    return s;
}

CK_OBJECT_HANDLE findOne(ClusterFixture& f, CK_OBJECT_CLASS cls, const std::string& id,
                         std::vector<CK_ATTRIBUTE> more = {}) {
    more.push_back({CKA_CLASS, &cls, sizeof cls});
    more.push_back({CKA_ID, const_cast<char*>(id.data()), id.size()});
    auto found = findObjects(f.p11(), f.session, more);
    REQUIRE(found.size() == 1);
    return found[0];
}

}  // namespace

TEST_CASE(
    "the caller's view of a key outlives the process: made non-extractable, relabelled, or "
    "made permanent with C_CopyObject") {
    ClusterFixture f;
    REQUIRE(f.env.initTransportKey() == 0);
    f.start();
    generateSecret(f, "v-aes", CKM_AES_KEY_GEN, CKK_AES, 32, false);
    Pair ec = generateEc(f, "v-ec", kP256, sizeof kP256);
    // SunPKCS11 relabels a key after making it.
    const char relabel[] = "renamed";
    CK_ATTRIBUTE label{CKA_LABEL, const_cast<char*>(relabel), sizeof relabel - 1};
    REQUIRE_OK(f.p11()->C_SetAttributeValue(f.session, ec.priv, &label, 1));
    // keytool makes a session key pair and keeps it with C_CopyObject.
    CK_MECHANISM gen{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
    const std::string kept = "v-kept";
    CK_ATTRIBUTE pub[] = {{CKA_EC_PARAMS, const_cast<CK_BYTE*>(kP256), sizeof kP256},
                          {CKA_VERIFY, &yes, 1},
                          {CKA_ID, const_cast<char*>(kept.data()), kept.size()}};
    CK_ATTRIBUTE priv[] = {{CKA_PRIVATE, &yes, 1},
                           {CKA_SIGN, &yes, 1},
                           {CKA_SENSITIVE, &yes, 1},
                           {CKA_EXTRACTABLE, &no, 1},
                           {CKA_ID, const_cast<char*>(kept.data()), kept.size()}};
    Pair session;
    REQUIRE_OK(
        f.p11()->C_GenerateKeyPair(f.session, &gen, pub, 3, priv, 5, &session.pub, &session.priv));
    CK_ATTRIBUTE token{CKA_TOKEN, &yes, 1};
    CK_OBJECT_HANDLE copy;
    REQUIRE_OK(f.p11()->C_CopyObject(f.session, session.priv, &token, 1, &copy));
    REQUIRE_OK(f.p11()->C_DestroyObject(f.session, session.priv));
    f.finalize();

    // The next life (as any other process) finds the keys as they were made,
    // whichever member answers.
    for (int round = 0; round < 2; ++round) {
        f.start();
        for (int i = 0; i < 3; ++i) {
            Seen aes = seen(f, findOne(f, CKO_SECRET_KEY, "v-aes"), true);
            CHECK(aes.extractable == CK_FALSE);
            CHECK(aes.never == CK_TRUE);
            CHECK(aes.local == CK_TRUE);
            CHECK(aes.genMechanism == CKM_AES_KEY_GEN);
            CHECK(aes.valueLen == 32);
            CK_OBJECT_HANDLE ecKey = findOne(f, CKO_PRIVATE_KEY, "v-ec");
            Seen priv = seen(f, ecKey, false);
            CHECK(priv.extractable == CK_FALSE);
            CHECK(priv.local == CK_TRUE);
            CHECK(priv.genMechanism == CKM_EC_KEY_PAIR_GEN);
            CHECK(attribute(f.p11(), f.session, ecKey, CKA_LABEL) ==
                  std::vector<CK_BYTE>(relabel, relabel + sizeof relabel - 1));
            CHECK(attribute(f.p11(), f.session, findOne(f, CKO_PUBLIC_KEY, "v-ec"), CKA_LOCAL) ==
                  std::vector<CK_BYTE>{CK_TRUE});
            Seen keptKey = seen(f, findOne(f, CKO_PRIVATE_KEY, kept), false);
            CHECK(keptKey.extractable == CK_FALSE);
            CHECK(keptKey.never == CK_TRUE);
            CHECK(keptKey.local == CK_TRUE);
        }
        // A search by the caller's view finds what the caller made.
        CK_BBOOL falseValue = CK_FALSE;
        findOne(f, CKO_SECRET_KEY, "v-aes", {{CKA_EXTRACTABLE, &falseValue, 1}});
        CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
        CHECK(findObjects(f.p11(), f.session,
                          {{CKA_CLASS, &secret, sizeof secret}, {CKA_EXTRACTABLE, &yes, 1}})
                  .empty());
        // ... and the caller still cannot take it out under a key of its own.
        CK_OBJECT_HANDLE kek =
            generateSecret(f, "v-kek" + std::to_string(round), CKM_AES_KEY_GEN, CKK_AES, 32, false);
        CK_ATTRIBUTE wrapOn{CKA_WRAP, &yes, 1};
        REQUIRE_OK(f.p11()->C_SetAttributeValue(f.session, kek, &wrapOn, 1));
        CK_MECHANISM wrap{CKM_AES_KEY_WRAP, nullptr, 0};
        CK_BYTE blob[128];
        CK_ULONG blobLen = sizeof blob;
        CHECK_RV(f.p11()->C_WrapKey(f.session, &wrap, kek, findOne(f, CKO_SECRET_KEY, "v-aes"),
                                    blob, &blobLen),
                 CKR_KEY_UNEXTRACTABLE);
        f.finalize();
    }
    std::string report;
    CHECK(f.env.verify(&report) == 0);
    INFO(report);
}

TEST_CASE(
    "the transport key is non-extractable, sensitive and trusted on every member, and "
    "hidden from the caller") {
    ClusterFixture f;
    REQUIRE(f.env.initTransportKey() == 0);
    f.start();
    CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
    CHECK(findObjects(f.p11(), f.session, {{CKA_CLASS, &secret, sizeof secret}}).empty());
    f.finalize();

    DirectMembers d(f.env);
    const std::string id = "p11cluster-transport";
    for (unsigned m = 0; m < 3; ++m) {
        CK_OBJECT_HANDLE t = onMember(d, m, CKO_SECRET_KEY, id);
        CHECK(attribute(d.p11(), d.sessions[m], t, CKA_EXTRACTABLE) ==
              std::vector<CK_BYTE>{CK_FALSE});
        CHECK(attribute(d.p11(), d.sessions[m], t, CKA_SENSITIVE) == std::vector<CK_BYTE>{CK_TRUE});
        CHECK(attribute(d.p11(), d.sessions[m], t, CKA_TRUSTED) == std::vector<CK_BYTE>{CK_TRUE});
        CHECK(attribute(d.p11(), d.sessions[m], t, CKA_VALUE).empty());  // never readable
    }
}

TEST_CASE("running init again rotates the transport key and keeps exactly one") {
    ClusterFixture f;
    REQUIRE(f.env.initTransportKey() == 0);
    REQUIRE(f.env.initTransportKey() == 0);
    f.start();
    generateRsa(f, "after-rotation", 2048);
    f.finalize();
    DirectMembers d(f.env);
    CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
    for (unsigned m = 0; m < 3; ++m) {
        CHECK(findObjects(d.p11(), d.sessions[m], {{CKA_CLASS, &secret, sizeof secret}}).size() ==
              1);
        onMember(d, m, CKO_PRIVATE_KEY, "after-rotation");
    }
}

TEST_CASE("without a transport key, generation below the write quorum fails and leaves nothing") {
    ClusterFixture f;
    f.start();
    CK_MECHANISM mech{CKM_AES_KEY_GEN, nullptr, 0};
    CK_ULONG len = 32;
    CK_ATTRIBUTE templ[] = {{CKA_VALUE_LEN, &len, sizeof len}, {CKA_TOKEN, &yes, 1}};
    CK_OBJECT_HANDLE key;
    CHECK_RV(f.p11()->C_GenerateKey(f.session, &mech, templ, 2, &key), CKR_DEVICE_ERROR);
    f.finalize();
    DirectMembers d(f.env);
    CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
    for (unsigned m = 0; m < 3; ++m)
        CHECK(findObjects(d.p11(), d.sessions[m], {{CKA_CLASS, &secret, sizeof secret}}).empty());
}

TEST_CASE("a key generated in one life of the module is found and used in the next") {
    ClusterFixture f;
    REQUIRE(f.env.initTransportKey() == 0);
    f.start();
    generateEc(f, "persistent", kP256, sizeof kP256);
    f.finalize();
    // A new initialisation reads from whichever member it picks.
    for (int round = 0; round < 3; ++round) {
        f.start();
        CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
        auto keys = findObjects(f.p11(), f.session,
                                {{CKA_CLASS, &cls, sizeof cls}, {CKA_ID, (void*)"persistent", 10}});
        REQUIRE(keys.size() == 1);
        CK_MECHANISM ecdsa{CKM_ECDSA, nullptr, 0};
        std::vector<CK_BYTE> digest(32, 7);
        for (int i = 0; i < 6; ++i) {  // round-robin over the members
            REQUIRE_OK(f.p11()->C_SignInit(f.session, &ecdsa, keys[0]));
            CK_BYTE sig[128];
            CK_ULONG sigLen = sizeof sig;
            REQUIRE_OK(f.p11()->C_Sign(f.session, digest.data(), digest.size(), sig, &sigLen));
        }
        f.finalize();
    }
}

TEST_CASE("p11cluster verify is clean after replication and names a member that lacks a key") {
    ClusterFixture f;
    REQUIRE(f.env.initTransportKey() == 0);
    f.start();
    generateRsa(f, "v-rsa", 2048);
    generateEc(f, "v-ec", kP256, sizeof kP256);
    generateSecret(f, "v-aes", CKM_AES_KEY_GEN, CKK_AES, 32);
    f.finalize();
    std::string report;
    CHECK(f.env.verify(&report) == 0);
    INFO(report);
    CHECK_THAT(report, Catch::Contains("0 differences"));
    CHECK_THAT(report, Catch::Contains("cross-member signatures"));
    CHECK_THAT(report, !Catch::Contains("0 cross-member signatures"));

    // Take the RSA private key away from member b behind the cluster's back.
    {
        DirectMembers d(f.env);
        REQUIRE_OK(
            d.p11()->C_DestroyObject(d.sessions[1], onMember(d, 1, CKO_PRIVATE_KEY, "v-rsa")));
    }
    CHECK(f.env.verify(&report) == 1);
    CHECK_THAT(report,
               Catch::Contains("private key") && Catch::Contains("missing on member \"b\""));
}

TEST_CASE("a new, empty member listed in the configuration is brought in sync") {
    ClusterFixture f(2);
    REQUIRE(f.env.initTransportKey() == 0);
    f.start();
    std::string id = "before-c";
    CK_RV rv;
    generateEcPair(f.p11(), f.session, id, &rv);
    REQUIRE_OK(rv);
    // An imported key the caller made non-extractable reaches c too.
    CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES;
    std::vector<CK_BYTE> value(32, 0x3c);
    const std::string importedId = "imported-locked";
    CK_ATTRIBUTE imported[] = {{CKA_CLASS, &secret, sizeof secret},
                               {CKA_KEY_TYPE, &aes, sizeof aes},
                               {CKA_TOKEN, &yes, 1},
                               {CKA_PRIVATE, &yes, 1},
                               {CKA_SENSITIVE, &yes, 1},
                               {CKA_EXTRACTABLE, &no, 1},
                               {CKA_ENCRYPT, &yes, 1},
                               {CKA_ID, const_cast<char*>(importedId.data()), importedId.size()},
                               {CKA_VALUE, value.data(), value.size()}};
    CK_OBJECT_HANDLE importedKey;
    REQUIRE_OK(f.p11()->C_CreateObject(f.session, imported, 9, &importedKey));
    f.finalize();

    // The operator adds member c, gives it the transport key, and restarts.
    f.env.addToken("member-c");
    f.env.writeConfig("label = \"test-cluster\"\n",
                      f.env.memberTables() + "[[member]]\nname = \"c\"\nmodule = \"" +
                          std::string(softhsmPath()) + "\"\ntoken = \"pkcs11:token=member-c\"\n");
    REQUIRE(f.env.initTransportKey() == 0);
    f.start();  // the login finds the members disagree and repairs in the background
    std::string report;
    bool agree = f.env.verifiesWithin(20, &report);
    INFO(report);
    CHECK(agree);
    // c signs with the key made before it joined.
    CK_ATTRIBUTE byId{CKA_ID, id.data(), id.size()};
    CHECK(findObjects(f.p11(), f.session, {byId}).size() == 2);
    CK_OBJECT_HANDLE locked = findOne(f, CKO_SECRET_KEY, importedId);
    CHECK(attribute(f.p11(), f.session, locked, CKA_EXTRACTABLE) == std::vector<CK_BYTE>{CK_FALSE});
    CHECK(attribute(f.p11(), f.session, locked, CKA_LOCAL) == std::vector<CK_BYTE>{CK_FALSE});
    f.finalize();
    Module direct(softhsmPath());
    REQUIRE_OK(direct->C_Initialize(nullptr));
    CK_SESSION_HANDLE s;
    REQUIRE_OK(direct->C_OpenSession(slotByLabel(direct.fn(), "member-c"), CKF_SERIAL_SESSION,
                                     nullptr, nullptr, &s));
    REQUIRE_OK(direct->C_Login(s, CKU_USER, pin(kUserPin), pinLen(kUserPin)));
    CHECK(findObjects(direct.fn(), s, {byId}).size() == 2);
    // c holds the imported key, and its AES-ECB output is a's (same value).
    CK_ATTRIBUTE byImportedId{CKA_ID, const_cast<char*>(importedId.data()), importedId.size()};
    auto onC = findObjects(direct.fn(), s, {byImportedId});
    REQUIRE(onC.size() == 1);
    CK_MECHANISM ecb{CKM_AES_ECB, nullptr, 0};
    CK_BYTE block[16] = {}, out[16];
    CK_ULONG outLen = sizeof out;
    REQUIRE_OK(direct->C_EncryptInit(s, &ecb, onC[0]));
    REQUIRE_OK(direct->C_Encrypt(s, block, 16, out, &outLen));
    CK_BYTE expected[16];
    int len = 0;
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex(ctx, EVP_aes_256_ecb(), nullptr, value.data(), nullptr);
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    EVP_EncryptUpdate(ctx, expected, &len, block, 16);
    EVP_CIPHER_CTX_free(ctx);
    CHECK(std::vector<CK_BYTE>(out, out + 16) == std::vector<CK_BYTE>(expected, expected + 16));
    direct->C_Finalize(nullptr);
}

TEST_CASE("a member holding identical copies of a key is repaired from one that holds it once") {
    ClusterFixture f(3);
    REQUIRE(f.env.initTransportKey() == 0);
    f.start();
    CK_RV rv;
    generateEcPair(f.p11(), f.session, "twinned", &rv);
    REQUIRE_OK(rv);
    f.finalize();
    {
        // A write that ran late next to its repair leaves member b a second copy.
        DirectMembers direct(f.env);
        CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
        CK_ATTRIBUTE templ[] = {{CKA_CLASS, &cls, sizeof cls},
                                {CKA_ID, const_cast<char*>("twinned"), 7}};
        auto found = findObjects(direct.module.fn(), direct.sessions[1], {templ[0], templ[1]});
        REQUIRE(found.size() == 1);
        CK_OBJECT_HANDLE copy;
        CK_ATTRIBUTE token{CKA_TOKEN, &yes, 1};
        REQUIRE_OK(direct.module->C_CopyObject(direct.sessions[1], found[0], &token, 1, &copy));
    }
    std::string report;
    CHECK(f.env.verify(&report) != 0);  // "2 copies on member b"
    f.start();                          // the login sees the members disagree and repairs
    bool agree = f.env.verifiesWithin(20, &report);
    INFO(report);
    CHECK(agree);
}

TEST_CASE("a key the members cannot copy is refused as an unsupported mechanism, not half-made") {
    // SoftHSM 2.6 makes Ed25519 keys but its C_WrapKey refuses them
    // (CKR_KEY_NOT_WRAPPABLE): the cluster cannot hold them on every member.
    ClusterFixture f;
    REQUIRE(f.env.initTransportKey() == 0);
    f.start();
    CK_MECHANISM mech{CKM_EC_EDWARDS_KEY_PAIR_GEN, nullptr, 0};
    std::string id = "ed25519";
    CK_ATTRIBUTE pub[] = {{CKA_TOKEN, &yes, 1},
                          {CKA_EC_PARAMS, const_cast<CK_BYTE*>(kEd25519), sizeof kEd25519},
                          {CKA_ID, id.data(), id.size()}};
    CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &yes, 1},
                           {CKA_PRIVATE, &yes, 1},
                           {CKA_SIGN, &yes, 1},
                           {CKA_ID, id.data(), id.size()}};
    CK_OBJECT_HANDLE h1, h2;
    CHECK_RV(f.p11()->C_GenerateKeyPair(f.session, &mech, pub, 3, priv, 4, &h1, &h2),
             CKR_MECHANISM_INVALID);
    CK_ATTRIBUTE byId{CKA_ID, id.data(), id.size()};
    CHECK(findObjects(f.p11(), f.session, {byId}).empty());
    f.finalize();
    DirectMembers d(f.env);
    for (unsigned m = 0; m < 3; ++m)
        CHECK(findObjects(d.module.fn(), d.sessions[m], {byId}).empty());
}

TEST_CASE("p11cluster repair brings a member that lost a key back in sync, offline") {
    ClusterFixture f;
    REQUIRE(f.env.initTransportKey() == 0);
    f.start();
    generateSecret(f, "r-aes", CKM_AES_KEY_GEN, CKK_AES, 32, false);
    f.finalize();
    {
        DirectMembers d(f.env);
        REQUIRE_OK(
            d.p11()->C_DestroyObject(d.sessions[2], onMember(d, 2, CKO_SECRET_KEY, "r-aes")));
    }
    std::string report;
    REQUIRE(f.env.verify(&report) == 1);
    CHECK(report.find("missing on member \"c\"") != std::string::npos);
    ::setenv("P11C_TEST_USER_PIN", kUserPin, 1);
    std::string out = f.env.dir() + "/repair.out";
    std::string command = std::string(toolPath()) + " repair --config " + f.env.configPath() +
                          " --user-pin-env P11C_TEST_USER_PIN >" + out + " 2>&1";
    CHECK(std::system(command.c_str()) == 0);
    CHECK(f.env.verify(&report) == 0);
    INFO(report);
    // c holds the key again, with the caller's view beside it: in a new life
    // it is still non-extractable whichever member answers.
    f.start();
    for (int i = 0; i < 3; ++i) {
        Seen aes = seen(f, findOne(f, CKO_SECRET_KEY, "r-aes"), true);
        CHECK(aes.extractable == CK_FALSE);
        CHECK(aes.local == CK_TRUE);
    }
}

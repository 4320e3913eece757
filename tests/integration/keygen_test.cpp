// Key generation through the cluster: the generated keys work for signing,
// verifying, encrypting and decrypting through the cluster, and their public
// halves (or, for an extractable secret key, the value) check out with
// OpenSSL. Generation needs the cluster transport key (`p11cluster init`),
// set up first as an operator would. Where the keys are stored is not
// asserted here: replication of generated keys is tested on its own.
#include "integration/cluster_fixture.h"
#include "integration/crypto_helpers.h"

using namespace p11c::test;

namespace {

CK_MECHANISM mech(CK_MECHANISM_TYPE type, void* param = nullptr, size_t size = 0) {
    return {type, param, static_cast<CK_ULONG>(size)};
}

KeyPair generatePair(ClusterFixture& f, CK_SESSION_HANDLE s, CK_MECHANISM mechanism, Template& pub,
                     Template& priv) {
    KeyPair pair;
    REQUIRE_OK(f.p11()->C_GenerateKeyPair(s, &mechanism, pub.data(), pub.size(), priv.data(),
                                          priv.size(), &pair.publicKey, &pair.privateKey));
    REQUIRE(pair.publicKey != CK_INVALID_HANDLE);
    REQUIRE(pair.privateKey != CK_INVALID_HANDLE);
    CHECK(pair.publicKey != pair.privateKey);
    return pair;
}

Template ecGenPublic(const std::string& label, bool token) {
    Template t;
    t.flag(CKA_TOKEN, token).flag(CKA_VERIFY, true).text(CKA_LABEL, label).text(CKA_ID, label);
    t.add(CKA_EC_PARAMS, kP256Params);
    return t;
}

Template ecGenPrivate(const std::string& label, bool token) {
    Template t;
    t.flag(CKA_TOKEN, token).flag(CKA_PRIVATE, true).flag(CKA_SENSITIVE, true);
    t.flag(CKA_SIGN, true).text(CKA_LABEL, label).text(CKA_ID, label);
    return t;
}

}  // namespace

TEST_CASE("C_GenerateKeyPair makes a working RSA-2048 key pair") {
    ClusterFixture f;
    REQUIRE(f.env.initTransportKey() == 0);  // `p11cluster init`: generated keys can be copied
    f.start();
    Template pub, priv;
    CK_BYTE exponent[] = {0x01, 0x00, 0x01};
    pub.flag(CKA_TOKEN, true).flag(CKA_VERIFY, true).flag(CKA_ENCRYPT, true);
    pub.ulong(CKA_MODULUS_BITS, 2048).add(CKA_PUBLIC_EXPONENT, exponent, 3);
    pub.text(CKA_LABEL, "generated-rsa").text(CKA_ID, "gen-rsa");
    priv.flag(CKA_TOKEN, true).flag(CKA_PRIVATE, true).flag(CKA_SENSITIVE, true);
    priv.flag(CKA_SIGN, true).flag(CKA_DECRYPT, true);
    priv.text(CKA_LABEL, "generated-rsa").text(CKA_ID, "gen-rsa");
    KeyPair pair = generatePair(f, f.session, mech(CKM_RSA_PKCS_KEY_PAIR_GEN), pub, priv);

    Bytes modulus = attribute(f.p11(), f.session, pair.publicKey, CKA_MODULUS);
    REQUIRE(modulus.size() == 256);
    CHECK(attribute(f.p11(), f.session, pair.privateKey, CKA_MODULUS) == modulus);
    Pkey opensslPub = rsaPublicKeyFrom(modulus, Bytes(exponent, exponent + 3));
    CHECK(findByLabel(f.p11(), f.session, CKO_PRIVATE_KEY, "generated-rsa") ==
          std::vector<CK_OBJECT_HANDLE>{pair.privateKey});

    for (int i = 0; i < 6; ++i) {
        INFO("round " << i);
        const Bytes data = bytesOf("signed with a generated key " + std::to_string(i));
        Bytes sig = sign(f.p11(), f.session, mech(CKM_SHA256_RSA_PKCS), pair.privateKey, data);
        CHECK(opensslVerifyRsaPkcs1Sha256(opensslPub.get(), data, sig));
        CHECK_RV(verify(f.p11(), f.session, mech(CKM_SHA256_RSA_PKCS), pair.publicKey, data, sig),
                 CKR_OK);
    }
    CK_RSA_PKCS_OAEP_PARAMS oaep{CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, nullptr, 0};
    const Bytes plain = bytesOf("to the generated key");
    Bytes cipher = opensslRsaOaepSha1Encrypt(opensslPub.get(), plain);
    CHECK(decrypt(f.p11(), f.session, mech(CKM_RSA_PKCS_OAEP, &oaep, sizeof oaep), pair.privateKey,
                  cipher) == plain);
    Bytes viaCluster = encrypt(f.p11(), f.session, mech(CKM_RSA_PKCS_OAEP, &oaep, sizeof oaep),
                               pair.publicKey, plain);
    CHECK(decrypt(f.p11(), f.session, mech(CKM_RSA_PKCS_OAEP, &oaep, sizeof oaep), pair.privateKey,
                  viaCluster) == plain);
}

TEST_CASE("C_GenerateKeyPair makes a working EC P-256 key pair") {
    ClusterFixture f;
    REQUIRE(f.env.initTransportKey() == 0);  // `p11cluster init`: generated keys can be copied
    f.start();
    Template pub = ecGenPublic("generated-ec", true), priv = ecGenPrivate("generated-ec", true);
    KeyPair pair = generatePair(f, f.session, mech(CKM_EC_KEY_PAIR_GEN), pub, priv);
    Pkey opensslPub = ecPublicKeyFrom(attribute(f.p11(), f.session, pair.publicKey, CKA_EC_POINT));
    for (int i = 0; i < 6; ++i) {
        INFO("round " << i);
        const Bytes digest = sha256(bytesOf("ecdsa with a generated key " + std::to_string(i)));
        Bytes sig = sign(f.p11(), f.session, mech(CKM_ECDSA), pair.privateKey, digest);
        CHECK(opensslVerifyEcdsaRaw(opensslPub.get(), digest, sig));
        CHECK_RV(verify(f.p11(), f.session, mech(CKM_ECDSA), pair.publicKey, digest, sig), CKR_OK);
    }
}

TEST_CASE("a generated session key pair is usable from another session") {
    ClusterFixture f;
    REQUIRE(f.env.initTransportKey() == 0);  // `p11cluster init`: generated keys can be copied
    f.start();
    Template pub = ecGenPublic("session-ec", false), priv = ecGenPrivate("session-ec", false);
    KeyPair pair = generatePair(f, f.session, mech(CKM_EC_KEY_PAIR_GEN), pub, priv);
    Pkey opensslPub = ecPublicKeyFrom(attribute(f.p11(), f.session, pair.publicKey, CKA_EC_POINT));
    CK_SESSION_HANDLE other;
    REQUIRE_OK(f.p11()->C_OpenSession(f.slot(), CKF_SERIAL_SESSION, nullptr, nullptr, &other));
    for (int i = 0; i < 3; ++i) {
        const Bytes digest = sha256(bytesOf("from the other session " + std::to_string(i)));
        Bytes sig = sign(f.p11(), other, mech(CKM_ECDSA), pair.privateKey, digest);
        CHECK(opensslVerifyEcdsaRaw(opensslPub.get(), digest, sig));
    }
}

TEST_CASE("C_GenerateKey makes a working AES-256 key") {
    ClusterFixture f;
    REQUIRE(f.env.initTransportKey() == 0);  // `p11cluster init`: generated keys can be copied
    f.start();
    Template t;
    t.ulong(CKA_CLASS, CKO_SECRET_KEY).ulong(CKA_KEY_TYPE, CKK_AES).ulong(CKA_VALUE_LEN, 32);
    t.flag(CKA_TOKEN, true).flag(CKA_PRIVATE, true).flag(CKA_SENSITIVE, false);
    t.flag(CKA_EXTRACTABLE, true).flag(CKA_ENCRYPT, true).flag(CKA_DECRYPT, true);
    t.text(CKA_LABEL, "generated-aes").text(CKA_ID, "gen-aes");
    CK_MECHANISM gen = mech(CKM_AES_KEY_GEN);
    CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
    REQUIRE_OK(f.p11()->C_GenerateKey(f.session, &gen, t.data(), t.size(), &key));
    const Bytes value = attribute(f.p11(), f.session, key, CKA_VALUE);
    REQUIRE(value.size() == 32);

    Bytes iv = randomBytes(12), aad = bytesOf("aad");
    CK_GCM_PARAMS params{iv.data(), 12, 96, aad.data(), aad.size(), 128};
    CK_MECHANISM gcm = mech(CKM_AES_GCM, &params, sizeof params);
    for (int i = 0; i < 6; ++i) {
        INFO("round " << i);
        const Bytes plain = bytesOf("under a generated key " + std::to_string(i));
        Bytes cipher = encrypt(f.p11(), f.session, gcm, key, plain);
        CHECK(cipher == opensslAes256Gcm(true, value, iv, aad, plain));
        CHECK(decrypt(f.p11(), f.session, gcm, key, cipher) == plain);
    }
}

// Cryptographic operations through the cluster with keys imported from
// OpenSSL, so every result is checked independently of the tokens:
// signatures verify with OpenSSL, ciphertexts equal OpenSSL's, decryption
// gives the plaintext back. Operations rotate over the members, so repeated
// operations also show that every member holds the same key.
#include "integration/cluster_fixture.h"
#include "integration/crypto_helpers.h"

using namespace p11c::test;

namespace {

CK_MECHANISM mech(CK_MECHANISM_TYPE type, void* param = nullptr, size_t size = 0) {
    return {type, param, static_cast<CK_ULONG>(size)};
}

// Imported keys: an RSA-2048 pair, an EC P-256 pair and an AES-256 key.
struct Keys {
    explicit Keys(ClusterFixture& f)
        : rsa(generateRsa()), ec(generateEcP256()), aesValue(randomBytes(32)) {
        rsaPair = importRsa(f.p11(), f.session, rsa.get(), "crypto-rsa", "crypto-rsa");
        ecPair = importEc(f.p11(), f.session, ec.get(), "crypto-ec", "crypto-ec");
        Template t = aesTemplate(aesValue, "crypto-aes", "crypto-aes");
        aes = createObject(f.p11(), f.session, t);
    }
    Pkey rsa, ec;
    Bytes aesValue;
    KeyPair rsaPair, ecPair;
    CK_OBJECT_HANDLE aes = CK_INVALID_HANDLE;
};

CK_RSA_PKCS_PSS_PARAMS pssSha256() {
    return {CKM_SHA256, CKG_MGF1_SHA256, 32};
}

Bytes tampered(Bytes b) {
    b[b.size() / 2] ^= 0x01;
    return b;
}

}  // namespace

TEST_CASE("RSA PKCS#1 v1.5 signatures made through the cluster verify with OpenSSL") {
    ClusterFixture f;
    f.start();
    Keys keys(f);
    const Bytes data = bytesOf("PKCS#1 v1.5 through the cluster, in one part and in many");
    const Bytes expected = opensslSignRsaPkcs1Sha256(keys.rsa.get(), data);  // deterministic

    Bytes single =
        sign(f.p11(), f.session, mech(CKM_SHA256_RSA_PKCS), keys.rsaPair.privateKey, data);
    CHECK(opensslVerifyRsaPkcs1Sha256(keys.rsa.get(), data, single));
    CHECK(single == expected);

    CK_MECHANISM m = mech(CKM_SHA256_RSA_PKCS);
    REQUIRE_OK(f.p11()->C_SignInit(f.session, &m, keys.rsaPair.privateKey));
    Bytes in = data;
    for (size_t at = 0; at < in.size(); at += 10)
        REQUIRE_OK(f.p11()->C_SignUpdate(f.session, in.data() + at,
                                         std::min<CK_ULONG>(10, in.size() - at)));
    CK_ULONG size = 0;
    REQUIRE_OK(f.p11()->C_SignFinal(f.session, nullptr, &size));
    Bytes multi(size);
    REQUIRE_OK(f.p11()->C_SignFinal(f.session, multi.data(), &size));
    multi.resize(size);
    CHECK(multi == expected);

    // Raw CKM_RSA_PKCS over a DigestInfo is the same signature.
    Bytes raw = sign(f.p11(), f.session, mech(CKM_RSA_PKCS), keys.rsaPair.privateKey,
                     sha256DigestInfo(sha256(data)));
    CHECK(raw == expected);
}

TEST_CASE("RSA-PSS signatures made through the cluster verify with OpenSSL") {
    ClusterFixture f;
    f.start();
    Keys keys(f);
    const Bytes data = bytesOf("probabilistic signature scheme");
    CK_RSA_PKCS_PSS_PARAMS params = pssSha256();

    Bytes hashed = sign(f.p11(), f.session, mech(CKM_SHA256_RSA_PKCS_PSS, &params, sizeof params),
                        keys.rsaPair.privateKey, data);
    CHECK(hashed.size() == 256);
    CHECK(opensslVerifyRsaPssSha256(keys.rsa.get(), data, hashed));

    Bytes overDigest = sign(f.p11(), f.session, mech(CKM_RSA_PKCS_PSS, &params, sizeof params),
                            keys.rsaPair.privateKey, sha256(data));
    CHECK(opensslVerifyRsaPssSha256(keys.rsa.get(), data, overDigest));

    CHECK_RV(verify(f.p11(), f.session, mech(CKM_SHA256_RSA_PKCS_PSS, &params, sizeof params),
                    keys.rsaPair.publicKey, data, hashed),
             CKR_OK);
    CHECK_RV(verify(f.p11(), f.session, mech(CKM_SHA256_RSA_PKCS_PSS, &params, sizeof params),
                    keys.rsaPair.publicKey, data, tampered(hashed)),
             CKR_SIGNATURE_INVALID);
}

TEST_CASE("ECDSA signatures over an OpenSSL SHA-256 hash verify with OpenSSL") {
    ClusterFixture f;
    f.start();
    Keys keys(f);
    for (int i = 0; i < 6; ++i) {
        const Bytes digest = sha256(bytesOf("ecdsa message " + std::to_string(i)));
        Bytes sig = sign(f.p11(), f.session, mech(CKM_ECDSA), keys.ecPair.privateKey, digest);
        CHECK(sig.size() == 64);
        CHECK(opensslVerifyEcdsaRaw(keys.ec.get(), digest, sig));
    }
}

TEST_CASE("C_Verify through the cluster accepts good signatures and rejects tampered ones") {
    ClusterFixture f;
    f.start();
    Keys keys(f);
    const Bytes data = bytesOf("verified by the cluster");
    const Bytes rsaSig = opensslSignRsaPkcs1Sha256(keys.rsa.get(), data);  // made without the token
    CHECK_RV(
        verify(f.p11(), f.session, mech(CKM_SHA256_RSA_PKCS), keys.rsaPair.publicKey, data, rsaSig),
        CKR_OK);
    CHECK_RV(verify(f.p11(), f.session, mech(CKM_SHA256_RSA_PKCS), keys.rsaPair.publicKey, data,
                    tampered(rsaSig)),
             CKR_SIGNATURE_INVALID);
    CHECK_RV(verify(f.p11(), f.session, mech(CKM_SHA256_RSA_PKCS), keys.rsaPair.publicKey,
                    bytesOf("other data"), rsaSig),
             CKR_SIGNATURE_INVALID);
    // A failed C_Verify ends the operation.
    Bytes in = data, sig = rsaSig;
    CHECK_RV(f.p11()->C_Verify(f.session, in.data(), in.size(), sig.data(), sig.size()),
             CKR_OPERATION_NOT_INITIALIZED);

    const Bytes digest = sha256(data);
    Bytes ecSig = sign(f.p11(), f.session, mech(CKM_ECDSA), keys.ecPair.privateKey, digest);
    CHECK_RV(verify(f.p11(), f.session, mech(CKM_ECDSA), keys.ecPair.publicKey, digest, ecSig),
             CKR_OK);
    CHECK_RV(
        verify(f.p11(), f.session, mech(CKM_ECDSA), keys.ecPair.publicKey, digest, tampered(ecSig)),
        CKR_SIGNATURE_INVALID);

    // Multi-part verification.
    CK_MECHANISM m = mech(CKM_SHA256_RSA_PKCS);
    REQUIRE_OK(f.p11()->C_VerifyInit(f.session, &m, keys.rsaPair.publicKey));
    REQUIRE_OK(f.p11()->C_VerifyUpdate(f.session, in.data(), 5));
    REQUIRE_OK(f.p11()->C_VerifyUpdate(f.session, in.data() + 5, in.size() - 5));
    CHECK_RV(f.p11()->C_VerifyFinal(f.session, sig.data(), sig.size()), CKR_OK);
}

TEST_CASE("RSA-OAEP encrypts and decrypts through the cluster") {
    ClusterFixture f;
    f.start();
    Keys keys(f);
    CK_RSA_PKCS_OAEP_PARAMS params{CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, nullptr, 0};
    CK_MECHANISM oaep = mech(CKM_RSA_PKCS_OAEP, &params, sizeof params);
    const Bytes plain = bytesOf("a secret wrapped with OAEP");

    Bytes cipher = encrypt(f.p11(), f.session, oaep, keys.rsaPair.publicKey, plain);
    CHECK(cipher.size() == 256);
    CHECK(decrypt(f.p11(), f.session, oaep, keys.rsaPair.privateKey, cipher) == plain);

    // Encrypted by OpenSSL, decrypted by the cluster (several times: every member).
    Bytes fromOpenssl = opensslRsaOaepSha1Encrypt(keys.rsa.get(), plain);
    for (int i = 0; i < 3; ++i)
        CHECK(decrypt(f.p11(), f.session, oaep, keys.rsaPair.privateKey, fromOpenssl) == plain);
}

TEST_CASE("AES-CBC-PAD through the cluster matches OpenSSL in one part and in many") {
    ClusterFixture f;
    f.start();
    Keys keys(f);
    Bytes iv = randomBytes(16);
    CK_MECHANISM cbc = mech(CKM_AES_CBC_PAD, iv.data(), iv.size());
    for (size_t length : {1u, 16u, 100u}) {
        INFO("plaintext of " << length << " bytes");
        const Bytes plain = randomBytes(length);
        const Bytes expected = opensslAes256CbcPad(true, keys.aesValue, iv, plain);
        CHECK(encrypt(f.p11(), f.session, cbc, keys.aes, plain) == expected);
        CHECK(encryptParts(f.p11(), f.session, cbc, keys.aes, plain, 7) == expected);
        CHECK(decrypt(f.p11(), f.session, cbc, keys.aes, expected) == plain);
        CHECK(decryptParts(f.p11(), f.session, cbc, keys.aes, expected, 5) == plain);
    }
}

TEST_CASE("AES-GCM through the cluster matches OpenSSL in one part and in many") {
    ClusterFixture f;
    f.start();
    Keys keys(f);
    Bytes iv = randomBytes(12), aad = bytesOf("header authenticated, not encrypted");
    CK_GCM_PARAMS params{iv.data(), 12, 96, aad.data(), aad.size(), 128};
    CK_MECHANISM gcm = mech(CKM_AES_GCM, &params, sizeof params);
    const Bytes plain = randomBytes(75);
    const Bytes expected = opensslAes256Gcm(true, keys.aesValue, iv, aad, plain);
    REQUIRE(expected.size() == plain.size() + 16);

    CHECK(encrypt(f.p11(), f.session, gcm, keys.aes, plain) == expected);
    CHECK(encryptParts(f.p11(), f.session, gcm, keys.aes, plain, 20) == expected);
    CHECK(decrypt(f.p11(), f.session, gcm, keys.aes, expected) == plain);
    CHECK(decryptParts(f.p11(), f.session, gcm, keys.aes, expected, 16) == plain);
    CHECK(opensslAes256Gcm(false, keys.aesValue, iv, aad, expected) == plain);

    // A wrong tag is refused, and gives no plaintext.
    Bytes bad = expected;
    bad.back() ^= 0x80;
    REQUIRE_OK(f.p11()->C_DecryptInit(f.session, &gcm, keys.aes));
    Bytes out(bad.size());
    CK_ULONG size = out.size();
    CK_RV rv = f.p11()->C_Decrypt(f.session, bad.data(), bad.size(), out.data(), &size);
    CHECK(rv != CKR_OK);
}

TEST_CASE("SHA-256 digests through the cluster equal OpenSSL's") {
    ClusterFixture f;
    f.start(false);  // digests need no login
    Bytes data = randomBytes(1000);
    CK_MECHANISM m = mech(CKM_SHA256);
    REQUIRE_OK(f.p11()->C_DigestInit(f.session, &m));
    CK_ULONG size = 0;
    REQUIRE_OK(f.p11()->C_Digest(f.session, data.data(), data.size(), nullptr, &size));
    REQUIRE(size == 32);
    Bytes single(size);
    REQUIRE_OK(f.p11()->C_Digest(f.session, data.data(), data.size(), single.data(), &size));
    CHECK(single == sha256(data));

    REQUIRE_OK(f.p11()->C_DigestInit(f.session, &m));
    for (size_t at = 0; at < data.size(); at += 333)
        REQUIRE_OK(f.p11()->C_DigestUpdate(f.session, data.data() + at,
                                           std::min<CK_ULONG>(333, data.size() - at)));
    Bytes multi(32);
    size = 32;
    REQUIRE_OK(f.p11()->C_DigestFinal(f.session, multi.data(), &size));
    CHECK(multi == sha256(data));
}

TEST_CASE("C_GenerateRandom fills the buffer with fresh bytes") {
    ClusterFixture f;
    f.start(false);
    Bytes a(64, 0), b(64, 0);
    REQUIRE_OK(f.p11()->C_GenerateRandom(f.session, a.data(), a.size()));
    REQUIRE_OK(f.p11()->C_GenerateRandom(f.session, b.data(), b.size()));
    CHECK(a != Bytes(64, 0));
    CHECK(a != b);
}

TEST_CASE("length queries and small buffers keep the operation going and success ends it") {
    ClusterFixture f;
    f.start();
    Keys keys(f);
    Bytes data = bytesOf("two-call convention");
    CK_MECHANISM m = mech(CKM_SHA256_RSA_PKCS);
    REQUIRE_OK(f.p11()->C_SignInit(f.session, &m, keys.rsaPair.privateKey));
    CK_ULONG size = 0;
    REQUIRE_OK(f.p11()->C_Sign(f.session, data.data(), data.size(), nullptr, &size));
    CHECK(size == 256);
    Bytes sig(256);
    size = 10;
    CHECK_RV(f.p11()->C_Sign(f.session, data.data(), data.size(), sig.data(), &size),
             CKR_BUFFER_TOO_SMALL);
    CHECK(size == 256);
    REQUIRE_OK(f.p11()->C_Sign(f.session, data.data(), data.size(), sig.data(), &size));
    CHECK(opensslVerifyRsaPkcs1Sha256(keys.rsa.get(), data, sig));
    CHECK_RV(f.p11()->C_Sign(f.session, data.data(), data.size(), sig.data(), &size),
             CKR_OPERATION_NOT_INITIALIZED);

    // The same for decryption.
    Bytes iv = randomBytes(16);
    CK_MECHANISM cbc = mech(CKM_AES_CBC_PAD, iv.data(), iv.size());
    Bytes cipher = opensslAes256CbcPad(true, keys.aesValue, iv, data);
    REQUIRE_OK(f.p11()->C_DecryptInit(f.session, &cbc, keys.aes));
    Bytes plain(cipher.size());
    size = 1;
    CHECK_RV(f.p11()->C_Decrypt(f.session, cipher.data(), cipher.size(), plain.data(), &size),
             CKR_BUFFER_TOO_SMALL);
    CHECK(size >= data.size());
    size = plain.size();
    REQUIRE_OK(f.p11()->C_Decrypt(f.session, cipher.data(), cipher.size(), plain.data(), &size));
    plain.resize(size);
    CHECK(plain == data);
    CHECK_RV(f.p11()->C_Decrypt(f.session, cipher.data(), cipher.size(), plain.data(), &size),
             CKR_OPERATION_NOT_INITIALIZED);
}

TEST_CASE("a second C_SignInit gives CKR_OPERATION_ACTIVE and the first operation goes on") {
    ClusterFixture f;
    f.start();
    Keys keys(f);
    CK_MECHANISM rsa = mech(CKM_SHA256_RSA_PKCS), ecdsa = mech(CKM_ECDSA);
    REQUIRE_OK(f.p11()->C_SignInit(f.session, &rsa, keys.rsaPair.privateKey));
    CHECK_RV(f.p11()->C_SignInit(f.session, &ecdsa, keys.ecPair.privateKey), CKR_OPERATION_ACTIVE);
    Bytes data = bytesOf("first operation"), sig(256);
    CK_ULONG size = sig.size();
    REQUIRE_OK(f.p11()->C_Sign(f.session, data.data(), data.size(), sig.data(), &size));
    CHECK(opensslVerifyRsaPkcs1Sha256(keys.rsa.get(), data, sig));
    // Another session is independent.
    CK_SESSION_HANDLE other;
    REQUIRE_OK(f.p11()->C_OpenSession(f.slot(), CKF_SERIAL_SESSION, nullptr, nullptr, &other));
    REQUIRE_OK(f.p11()->C_SignInit(f.session, &rsa, keys.rsaPair.privateKey));
    REQUIRE_OK(f.p11()->C_SignInit(other, &ecdsa, keys.ecPair.privateKey));
    CHECK_RV(f.p11()->C_SignInit(f.session, &rsa, keys.rsaPair.privateKey), CKR_OPERATION_ACTIVE);
}

TEST_CASE("thirty signatures in a row all verify (every member holds the keys)") {
    ClusterFixture f;
    f.start();
    Keys keys(f);
    for (int i = 0; i < 30; ++i) {
        INFO("signature " << i);
        const Bytes data = bytesOf("message number " + std::to_string(i));
        Bytes rsaSig =
            sign(f.p11(), f.session, mech(CKM_SHA256_RSA_PKCS), keys.rsaPair.privateKey, data);
        CHECK(opensslVerifyRsaPkcs1Sha256(keys.rsa.get(), data, rsaSig));
        const Bytes digest = sha256(data);
        Bytes ecSig = sign(f.p11(), f.session, mech(CKM_ECDSA), keys.ecPair.privateKey, digest);
        CHECK(opensslVerifyEcdsaRaw(keys.ec.get(), digest, ecSig));
    }
}

TEST_CASE("a key put on every member directly is found and used through the cluster") {
    ClusterFixture f;
    Pkey key = generateEcP256();
    {
        DirectMembers direct(f.env);
        for (unsigned m = 0; m < f.env.members(); ++m)
            importEc(direct.p11(), direct.sessions[m], key.get(), "pre-existing",
                     "pre-existing-ec");
    }
    f.start();
    auto found = findByLabel(f.p11(), f.session, CKO_PRIVATE_KEY, "pre-existing-ec");
    REQUIRE(found.size() == 1);
    auto pub = findByLabel(f.p11(), f.session, CKO_PUBLIC_KEY, "pre-existing-ec");
    REQUIRE(pub.size() == 1);
    for (int i = 0; i < 9; ++i) {
        const Bytes digest = sha256(bytesOf("resolved on member " + std::to_string(i)));
        Bytes sig = sign(f.p11(), f.session, mech(CKM_ECDSA), found[0], digest);
        CHECK(opensslVerifyEcdsaRaw(key.get(), digest, sig));
        CHECK_RV(verify(f.p11(), f.session, mech(CKM_ECDSA), pub[0], digest, sig), CKR_OK);
    }
}

TEST_CASE("ciphertexts the caller got wrong do not take members out of service") {
    ClusterFixture f;
    f.start();
    Keys keys(f);
    Bytes iv = randomBytes(12), aad;
    CK_GCM_PARAMS params{iv.data(), 12, 96, nullptr, 0, 128};
    CK_MECHANISM gcm = mech(CKM_AES_GCM, &params, sizeof params);
    CK_RSA_PKCS_OAEP_PARAMS oaepParams{CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, nullptr, 0};
    CK_MECHANISM oaep = mech(CKM_RSA_PKCS_OAEP, &oaepParams, sizeof oaepParams);
    Bytes cbcIv = randomBytes(16);
    CK_MECHANISM cbc = mech(CKM_AES_CBC_PAD, cbcIv.data(), cbcIv.size());
    struct Bad {
        const char* what;
        CK_MECHANISM mechanism;
        CK_OBJECT_HANDLE key;
        Bytes cipher;
    };
    const std::vector<Bad> bad = {
        {"GCM with a wrong tag", gcm, keys.aes, randomBytes(40)},
        {"OAEP garbage", oaep, keys.rsaPair.privateKey, randomBytes(256)},
        {"CBC with bad padding", cbc, keys.aes, randomBytes(32)},
    };
    // Each mistake three times: operations rotate, so every member sees each.
    for (int round = 0; round < 3; ++round) {
        for (const Bad& b : bad) {
            INFO(b.what << ", round " << round);
            CK_MECHANISM m = b.mechanism;
            REQUIRE_OK(f.p11()->C_DecryptInit(f.session, &m, b.key));
            Bytes in = b.cipher, out(in.size() + 16);
            CK_ULONG size = out.size();
            CK_RV rv = f.p11()->C_Decrypt(f.session, in.data(), in.size(), out.data(), &size);
            CHECK(rv != CKR_OK);
            CHECK(rv != CKR_DEVICE_ERROR);
        }
    }
    // Every member still serves: good operations go on, on all of them.
    for (int i = 0; i < 6; ++i) {
        INFO("good operation " << i);
        const Bytes data = bytesOf("still serving " + std::to_string(i));
        Bytes sig =
            sign(f.p11(), f.session, mech(CKM_SHA256_RSA_PKCS), keys.rsaPair.privateKey, data);
        CHECK(opensslVerifyRsaPkcs1Sha256(keys.rsa.get(), data, sig));
    }
    Template t = dataTemplate("after-mistakes", "written-everywhere", bytesOf("x"));
    CK_OBJECT_HANDLE made = CK_INVALID_HANDLE;
    CHECK_RV(f.p11()->C_CreateObject(f.session, t.data(), t.size(), &made), CKR_OK);
}

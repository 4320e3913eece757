// The OpenSSL half of crypto_helpers.h: key material and independent checks.
#include "integration/crypto_helpers.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <stdexcept>

namespace p11c::test {
namespace {

void need(bool ok, const char* what) {
    if (!ok) throw std::runtime_error(std::string("OpenSSL: ") + what + " failed");
}

struct CtxFree {
    void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
    void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
template <class T>
using Owned = std::unique_ptr<T, CtxFree>;

Pkey fromData(const char* type, OSSL_PARAM_BLD* build, int selection) {
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(build);
    Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    EVP_PKEY* key = nullptr;
    need(ctx && EVP_PKEY_fromdata_init(ctx.get()) == 1 &&
             EVP_PKEY_fromdata(ctx.get(), &key, selection, params) == 1,
         "EVP_PKEY_fromdata");
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(build);
    return Pkey(key);
}

Bytes cryptOaep(const EVP_PKEY* key, const Bytes& in) {
    Owned<EVP_PKEY_CTX> ctx(
        EVP_PKEY_CTX_new_from_pkey(nullptr, const_cast<EVP_PKEY*>(key), nullptr));
    need(ctx && EVP_PKEY_encrypt_init(ctx.get()) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) == 1,
         "OAEP init");
    size_t size = 0;
    need(EVP_PKEY_encrypt(ctx.get(), nullptr, &size, in.data(), in.size()) == 1, "OAEP size");
    Bytes out(size);
    need(EVP_PKEY_encrypt(ctx.get(), out.data(), &size, in.data(), in.size()) == 1, "OAEP");
    out.resize(size);
    return out;
}

}  // namespace

Bytes bnParam(const EVP_PKEY* key, const char* name, size_t width) {
    BIGNUM* bn = nullptr;
    need(EVP_PKEY_get_bn_param(key, name, &bn) == 1, name);
    size_t size = std::max<size_t>(width, BN_num_bytes(bn));
    Bytes out(size);
    BN_bn2binpad(bn, out.data(), static_cast<int>(size));
    BN_free(bn);
    return out;
}

void PkeyFree::operator()(EVP_PKEY* key) const {
    EVP_PKEY_free(key);
}

Bytes bytesOf(const std::string& text) {
    return Bytes(text.begin(), text.end());
}
std::string textOf(const Bytes& bytes) {
    return std::string(bytes.begin(), bytes.end());
}

// --- key material ------------------------------------------------------------

const Bytes kP256Params = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

Pkey generateRsa(unsigned bits) {
    Pkey key(EVP_RSA_gen(bits));
    need(key != nullptr, "EVP_RSA_gen");
    return key;
}

Pkey generateEcP256() {
    Pkey key(EVP_EC_gen("P-256"));
    need(key != nullptr, "EVP_EC_gen");
    return key;
}

Bytes rsaModulus(const EVP_PKEY* key) {
    return bnParam(key, OSSL_PKEY_PARAM_RSA_N);
}
Bytes rsaPublicExponent(const EVP_PKEY* key) {
    return bnParam(key, OSSL_PKEY_PARAM_RSA_E);
}

Bytes ecPointUncompressed(const EVP_PKEY* key) {
    Bytes point(65);
    size_t size = 0;
    need(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size(),
                                         &size) == 1 &&
             size == 65 && point[0] == 0x04,
         "EC public point");
    return point;
}

Bytes ecPointDer(const EVP_PKEY* key) {
    Bytes der = {0x04, 0x41};
    Bytes point = ecPointUncompressed(key);
    der.insert(der.end(), point.begin(), point.end());
    return der;
}

Pkey rsaPublicKeyFrom(const Bytes& modulus, const Bytes& exponent) {
    OSSL_PARAM_BLD* build = OSSL_PARAM_BLD_new();
    BIGNUM* n = BN_bin2bn(modulus.data(), static_cast<int>(modulus.size()), nullptr);
    BIGNUM* e = BN_bin2bn(exponent.data(), static_cast<int>(exponent.size()), nullptr);
    OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_N, n);
    OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_RSA_E, e);
    Pkey key = fromData("RSA", build, EVP_PKEY_PUBLIC_KEY);
    BN_free(n);
    BN_free(e);
    return key;
}

Pkey ecPublicKeyFrom(const Bytes& der) {
    need(der.size() == 67 && der[0] == 0x04 && der[1] == 0x41, "CKA_EC_POINT is not DER 04 41 ...");
    OSSL_PARAM_BLD* build = OSSL_PARAM_BLD_new();
    OSSL_PARAM_BLD_push_utf8_string(build, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string(build, OSSL_PKEY_PARAM_PUB_KEY, der.data() + 2, 65);
    return fromData("EC", build, EVP_PKEY_PUBLIC_KEY);
}

Bytes selfSignedCertificate(const EVP_PKEY* key, const std::string& commonName) {
    X509* cert = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 4242);
    X509_gmtime_adj(X509_getm_notBefore(cert), 0);
    X509_gmtime_adj(X509_getm_notAfter(cert), 86400L * 365);
    X509_set_pubkey(cert, const_cast<EVP_PKEY*>(key));
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(commonName.c_str()), -1, -1,
                               0);
    X509_set_issuer_name(cert, name);
    need(X509_sign(cert, const_cast<EVP_PKEY*>(key), EVP_sha256()) > 0, "X509_sign");
    int size = i2d_X509(cert, nullptr);
    Bytes der(static_cast<size_t>(size));
    unsigned char* out = der.data();
    i2d_X509(cert, &out);
    X509_free(cert);
    return der;
}

// --- OpenSSL-side computations ------------------------------------------------

Bytes sha256(const Bytes& data) {
    Bytes out(32);
    unsigned int size = 0;
    need(EVP_Digest(data.data(), data.size(), out.data(), &size, EVP_sha256(), nullptr) == 1,
         "SHA-256");
    return out;
}

Bytes randomBytes(size_t size) {
    Bytes out(size);
    need(RAND_bytes(out.data(), static_cast<int>(size)) == 1, "RAND_bytes");
    return out;
}

Bytes sha256DigestInfo(const Bytes& digest) {
    static const CK_BYTE prefix[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                     0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
    Bytes info(sizeof prefix + digest.size());
    std::copy(std::begin(prefix), std::end(prefix), info.begin());
    std::copy(digest.begin(), digest.end(), info.begin() + sizeof prefix);
    return info;
}

Bytes opensslSignRsaPkcs1Sha256(const EVP_PKEY* key, const Bytes& data) {
    Owned<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
    need(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                            const_cast<EVP_PKEY*>(key)) == 1,
         "DigestSignInit");
    size_t size = 0;
    need(EVP_DigestSign(ctx.get(), nullptr, &size, data.data(), data.size()) == 1, "sign size");
    Bytes out(size);
    need(EVP_DigestSign(ctx.get(), out.data(), &size, data.data(), data.size()) == 1, "sign");
    out.resize(size);
    return out;
}

bool opensslVerifyRsaPkcs1Sha256(const EVP_PKEY* key, const Bytes& data, const Bytes& signature) {
    Owned<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
    need(EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                              const_cast<EVP_PKEY*>(key)) == 1,
         "DigestVerifyInit");
    return EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), data.data(),
                            data.size()) == 1;
}

bool opensslVerifyRsaPssSha256(const EVP_PKEY* key, const Bytes& data, const Bytes& signature) {
    Owned<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;  // owned by ctx
    need(EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr,
                              const_cast<EVP_PKEY*>(key)) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) == 1,
         "PSS verify init");
    return EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), data.data(),
                            data.size()) == 1;
}

bool opensslVerifyEcdsaRaw(const EVP_PKEY* key, const Bytes& digest, const Bytes& signature) {
    if (signature.size() != 64) return false;
    ECDSA_SIG* sig = ECDSA_SIG_new();
    ECDSA_SIG_set0(sig, BN_bin2bn(signature.data(), 32, nullptr),
                   BN_bin2bn(signature.data() + 32, 32, nullptr));
    unsigned char* der = nullptr;
    int derSize = i2d_ECDSA_SIG(sig, &der);
    ECDSA_SIG_free(sig);
    Owned<EVP_PKEY_CTX> ctx(
        EVP_PKEY_CTX_new_from_pkey(nullptr, const_cast<EVP_PKEY*>(key), nullptr));
    need(ctx && EVP_PKEY_verify_init(ctx.get()) == 1, "ECDSA verify init");
    bool ok = EVP_PKEY_verify(ctx.get(), der, static_cast<size_t>(derSize), digest.data(),
                              digest.size()) == 1;
    OPENSSL_free(der);
    return ok;
}

Bytes opensslRsaOaepSha1Encrypt(const EVP_PKEY* key, const Bytes& plain) {
    return cryptOaep(key, plain);  // OpenSSL's OAEP defaults: SHA-1, MGF1-SHA-1, no label
}

Bytes opensslAes256CbcPad(bool encrypt, const Bytes& key, const Bytes& iv, const Bytes& in) {
    Owned<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
    need(EVP_CipherInit_ex(ctx.get(), EVP_aes_256_cbc(), nullptr, key.data(), iv.data(),
                           encrypt ? 1 : 0) == 1,
         "CBC init");
    Bytes out(in.size() + 16);
    int n = 0, tail = 0;
    need(EVP_CipherUpdate(ctx.get(), out.data(), &n, in.data(), static_cast<int>(in.size())) == 1,
         "CBC update");
    need(EVP_CipherFinal_ex(ctx.get(), out.data() + n, &tail) == 1, "CBC final");
    out.resize(static_cast<size_t>(n + tail));
    return out;
}

Bytes opensslAes256Gcm(bool encrypt, const Bytes& key, const Bytes& iv, const Bytes& aad,
                       const Bytes& in) {
    Owned<EVP_CIPHER_CTX> ctx(EVP_CIPHER_CTX_new());
    need(EVP_CipherInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr,
                           encrypt ? 1 : 0) == 1 &&
             EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()),
                                 nullptr) == 1 &&
             EVP_CipherInit_ex(ctx.get(), nullptr, nullptr, key.data(), iv.data(), -1) == 1,
         "GCM init");
    Bytes body = in;
    Bytes tag(16);
    if (!encrypt) {
        need(in.size() >= 16, "GCM input has no tag");
        body.assign(in.begin(), in.end() - 16);
        tag.assign(in.end() - 16, in.end());
        need(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, tag.data()) == 1, "set tag");
    }
    int n = 0;
    if (!aad.empty())
        need(
            EVP_CipherUpdate(ctx.get(), nullptr, &n, aad.data(), static_cast<int>(aad.size())) == 1,
            "GCM AAD");
    Bytes out(body.size() + 16);
    need(EVP_CipherUpdate(ctx.get(), out.data(), &n, body.data(), static_cast<int>(body.size())) ==
             1,
         "GCM update");
    int tail = 0;
    need(EVP_CipherFinal_ex(ctx.get(), out.data() + n, &tail) == 1, "GCM final");
    out.resize(static_cast<size_t>(n + tail));
    if (encrypt) {
        need(EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, tag.data()) == 1, "get tag");
        out.insert(out.end(), tag.begin(), tag.end());
    }
    return out;
}

}  // namespace p11c::test

namespace p11c::test {
namespace {

const CK_BYTE kP256Oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

}  // namespace

KeyPair generateEcPair(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, const std::string& id,
                       CK_RV* rv) {
    CK_BBOOL yes = CK_TRUE;
    CK_MECHANISM mech{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
    CK_ATTRIBUTE pub[] = {{CKA_TOKEN, &yes, 1},
                          {CKA_EC_PARAMS, const_cast<CK_BYTE*>(kP256Oid), sizeof kP256Oid},
                          {CKA_VERIFY, &yes, 1},
                          {CKA_ID, const_cast<char*>(id.data()), id.size()}};
    CK_ATTRIBUTE priv[] = {
        {CKA_TOKEN, &yes, 1},  {CKA_PRIVATE, &yes, 1},
        {CKA_SIGN, &yes, 1},   {CKA_SENSITIVE, &yes, 1},
        {CKA_DERIVE, &yes, 1}, {CKA_ID, const_cast<char*>(id.data()), id.size()}};
    KeyPair p;
    *rv = p11->C_GenerateKeyPair(session, &mech, pub, 4, priv, 6, &p.publicKey, &p.privateKey);
    return p;
}

KeyPair generateRsaPair(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, const std::string& id,
                        CK_RV* rv, CK_ULONG bits) {
    CK_BBOOL yes = CK_TRUE;
    CK_MECHANISM mech{CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
    CK_BYTE exponent[] = {1, 0, 1};
    CK_ATTRIBUTE pub[] = {{CKA_TOKEN, &yes, 1},
                          {CKA_MODULUS_BITS, &bits, sizeof bits},
                          {CKA_PUBLIC_EXPONENT, exponent, 3},
                          {CKA_VERIFY, &yes, 1},
                          {CKA_ID, const_cast<char*>(id.data()), id.size()}};
    CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &yes, 1},
                           {CKA_PRIVATE, &yes, 1},
                           {CKA_SIGN, &yes, 1},
                           {CKA_SENSITIVE, &yes, 1},
                           {CKA_ID, const_cast<char*>(id.data()), id.size()}};
    KeyPair p;
    *rv = p11->C_GenerateKeyPair(session, &mech, pub, 5, priv, 5, &p.publicKey, &p.privateKey);
    return p;
}

CK_RV ecdsaSignAndVerify(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, const KeyPair& key) {
    CK_MECHANISM mech{CKM_ECDSA, nullptr, 0};
    Bytes digest = sha256(bytesOf("p11cluster"));
    CK_BYTE signature[128];
    CK_ULONG length = sizeof signature;
    if (CK_RV rv = p11->C_SignInit(s, &mech, key.privateKey); rv != CKR_OK) return rv;
    if (CK_RV rv = p11->C_Sign(s, digest.data(), digest.size(), signature, &length); rv != CKR_OK)
        return rv;
    if (CK_RV rv = p11->C_VerifyInit(s, &mech, key.publicKey); rv != CKR_OK) return rv;
    return p11->C_Verify(s, digest.data(), digest.size(), signature, length);
}

}  // namespace p11c::test

// Helpers shared by the integration tests: key material made with OpenSSL
// (so results can be checked independently of any token), attribute
// templates to import it, OpenSSL-side verification, and thin wrappers for
// PKCS#11 calls that work on any function list (the cluster or SoftHSM).
#pragma once

#include <pkcs11.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

typedef struct evp_pkey_st EVP_PKEY;

namespace p11c::test {

using Bytes = std::vector<CK_BYTE>;

Bytes bytesOf(const std::string& text);
std::string textOf(const Bytes& bytes);

// An attribute template that owns its values.
class Template {
  public:
    Template& add(CK_ATTRIBUTE_TYPE type, const void* value, size_t size);
    Template& add(CK_ATTRIBUTE_TYPE type, const Bytes& value) {
        return add(type, value.data(), value.size());
    }
    Template& text(CK_ATTRIBUTE_TYPE type, const std::string& value) {
        return add(type, value.data(), value.size());
    }
    Template& flag(CK_ATTRIBUTE_TYPE type, bool value);
    Template& ulong(CK_ATTRIBUTE_TYPE type, CK_ULONG value);
    CK_ATTRIBUTE* data() { return attrs_.data(); }
    CK_ULONG size() const { return static_cast<CK_ULONG>(attrs_.size()); }

  private:
    std::deque<Bytes> values_;
    std::vector<CK_ATTRIBUTE> attrs_;
};

struct PkeyFree {
    void operator()(EVP_PKEY* key) const;
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// --- key material ------------------------------------------------------------
Pkey generateRsa(unsigned bits = 2048);
Pkey generateEcP256();
// A big-number parameter of a key (OSSL_PKEY_PARAM_*), big-endian, left-padded to `width`.
Bytes bnParam(const EVP_PKEY* key, const char* name, size_t width = 0);
Bytes rsaModulus(const EVP_PKEY* key);
Bytes rsaPublicExponent(const EVP_PKEY* key);
Bytes ecPointUncompressed(const EVP_PKEY* key);  // 04 || X || Y
Bytes ecPointDer(const EVP_PKEY* key);           // CKA_EC_POINT: DER OCTET STRING
extern const Bytes kP256Params;                  // CKA_EC_PARAMS: OID prime256v1
Pkey rsaPublicKeyFrom(const Bytes& modulus, const Bytes& exponent);
Pkey ecPublicKeyFrom(const Bytes& ecPointDer);
// A self-signed X.509 certificate (DER) for `key`.
Bytes selfSignedCertificate(const EVP_PKEY* key, const std::string& commonName);

// --- OpenSSL-side computations and checks -------------------------------------
Bytes sha256(const Bytes& data);
Bytes randomBytes(size_t size);
Bytes sha256DigestInfo(const Bytes& digest);  // DER DigestInfo for CKM_RSA_PKCS
Bytes opensslSignRsaPkcs1Sha256(const EVP_PKEY* key, const Bytes& data);
bool opensslVerifyRsaPkcs1Sha256(const EVP_PKEY* key, const Bytes& data, const Bytes& signature);
// PSS with SHA-256, MGF1-SHA-256 and a 32-byte salt, over `data` (hashed here).
bool opensslVerifyRsaPssSha256(const EVP_PKEY* key, const Bytes& data, const Bytes& signature);
// `signature` is PKCS#11's raw r || s.
bool opensslVerifyEcdsaRaw(const EVP_PKEY* key, const Bytes& digest, const Bytes& signature);
Bytes opensslRsaOaepSha1Encrypt(const EVP_PKEY* key, const Bytes& plain);
Bytes opensslAes256CbcPad(bool encrypt, const Bytes& key, const Bytes& iv, const Bytes& in);
// Encrypt: returns ciphertext || 16-byte tag. Decrypt: `in` is ciphertext || tag.
Bytes opensslAes256Gcm(bool encrypt, const Bytes& key, const Bytes& iv, const Bytes& aad,
                       const Bytes& in);

// --- import templates and imports through any function list ----------------
struct KeyPair {
    CK_OBJECT_HANDLE publicKey = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE privateKey = CK_INVALID_HANDLE;
};
Template rsaPublicTemplate(const EVP_PKEY* key, const std::string& id, const std::string& label,
                           bool token = true);
Template rsaPrivateTemplate(const EVP_PKEY* key, const std::string& id, const std::string& label,
                            bool token = true);
Template ecPublicTemplate(const EVP_PKEY* key, const std::string& id, const std::string& label,
                          bool token = true);
Template ecPrivateTemplate(const EVP_PKEY* key, const std::string& id, const std::string& label,
                           bool token = true);
Template aesTemplate(const Bytes& value, const std::string& id, const std::string& label,
                     bool token = true, bool sensitive = true);
Template dataTemplate(const std::string& application, const std::string& label, const Bytes& value,
                      bool token = true, bool isPrivate = false);

// Each REQUIREs CKR_OK.
CK_OBJECT_HANDLE createObject(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, Template& t);
KeyPair importRsa(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, const EVP_PKEY* key,
                  const std::string& id, const std::string& label, bool token = true);
KeyPair importEc(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, const EVP_PKEY* key,
                 const std::string& id, const std::string& label, bool token = true);

// --- operations: Init + the two-call convention; REQUIRE CKR_OK -------------
Bytes sign(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, CK_MECHANISM mechanism,
           CK_OBJECT_HANDLE key, const Bytes& data);
CK_RV verify(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, CK_MECHANISM mechanism,
             CK_OBJECT_HANDLE key, const Bytes& data, const Bytes& signature);
Bytes encrypt(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, CK_MECHANISM mechanism,
              CK_OBJECT_HANDLE key, const Bytes& plain);
Bytes decrypt(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, CK_MECHANISM mechanism,
              CK_OBJECT_HANDLE key, const Bytes& cipher);
// Multi-part: the input in `chunk`-byte parts, outputs concatenated.
Bytes encryptParts(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, CK_MECHANISM mechanism,
                   CK_OBJECT_HANDLE key, const Bytes& plain, size_t chunk);
Bytes decryptParts(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, CK_MECHANISM mechanism,
                   CK_OBJECT_HANDLE key, const Bytes& cipher, size_t chunk);

// Handles of objects with this class and CKA_LABEL (through any function list).
std::vector<CK_OBJECT_HANDLE> findByLabel(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                                          CK_OBJECT_CLASS cls, const std::string& label);

}  // namespace p11c::test

namespace p11c::test {

// --- generated keys (no Catch assertions: usable from worker threads) -------

// A token key pair with CKA_ID `id`: EC P-256 (sign, verify, derive) or
// RSA (`bits`, sign, verify); the private half private and sensitive.
// *rv gets the C_GenerateKeyPair result.
KeyPair generateEcPair(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, const std::string& id,
                       CK_RV* rv);
KeyPair generateRsaPair(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, const std::string& id,
                        CK_RV* rv, CK_ULONG bits = 2048);
// ECDSA over a fixed digest with the private key, verified with the public
// key; the first result that is not CKR_OK, else CKR_OK.
CK_RV ecdsaSignAndVerify(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, const KeyPair& key);

}  // namespace p11c::test

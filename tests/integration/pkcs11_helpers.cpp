// The PKCS#11 half of crypto_helpers.h: templates, imports, and operation
// wrappers that work on any function list (the cluster or SoftHSM).
#include <openssl/core_names.h>

#include <algorithm>

#include "integration/cluster_fixture.h"
#include "integration/crypto_helpers.h"

namespace p11c::test {

Template& Template::add(CK_ATTRIBUTE_TYPE type, const void* value, size_t size) {
    const auto* p = static_cast<const CK_BYTE*>(value);
    values_.emplace_back(p, p + size);
    attrs_.push_back({type, values_.back().data(), static_cast<CK_ULONG>(size)});
    return *this;
}
Template& Template::flag(CK_ATTRIBUTE_TYPE type, bool value) {
    CK_BBOOL b = value ? CK_TRUE : CK_FALSE;
    return add(type, &b, sizeof b);
}
Template& Template::ulong(CK_ATTRIBUTE_TYPE type, CK_ULONG value) {
    return add(type, &value, sizeof value);
}

// --- templates and imports --------------------------------------------------------

namespace {

Template keyBase(CK_OBJECT_CLASS cls, CK_KEY_TYPE type, const std::string& id,
                 const std::string& label, bool token) {
    Template t;
    t.ulong(CKA_CLASS, cls).ulong(CKA_KEY_TYPE, type).flag(CKA_TOKEN, token);
    t.text(CKA_ID, id).text(CKA_LABEL, label);
    return t;
}

}  // namespace

Template rsaPublicTemplate(const EVP_PKEY* key, const std::string& id, const std::string& label,
                           bool token) {
    Template t = keyBase(CKO_PUBLIC_KEY, CKK_RSA, id, label, token);
    t.flag(CKA_VERIFY, true).flag(CKA_ENCRYPT, true);
    t.add(CKA_MODULUS, rsaModulus(key)).add(CKA_PUBLIC_EXPONENT, rsaPublicExponent(key));
    return t;
}

Template rsaPrivateTemplate(const EVP_PKEY* key, const std::string& id, const std::string& label,
                            bool token) {
    Template t = keyBase(CKO_PRIVATE_KEY, CKK_RSA, id, label, token);
    t.flag(CKA_PRIVATE, true)
        .flag(CKA_SENSITIVE, true)
        .flag(CKA_SIGN, true)
        .flag(CKA_DECRYPT, true);
    t.add(CKA_MODULUS, rsaModulus(key)).add(CKA_PUBLIC_EXPONENT, rsaPublicExponent(key));
    t.add(CKA_PRIVATE_EXPONENT, bnParam(key, OSSL_PKEY_PARAM_RSA_D));
    t.add(CKA_PRIME_1, bnParam(key, OSSL_PKEY_PARAM_RSA_FACTOR1));
    t.add(CKA_PRIME_2, bnParam(key, OSSL_PKEY_PARAM_RSA_FACTOR2));
    t.add(CKA_EXPONENT_1, bnParam(key, OSSL_PKEY_PARAM_RSA_EXPONENT1));
    t.add(CKA_EXPONENT_2, bnParam(key, OSSL_PKEY_PARAM_RSA_EXPONENT2));
    t.add(CKA_COEFFICIENT, bnParam(key, OSSL_PKEY_PARAM_RSA_COEFFICIENT1));
    return t;
}

Template ecPublicTemplate(const EVP_PKEY* key, const std::string& id, const std::string& label,
                          bool token) {
    Template t = keyBase(CKO_PUBLIC_KEY, CKK_EC, id, label, token);
    t.flag(CKA_VERIFY, true).add(CKA_EC_PARAMS, kP256Params).add(CKA_EC_POINT, ecPointDer(key));
    return t;
}

Template ecPrivateTemplate(const EVP_PKEY* key, const std::string& id, const std::string& label,
                           bool token) {
    Template t = keyBase(CKO_PRIVATE_KEY, CKK_EC, id, label, token);
    t.flag(CKA_PRIVATE, true).flag(CKA_SENSITIVE, true).flag(CKA_SIGN, true);
    t.add(CKA_EC_PARAMS, kP256Params).add(CKA_VALUE, bnParam(key, OSSL_PKEY_PARAM_PRIV_KEY, 32));
    return t;
}

Template aesTemplate(const Bytes& value, const std::string& id, const std::string& label,
                     bool token, bool sensitive) {
    Template t = keyBase(CKO_SECRET_KEY, CKK_AES, id, label, token);
    t.flag(CKA_PRIVATE, true).flag(CKA_SENSITIVE, sensitive).flag(CKA_EXTRACTABLE, !sensitive);
    t.flag(CKA_ENCRYPT, true).flag(CKA_DECRYPT, true).add(CKA_VALUE, value);
    return t;
}

Template dataTemplate(const std::string& application, const std::string& label, const Bytes& value,
                      bool token, bool isPrivate) {
    Template t;
    t.ulong(CKA_CLASS, CKO_DATA).flag(CKA_TOKEN, token).flag(CKA_PRIVATE, isPrivate);
    t.text(CKA_APPLICATION, application).text(CKA_LABEL, label).add(CKA_VALUE, value);
    return t;
}

CK_OBJECT_HANDLE createObject(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, Template& t) {
    CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
    REQUIRE_OK(p11->C_CreateObject(session, t.data(), t.size(), &handle));
    REQUIRE(handle != CK_INVALID_HANDLE);
    return handle;
}

KeyPair importRsa(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, const EVP_PKEY* key,
                  const std::string& id, const std::string& label, bool token) {
    Template pub = rsaPublicTemplate(key, id, label, token);
    Template priv = rsaPrivateTemplate(key, id, label, token);
    return {createObject(p11, session, pub), createObject(p11, session, priv)};
}

KeyPair importEc(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, const EVP_PKEY* key,
                 const std::string& id, const std::string& label, bool token) {
    Template pub = ecPublicTemplate(key, id, label, token);
    Template priv = ecPrivateTemplate(key, id, label, token);
    return {createObject(p11, session, pub), createObject(p11, session, priv)};
}

// --- operations ------------------------------------------------------------------

Bytes sign(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, CK_MECHANISM mechanism,
           CK_OBJECT_HANDLE key, const Bytes& data) {
    REQUIRE_OK(p11->C_SignInit(session, &mechanism, key));
    Bytes in = data;
    CK_ULONG size = 0;
    REQUIRE_OK(p11->C_Sign(session, in.data(), in.size(), nullptr, &size));
    Bytes out(size);
    REQUIRE_OK(p11->C_Sign(session, in.data(), in.size(), out.data(), &size));
    out.resize(size);
    return out;
}

CK_RV verify(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, CK_MECHANISM mechanism,
             CK_OBJECT_HANDLE key, const Bytes& data, const Bytes& signature) {
    REQUIRE_OK(p11->C_VerifyInit(session, &mechanism, key));
    Bytes in = data, sig = signature;
    return p11->C_Verify(session, in.data(), in.size(), sig.data(), sig.size());
}

Bytes encrypt(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, CK_MECHANISM mechanism,
              CK_OBJECT_HANDLE key, const Bytes& plain) {
    REQUIRE_OK(p11->C_EncryptInit(session, &mechanism, key));
    Bytes in = plain;
    CK_ULONG size = 0;
    REQUIRE_OK(p11->C_Encrypt(session, in.data(), in.size(), nullptr, &size));
    Bytes out(size);
    REQUIRE_OK(p11->C_Encrypt(session, in.data(), in.size(), out.data(), &size));
    out.resize(size);
    return out;
}

Bytes decrypt(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, CK_MECHANISM mechanism,
              CK_OBJECT_HANDLE key, const Bytes& cipher) {
    REQUIRE_OK(p11->C_DecryptInit(session, &mechanism, key));
    Bytes in = cipher;
    CK_ULONG size = 0;
    REQUIRE_OK(p11->C_Decrypt(session, in.data(), in.size(), nullptr, &size));
    Bytes out(size);
    REQUIRE_OK(p11->C_Decrypt(session, in.data(), in.size(), out.data(), &size));
    out.resize(size);
    return out;
}

Bytes encryptParts(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, CK_MECHANISM mechanism,
                   CK_OBJECT_HANDLE key, const Bytes& plain, size_t chunk) {
    REQUIRE_OK(p11->C_EncryptInit(session, &mechanism, key));
    Bytes in = plain, out;
    for (size_t at = 0; at < in.size(); at += chunk) {
        CK_ULONG part = static_cast<CK_ULONG>(std::min(chunk, in.size() - at));
        Bytes piece(part + 32);
        CK_ULONG size = piece.size();
        REQUIRE_OK(p11->C_EncryptUpdate(session, in.data() + at, part, piece.data(), &size));
        out.insert(out.end(), piece.begin(), piece.begin() + size);
    }
    CK_ULONG size = 0;
    REQUIRE_OK(p11->C_EncryptFinal(session, nullptr, &size));
    Bytes last(size);
    REQUIRE_OK(p11->C_EncryptFinal(session, last.data(), &size));
    out.insert(out.end(), last.begin(), last.begin() + size);
    return out;
}

Bytes decryptParts(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session, CK_MECHANISM mechanism,
                   CK_OBJECT_HANDLE key, const Bytes& cipher, size_t chunk) {
    REQUIRE_OK(p11->C_DecryptInit(session, &mechanism, key));
    Bytes in = cipher, out;
    for (size_t at = 0; at < in.size(); at += chunk) {
        CK_ULONG part = static_cast<CK_ULONG>(std::min(chunk, in.size() - at));
        Bytes piece(in.size() + 32);  // GCM may release everything buffered at once
        CK_ULONG size = piece.size();
        REQUIRE_OK(p11->C_DecryptUpdate(session, in.data() + at, part, piece.data(), &size));
        out.insert(out.end(), piece.begin(), piece.begin() + size);
    }
    CK_ULONG size = 0;
    REQUIRE_OK(p11->C_DecryptFinal(session, nullptr, &size));
    Bytes last(size);
    REQUIRE_OK(p11->C_DecryptFinal(session, last.data(), &size));
    out.insert(out.end(), last.begin(), last.begin() + size);
    return out;
}

std::vector<CK_OBJECT_HANDLE> findByLabel(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                                          CK_OBJECT_CLASS cls, const std::string& label) {
    return findObjects(p11, session,
                       {{CKA_CLASS, &cls, sizeof cls},
                        {CKA_LABEL, const_cast<char*>(label.data()), label.size()}});
}

}  // namespace p11c::test

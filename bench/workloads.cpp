// The operations of p11cluster-bench (workloads.h).
#include "workloads.h"

#include <cstring>

namespace p11c::bench {

namespace {

CK_BBOOL yes = CK_TRUE;
CK_BYTE kP256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
CK_BYTE kExponent[] = {0x01, 0x00, 0x01};
// DER DigestInfo prefix for SHA-256 (RFC 8017 section 9.2, note 1).
const CK_BYTE kSha256DigestInfo[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                     0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};

CK_ATTRIBUTE attr(CK_ATTRIBUTE_TYPE type, void* value, CK_ULONG size) {
    return CK_ATTRIBUTE{type, value, size};
}
CK_ATTRIBUTE text(CK_ATTRIBUTE_TYPE type, const std::string& value) {
    return attr(type, const_cast<char*>(value.data()), value.size());
}

// The first token key with this class, key type and label.
Outcome findKey(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, CK_KEY_TYPE type,
                const std::string& label, CK_OBJECT_HANDLE& found) {
    CK_ATTRIBUTE t[] = {attr(CKA_CLASS, &cls, sizeof cls), attr(CKA_KEY_TYPE, &type, sizeof type),
                        attr(CKA_TOKEN, &yes, 1), text(CKA_LABEL, label)};
    found = CK_INVALID_HANDLE;
    if (CK_RV rv = p11->C_FindObjectsInit(s, t, 4); rv != CKR_OK) return {rv, "C_FindObjectsInit"};
    CK_ULONG n = 0;
    CK_RV rv = p11->C_FindObjects(s, &found, 1, &n);
    p11->C_FindObjectsFinal(s);
    if (rv != CKR_OK) return {rv, "C_FindObjects"};
    if (n == 0) found = CK_INVALID_HANDLE;
    return {};
}

Outcome generateEc(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, const std::string& label,
                   CK_OBJECT_HANDLE& pub, CK_OBJECT_HANDLE& priv) {
    CK_MECHANISM m{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
    CK_ATTRIBUTE pubT[] = {attr(CKA_TOKEN, &yes, 1), attr(CKA_EC_PARAMS, kP256, sizeof kP256),
                           attr(CKA_VERIFY, &yes, 1), text(CKA_LABEL, label), text(CKA_ID, label)};
    CK_ATTRIBUTE privT[] = {attr(CKA_TOKEN, &yes, 1),     attr(CKA_PRIVATE, &yes, 1),
                            attr(CKA_SENSITIVE, &yes, 1), attr(CKA_SIGN, &yes, 1),
                            text(CKA_LABEL, label),       text(CKA_ID, label)};
    CK_RV rv = p11->C_GenerateKeyPair(s, &m, pubT, 5, privT, 6, &pub, &priv);
    return {rv, rv == CKR_OK ? nullptr : "C_GenerateKeyPair"};
}

Outcome generateRsa(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, const std::string& label,
                    CK_OBJECT_HANDLE& priv) {
    CK_MECHANISM m{CKM_RSA_PKCS_KEY_PAIR_GEN, nullptr, 0};
    CK_ULONG bits = 2048;
    CK_ATTRIBUTE pubT[] = {attr(CKA_TOKEN, &yes, 1),
                           attr(CKA_MODULUS_BITS, &bits, sizeof bits),
                           attr(CKA_PUBLIC_EXPONENT, kExponent, sizeof kExponent),
                           attr(CKA_VERIFY, &yes, 1),
                           text(CKA_LABEL, label),
                           text(CKA_ID, label)};
    CK_ATTRIBUTE privT[] = {attr(CKA_TOKEN, &yes, 1),     attr(CKA_PRIVATE, &yes, 1),
                            attr(CKA_SENSITIVE, &yes, 1), attr(CKA_SIGN, &yes, 1),
                            text(CKA_LABEL, label),       text(CKA_ID, label)};
    CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE;
    CK_RV rv = p11->C_GenerateKeyPair(s, &m, pubT, 6, privT, 6, &pub, &priv);
    return {rv, rv == CKR_OK ? nullptr : "C_GenerateKeyPair"};
}

Outcome generateAes(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, const std::string& label,
                    CK_OBJECT_HANDLE& key) {
    CK_MECHANISM m{CKM_AES_KEY_GEN, nullptr, 0};
    CK_ULONG size = 32;
    CK_ATTRIBUTE t[] = {attr(CKA_TOKEN, &yes, 1),     attr(CKA_PRIVATE, &yes, 1),
                        attr(CKA_SENSITIVE, &yes, 1), attr(CKA_ENCRYPT, &yes, 1),
                        attr(CKA_DECRYPT, &yes, 1),   attr(CKA_VALUE_LEN, &size, sizeof size),
                        text(CKA_LABEL, label),       text(CKA_ID, label)};
    CK_RV rv = p11->C_GenerateKey(s, &m, t, 8, &key);
    return {rv, rv == CKR_OK ? nullptr : "C_GenerateKey"};
}

// Init + one single-part call that fills worker.out (sized so that no length
// query is needed).
template <class Init, class Call>
Outcome initAndCall(const char* initName, const char* callName, Init&& init, Call&& call) {
    if (CK_RV rv = init(); rv != CKR_OK) return {rv, initName};
    if (CK_RV rv = call(); rv != CKR_OK) return {rv, callName};
    return {};
}

class SignWorkload : public Workload {
  public:
    SignWorkload(bool rsa) : rsa_(rsa) {}
    std::string describe() const override {
        return rsa_ ? "one op = C_SignInit + C_Sign, CKM_RSA_PKCS over a 51-byte SHA-256 "
                      "DigestInfo, RSA-2048 token key"
                    : "one op = C_SignInit + C_Sign, CKM_ECDSA over a 32-byte hash, P-256 "
                      "token key";
    }
    Outcome setup(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, const std::string& label) override {
        Outcome o = findKey(p11, s, CKO_PRIVATE_KEY, rsa_ ? CKK_RSA : CKK_EC, label, key_);
        if (o.rv != CKR_OK || key_ != CK_INVALID_HANDLE) return o;
        CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE;
        return rsa_ ? generateRsa(p11, s, label, key_) : generateEc(p11, s, label, pub, key_);
    }
    void prepare(Worker& w) const override {
        w.in.assign(rsa_ ? 51 : 32, 0x5a);
        if (rsa_) std::memcpy(w.in.data(), kSha256DigestInfo, sizeof kSha256DigestInfo);
        w.out.resize(rsa_ ? 512 : 132);
    }
    Outcome once(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, Worker& w) const override {
        CK_MECHANISM m{rsa_ ? CKM_RSA_PKCS : CKM_ECDSA, nullptr, 0};
        CK_ULONG size = w.out.size();
        return initAndCall(
            "C_SignInit", "C_Sign", [&] { return p11->C_SignInit(s, &m, key_); },
            [&] { return p11->C_Sign(s, w.in.data(), w.in.size(), w.out.data(), &size); });
    }

  private:
    bool rsa_;
    CK_OBJECT_HANDLE key_ = CK_INVALID_HANDLE;
};

class AesGcmWorkload : public Workload {
  public:
    std::string describe() const override {
        return "one op = C_EncryptInit + C_Encrypt, CKM_AES_GCM of 1 KiB, 12-byte IV fresh per "
               "op, 128-bit tag, AES-256 token key";
    }
    Outcome setup(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, const std::string& label) override {
        Outcome o = findKey(p11, s, CKO_SECRET_KEY, CKK_AES, label, key_);
        if (o.rv != CKR_OK || key_ != CK_INVALID_HANDLE) return o;
        return generateAes(p11, s, label, key_);
    }
    void prepare(Worker& w) const override {
        w.in.assign(1024, 0x5a);
        w.out.resize(1024 + 16 + 16);
    }
    Outcome once(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, Worker& w) const override {
        CK_BYTE iv[12];  // worker index || op count: never repeats under one key in a run
        for (int i = 0; i < 4; ++i) iv[i] = static_cast<CK_BYTE>(w.index >> (24 - 8 * i));
        for (int i = 0; i < 8; ++i) iv[4 + i] = static_cast<CK_BYTE>(w.count >> (56 - 8 * i));
        CK_GCM_PARAMS gcm{iv, sizeof iv, 8 * sizeof iv, nullptr, 0, 128};
        CK_MECHANISM m{CKM_AES_GCM, &gcm, sizeof gcm};
        CK_ULONG size = w.out.size();
        return initAndCall(
            "C_EncryptInit", "C_Encrypt", [&] { return p11->C_EncryptInit(s, &m, key_); },
            [&] { return p11->C_Encrypt(s, w.in.data(), w.in.size(), w.out.data(), &size); });
    }

  private:
    CK_OBJECT_HANDLE key_ = CK_INVALID_HANDLE;
};

class DigestWorkload : public Workload {
  public:
    std::string describe() const override {
        return "one op = C_DigestInit + C_Digest, CKM_SHA256 of 1 KiB (no key)";
    }
    Outcome setup(CK_FUNCTION_LIST*, CK_SESSION_HANDLE, const std::string&) override { return {}; }
    void prepare(Worker& w) const override {
        w.in.assign(1024, 0x5a);
        w.out.resize(64);
    }
    Outcome once(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, Worker& w) const override {
        CK_MECHANISM m{CKM_SHA256, nullptr, 0};
        CK_ULONG size = w.out.size();
        return initAndCall(
            "C_DigestInit", "C_Digest", [&] { return p11->C_DigestInit(s, &m); },
            [&] { return p11->C_Digest(s, w.in.data(), w.in.size(), w.out.data(), &size); });
    }
};

class RandomWorkload : public Workload {
  public:
    std::string describe() const override { return "one op = C_GenerateRandom of 32 bytes"; }
    Outcome setup(CK_FUNCTION_LIST*, CK_SESSION_HANDLE, const std::string&) override { return {}; }
    void prepare(Worker& w) const override { w.out.resize(32); }
    Outcome once(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, Worker& w) const override {
        CK_RV rv = p11->C_GenerateRandom(s, w.out.data(), w.out.size());
        return {rv, rv == CKR_OK ? nullptr : "C_GenerateRandom"};
    }
};

class EcKeygenWorkload : public Workload {
  public:
    std::string describe() const override {
        return "one op = C_GenerateKeyPair (EC P-256, token keys) + C_DestroyObject of both "
               "halves";
    }
    Outcome setup(CK_FUNCTION_LIST*, CK_SESSION_HANDLE, const std::string& label) override {
        label_ = label;
        return {};
    }
    void prepare(Worker&) const override {}
    Outcome once(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, Worker& w) const override {
        CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
        // Each thread's keys have a label and id of their own: two threads
        // never hold key pairs that differ only in their key material.
        Outcome o = generateEc(p11, s, label_ + "-" + std::to_string(w.index), pub, priv);
        if (o.rv != CKR_OK) return o;
        CK_RV rvPriv = p11->C_DestroyObject(s, priv);
        CK_RV rvPub = p11->C_DestroyObject(s, pub);
        if (rvPriv != CKR_OK) return {rvPriv, "C_DestroyObject"};
        if (rvPub != CKR_OK) return {rvPub, "C_DestroyObject"};
        return {};
    }

  private:
    std::string label_;
};

}  // namespace

std::unique_ptr<Workload> makeWorkload(const std::string& op) {
    if (op == "rsa-sign") return std::make_unique<SignWorkload>(true);
    if (op == "ecdsa-sign") return std::make_unique<SignWorkload>(false);
    if (op == "aes-gcm") return std::make_unique<AesGcmWorkload>();
    if (op == "sha256") return std::make_unique<DigestWorkload>();
    if (op == "random") return std::make_unique<RandomWorkload>();
    if (op == "ec-keygen") return std::make_unique<EcKeygenWorkload>();
    return nullptr;
}

}  // namespace p11c::bench

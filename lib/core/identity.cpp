#include "core/identity.h"

#include <openssl/evp.h>

#include <cstring>

#include "member/member.h"
#include "util/error.h"

namespace p11c {
namespace {

// Attributes that carry an object's public material, by class.
std::vector<CK_ATTRIBUTE_TYPE> materialAttributes(CK_OBJECT_CLASS cls) {
    switch (cls) {
        case CKO_PUBLIC_KEY:
            return {CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_EC_PARAMS, CKA_EC_POINT, CKA_VALUE};
        case CKO_PRIVATE_KEY:
            return {CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_EC_PARAMS, CKA_PUBLIC_KEY_INFO};
        // SoftHSM leaves CKA_VALUE_LEN 0 and CKA_CHECK_VALUE empty on keys it
        // unwrapped, so a secret key's copies cannot be told by them: secret
        // keys are known by class, type, CKA_ID and CKA_LABEL alone.
        case CKO_SECRET_KEY:
            return {};
        case CKO_CERTIFICATE:
            return {CKA_VALUE, CKA_SERIAL_NUMBER, CKA_ISSUER};
        case CKO_DATA:
            return {CKA_APPLICATION, CKA_OBJECT_ID, CKA_VALUE};
        default:
            return {CKA_VALUE};
    }
}

template <class T>
T scalar(const std::vector<CK_BYTE>& bytes, T fallback) {
    if (bytes.size() != sizeof(T)) return fallback;
    T value;
    std::memcpy(&value, bytes.data(), sizeof value);
    return value;
}

}  // namespace

AttributeValues readAttributes(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                               std::span<const CK_ATTRIBUTE_TYPE> types) {
    AttributeValues values(types.size());
    if (types.empty()) return values;
    std::vector<CK_ATTRIBUTE> templ(types.size());
    for (size_t i = 0; i < types.size(); ++i) templ[i] = {types[i], nullptr, 0};
    CK_RV rv = member.call(&CK_FUNCTION_LIST::C_GetAttributeValue, session, object, templ.data(),
                           static_cast<CK_ULONG>(templ.size()));
    if (rv != CKR_OK && rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_ATTRIBUTE_TYPE_INVALID)
        throw CkError(rv);
    std::vector<CK_ATTRIBUTE> fetch;
    std::vector<size_t> where;
    for (size_t i = 0; i < types.size(); ++i) {
        if (templ[i].ulValueLen == CK_UNAVAILABLE_INFORMATION) continue;
        values[i].emplace(templ[i].ulValueLen);
        fetch.push_back({types[i], values[i]->data(), templ[i].ulValueLen});
        where.push_back(i);
    }
    if (fetch.empty()) return values;
    check(member.call(&CK_FUNCTION_LIST::C_GetAttributeValue, session, object, fetch.data(),
                      static_cast<CK_ULONG>(fetch.size())));
    for (size_t j = 0; j < fetch.size(); ++j) values[where[j]]->resize(fetch[j].ulValueLen);
    return values;
}

std::optional<Identity> readIdentity(Member& member, CK_SESSION_HANDLE session,
                                     CK_OBJECT_HANDLE object) {
    static constexpr CK_ATTRIBUTE_TYPE kBase[] = {
        CKA_CLASS, CKA_TOKEN, CKA_KEY_TYPE, CKA_CERTIFICATE_TYPE, CKA_ID, CKA_LABEL};
    AttributeValues base, material;
    try {
        base = readAttributes(member, session, object, kBase);
        if (!base[0]) return std::nullopt;
        material = readAttributes(member, session, object,
                                  materialAttributes(scalar<CK_OBJECT_CLASS>(*base[0], 0)));
    } catch (const CkError&) {
        return std::nullopt;  // gone, or the member cannot say
    }
    auto bytes = [](std::optional<std::vector<CK_BYTE>>& v) {
        return v ? std::move(*v) : std::vector<CK_BYTE>{};
    };
    Identity identity;
    identity.cls = scalar<CK_OBJECT_CLASS>(*base[0], 0);
    identity.token = scalar<CK_BBOOL>(bytes(base[1]), CK_FALSE);
    identity.subtype =
        scalar<CK_ULONG>(base[2] ? *base[2] : bytes(base[3]), CK_UNAVAILABLE_INFORMATION);
    identity.id = bytes(base[4]);
    identity.labelled = base[5].has_value();
    identity.label = bytes(base[5]);

    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (ctx == nullptr) throw std::bad_alloc();
    EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
    for (const auto& value : material) {
        uint64_t size = value ? value->size() : 0;
        EVP_DigestUpdate(ctx, &size, sizeof size);  // keeps fields apart
        if (size > 0) {
            EVP_DigestUpdate(ctx, value->data(), value->size());
            identity.hasMaterial = true;
        }
    }
    unsigned int length = 0;
    EVP_DigestFinal_ex(ctx, identity.material.data(), &length);
    EVP_MD_CTX_free(ctx);
    return identity;
}

std::vector<CK_OBJECT_HANDLE> findAll(Member& member, CK_SESSION_HANDLE session,
                                      CK_ATTRIBUTE_PTR templ, CK_ULONG count) {
    check(member.call(&CK_FUNCTION_LIST::C_FindObjectsInit, session, templ, count));
    std::vector<CK_OBJECT_HANDLE> found;
    CK_OBJECT_HANDLE batch[128];
    CK_RV rv = CKR_OK;
    for (;;) {
        CK_ULONG n = 0;
        rv = member.call(&CK_FUNCTION_LIST::C_FindObjects, session, batch, CK_ULONG{128}, &n);
        if (rv != CKR_OK || n == 0) break;
        found.insert(found.end(), batch, batch + n);
    }
    CK_RV final = member.call(&CK_FUNCTION_LIST::C_FindObjectsFinal, session);
    check(rv != CKR_OK ? rv : final);
    return found;
}

CK_OBJECT_HANDLE findByIdentity(Member& member, CK_SESSION_HANDLE session, const Identity& identity,
                                bool* ambiguous) {
    if (ambiguous != nullptr) *ambiguous = false;
    CK_OBJECT_CLASS cls = identity.cls;
    CK_BBOOL token = identity.token;
    std::vector<CK_ATTRIBUTE> templ = {
        {CKA_CLASS, &cls, sizeof cls},
        {CKA_TOKEN, &token, sizeof token},
        {CKA_LABEL, const_cast<CK_BYTE*>(identity.label.data()), identity.label.size()},
    };
    // Data objects have no CKA_ID: asking for one would match nothing.
    if (cls != CKO_DATA)
        templ.push_back({CKA_ID, const_cast<CK_BYTE*>(identity.id.data()), identity.id.size()});
    CK_OBJECT_HANDLE match = CK_INVALID_HANDLE;
    for (CK_OBJECT_HANDLE candidate : findAll(member, session, templ.data(), templ.size())) {
        auto other = readIdentity(member, session, candidate);
        if (!other || !(*other == identity)) continue;
        if (match != CK_INVALID_HANDLE) {  // several: never guess
            if (ambiguous != nullptr) *ambiguous = true;
            return CK_INVALID_HANDLE;
        }
        match = candidate;
    }
    return match;
}

}  // namespace p11c

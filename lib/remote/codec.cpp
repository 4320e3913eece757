#include "remote/codec.h"

#include <cstddef>
#include <cstring>

namespace p11c::remote {
namespace {

constexpr int kMaxDepth = 2;  // a template inside a template inside a template

// Attributes whose value is itself a template. (CKA_ALLOWED_MECHANISMS also
// carries CKF_ARRAY_ATTRIBUTE, but its value is a plain array of numbers.)
bool isArray(CK_ATTRIBUTE_TYPE type) {
    return type == CKA_WRAP_TEMPLATE || type == CKA_UNWRAP_TEMPLATE || type == CKA_DERIVE_TEMPLATE;
}

CK_ULONG nestedCount(const CK_ATTRIBUTE& a) {
    return a.ulValueLen / sizeof(CK_ATTRIBUTE);
}

// --- mechanism parameters that hold pointers ------------------------------
// A parameter structure travels as its bytes, followed by each buffer one
// of its pointers designates; the host points the copy at its own buffers.

struct StructCodec;

struct PointerField {
    size_t pointer;                       // offset of the pointer
    size_t length;                        // offset of its CK_ULONG length
    const StructCodec* nested = nullptr;  // points to one structure of this kind instead
};

struct StructCodec {
    size_t size;
    std::vector<PointerField> fields;
};

#define P11C_FIELD(type, ptr, len)               \
    PointerField {                               \
        offsetof(type, ptr), offsetof(type, len) \
    }

const StructCodec kOaep{sizeof(CK_RSA_PKCS_OAEP_PARAMS),
                        {P11C_FIELD(CK_RSA_PKCS_OAEP_PARAMS, pSourceData, ulSourceDataLen)}};
const StructCodec kGcm{
    sizeof(CK_GCM_PARAMS),
    {P11C_FIELD(CK_GCM_PARAMS, pIv, ulIvLen), P11C_FIELD(CK_GCM_PARAMS, pAAD, ulAADLen)}};
const StructCodec kCcm{
    sizeof(CK_CCM_PARAMS),
    {P11C_FIELD(CK_CCM_PARAMS, pNonce, ulNonceLen), P11C_FIELD(CK_CCM_PARAMS, pAAD, ulAADLen)}};
const StructCodec kEcdh1{sizeof(CK_ECDH1_DERIVE_PARAMS),
                         {P11C_FIELD(CK_ECDH1_DERIVE_PARAMS, pSharedData, ulSharedDataLen),
                          P11C_FIELD(CK_ECDH1_DERIVE_PARAMS, pPublicData, ulPublicDataLen)}};
const StructCodec kEcdhAesWrap{
    sizeof(CK_ECDH_AES_KEY_WRAP_PARAMS),
    {P11C_FIELD(CK_ECDH_AES_KEY_WRAP_PARAMS, pSharedData, ulSharedDataLen)}};
const StructCodec kRsaAesWrap{
    sizeof(CK_RSA_AES_KEY_WRAP_PARAMS),
    {PointerField{offsetof(CK_RSA_AES_KEY_WRAP_PARAMS, pOAEPParams), 0, &kOaep}}};
const StructCodec kEddsa{sizeof(CK_EDDSA_PARAMS),
                         {P11C_FIELD(CK_EDDSA_PARAMS, pContextData, ulContextDataLen)}};
const StructCodec kStringData{sizeof(CK_KEY_DERIVATION_STRING_DATA),
                              {P11C_FIELD(CK_KEY_DERIVATION_STRING_DATA, pData, ulLen)}};
const StructCodec kDesCbcData{sizeof(CK_DES_CBC_ENCRYPT_DATA_PARAMS),
                              {P11C_FIELD(CK_DES_CBC_ENCRYPT_DATA_PARAMS, pData, length)}};
const StructCodec kAesCbcData{sizeof(CK_AES_CBC_ENCRYPT_DATA_PARAMS),
                              {P11C_FIELD(CK_AES_CBC_ENCRYPT_DATA_PARAMS, pData, length)}};

#undef P11C_FIELD

// Mechanisms whose parameter holds pointers. Every other parameter (an IV,
// CK_RSA_PKCS_PSS_PARAMS, CK_AES_CTR_PARAMS, a key handle, ...) is plain
// bytes. A mechanism with pointers that is missing here cannot be used on
// a remote member (docs/remote-members.md).
const StructCodec* codecFor(CK_MECHANISM_TYPE type) {
    switch (type) {
        case CKM_RSA_PKCS_OAEP:
            return &kOaep;
        case CKM_AES_GCM:
            return &kGcm;
        case CKM_AES_CCM:
            return &kCcm;
        case CKM_ECDH1_DERIVE:
        case CKM_ECDH1_COFACTOR_DERIVE:
            return &kEcdh1;
        case CKM_ECDH_AES_KEY_WRAP:
            return &kEcdhAesWrap;
        case CKM_RSA_AES_KEY_WRAP:
            return &kRsaAesWrap;
        case CKM_EDDSA:
            return &kEddsa;
        case CKM_CONCATENATE_BASE_AND_DATA:
        case CKM_CONCATENATE_DATA_AND_BASE:
        case CKM_XOR_BASE_AND_DATA:
        case CKM_DES_ECB_ENCRYPT_DATA:
        case CKM_DES3_ECB_ENCRYPT_DATA:
        case CKM_AES_ECB_ENCRYPT_DATA:
            return &kStringData;
        case CKM_DES_CBC_ENCRYPT_DATA:
        case CKM_DES3_CBC_ENCRYPT_DATA:
            return &kDesCbcData;
        case CKM_AES_CBC_ENCRYPT_DATA:
            return &kAesCbcData;
        default:
            return nullptr;
    }
}

template <class T>
T fieldAt(const void* base, size_t offset) {
    T value;
    std::memcpy(&value, static_cast<const uint8_t*>(base) + offset, sizeof value);
    return value;
}

template <class T>
void setField(void* base, size_t offset, T value) {
    std::memcpy(static_cast<uint8_t*>(base) + offset, &value, sizeof value);
}

void writeStruct(Writer& w, const StructCodec& codec, const void* param) {
    w.raw(param, codec.size);
    for (const PointerField& f : codec.fields) {
        auto ptr = fieldAt<const void*>(param, f.pointer);
        w.u8(ptr != nullptr);
        if (ptr == nullptr) continue;
        if (f.nested)
            writeStruct(w, *f.nested, ptr);
        else
            w.bytes(ptr, fieldAt<CK_ULONG>(param, f.length));
    }
}

// Reads a structure into a buffer it appends to `buffers`; returns it.
uint8_t* readStruct(Reader& r, const StructCodec& codec,
                    std::vector<std::vector<uint8_t>>& buffers) {
    buffers.emplace_back(codec.size);
    uint8_t* param = buffers.back().data();
    r.raw(param, codec.size);
    for (const PointerField& f : codec.fields) {
        void* target = nullptr;
        if (r.u8() != 0) {
            if (f.nested) {
                target = readStruct(r, *f.nested, buffers);
            } else {
                buffers.push_back(r.bytes());
                setField<CK_ULONG>(param, f.length, buffers.back().size());
                buffers.back().push_back(0);  // a valid pointer even for an empty buffer
                target = buffers.back().data();
            }
        }
        setField<void*>(param, f.pointer, target);
    }
    return param;
}

}  // namespace

// --- templates -------------------------------------------------------------

void writeTemplate(Writer& w, const CK_ATTRIBUTE* attrs, CK_ULONG count) {
    w.u64(attrs == nullptr ? 0 : count);
    if (attrs == nullptr) return;
    for (CK_ULONG i = 0; i < count; ++i) {
        const CK_ATTRIBUTE& a = attrs[i];
        w.u64(a.type);
        w.u8(a.pValue != nullptr);
        if (a.pValue == nullptr)
            w.u64(a.ulValueLen);
        else if (isArray(a.type))
            writeTemplate(w, static_cast<const CK_ATTRIBUTE*>(a.pValue), nestedCount(a));
        else
            w.bytes(a.pValue, a.ulValueLen);
    }
}

void writeTemplateQuery(Writer& w, const CK_ATTRIBUTE* attrs, CK_ULONG count) {
    w.u64(attrs == nullptr ? 0 : count);
    if (attrs == nullptr) return;
    for (CK_ULONG i = 0; i < count; ++i) {
        const CK_ATTRIBUTE& a = attrs[i];
        w.u64(a.type);
        w.u8(a.pValue != nullptr);
        w.u64(a.ulValueLen);
        if (a.pValue != nullptr && isArray(a.type))
            writeTemplateQuery(w, static_cast<const CK_ATTRIBUTE*>(a.pValue), nestedCount(a));
    }
}

void readTemplateAnswer(Reader& r, CK_ATTRIBUTE* attrs, CK_ULONG count,
                        const std::vector<CK_ULONG>& capacity) {
    if (r.u64() != count || capacity.size() != count) return r.fail();
    for (CK_ULONG i = 0; i < count && r.ok(); ++i) {
        CK_ATTRIBUTE& a = attrs[i];
        CK_ULONG length = r.u64();
        a.ulValueLen = length;
        if (r.u8() == 0) continue;
        if (a.pValue == nullptr || length > capacity[i]) return r.fail();
        if (isArray(a.type)) {
            auto* inner = static_cast<CK_ATTRIBUTE*>(a.pValue);
            CK_ULONG innerCount = capacity[i] / sizeof(CK_ATTRIBUTE);
            std::vector<CK_ULONG> innerCapacity(innerCount);
            for (CK_ULONG j = 0; j < innerCount; ++j) innerCapacity[j] = inner[j].ulValueLen;
            readTemplateAnswer(r, inner, innerCount, innerCapacity);
        } else {
            r.raw(a.pValue, length);
        }
    }
}

bool HostTemplate::read(Reader& r, bool query, int depth) {
    uint64_t count = r.u64();
    if (!r.ok() || count > kMaxMessage / 9) return false;
    attrs_.assign(count, CK_ATTRIBUTE{});
    capacity_.assign(count, 0);
    values_.resize(count);
    nested_.resize(count);
    for (size_t i = 0; i < count && r.ok(); ++i) {
        CK_ATTRIBUTE& a = attrs_[i];
        a.type = r.u64();
        bool present = r.u8() != 0;
        if (query) {
            a.ulValueLen = capacity_[i] = r.u64();
            if (!present) continue;
            if (isArray(a.type)) {
                if (depth >= kMaxDepth) return false;
                nested_[i] = std::make_unique<HostTemplate>();
                if (!nested_[i]->read(r, true, depth + 1)) return false;
                a.ulValueLen = capacity_[i] = nested_[i]->count() * sizeof(CK_ATTRIBUTE);
                a.pValue = nested_[i]->data();
            } else {
                if (capacity_[i] > kMaxMessage) return false;
                values_[i].resize(capacity_[i] + 1);  // never a null pointer
                a.pValue = values_[i].data();
            }
        } else if (!present) {
            a.ulValueLen = r.u64();
        } else if (isArray(a.type)) {
            if (depth >= kMaxDepth) return false;
            nested_[i] = std::make_unique<HostTemplate>();
            if (!nested_[i]->read(r, false, depth + 1)) return false;
            a.pValue = nested_[i]->data();
            a.ulValueLen = nested_[i]->count() * sizeof(CK_ATTRIBUTE);
        } else {
            values_[i] = r.bytes();
            a.ulValueLen = values_[i].size();
            values_[i].push_back(0);  // never a null pointer, even for an empty value
            a.pValue = values_[i].data();
        }
    }
    return r.ok();
}

void HostTemplate::writeAnswer(Writer& w) const {
    w.u64(attrs_.size());
    for (size_t i = 0; i < attrs_.size(); ++i) {
        const CK_ATTRIBUTE& a = attrs_[i];
        w.u64(a.ulValueLen);
        bool filled = a.pValue != nullptr && a.ulValueLen != CK_UNAVAILABLE_INFORMATION &&
                      a.ulValueLen <= capacity_[i];
        w.u8(filled);
        if (!filled) continue;
        if (nested_[i])
            nested_[i]->writeAnswer(w);
        else
            w.raw(a.pValue, a.ulValueLen);
    }
}

// --- mechanisms --------------------------------------------------------------

bool writeMechanism(Writer& w, const CK_MECHANISM* m) {
    w.u8(m != nullptr);
    if (m == nullptr) return true;
    w.u64(m->mechanism);
    const StructCodec* codec = m->pParameter ? codecFor(m->mechanism) : nullptr;
    if (codec == nullptr) {
        w.u8(0);
        w.u8(m->pParameter != nullptr);
        if (m->pParameter)
            w.bytes(m->pParameter, m->ulParameterLen);
        else
            w.u64(m->ulParameterLen);
        return true;
    }
    if (m->ulParameterLen != codec->size) return false;
    w.u8(1);
    writeStruct(w, *codec, m->pParameter);
    return true;
}

bool HostMechanism::read(Reader& r) {
    present_ = r.u8() != 0;
    if (!present_) return r.ok();
    mechanism_.mechanism = r.u64();
    if (r.u8() == 0) {
        if (r.u8() == 0) {
            mechanism_.pParameter = nullptr;
            mechanism_.ulParameterLen = r.u64();
        } else {
            buffers_.push_back(r.bytes());
            mechanism_.ulParameterLen = buffers_.back().size();
            buffers_.back().push_back(0);
            mechanism_.pParameter = buffers_.back().data();
        }
        return r.ok();
    }
    const StructCodec* codec = codecFor(mechanism_.mechanism);
    if (codec == nullptr) return false;
    buffers_.reserve(8);
    mechanism_.pParameter = readStruct(r, *codec, buffers_);
    mechanism_.ulParameterLen = codec->size;
    return r.ok();
}

}  // namespace p11c::remote

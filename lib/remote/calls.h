// How each kind of Cryptoki argument travels between the client (the
// cluster's side) and the member host. Every function is described twice
// with the same kinds in the same order: once in client.cpp with the
// caller's arguments, once in host.cpp with the host's copies, e.g.
//   client: call(Fn::C_Sign, Ulong{s}, In{data, len}, Out<CK_BYTE>{sig, sigLen})
//   host:   serve<HUlong, HIn, HOut<CK_BYTE>>(fl->C_Sign)
// A request carries the inputs and the size of every output buffer; the
// reply carries the CK_RV and the outputs, following the two-call
// convention (a NULL buffer asks for the length only).
#pragma once

#include <pkcs11.h>
#include <pkcs11_functions.h>

#include <tuple>
#include <vector>

#include "remote/codec.h"
#include "remote/wire.h"

namespace p11c::remote {

// Function numbers on the wire: the position in CK_FUNCTION_LIST.
enum class Fn : uint32_t {
#define P11C_FN_ID(name, params, args) name,
    P11_FUNCTIONS_2_40(P11C_FN_ID)
#undef P11C_FN_ID
        Count,
    // The protocol's own: waits until every call this client made earlier
    // has finished on the host (calls that missed their deadline included).
    Fence = 0x10000,
    // Maintenance (p11cluster drill): the host answers every call with
    // CKR_DEVICE_REMOVED for the given seconds (0: serve again at once), as
    // a member taken out of service would. The pause ends by itself.
    Pause = 0x10001,
};

inline constexpr char kMagic[8] = {'P', '1', '1', 'C', 'L', 'S', 'T', '1'};
enum class Role : uint8_t { Control = 0, Calls = 1 };

// ---------------------------------------------------------------- client

struct Ulong {
    CK_ULONG value;
    CK_RV request(Writer& w) const {
        w.u64(value);
        return CKR_OK;
    }
    void reply(Reader&, CK_RV) {}
};

struct In {
    const void* data;
    CK_ULONG length;
    CK_RV request(Writer& w) const {
        w.u8(data != nullptr);
        if (data)
            w.bytes(data, length);
        else
            w.u64(length);
        return CKR_OK;
    }
    void reply(Reader&, CK_RV) {}
};

// An output buffer with its length (two-call convention); T is the element.
template <class T>
struct Out {
    T* data;
    CK_ULONG* length;
    CK_RV request(Writer& w) const {
        if (length == nullptr) return CKR_ARGUMENTS_BAD;
        w.u8(data != nullptr);
        w.u64(*length);
        return CKR_OK;
    }
    void reply(Reader& r, CK_RV rv) {
        CK_ULONG capacity = *length;
        CK_ULONG answered = r.u64();
        if (r.u8() != 0) {
            if (data == nullptr || answered > capacity) return r.fail();
            r.raw(data, answered * sizeof(T));
        }
        if (rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL) *length = answered;
    }
};

// An output buffer of a fixed size (C_GenerateRandom).
struct OutFixed {
    CK_BYTE* data;
    CK_ULONG length;
    CK_RV request(Writer& w) const {
        if (data == nullptr && length > 0) return CKR_ARGUMENTS_BAD;
        w.u64(length);
        return CKR_OK;
    }
    void reply(Reader& r, CK_RV rv) {
        if (rv == CKR_OK) r.raw(data, length);
    }
};

// One value written by the token (a handle, an info structure).
template <class T>
struct OutValue {
    T* value;
    CK_RV request(Writer&) const { return value ? CKR_OK : CKR_ARGUMENTS_BAD; }
    void reply(Reader& r, CK_RV rv) {
        if (rv == CKR_OK) r.raw(value, sizeof(T));
    }
};

// C_FindObjects: up to `max` handles and their count.
struct Found {
    CK_OBJECT_HANDLE* handles;
    CK_ULONG max;
    CK_ULONG* count;
    CK_RV request(Writer& w) const {
        if (count == nullptr || (handles == nullptr && max > 0)) return CKR_ARGUMENTS_BAD;
        w.u64(max);
        return CKR_OK;
    }
    void reply(Reader& r, CK_RV rv) {
        if (rv != CKR_OK) return;
        CK_ULONG n = r.u64();
        if (n > max) return r.fail();
        r.raw(handles, n * sizeof(CK_OBJECT_HANDLE));
        *count = n;
    }
};

struct Template {
    const CK_ATTRIBUTE* attrs;
    CK_ULONG count;
    CK_RV request(Writer& w) const {
        if (attrs == nullptr && count > 0) return CKR_ARGUMENTS_BAD;
        writeTemplate(w, attrs, count);
        return CKR_OK;
    }
    void reply(Reader&, CK_RV) {}
};

// C_GetAttributeValue's template, filled by the token.
struct Query {
    CK_ATTRIBUTE* attrs;
    CK_ULONG count;
    std::vector<CK_ULONG> capacity{};
    CK_RV request(Writer& w) {
        if (attrs == nullptr && count > 0) return CKR_ARGUMENTS_BAD;
        capacity.resize(count);
        for (CK_ULONG i = 0; i < count; ++i) capacity[i] = attrs[i].ulValueLen;
        writeTemplateQuery(w, attrs, count);
        return CKR_OK;
    }
    void reply(Reader& r, CK_RV) { readTemplateAnswer(r, attrs, count, capacity); }
};

struct Mech {
    const CK_MECHANISM* mechanism;
    CK_RV request(Writer& w) const {
        return writeMechanism(w, mechanism) ? CKR_OK : CKR_MECHANISM_PARAM_INVALID;
    }
    void reply(Reader&, CK_RV) {}
};

// ------------------------------------------------------------------ host

struct HUlong {
    CK_ULONG value = 0;
    bool read(Reader& r) {
        value = r.u64();
        return r.ok();
    }
    auto args() { return std::tuple<CK_ULONG>(value); }
    void reply(Writer&, CK_RV) {}
};

struct HIn {
    std::vector<CK_BYTE> data;
    bool present = false;
    CK_ULONG length = 0;
    bool read(Reader& r) {
        present = r.u8() != 0;
        if (present) {
            data = r.bytes();
            length = data.size();
            data.push_back(0);  // a valid pointer even when empty
        } else {
            length = r.u64();
        }
        return r.ok();
    }
    auto args() { return std::tuple<CK_BYTE*, CK_ULONG>(present ? data.data() : nullptr, length); }
    void reply(Writer&, CK_RV) {}
};

// A fixed-size input the function takes without a length (C_InitToken's
// 32-byte label).
template <size_t N>
struct HInFixed : HIn {
    bool read(Reader& r) {
        if (!HIn::read(r) || (present && length != N)) return false;
        return true;
    }
    auto args() { return std::tuple<CK_BYTE*>(present ? data.data() : nullptr); }
};

template <class T>
struct HOut {
    std::vector<T> data;
    bool present = false;
    CK_ULONG capacity = 0, length = 0;
    bool read(Reader& r) {
        present = r.u8() != 0;
        capacity = length = r.u64();
        // A length query (no buffer) may carry any length: the specification
        // ignores it, and callers leave it unset (GnuTLS).
        if (!r.ok() || (present && capacity > kMaxMessage / sizeof(T))) return false;
        if (present) data.resize(capacity + 1);
        return true;
    }
    auto args() { return std::tuple<T*, CK_ULONG*>(present ? data.data() : nullptr, &length); }
    void reply(Writer& w, CK_RV rv) {
        w.u64(length);
        bool filled = rv == CKR_OK && present && length <= capacity;
        w.u8(filled);
        if (filled) w.raw(data.data(), length * sizeof(T));
    }
};

struct HOutFixed {
    std::vector<CK_BYTE> data;
    bool read(Reader& r) {
        uint64_t n = r.u64();
        if (!r.ok() || n > kMaxMessage) return false;
        data.resize(n + 1);
        return true;
    }
    auto args() {
        return std::tuple<CK_BYTE*, CK_ULONG>(data.data(), static_cast<CK_ULONG>(data.size() - 1));
    }
    void reply(Writer& w, CK_RV rv) {
        if (rv == CKR_OK) w.raw(data.data(), data.size() - 1);
    }
};

template <class T>
struct HOutValue {
    T value{};
    bool read(Reader&) { return true; }
    auto args() { return std::tuple<T*>(&value); }
    void reply(Writer& w, CK_RV rv) {
        if (rv == CKR_OK) w.raw(&value, sizeof(T));
    }
};

struct HFound {
    std::vector<CK_OBJECT_HANDLE> handles;
    CK_ULONG count = 0;
    bool read(Reader& r) {
        uint64_t max = r.u64();
        if (!r.ok() || max > kMaxMessage / sizeof(CK_OBJECT_HANDLE)) return false;
        handles.resize(max + 1);
        return true;
    }
    auto args() {
        return std::tuple<CK_OBJECT_HANDLE*, CK_ULONG, CK_ULONG*>(
            handles.data(), static_cast<CK_ULONG>(handles.size() - 1), &count);
    }
    void reply(Writer& w, CK_RV rv) {
        if (rv != CKR_OK) return;
        w.u64(count);
        w.raw(handles.data(), count * sizeof(CK_OBJECT_HANDLE));
    }
};

struct HTemplate {
    HostTemplate t;
    bool read(Reader& r) { return t.read(r, false); }
    auto args() { return std::tuple<CK_ATTRIBUTE*, CK_ULONG>(t.data(), t.count()); }
    void reply(Writer&, CK_RV) {}
};

struct HQuery {
    HostTemplate t;
    bool read(Reader& r) { return t.read(r, true); }
    auto args() { return std::tuple<CK_ATTRIBUTE*, CK_ULONG>(t.data(), t.count()); }
    void reply(Writer& w, CK_RV) { t.writeAnswer(w); }
};

struct HMech {
    HostMechanism m;
    bool read(Reader& r) { return m.read(r); }
    auto args() { return std::tuple<CK_MECHANISM*>(m.get()); }
    void reply(Writer&, CK_RV) {}
};

// An argument that never travels (pApplication, Notify): the host passes NULL.
template <class T>
struct HNull {
    bool read(Reader&) { return true; }
    auto args() { return std::tuple<T>(nullptr); }
    void reply(Writer&, CK_RV) {}
};

}  // namespace p11c::remote

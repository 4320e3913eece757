// libp11c-simhsm.so: a simulated network HSM for tests and benchmarks.
//
// A PKCS#11 module that forwards every call to SoftHSM (P11C_SIMHSM_TARGET,
// default the SoftHSM module this project is built against) and gives each
// token a fixed service time and a concurrency limit (P11C_SIMHSM, see
// sim_hsm_config.h), as a network HSM with a fixed ops/s ceiling behaves.
// The calls that do cryptographic work on a real HSM (sign, verify, encrypt,
// decrypt, digest, random, key generation, wrap, unwrap, derive) take a place
// in their token's service queue (sim_hsm_gate.h); a length query (output
// pointer NULL) does not. Each token has its own queue: one token's backlog
// never delays another.
//
// Built from SoftHSM's own CK_FUNCTION_LIST: a copy with only the entries
// below replaced. Only C_GetFunctionList is exported (everything else is
// hidden), so this module's symbols can never be bound in place of
// SoftHSM's own C_* functions.
//
// Threading: as SoftHSM's (CKF_OS_LOCKING_OK). The session table is sharded
// (sim_hsm_sessions.h); the slot -> gate map is behind one mutex, used only
// by C_OpenSession. C_Initialize and C_Finalize must not race other calls,
// as PKCS#11 requires.
#include <dlfcn.h>
#include <pkcs11.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>

#include "support/sim_hsm_config.h"
#include "support/sim_hsm_gate.h"
#include "support/sim_hsm_sessions.h"

namespace p11c::simhsm {
namespace {

constexpr const char* kDescription = "p11cluster simulated HSM";

struct State {
    std::mutex loadMutex;
    CK_FUNCTION_LIST* target = nullptr;  // SoftHSM's list; set once, never cleared
    CK_FUNCTION_LIST list{};             // ours: a copy with the entries below replaced

    std::mutex gatesMutex;
    Config config;                                             // guarded by gatesMutex
    std::map<CK_SLOT_ID, std::unique_ptr<ServiceGate>> gates;  // guarded by gatesMutex
    SessionTable sessions;
};

State& state() {
    static State s;
    return s;
}
CK_FUNCTION_LIST& real() {
    return *state().target;
}

// Runs `call`; an exception becomes a CK_RV here, never crossing the C ABI.
template <class Call>
CK_RV guard(Call&& call) noexcept {
    try {
        return call();
    } catch (const std::bad_alloc&) {
        return CKR_HOST_MEMORY;
    } catch (...) {
        return CKR_GENERAL_ERROR;
    }
}

// A timed call: the real call inside a place of the session's token queue,
// unless it is a length query or the token is untimed.
template <class Call>
CK_RV timed(CK_SESSION_HANDLE session, bool lengthQuery, Call&& call) noexcept {
    return guard([&] {
        ServiceGate* gate = lengthQuery ? nullptr : state().sessions.gateOf(session);
        if (gate == nullptr) return call();
        ServiceGate::Pass pass(*gate);
        return call();
    });
}

std::string tokenLabel(const CK_TOKEN_INFO& info) {
    std::string label(reinterpret_cast<const char*>(info.label), sizeof info.label);
    label.erase(label.find_last_not_of(' ') + 1);
    return label;
}

// The gate of a slot's token (made at its first session); null when untimed.
ServiceGate* gateForSlot(CK_SLOT_ID slot) {
    CK_TOKEN_INFO info{};
    bool known = real().C_GetTokenInfo(slot, &info) == CKR_OK;
    State& s = state();
    std::lock_guard lock(s.gatesMutex);
    auto it = s.gates.find(slot);
    if (it != s.gates.end()) return it->second.get();
    const Rule* rule = known ? s.config.find(tokenLabel(info)) : nullptr;
    auto gate = rule ? std::make_unique<ServiceGate>(rule->service, rule->concurrency) : nullptr;
    return s.gates.emplace(slot, std::move(gate)).first->second.get();
}

void forgetEverything() {
    State& s = state();
    s.sessions.clear();
    std::lock_guard lock(s.gatesMutex);
    s.gates.clear();
}

// --- the replaced entries ------------------------------------------------------

CK_RV simInitialize(CK_VOID_PTR args) {
    return guard([&] {
        const char* text = std::getenv("P11C_SIMHSM");
        Config config;
        std::string error;
        if (!parseConfig(text ? text : "", config, error)) {
            std::fprintf(stderr, "p11c-simhsm: P11C_SIMHSM=\"%s\": %s\n", text, error.c_str());
            return CKR_ARGUMENTS_BAD;
        }
        CK_RV rv = real().C_Initialize(args);
        if (rv != CKR_OK) return rv;
        forgetEverything();
        std::lock_guard lock(state().gatesMutex);
        state().config = std::move(config);
        return rv;
    });
}

CK_RV simFinalize(CK_VOID_PTR reserved) {
    return guard([&] {
        CK_RV rv = real().C_Finalize(reserved);
        if (rv == CKR_OK) forgetEverything();
        return rv;
    });
}

CK_RV simGetInfo(CK_INFO_PTR info) {
    CK_RV rv = real().C_GetInfo(info);
    if (rv != CKR_OK) return rv;
    std::memset(info->manufacturerID, ' ', sizeof info->manufacturerID);
    std::memset(info->libraryDescription, ' ', sizeof info->libraryDescription);
    std::memcpy(info->manufacturerID, kDescription, std::strlen(kDescription));
    std::memcpy(info->libraryDescription, kDescription, std::strlen(kDescription));
    return rv;
}

CK_RV simOpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
                     CK_SESSION_HANDLE_PTR session) {
    CK_RV rv = real().C_OpenSession(slot, flags, app, notify, session);
    if (rv != CKR_OK) return rv;
    CK_RV recorded = guard([&] {
        state().sessions.add(*session, SessionInfo{slot, gateForSlot(slot)});
        return CKR_OK;
    });
    if (recorded != CKR_OK) real().C_CloseSession(*session);
    return recorded;
}

CK_RV simCloseSession(CK_SESSION_HANDLE session) {
    CK_RV rv = real().C_CloseSession(session);
    if (rv == CKR_OK || rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED)
        guard([&] { return state().sessions.remove(session), CKR_OK; });
    return rv;
}

CK_RV simCloseAllSessions(CK_SLOT_ID slot) {
    CK_RV rv = real().C_CloseAllSessions(slot);
    if (rv == CKR_OK) guard([&] { return state().sessions.removeSlot(slot), CKR_OK; });
    return rv;
}

// --- the timed calls -------------------------------------------------------------

CK_RV simSign(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inLen, CK_BYTE_PTR out,
              CK_ULONG_PTR outLen) {
    return timed(h, out == nullptr, [&] { return real().C_Sign(h, in, inLen, out, outLen); });
}
CK_RV simSignFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outLen) {
    return timed(h, out == nullptr, [&] { return real().C_SignFinal(h, out, outLen); });
}
CK_RV simVerify(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inLen, CK_BYTE_PTR sig,
                CK_ULONG sigLen) {
    return timed(h, false, [&] { return real().C_Verify(h, in, inLen, sig, sigLen); });
}
CK_RV simVerifyFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG sigLen) {
    return timed(h, false, [&] { return real().C_VerifyFinal(h, sig, sigLen); });
}
CK_RV simEncrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inLen, CK_BYTE_PTR out,
                 CK_ULONG_PTR outLen) {
    return timed(h, out == nullptr, [&] { return real().C_Encrypt(h, in, inLen, out, outLen); });
}
CK_RV simEncryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outLen) {
    return timed(h, out == nullptr, [&] { return real().C_EncryptFinal(h, out, outLen); });
}
CK_RV simDecrypt(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inLen, CK_BYTE_PTR out,
                 CK_ULONG_PTR outLen) {
    return timed(h, out == nullptr, [&] { return real().C_Decrypt(h, in, inLen, out, outLen); });
}
CK_RV simDecryptFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outLen) {
    return timed(h, out == nullptr, [&] { return real().C_DecryptFinal(h, out, outLen); });
}
CK_RV simDigest(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inLen, CK_BYTE_PTR out,
                CK_ULONG_PTR outLen) {
    return timed(h, out == nullptr, [&] { return real().C_Digest(h, in, inLen, out, outLen); });
}
CK_RV simDigestFinal(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG_PTR outLen) {
    return timed(h, out == nullptr, [&] { return real().C_DigestFinal(h, out, outLen); });
}
CK_RV simSignRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR in, CK_ULONG inLen, CK_BYTE_PTR out,
                     CK_ULONG_PTR outLen) {
    return timed(h, out == nullptr,
                 [&] { return real().C_SignRecover(h, in, inLen, out, outLen); });
}
CK_RV simVerifyRecover(CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG sigLen, CK_BYTE_PTR out,
                       CK_ULONG_PTR outLen) {
    return timed(h, out == nullptr,
                 [&] { return real().C_VerifyRecover(h, sig, sigLen, out, outLen); });
}
CK_RV simGenerateRandom(CK_SESSION_HANDLE h, CK_BYTE_PTR out, CK_ULONG len) {
    return timed(h, false, [&] { return real().C_GenerateRandom(h, out, len); });
}
CK_RV simGenerateKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                     CK_OBJECT_HANDLE_PTR key) {
    return timed(h, false, [&] { return real().C_GenerateKey(h, m, t, n, key); });
}
CK_RV simGenerateKeyPair(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pubT,
                         CK_ULONG pubN, CK_ATTRIBUTE_PTR privT, CK_ULONG privN,
                         CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv) {
    return timed(h, false, [&] {
        return real().C_GenerateKeyPair(h, m, pubT, pubN, privT, privN, pub, priv);
    });
}
CK_RV simWrapKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE wrapping,
                 CK_OBJECT_HANDLE key, CK_BYTE_PTR out, CK_ULONG_PTR outLen) {
    return timed(h, out == nullptr,
                 [&] { return real().C_WrapKey(h, m, wrapping, key, out, outLen); });
}
CK_RV simUnwrapKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE unwrapping,
                   CK_BYTE_PTR in, CK_ULONG inLen, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                   CK_OBJECT_HANDLE_PTR key) {
    return timed(h, false,
                 [&] { return real().C_UnwrapKey(h, m, unwrapping, in, inLen, t, n, key); });
}
CK_RV simDeriveKey(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE base,
                   CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR key) {
    return timed(h, false, [&] { return real().C_DeriveKey(h, m, base, t, n, key); });
}

// Loads the target module once and builds our function list from its own.
CK_RV load() {
    State& s = state();
    std::lock_guard lock(s.loadMutex);
    if (s.target != nullptr) return CKR_OK;
    const char* path = std::getenv("P11C_SIMHSM_TARGET");
    if (path == nullptr || *path == '\0') path = P11C_SIMHSM_DEFAULT_TARGET;
    void* handle = ::dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        std::fprintf(stderr, "p11c-simhsm: P11C_SIMHSM_TARGET: cannot load %s: %s\n", path,
                     ::dlerror());
        return CKR_GENERAL_ERROR;
    }
    auto get = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(handle, "C_GetFunctionList"));
    CK_FUNCTION_LIST* target = nullptr;
    if (get == nullptr || get(&target) != CKR_OK || target == nullptr) {
        std::fprintf(stderr, "p11c-simhsm: %s has no function list\n", path);
        ::dlclose(handle);
        return CKR_GENERAL_ERROR;
    }
    // The module stays loaded for the life of the process, as SoftHSM
    // expects (one instance per process).
    s.target = target;
    s.list = *target;
    s.list.C_Initialize = simInitialize;
    s.list.C_Finalize = simFinalize;
    s.list.C_GetInfo = simGetInfo;
    s.list.C_OpenSession = simOpenSession;
    s.list.C_CloseSession = simCloseSession;
    s.list.C_CloseAllSessions = simCloseAllSessions;
    s.list.C_Sign = simSign;
    s.list.C_SignFinal = simSignFinal;
    s.list.C_Verify = simVerify;
    s.list.C_VerifyFinal = simVerifyFinal;
    s.list.C_Encrypt = simEncrypt;
    s.list.C_EncryptFinal = simEncryptFinal;
    s.list.C_Decrypt = simDecrypt;
    s.list.C_DecryptFinal = simDecryptFinal;
    s.list.C_Digest = simDigest;
    s.list.C_DigestFinal = simDigestFinal;
    s.list.C_SignRecover = simSignRecover;
    s.list.C_VerifyRecover = simVerifyRecover;
    s.list.C_GenerateRandom = simGenerateRandom;
    s.list.C_GenerateKey = simGenerateKey;
    s.list.C_GenerateKeyPair = simGenerateKeyPair;
    s.list.C_WrapKey = simWrapKey;
    s.list.C_UnwrapKey = simUnwrapKey;
    s.list.C_DeriveKey = simDeriveKey;
    return CKR_OK;
}

}  // namespace
}  // namespace p11c::simhsm

extern "C" __attribute__((visibility("default"))) CK_RV C_GetFunctionList(
    CK_FUNCTION_LIST_PTR_PTR list) {
    if (list == nullptr) return CKR_ARGUMENTS_BAD;
    CK_RV rv = p11c::simhsm::guard([] { return p11c::simhsm::load(); });
    if (rv == CKR_OK) *list = &p11c::simhsm::state().list;
    return rv;
}

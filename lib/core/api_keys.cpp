// Chapter 5.14 of the specification: key management.
//
// Generated keys are random: made on one member (chosen by the routing
// policy) and recorded as present there and absent elsewhere until the
// replication layer copies them. Unwrap and derive are deterministic: run on
// every member that holds the base key, with the same inputs.
#include "core/api.h"
#include "core/objects.h"
#include "core/runtime.h"
#include "replication/fanout.h"
#include "util/log.h"

namespace p11c::api {
namespace {

bool badTemplate(CK_ATTRIBUTE_PTR templ, CK_ULONG count) { return templ == nullptr && count != 0; }

template <class Generate>
CK_RV generateOnOne(Cluster& cluster, Session& session, const char* what, Generate&& generate) {
    std::vector<unsigned> candidates = cluster.servingMembers();
    while (!candidates.empty()) {
        unsigned m = cluster.pick(candidates);
        CK_RV rv;
        try {
            rv = generate(m, session.memberSessionLocked(m));
        } catch (const CkError& e) {
            rv = e.rv();
        }
        if (classify(rv) != RvClass::MemberFault) return rv;
        cluster.memberFault(m, rv, what);
        std::erase(candidates, m);
    }
    return CKR_DEVICE_ERROR;
}

// C_UnwrapKey / C_DeriveKey: on every member holding `base`, same inputs.
template <class Make>
CK_RV makeEverywhere(Cluster& cluster, Session& session, CK_OBJECT_HANDLE base, bool token,
                     const char* what, CK_OBJECT_HANDLE_PTR out, Make&& make) {
    std::vector<unsigned> targets = cluster.objects().candidates(base, cluster.servingMembers());
    if (targets.empty()) return objects::noHolder(cluster, base);
    unsigned required =
        std::min<unsigned>(replication::requiredFor(cluster), static_cast<unsigned>(targets.size()));
    auto outcome = replication::write(
        cluster, targets, required,
        [&](unsigned m, CK_OBJECT_HANDLE* made) {
            CK_OBJECT_HANDLE key = objects::resolveLocked(cluster, session, base, m);
            if (key == CK_INVALID_HANDLE) return CKR_KEY_HANDLE_INVALID;
            return make(m, session.memberSessionLocked(m), key, made);
        },
        [&](unsigned m, CK_OBJECT_HANDLE h) {
            cluster.member(m).call(&CK_FUNCTION_LIST::C_DestroyObject,
                                   session.memberSessionLocked(m), h);
        },
        what);
    if (outcome.rv != CKR_OK) return outcome.rv;
    *out = objects::record(cluster, session, token, outcome.done);
    return CKR_OK;
}

}  // namespace

CK_RV C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                    CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (pMechanism == nullptr || badTemplate(pTemplate, ulCount) || phKey == nullptr)
        return CKR_ARGUMENTS_BAD;
    std::lock_guard lock(session->mutex);
    const bool token = objects::templateFlag(pTemplate, ulCount, CKA_TOKEN, false);
    Placement made{};
    CK_RV rv = generateOnOne(cluster, *session, "C_GenerateKey", [&](unsigned m, CK_SESSION_HANDLE s) {
        made.member = m;
        return cluster.member(m).call(&CK_FUNCTION_LIST::C_GenerateKey, s, pMechanism, pTemplate,
                                      ulCount, &made.handle);
    });
    if (rv != CKR_OK) return rv;
    *phKey = objects::record(cluster, *session, token, std::span(&made, 1));
    return CKR_OK;
}

CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                        CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
                        CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount,
                        CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (pMechanism == nullptr || badTemplate(pPublicKeyTemplate, ulPublicKeyAttributeCount) ||
        badTemplate(pPrivateKeyTemplate, ulPrivateKeyAttributeCount) || phPublicKey == nullptr ||
        phPrivateKey == nullptr)
        return CKR_ARGUMENTS_BAD;
    std::lock_guard lock(session->mutex);
    const bool publicToken =
        objects::templateFlag(pPublicKeyTemplate, ulPublicKeyAttributeCount, CKA_TOKEN, false);
    const bool privateToken =
        objects::templateFlag(pPrivateKeyTemplate, ulPrivateKeyAttributeCount, CKA_TOKEN, false);
    Placement pub{}, priv{};
    CK_RV rv = generateOnOne(cluster, *session, "C_GenerateKeyPair",
                             [&](unsigned m, CK_SESSION_HANDLE s) {
                                 pub.member = priv.member = m;
                                 return cluster.member(m).call(
                                     &CK_FUNCTION_LIST::C_GenerateKeyPair, s, pMechanism,
                                     pPublicKeyTemplate, ulPublicKeyAttributeCount,
                                     pPrivateKeyTemplate, ulPrivateKeyAttributeCount, &pub.handle,
                                     &priv.handle);
                             });
    if (rv != CKR_OK) return rv;
    *phPublicKey = objects::record(cluster, *session, publicToken, std::span(&pub, 1));
    *phPrivateKey = objects::record(cluster, *session, privateToken, std::span(&priv, 1));
    return CKR_OK;
}

CK_RV C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey,
                CK_ULONG_PTR pulWrappedKeyLen) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (pMechanism == nullptr || pulWrappedKeyLen == nullptr) return CKR_ARGUMENTS_BAD;
    std::lock_guard lock(session->mutex);
    // Both keys must be on the member that wraps.
    std::vector<unsigned> holders;
    try {
        holders = cluster.objects().candidates(hKey, cluster.servingMembers());
    } catch (const CkError&) {
        return CKR_KEY_HANDLE_INVALID;
    }
    CK_RV rv = objects::withObjectLocked(
        cluster, *session, hWrappingKey, holders, "C_WrapKey",
        [&](unsigned m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE wrapping) {
            CK_OBJECT_HANDLE key = objects::resolveLocked(cluster, *session, hKey, m);
            if (key == CK_INVALID_HANDLE) return CKR_KEY_HANDLE_INVALID;
            return cluster.member(m).call(&CK_FUNCTION_LIST::C_WrapKey, s, pMechanism, wrapping, key,
                                          pWrappedKey, pulWrappedKeyLen);
        });
    return rv == CKR_OBJECT_HANDLE_INVALID ? CKR_WRAPPING_KEY_HANDLE_INVALID : rv;
}

CK_RV C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                  CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey,
                  CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount,
                  CK_OBJECT_HANDLE_PTR phKey) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (pMechanism == nullptr || pWrappedKey == nullptr || badTemplate(pTemplate, ulAttributeCount) ||
        phKey == nullptr)
        return CKR_ARGUMENTS_BAD;
    std::lock_guard lock(session->mutex);
    const bool token = objects::templateFlag(pTemplate, ulAttributeCount, CKA_TOKEN, false);
    CK_RV rv;
    try {
        rv = makeEverywhere(cluster, *session, hUnwrappingKey, token, "C_UnwrapKey", phKey,
                            [&](unsigned m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key,
                                CK_OBJECT_HANDLE* made) {
                                return cluster.member(m).call(&CK_FUNCTION_LIST::C_UnwrapKey, s,
                                                              pMechanism, key, pWrappedKey,
                                                              ulWrappedKeyLen, pTemplate,
                                                              ulAttributeCount, made);
                            });
    } catch (const CkError& e) {
        rv = e.rv();
    }
    return rv == CKR_OBJECT_HANDLE_INVALID ? CKR_UNWRAPPING_KEY_HANDLE_INVALID : rv;
}

CK_RV C_DeriveKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                  CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount,
                  CK_OBJECT_HANDLE_PTR phKey) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (pMechanism == nullptr || badTemplate(pTemplate, ulAttributeCount) || phKey == nullptr)
        return CKR_ARGUMENTS_BAD;
    std::lock_guard lock(session->mutex);
    const bool token = objects::templateFlag(pTemplate, ulAttributeCount, CKA_TOKEN, false);
    CK_RV rv;
    try {
        rv = makeEverywhere(cluster, *session, hBaseKey, token, "C_DeriveKey", phKey,
                            [&](unsigned m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key,
                                CK_OBJECT_HANDLE* made) {
                                return cluster.member(m).call(&CK_FUNCTION_LIST::C_DeriveKey, s,
                                                              pMechanism, key, pTemplate,
                                                              ulAttributeCount, made);
                            });
    } catch (const CkError& e) {
        rv = e.rv();
    }
    return rv == CKR_OBJECT_HANDLE_INVALID ? CKR_KEY_HANDLE_INVALID : rv;
}

}  // namespace p11c::api

// Chapter 5.14 of the specification: key management.
//
// Generated keys are random: made on one member (chosen by the routing
// policy) and copied to the others under the transport key before the call
// returns; fewer holders than the write quorum undo the generation. Unwrap and derive are
// deterministic: run on every member that holds the base key, with the same inputs.
#include <shared_mutex>

#include <algorithm>

#include "core/api.h"
#include "core/failover.h"
#include "core/objects.h"
#include "core/runtime.h"
#include "replication/fanout.h"
#include "replication/replicate.h"
#include "util/log.h"

namespace p11c::api {
namespace {

bool badTemplate(CK_ATTRIBUTE_PTR templ, CK_ULONG count) {
    return templ == nullptr && count != 0;
}

template <class Generate>
CK_RV generateOnOne(Cluster& cluster, Session& session, const char* what, Generate&& generate) {
    return onAnyMember(cluster, cluster.servingMembers(), what,
                       [&](unsigned m) { return generate(m, session.memberSessionLocked(m)); });
}

// C_UnwrapKey / C_DeriveKey: on every member holding `base`, same inputs.
template <class Make>
CK_RV makeEverywhere(Cluster& cluster, Session& session, CK_OBJECT_HANDLE base, bool token,
                     const char* what, CK_OBJECT_HANDLE_PTR out, Make&& make) {
    std::vector<unsigned> targets = cluster.objects().candidates(base, cluster.servingMembers());
    if (targets.empty()) return objects::noHolder(cluster, base);
    unsigned required = std::min<unsigned>(replication::requiredFor(cluster),
                                           static_cast<unsigned>(targets.size()));
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

namespace {

// The template the members get for a private or secret key. A key the
// caller wants non-extractable is held extractable only under trusted keys
// (CKA_WRAP_WITH_TRUSTED), so that the transport key can carry it to the
// other members; the caller's view keeps what it asked for.
struct MemberTemplate {
    std::vector<CK_ATTRIBUTE> attrs;
    CK_BBOOL yes = CK_TRUE;
    CallerView view;

    MemberTemplate(CK_ATTRIBUTE_PTR templ, CK_ULONG count, CK_MECHANISM_TYPE mechanism) {
        view.extractable = objects::templateFlag(templ, count, CKA_EXTRACTABLE, false);
        view.neverExtractable = view.extractable ? CK_FALSE : CK_TRUE;
        view.wrapWithTrusted = objects::templateFlag(templ, count, CKA_WRAP_WITH_TRUSTED, false);
        view.keyGenMechanism = mechanism;
        for (CK_ULONG i = 0; i < count; ++i)
            if (templ[i].type != CKA_EXTRACTABLE && templ[i].type != CKA_WRAP_WITH_TRUSTED)
                attrs.push_back(templ[i]);
        attrs.push_back({CKA_EXTRACTABLE, &yes, sizeof yes});
        if (!view.extractable || view.wrapWithTrusted)
            attrs.push_back({CKA_WRAP_WITH_TRUSTED, &yes, sizeof yes});
    }
    CK_ATTRIBUTE_PTR data() { return attrs.data(); }
    CK_ULONG size() const { return static_cast<CK_ULONG>(attrs.size()); }
};

// What only the generating member can tell of a new key: whether it was
// always sensitive, and for secret keys its length and check value (members
// that receive a copy may not know them).
void readSourceView(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key,
                    CallerView& view) {
    CK_BYTE kcv[16];
    CK_ATTRIBUTE attrs[] = {{CKA_ALWAYS_SENSITIVE, &view.alwaysSensitive, sizeof(CK_BBOOL)},
                            {CKA_VALUE_LEN, &view.valueLen, sizeof view.valueLen},
                            {CKA_CHECK_VALUE, kcv, sizeof kcv}};
    member.call(&CK_FUNCTION_LIST::C_GetAttributeValue, session, key, attrs, CK_ULONG{3});
    if (attrs[0].ulValueLen == CK_UNAVAILABLE_INFORMATION) view.alwaysSensitive = CK_FALSE;
    if (attrs[1].ulValueLen == CK_UNAVAILABLE_INFORMATION)
        view.valueLen = CK_UNAVAILABLE_INFORMATION;
    if (attrs[2].ulValueLen != CK_UNAVAILABLE_INFORMATION)
        view.checkValue.assign(kcv, kcv + attrs[2].ulValueLen);
}

void destroyAll(Cluster& cluster, Session& session, std::span<const Placement> placed) {
    for (const Placement& p : placed)
        cluster.member(p.member).call(&CK_FUNCTION_LIST::C_DestroyObject,
                                      session.memberSessionLocked(p.member), p.handle);
}

// Members that should receive a copy of what `source` made.
std::vector<unsigned> copyTargets(Cluster& cluster, unsigned source) {
    std::vector<unsigned> targets;
    for (unsigned m : cluster.allMembers())
        if (m != source && cluster.member(m).health() != Health::Down) targets.push_back(m);
    return targets;
}

bool reachesQuorum(Cluster& cluster, size_t holders, const char* what) {
    unsigned required = replication::requiredFor(cluster);
    if (holders >= required) return true;
    log::error(what, ": the new key reached ", holders, " of the ", required,
               " members the write quorum requires; it is removed again");
    return false;
}

}  // namespace

CK_RV C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                    CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (pMechanism == nullptr || badTemplate(pTemplate, ulCount) || phKey == nullptr)
        return CKR_ARGUMENTS_BAD;
    std::lock_guard lock(session->mutex);
    std::shared_lock gate(cluster.writeGate());
    const bool token = objects::templateFlag(pTemplate, ulCount, CKA_TOKEN, false);
    MemberTemplate templ(pTemplate, ulCount, pMechanism->mechanism);
    Placement made{};
    CK_RV rv =
        generateOnOne(cluster, *session, "C_GenerateKey", [&](unsigned m, CK_SESSION_HANDLE s) {
            made.member = m;
            return cluster.member(m).call(&CK_FUNCTION_LIST::C_GenerateKey, s, pMechanism,
                                          templ.data(), templ.size(), &made.handle);
        });
    if (rv != CKR_OK) return rv;
    readSourceView(cluster.member(made.member), session->memberSessionLocked(made.member),
                   made.handle, templ.view);
    auto copies = replication::copyKey(cluster, *session, made.member, made.handle,
                                       copyTargets(cluster, made.member));
    std::vector<Placement> placed{made};
    placed.insert(placed.end(), copies.made.begin(), copies.made.end());
    if (!reachesQuorum(cluster, placed.size(), "C_GenerateKey")) {
        destroyAll(cluster, *session, placed);
        return CKR_DEVICE_ERROR;
    }
    *phKey = objects::record(cluster, *session, token, placed);
    cluster.objects().setView(*phKey, std::make_shared<const CallerView>(templ.view));
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
    std::shared_lock gate(cluster.writeGate());
    const bool publicToken =
        objects::templateFlag(pPublicKeyTemplate, ulPublicKeyAttributeCount, CKA_TOKEN, false);
    const bool privateToken =
        objects::templateFlag(pPrivateKeyTemplate, ulPrivateKeyAttributeCount, CKA_TOKEN, false);
    MemberTemplate priv(pPrivateKeyTemplate, ulPrivateKeyAttributeCount, pMechanism->mechanism);
    Placement pub{}, prv{};
    CK_RV rv =
        generateOnOne(cluster, *session, "C_GenerateKeyPair", [&](unsigned m, CK_SESSION_HANDLE s) {
            pub.member = prv.member = m;
            return cluster.member(m).call(&CK_FUNCTION_LIST::C_GenerateKeyPair, s, pMechanism,
                                          pPublicKeyTemplate, ulPublicKeyAttributeCount,
                                          priv.data(), priv.size(), &pub.handle, &prv.handle);
        });
    if (rv != CKR_OK) return rv;
    readSourceView(cluster.member(prv.member), session->memberSessionLocked(prv.member), prv.handle,
                   priv.view);
    const auto targets = copyTargets(cluster, prv.member);
    auto privCopies = replication::copyKey(cluster, *session, prv.member, prv.handle, targets);
    auto pubCopies = replication::copyKey(cluster, *session, pub.member, pub.handle, targets);
    // A member holds the pair only if it took both halves.
    std::vector<Placement> privPlaced{prv}, pubPlaced{pub}, strays;
    for (const Placement& p : privCopies.made) {
        auto half = std::find_if(pubCopies.made.begin(), pubCopies.made.end(),
                                 [&](const Placement& q) { return q.member == p.member; });
        if (half == pubCopies.made.end()) {
            strays.push_back(p);
            continue;
        }
        privPlaced.push_back(p);
        pubPlaced.push_back(*half);
    }
    for (const Placement& q : pubCopies.made)
        if (std::none_of(privPlaced.begin(), privPlaced.end(),
                         [&](const Placement& p) { return p.member == q.member; }))
            strays.push_back(q);
    destroyAll(cluster, *session, strays);
    if (!reachesQuorum(cluster, privPlaced.size(), "C_GenerateKeyPair")) {
        destroyAll(cluster, *session, privPlaced);
        destroyAll(cluster, *session, pubPlaced);
        return CKR_DEVICE_ERROR;
    }
    *phPublicKey = objects::record(cluster, *session, publicToken, pubPlaced);
    *phPrivateKey = objects::record(cluster, *session, privateToken, privPlaced);
    CallerView publicView;
    publicView.keyGenMechanism = pMechanism->mechanism;
    cluster.objects().setView(*phPublicKey, std::make_shared<const CallerView>(publicView));
    cluster.objects().setView(*phPrivateKey, std::make_shared<const CallerView>(priv.view));
    return CKR_OK;
}

CK_RV C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey,
                CK_ULONG_PTR pulWrappedKeyLen) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (pMechanism == nullptr || pulWrappedKeyLen == nullptr) return CKR_ARGUMENTS_BAD;
    std::lock_guard lock(session->mutex);
    try {
        if (auto view = cluster.objects().view(hKey); view && !view->extractable)
            return CKR_KEY_UNEXTRACTABLE;
    } catch (const CkError&) {
        return CKR_KEY_HANDLE_INVALID;
    }
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
            return cluster.member(m).call(&CK_FUNCTION_LIST::C_WrapKey, s, pMechanism, wrapping,
                                          key, pWrappedKey, pulWrappedKeyLen);
        });
    return rv == CKR_OBJECT_HANDLE_INVALID ? CKR_WRAPPING_KEY_HANDLE_INVALID : rv;
}

CK_RV C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                  CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey,
                  CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount,
                  CK_OBJECT_HANDLE_PTR phKey) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (pMechanism == nullptr || pWrappedKey == nullptr ||
        badTemplate(pTemplate, ulAttributeCount) || phKey == nullptr)
        return CKR_ARGUMENTS_BAD;
    std::lock_guard lock(session->mutex);
    std::shared_lock gate(cluster.writeGate());
    const bool token = objects::templateFlag(pTemplate, ulAttributeCount, CKA_TOKEN, false);
    CK_RV rv;
    try {
        rv = makeEverywhere(
            cluster, *session, hUnwrappingKey, token, "C_UnwrapKey", phKey,
            [&](unsigned m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, CK_OBJECT_HANDLE* made) {
                return cluster.member(m).call(&CK_FUNCTION_LIST::C_UnwrapKey, s, pMechanism, key,
                                              pWrappedKey, ulWrappedKeyLen, pTemplate,
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
    std::shared_lock gate(cluster.writeGate());
    const bool token = objects::templateFlag(pTemplate, ulAttributeCount, CKA_TOKEN, false);
    CK_RV rv;
    try {
        rv = makeEverywhere(
            cluster, *session, hBaseKey, token, "C_DeriveKey", phKey,
            [&](unsigned m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, CK_OBJECT_HANDLE* made) {
                return cluster.member(m).call(&CK_FUNCTION_LIST::C_DeriveKey, s, pMechanism, key,
                                              pTemplate, ulAttributeCount, made);
            });
    } catch (const CkError& e) {
        rv = e.rv();
    }
    return rv == CKR_OBJECT_HANDLE_INVALID ? CKR_KEY_HANDLE_INVALID : rv;
}

}  // namespace p11c::api

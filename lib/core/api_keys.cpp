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
#include "core/secrecy.h"
#include "core/views.h"
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
    std::vector<unsigned> sources = cluster.servingMembers();
    std::erase_if(sources, [&](unsigned m) { return !cluster.writesTo(m); });
    return onAnyMember(cluster, std::move(sources), what,
                       [&](unsigned m) { return generate(m, session.memberSessionLocked(m)); });
}

// C_UnwrapKey / C_DeriveKey: on every member holding `base`, same inputs.
template <class Make>
CK_RV makeEverywhere(Cluster& cluster, Session& session, CK_OBJECT_HANDLE base, bool token,
                     const char* what, CK_OBJECT_HANDLE_PTR out, Make&& make) {
    std::vector<unsigned> targets = cluster.objects().candidates(base, cluster.servingMembers());
    std::erase_if(targets, [&](unsigned m) { return !cluster.writesTo(m); });
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
        what, token);
    if (outcome.rv != CKR_OK) return outcome.rv;
    *out = objects::record(cluster, session, token, outcome.done);
    return CKR_OK;
}

}  // namespace

namespace {

// The template the members get for a private or secret key. A key the
// caller wants non-extractable is held extractable only under trusted keys
// (CKA_WRAP_WITH_TRUSTED), so that the transport key can carry it to the
// other members, and sensitive, so that no member-user session reads it
// (core/secrecy.h); the caller's view keeps what it asked for.
//
// A token key is first made as a session object everywhere (tentative) and
// becomes a token object only once enough members hold it (commit()): a
// member that fails half-way is left with nothing that outlives its
// session, never with a stray key of the caller's name.
struct MemberTemplate {
    std::vector<CK_ATTRIBUTE> attrs;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CallerView view;

    MemberTemplate(CK_ATTRIBUTE_PTR templ, CK_ULONG count, CK_MECHANISM_TYPE mechanism,
                   bool secretOrPrivate = true) {
        view.extractable = objects::templateFlag(templ, count, CKA_EXTRACTABLE, false);
        view.neverExtractable = view.extractable ? CK_FALSE : CK_TRUE;
        view.wrapWithTrusted = objects::templateFlag(templ, count, CKA_WRAP_WITH_TRUSTED, false);
        view.keyGenMechanism = mechanism;
        const bool locked = secretOrPrivate && secrecy::lockedOnMembers(view);
        for (CK_ULONG i = 0; i < count; ++i) {
            const CK_ATTRIBUTE_TYPE t = templ[i].type;
            if (t == CKA_TOKEN) continue;
            if (secretOrPrivate && (t == CKA_EXTRACTABLE || t == CKA_WRAP_WITH_TRUSTED)) continue;
            if (locked && t == CKA_SENSITIVE) {
                view.sensitive = objects::templateFlag(templ, count, CKA_SENSITIVE, false);
                continue;
            }
            attrs.push_back(templ[i]);
        }
        attrs.push_back({CKA_TOKEN, &no, sizeof no});  // tentative: see commit()
        if (!secretOrPrivate) return;
        attrs.push_back({CKA_EXTRACTABLE, &yes, sizeof yes});
        if (locked) {
            attrs.push_back({CKA_WRAP_WITH_TRUSTED, &yes, sizeof yes});
            attrs.push_back({CKA_SENSITIVE, &yes, sizeof yes});
        }
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
    if (view.sensitive == CK_FALSE) view.alwaysSensitive = CK_FALSE;  // the member's is forced
    if (attrs[1].ulValueLen == CK_UNAVAILABLE_INFORMATION)
        view.valueLen = CK_UNAVAILABLE_INFORMATION;
    if (attrs[2].ulValueLen != CK_UNAVAILABLE_INFORMATION)
        view.checkValue.assign(kcv, kcv + attrs[2].ulValueLen);
}

void destroyAll(Cluster& cluster, Session& session, std::span<const Placement> placed) {
    for (const Placement& p : placed) {
        try {
            cluster.member(p.member).call(&CK_FUNCTION_LIST::C_DestroyObject,
                                          session.memberSessionLocked(p.member), p.handle);
        } catch (const CkError& e) {
            log::error("member ", cluster.member(p.member).name(),
                       ": removing a key that did not reach quorum failed: ", rvName(e.rv()));
        }
    }
}

// Turns tentative (session) copies into token objects: C_CopyObject with
// CKA_TOKEN=TRUE, then the session copy goes. Returns the token copies made.
std::vector<Placement> commit(Cluster& cluster, Session& session,
                              std::span<const Placement> tentative,
                              std::vector<unsigned>& doubtful) {
    std::vector<Placement> made;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE token{CKA_TOKEN, &yes, sizeof yes};
    for (const Placement& p : tentative) {
        Member& m = cluster.member(p.member);
        try {
            CK_SESSION_HANDLE s = session.memberSessionLocked(p.member);
            CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
            CK_RV rv =
                m.call(&CK_FUNCTION_LIST::C_CopyObject, s, p.handle, &token, CK_ULONG{1}, &copy);
            m.call(&CK_FUNCTION_LIST::C_DestroyObject, s, p.handle);
            if (rv == CKR_OK) {
                made.push_back({p.member, copy});
                continue;
            }
            if (cluster.lostMember(rv)) {
                cluster.memberFault(p.member, rv, "commit");
                doubtful.push_back(p.member);  // the copy may still be made there
            }
            log::error("member ", m.name(),
                       ": making a new key a token object failed: ", rvName(rv));
        } catch (const CkError& e) {
            cluster.memberFault(p.member, e.rv(), "commit");
            doubtful.push_back(p.member);
        }
    }
    return made;
}

// A member holds a key pair only if it holds both halves: the halves of
// members that hold one alone are removed.
void pairUp(Cluster& cluster, Session& session, std::vector<Placement>& priv,
            std::vector<Placement>& pub) {
    auto holds = [](const std::vector<Placement>& list, unsigned member) {
        return std::any_of(list.begin(), list.end(),
                           [&](const Placement& p) { return p.member == member; });
    };
    std::vector<Placement> strays, bothPriv, bothPub;
    for (const Placement& p : priv) (holds(pub, p.member) ? bothPriv : strays).push_back(p);
    for (const Placement& p : pub) (holds(priv, p.member) ? bothPub : strays).push_back(p);
    destroyAll(cluster, session, strays);
    priv = std::move(bothPriv);
    pub = std::move(bothPub);
}

// A generated public key: local, made by the mechanism (its copies are not).
CallerView publicView(const CK_MECHANISM& mechanism) {
    CallerView view;
    view.keyGenMechanism = mechanism.mechanism;
    return view;
}

// A key the members cannot wrap cannot be held on every member: the
// mechanism is, for the cluster, not supported.
CK_RV notCopyable(const char* what) {
    log::error(what, ": the members cannot copy keys made this way (their C_WrapKey refuses ",
               "them); the cluster does not support this mechanism");
    return CKR_MECHANISM_INVALID;
}

// After a generation that did not reach quorum: whether to try again on
// another member (the source failed while its key was being copied).
bool retryElsewhere(Cluster& cluster, unsigned source, unsigned attempt, const char* what) {
    if (cluster.member(source).serving() || attempt + 1 >= cluster.memberCount()) return false;
    log::warn(what, ": member ", cluster.member(source).name(),
              " failed while its new key was copied; generating again on another member");
    return true;
}

// Members that should receive a copy of what `source` made.
std::vector<unsigned> copyTargets(Cluster& cluster, unsigned source) {
    std::vector<unsigned> targets;
    for (unsigned m : cluster.allMembers())
        if (m != source && cluster.writesTo(m)) targets.push_back(m);
    return targets;
}

bool reachesQuorum(Cluster& cluster, size_t holders, const char* what) {
    unsigned required = replication::requiredFor(cluster);
    if (holders >= required) return true;
    log::error(what, ": the new key reached ", holders, " of the ", required,
               " members the write quorum requires; it is removed again");
    return false;
}

// The view record of a new token key, written where the key is before it
// becomes a token object (so that a key any process finds has its record)
// and removed again where the key did not become one.
class ViewRecord {
  public:
    ViewRecord(Cluster& cluster, Session& session, const Placement& source, const CallerView& view,
               std::span<const Placement> placed)
        : cluster_(cluster), session_(session) {
        try {
            identity_ = readIdentity(cluster.member(source.member),
                                     session.memberSessionLocked(source.member), source.handle);
        } catch (const CkError&) {
            // the commit fails too and decides
        }
        if (!identity_) return;
        std::vector<unsigned> members;
        for (const Placement& p : placed) members.push_back(p.member);
        written_ = views::store(cluster, session, *identity_, view, members);
    }
    // After the commit: the records of members left without the key go,
    // unless the member's part is in doubt (repair decides there).
    void settle(std::span<const Placement> committed, std::span<const unsigned> doubtful) {
        std::vector<unsigned> strays;
        for (unsigned m : written_) {
            bool keeps = std::any_of(committed.begin(), committed.end(),
                                     [&](const Placement& p) { return p.member == m; });
            bool unsure = std::find(doubtful.begin(), doubtful.end(), m) != doubtful.end();
            if (!keeps && !unsure) strays.push_back(m);
        }
        if (identity_ && !strays.empty()) views::remove(cluster_, session_, *identity_, strays);
        written_.clear();
    }
    void undo() { settle({}, {}); }

  private:
    Cluster& cluster_;
    Session& session_;
    std::optional<Identity> identity_;
    std::vector<unsigned> written_;
};

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
    std::vector<Placement> placed;
    std::vector<unsigned> doubtful;
    for (unsigned attempt = 0;; ++attempt) {
        Placement made{};
        CK_RV rv =
            generateOnOne(cluster, *session, "C_GenerateKey", [&](unsigned m, CK_SESSION_HANDLE s) {
                made.member = m;
                return cluster.member(m).call(&CK_FUNCTION_LIST::C_GenerateKey, s, pMechanism,
                                              templ.data(), templ.size(), &made.handle);
            });
        if (rv != CKR_OK) return rv;
        try {
            readSourceView(cluster.member(made.member), session->memberSessionLocked(made.member),
                           made.handle, templ.view);
        } catch (const CkError&) {
            // the copy below fails too and decides
        }
        auto copies = replication::copyKey(cluster, *session, made.member, made.handle,
                                           copyTargets(cluster, made.member));
        placed = {made};
        placed.insert(placed.end(), copies.made.begin(), copies.made.end());
        if (token && reachesQuorum(cluster, placed.size(), "C_GenerateKey")) {
            ViewRecord record(cluster, *session, made, templ.view, placed);
            placed = commit(cluster, *session, placed, doubtful);
            if (reachesQuorum(cluster, placed.size(), "C_GenerateKey")) {
                record.settle(placed, doubtful);
                break;
            }
            record.undo();
        }
        if (!token && reachesQuorum(cluster, placed.size(), "C_GenerateKey")) break;
        destroyAll(cluster, *session, placed);
        if (copies.notWrappable) return notCopyable("C_GenerateKey");
        if (copies.needsLogin) return CKR_USER_NOT_LOGGED_IN;
        if (!retryElsewhere(cluster, made.member, attempt, "C_GenerateKey"))
            return CKR_DEVICE_ERROR;
    }
    *phKey = objects::record(cluster, *session, token, placed);
    objects::noteDoubts(cluster, *session, *phKey, doubtful);
    cluster.objects().setView(*phKey, std::make_shared<const CallerView>(templ.view));
    if (token) cluster.noteWrite();
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
    MemberTemplate pubTempl(pPublicKeyTemplate, ulPublicKeyAttributeCount, pMechanism->mechanism,
                            false);
    std::vector<Placement> privPlaced, pubPlaced;
    std::vector<unsigned> doubtful;
    for (unsigned attempt = 0;; ++attempt) {
        Placement pub{}, prv{};
        CK_RV rv = generateOnOne(
            cluster, *session, "C_GenerateKeyPair", [&](unsigned m, CK_SESSION_HANDLE s) {
                pub.member = prv.member = m;
                return cluster.member(m).call(&CK_FUNCTION_LIST::C_GenerateKeyPair, s, pMechanism,
                                              pubTempl.data(), pubTempl.size(), priv.data(),
                                              priv.size(), &pub.handle, &prv.handle);
            });
        if (rv != CKR_OK) return rv;
        try {
            readSourceView(cluster.member(prv.member), session->memberSessionLocked(prv.member),
                           prv.handle, priv.view);
        } catch (const CkError&) {
            // the copy below fails too and decides
        }
        const auto targets = copyTargets(cluster, prv.member);
        auto privCopies = replication::copyKey(cluster, *session, prv.member, prv.handle, targets);
        auto pubCopies = replication::copyKey(cluster, *session, pub.member, pub.handle, targets);
        privPlaced = {prv};
        pubPlaced = {pub};
        privPlaced.insert(privPlaced.end(), privCopies.made.begin(), privCopies.made.end());
        pubPlaced.insert(pubPlaced.end(), pubCopies.made.begin(), pubCopies.made.end());
        pairUp(cluster, *session, privPlaced, pubPlaced);
        if (reachesQuorum(cluster, privPlaced.size(), "C_GenerateKeyPair")) {
            std::optional<ViewRecord> privRecord, pubRecord;
            if (privateToken) {
                privRecord.emplace(cluster, *session, prv, priv.view, privPlaced);
                privPlaced = commit(cluster, *session, privPlaced, doubtful);
            }
            if (publicToken) {
                pubRecord.emplace(cluster, *session, pub, publicView(*pMechanism), pubPlaced);
                pubPlaced = commit(cluster, *session, pubPlaced, doubtful);
            }
            pairUp(cluster, *session, privPlaced, pubPlaced);
            const bool kept = reachesQuorum(cluster, privPlaced.size(), "C_GenerateKeyPair");
            if (privRecord)
                privRecord->settle(kept ? privPlaced : std::vector<Placement>{}, doubtful);
            if (pubRecord) pubRecord->settle(kept ? pubPlaced : std::vector<Placement>{}, doubtful);
            if (kept) break;
        }
        destroyAll(cluster, *session, privPlaced);
        destroyAll(cluster, *session, pubPlaced);
        if (privCopies.notWrappable) return notCopyable("C_GenerateKeyPair");
        if (privCopies.needsLogin) return CKR_USER_NOT_LOGGED_IN;
        if (!retryElsewhere(cluster, prv.member, attempt, "C_GenerateKeyPair"))
            return CKR_DEVICE_ERROR;
    }
    *phPublicKey = objects::record(cluster, *session, publicToken, pubPlaced);
    *phPrivateKey = objects::record(cluster, *session, privateToken, privPlaced);
    objects::noteDoubts(cluster, *session, *phPublicKey, doubtful);
    objects::noteDoubts(cluster, *session, *phPrivateKey, doubtful);
    cluster.objects().setView(*phPublicKey,
                              std::make_shared<const CallerView>(publicView(*pMechanism)));
    cluster.objects().setView(*phPrivateKey, std::make_shared<const CallerView>(priv.view));
    if (publicToken || privateToken) cluster.noteWrite();
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
        if (CK_RV rv = secrecy::wrappable(cluster, *session, hKey, hWrappingKey); rv != CKR_OK)
            return rv;
    } catch (const CkError&) {
        return CKR_KEY_HANDLE_INVALID;
    }
    // Both keys must be on the member that wraps.
    std::vector<unsigned> holders;
    try {
        holders = cluster.objects().candidates(hKey, cluster.usableMembers());
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
        if (rv == CKR_OK) secrecy::noteDerived(cluster, *session, hBaseKey, *phKey);
    } catch (const CkError& e) {
        rv = e.rv();
    }
    return rv == CKR_OBJECT_HANDLE_INVALID ? CKR_KEY_HANDLE_INVALID : rv;
}

}  // namespace p11c::api

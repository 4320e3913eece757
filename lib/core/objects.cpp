#include "core/objects.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>

#include "core/identity.h"
#include "core/repair.h"
#include "core/secrecy.h"
#include "core/views.h"
#include "replication/fanout.h"
#include "util/log.h"

namespace p11c::objects {

bool templateFlag(CK_ATTRIBUTE_PTR templ, CK_ULONG count, CK_ATTRIBUTE_TYPE type, bool fallback) {
    for (CK_ULONG i = 0; i < count; ++i) {
        if (templ[i].type != type) continue;
        if (templ[i].pValue == nullptr || templ[i].ulValueLen != sizeof(CK_BBOOL))
            throw CkError(CKR_ATTRIBUTE_VALUE_INVALID);
        return *static_cast<CK_BBOOL*>(templ[i].pValue) != CK_FALSE;
    }
    return fallback;
}

std::shared_ptr<const Identity> identityLocked(Cluster& cluster, Session& session,
                                               CK_OBJECT_HANDLE object) {
    ObjectIndex& index = cluster.objects();
    std::shared_ptr<const Identity> identity = index.identity(object);
    if (identity) return identity;
    for (const Placement& p : index.placements(object)) {
        if (!cluster.member(p.member).serving()) continue;
        auto read =
            readIdentity(cluster.member(p.member), session.memberSessionLocked(p.member), p.handle);
        if (!read) continue;
        identity = std::make_shared<const Identity>(std::move(*read));
        index.setIdentity(object, identity);
        return identity;
    }
    return nullptr;
}

CK_OBJECT_HANDLE resolveLocked(Cluster& cluster, Session& session, CK_OBJECT_HANDLE object,
                               unsigned member, bool* ambiguous) {
    if (ambiguous != nullptr) *ambiguous = false;
    ObjectIndex& index = cluster.objects();
    CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
    switch (index.presence(object, member, &handle)) {
        case Presence::Present:
            return handle;
        case Presence::Absent:
            return CK_INVALID_HANDLE;
        case Presence::Unknown:
            break;
    }
    std::shared_ptr<const Identity> identity = identityLocked(cluster, session, object);
    if (!identity) return CK_INVALID_HANDLE;  // cannot tell; do not guess
    Member& target = cluster.member(member);
    bool several = false;
    handle = findByIdentity(target, session.memberSessionLocked(member), *identity, &several);
    if (several) {
        if (ambiguous != nullptr) *ambiguous = true;
        return CK_INVALID_HANDLE;  // stays Unknown: absent it is not
    }
    index.place(object, member, handle != CK_INVALID_HANDLE ? Presence::Present : Presence::Absent,
                handle);
    return handle;
}

CK_RV noHolder(Cluster& cluster, CK_OBJECT_HANDLE object) {
    // Held by a member that is not serving: the object exists but cannot be
    // reached now. Held by none: the handle names nothing.
    auto all = cluster.allMembers();
    for (unsigned m : cluster.objects().candidates(object, all))
        if (!cluster.member(m).serving()) return CKR_DEVICE_ERROR;
    return CKR_OBJECT_HANDLE_INVALID;
}

void noteDoubts(Cluster& cluster, Session& session, CK_OBJECT_HANDLE object,
                std::span<const unsigned> members) {
    if (members.empty() || !cluster.objects().isToken(object)) return;
    try {
        if (auto identity = identityLocked(cluster, session, object))
            for (unsigned m : members) cluster.inDoubt(m, *identity);
    } catch (const CkError&) {
        log::warn("an object whose write a member may have missed could not be identified");
    }
}

CK_OBJECT_HANDLE record(Cluster& cluster, Session& session, bool token,
                        std::span<const Placement> placed) {
    CK_OBJECT_HANDLE object = cluster.objects().add(
        token, token ? CK_INVALID_HANDLE : session.handle(), placed, Presence::Absent);
    // A token object's identity is read now, while its members serve: a
    // member that missed it, or lost its handles in a restart, finds it by
    // identity later even if the others are away by then.
    if (token) {
        try {
            identityLocked(cluster, session, object);
        } catch (const CkError&) {
            // read again on first use
        }
    }
    return object;
}

namespace {

// Serving members first, then the others (which miss the write).
std::vector<unsigned> writeTargets(Cluster& cluster) {
    std::vector<unsigned> targets = cluster.allMembers();
    std::stable_partition(targets.begin(), targets.end(),
                          [&](unsigned m) { return cluster.writesTo(m); });
    return targets;
}

// Writes to an existing object reach the members that hold it; the quorum is
// capped at how many do.
unsigned requiredOf(Cluster& cluster, size_t holders) {
    return std::min<unsigned>(replication::requiredFor(cluster), static_cast<unsigned>(holders));
}

void undoCreate(Cluster& cluster, Session& session, unsigned m, CK_OBJECT_HANDLE handle) {
    CK_RV rv = cluster.member(m).call(&CK_FUNCTION_LIST::C_DestroyObject,
                                      session.memberSessionLocked(m), handle);
    if (rv != CKR_OK)
        log::error("member ", cluster.member(m).name(),
                   ": rollback of a write failed: ", rvName(rv));
}

// The object's handle on every target, resolved before any member changes
// it (a new label would no longer match the identity). Member faults while
// resolving leave that member's handle invalid.
std::vector<CK_OBJECT_HANDLE> resolveAll(Cluster& cluster, Session& session,
                                         CK_OBJECT_HANDLE object, std::span<const unsigned> targets,
                                         std::vector<unsigned>* ambiguous = nullptr) {
    std::vector<CK_OBJECT_HANDLE> handles(cluster.memberCount(), CK_INVALID_HANDLE);
    for (unsigned m : targets) {
        try {
            bool several = false;
            handles[m] = resolveLocked(cluster, session, object, m, &several);
            if (several && ambiguous != nullptr) ambiguous->push_back(m);
        } catch (const CkError& e) {
            if (!cluster.lostMember(e.rv())) throw;
            cluster.memberFault(m, e.rv(), "resolving an object");
        }
    }
    return handles;
}

// Resolves the object on every target for a write. Members where several
// identical objects match cannot be told apart: they are left out, and if
// that leaves the write short of the quorum it is refused before anything
// is written (CKR_DEVICE_ERROR).
std::vector<CK_OBJECT_HANDLE> resolveForWrite(Cluster& cluster, Session& session,
                                              CK_OBJECT_HANDLE object,
                                              std::vector<unsigned>& targets, unsigned required,
                                              const char* what) {
    std::vector<unsigned> unsure;
    auto handles = resolveAll(cluster, session, object, targets, &unsure);
    for (unsigned m : unsure) {
        log::error("member ", cluster.member(m).name(), ": holds several objects identical to the ",
                   "one ", what, " names and cannot tell which is meant");
        std::erase(targets, m);
    }
    if (targets.size() < required) throw CkError(CKR_DEVICE_ERROR);
    return handles;
}

void reportMissed(Cluster& cluster, const replication::Outcome& outcome, const char* what) {
    for (unsigned m : outcome.missed)
        log::warn("member ", cluster.member(m).name(), ": missed ", what, "; marked for repair");
}

// A token object destroyed or renamed without every member taking it: the
// old identity is tombstoned where the write landed (core/repair.h), so
// that no member brings it back.
void tombstoneIfMissed(Cluster& cluster, Session& session, const Identity* old,
                       const replication::Outcome& outcome) {
    if (old == nullptr || !old->token || outcome.done.size() == cluster.memberCount()) return;
    std::vector<unsigned> took;
    for (const Placement& p : outcome.done) took.push_back(p.member);
    repair::tombstone(cluster, session, *old, took);
    // A member that serves but was not written (the index believed it
    // lacked the object) may hold it after all: let repair look.
    auto all = cluster.allMembers();
    if (std::any_of(all.begin(), all.end(), [&](unsigned m) {
            return cluster.member(m).takesWrites() &&
                   std::find(took.begin(), took.end(), m) == took.end();
        }))
        cluster.requestRepair();
}

bool changesIdentity(CK_ATTRIBUTE_PTR templ, CK_ULONG count) {
    for (CK_ULONG i = 0; i < count; ++i)
        if (templ[i].type == CKA_LABEL || templ[i].type == CKA_ID) return true;
    return false;
}

}  // namespace

namespace {

// Attributes where the caller's view of a key may differ from the members'.
bool viewAttribute(CK_ATTRIBUTE_TYPE type) {
    switch (type) {
        case CKA_EXTRACTABLE:
        case CKA_NEVER_EXTRACTABLE:
        case CKA_ALWAYS_SENSITIVE:
        case CKA_LOCAL:
        case CKA_WRAP_WITH_TRUSTED:
        case CKA_SENSITIVE:
        case CKA_KEY_GEN_MECHANISM:
        case CKA_VALUE_LEN:
        case CKA_CHECK_VALUE:
            return true;
        default:
            return false;
    }
}

bool anyViewAttribute(CK_ATTRIBUTE_PTR templ, CK_ULONG count) {
    for (CK_ULONG i = 0; i < count; ++i)
        if (viewAttribute(templ[i].type)) return true;
    return false;
}

bool isKey(CK_OBJECT_CLASS cls) {
    return cls == CKO_PRIVATE_KEY || cls == CKO_SECRET_KEY || cls == CKO_PUBLIC_KEY;
}

// "Looked, and the members keep no view of this key": the index caches it.
const std::shared_ptr<const CallerView>& noView() {
    static const auto none = std::make_shared<const CallerView>();
    return none;
}

// The view after a C_SetAttributeValue or C_CopyObject template: CKA_EXTRACTABLE
// may only become false and CKA_WRAP_WITH_TRUSTED only true; the other
// attributes go to `kept`, for the members.
CallerView changedView(const CallerView& view, CK_ATTRIBUTE_PTR templ, CK_ULONG count,
                       std::vector<CK_ATTRIBUTE>& kept) {
    CallerView next = view;
    for (CK_ULONG i = 0; i < count; ++i) {
        const CK_ATTRIBUTE& a = templ[i];
        if (secrecy::changeView(next, a)) continue;
        if (a.type != CKA_EXTRACTABLE && a.type != CKA_WRAP_WITH_TRUSTED) {
            kept.push_back(a);
            continue;
        }
        if (a.pValue == nullptr || a.ulValueLen != sizeof(CK_BBOOL))
            throw CkError(CKR_ATTRIBUTE_VALUE_INVALID);
        CK_BBOOL value = *static_cast<CK_BBOOL*>(a.pValue) ? CK_TRUE : CK_FALSE;
        if (a.type == CKA_EXTRACTABLE) {
            if (value && !next.extractable) throw CkError(CKR_ATTRIBUTE_READ_ONLY);
            next.extractable = value;
        } else {
            if (!value && next.wrapWithTrusted) throw CkError(CKR_ATTRIBUTE_READ_ONLY);
            next.wrapWithTrusted = value;
        }
    }
    return next;
}

std::vector<unsigned> membersOf(std::span<const Placement> placed) {
    std::vector<unsigned> out;
    for (const Placement& p : placed) out.push_back(p.member);
    return out;
}

std::vector<unsigned> holders(Cluster& cluster, CK_OBJECT_HANDLE object) {
    std::vector<unsigned> out;
    for (const Placement& p : cluster.objects().placements(object))
        if (cluster.writesTo(p.member)) out.push_back(p.member);
    return out;
}

// Writes the object's view (as the index has it) to the view records of
// `members`, under its current identity; the records of its `old` identity
// go.
void persistView(Cluster& cluster, Session& session, CK_OBJECT_HANDLE object, const Identity* old,
                 std::span<const unsigned> members) {
    auto view = cluster.objects().view(object);
    if (!view || view == noView()) return;
    auto identity = identityLocked(cluster, session, object);
    if (!identity || !identity->token || !isKey(identity->cls)) return;
    views::store(cluster, session, *identity, *view, members);
    if (old != nullptr && views::labelFor(*old) != views::labelFor(*identity))
        views::remove(cluster, session, *old, members);
}

}  // namespace

namespace {

// An imported private or secret key that the caller wants non-extractable is
// held like a generated one: sensitive, and extractable only under trusted
// keys, so that repair can carry it to a member that lacks it; the caller's
// view keeps what it asked for (an imported key is not local, was never
// "never extractable", and has no generation mechanism).
struct ImportTemplate {
    std::vector<CK_ATTRIBUTE> attrs;
    CK_BBOOL yes = CK_TRUE;
    std::optional<CallerView> view;

    ImportTemplate(CK_ATTRIBUTE_PTR templ, CK_ULONG count) {
        CK_OBJECT_CLASS cls = CKO_DATA;
        for (CK_ULONG i = 0; i < count; ++i)
            if (templ[i].type == CKA_CLASS && templ[i].pValue != nullptr &&
                templ[i].ulValueLen == sizeof cls)
                std::memcpy(&cls, templ[i].pValue, sizeof cls);
        if ((cls != CKO_PRIVATE_KEY && cls != CKO_SECRET_KEY) ||
            templateFlag(templ, count, CKA_EXTRACTABLE, false))
            return;
        CallerView v;
        v.extractable = CK_FALSE;
        v.neverExtractable = CK_FALSE;  // its value was known outside the token
        v.local = CK_FALSE;
        v.wrapWithTrusted = templateFlag(templ, count, CKA_WRAP_WITH_TRUSTED, false);
        if (std::any_of(templ, templ + count,
                        [](const CK_ATTRIBUTE& a) { return a.type == CKA_SENSITIVE; }))
            v.sensitive = templateFlag(templ, count, CKA_SENSITIVE, false);
        view = v;
        for (CK_ULONG i = 0; i < count; ++i)
            if (templ[i].type != CKA_EXTRACTABLE && templ[i].type != CKA_WRAP_WITH_TRUSTED &&
                templ[i].type != CKA_SENSITIVE)
                attrs.push_back(templ[i]);
        attrs.push_back({CKA_EXTRACTABLE, &yes, sizeof yes});
        attrs.push_back({CKA_WRAP_WITH_TRUSTED, &yes, sizeof yes});
        attrs.push_back({CKA_SENSITIVE, &yes, sizeof yes});
    }
};

}  // namespace

CK_OBJECT_HANDLE create(Cluster& cluster, Session& session, CK_ATTRIBUTE_PTR templ,
                        CK_ULONG count) {
    const bool token = templateFlag(templ, count, CKA_TOKEN, false);
    ImportTemplate import(templ, count);
    if (import.view) {
        templ = import.attrs.data();
        count = static_cast<CK_ULONG>(import.attrs.size());
    }
    auto targets = writeTargets(cluster);
    auto outcome = replication::write(
        cluster, targets, replication::requiredFor(cluster),
        [&](unsigned m, CK_OBJECT_HANDLE* made) {
            return cluster.member(m).call(&CK_FUNCTION_LIST::C_CreateObject,
                                          session.memberSessionLocked(m), templ, count, made);
        },
        [&](unsigned m, CK_OBJECT_HANDLE h) { undoCreate(cluster, session, m, h); },
        "C_CreateObject", token);
    check(outcome.rv);
    reportMissed(cluster, outcome, "C_CreateObject");
    CK_OBJECT_HANDLE made = record(cluster, session, token, outcome.done);
    noteDoubts(cluster, session, made, outcome.faulted);
    if (import.view) {
        // Always sensitive as the members say (they hold it as sensitive as asked).
        const Placement& first = outcome.done.front();
        CK_ATTRIBUTE always{CKA_ALWAYS_SENSITIVE, &import.view->alwaysSensitive, sizeof(CK_BBOOL)};
        try {
            cluster.member(first.member)
                .call(&CK_FUNCTION_LIST::C_GetAttributeValue,
                      session.memberSessionLocked(first.member), first.handle, &always,
                      CK_ULONG{1});
        } catch (const CkError&) {
            import.view->alwaysSensitive = CK_FALSE;
        }
        cluster.objects().setView(made, std::make_shared<const CallerView>(*import.view));
        if (token) persistView(cluster, session, made, nullptr, membersOf(outcome.done));
    }
    return made;
}

CK_OBJECT_HANDLE copy(Cluster& cluster, Session& session, CK_OBJECT_HANDLE source,
                      CK_ATTRIBUTE_PTR templ, CK_ULONG count) {
    auto targets = cluster.objects().candidates(source, writeTargets(cluster));
    if (targets.empty()) throw CkError(CKR_OBJECT_HANDLE_INVALID);
    const unsigned required = requiredOf(cluster, targets.size());
    auto handles = resolveForWrite(cluster, session, source, targets, required, "C_CopyObject");
    // A key with a view keeps what it holds on the members; the template's
    // CKA_EXTRACTABLE and CKA_WRAP_WITH_TRUSTED go to the copy's view.
    auto view = callerView(cluster, session, source);
    std::vector<CK_ATTRIBUTE> kept;
    CallerView next;
    if (view) {
        next = changedView(*view, templ, count, kept);
        secrecy::lockIfNowFixed(cluster, session, source, *view, next, kept);
        templ = kept.data();
        count = static_cast<CK_ULONG>(kept.size());
    }
    auto outcome = replication::write(
        cluster, targets, required,
        [&](unsigned m, CK_OBJECT_HANDLE* made) {
            CK_OBJECT_HANDLE from = handles[m];
            if (from == CK_INVALID_HANDLE) return CKR_OBJECT_HANDLE_INVALID;
            return cluster.member(m).call(&CK_FUNCTION_LIST::C_CopyObject,
                                          session.memberSessionLocked(m), from, templ, count, made);
        },
        [&](unsigned m, CK_OBJECT_HANDLE h) { undoCreate(cluster, session, m, h); },
        "C_CopyObject");
    check(outcome.rv);
    reportMissed(cluster, outcome, "C_CopyObject");
    // The copy is a token object if the template says so, else as its source.
    const Placement& first = outcome.done.front();
    CK_BBOOL token = CK_FALSE;
    CK_ATTRIBUTE attr{CKA_TOKEN, &token, sizeof token};
    cluster.member(first.member)
        .call(&CK_FUNCTION_LIST::C_GetAttributeValue, session.memberSessionLocked(first.member),
              first.handle, &attr, CK_ULONG{1});
    CK_OBJECT_HANDLE made = record(cluster, session, token != CK_FALSE, outcome.done);
    noteDoubts(cluster, session, made, outcome.faulted);
    if (view) {
        cluster.objects().setView(made, std::make_shared<const CallerView>(next));
        if (token) persistView(cluster, session, made, nullptr, membersOf(outcome.done));
    }
    return made;
}

void destroy(Cluster& cluster, Session& session, CK_OBJECT_HANDLE object) {
    auto targets = cluster.objects().candidates(object, writeTargets(cluster));
    const unsigned required = requiredOf(cluster, targets.size());
    auto handles = resolveForWrite(cluster, session, object, targets, required, "C_DestroyObject");
    auto identity = identityLocked(cluster, session, object);
    auto outcome = replication::write(
        cluster, targets, required,
        [&](unsigned m, CK_OBJECT_HANDLE*) {
            CK_OBJECT_HANDLE handle = handles[m];
            if (handle == CK_INVALID_HANDLE) return CKR_OK;  // not there: nothing to destroy
            return cluster.member(m).call(&CK_FUNCTION_LIST::C_DestroyObject,
                                          session.memberSessionLocked(m), handle);
        },
        {}, "C_DestroyObject");
    check(outcome.rv);
    reportMissed(cluster, outcome, "C_DestroyObject");
    tombstoneIfMissed(cluster, session, identity.get(), outcome);
    // The key's view record goes with it (repair removes it where it
    // remains: a record whose key no member holds).
    if (identity && identity->token && isKey(identity->cls) &&
        cluster.objects().view(object) != noView())
        views::remove(cluster, session, *identity, membersOf(outcome.done));
    cluster.objects().remove(object);
}

namespace {

// Replaces, in a C_GetAttributeValue answer, the attributes where the caller's
// view of a key differs from what the members hold.
void applyView(const CallerView& view, CK_ATTRIBUTE_PTR templ, CK_ULONG count) {
    for (CK_ULONG i = 0; i < count; ++i) {
        CK_ATTRIBUTE& a = templ[i];
        if (a.ulValueLen == CK_UNAVAILABLE_INFORMATION) continue;
        const void* value = nullptr;
        CK_ULONG size = sizeof(CK_BBOOL);
        switch (a.type) {
            case CKA_EXTRACTABLE:
                value = &view.extractable;
                break;
            case CKA_NEVER_EXTRACTABLE:
                value = &view.neverExtractable;
                break;
            case CKA_ALWAYS_SENSITIVE:
                value = &view.alwaysSensitive;
                break;
            case CKA_LOCAL:
                value = &view.local;
                break;
            case CKA_WRAP_WITH_TRUSTED:
                value = &view.wrapWithTrusted;
                break;
            case CKA_KEY_GEN_MECHANISM:
                value = &view.keyGenMechanism;
                size = sizeof view.keyGenMechanism;
                break;
            case CKA_VALUE_LEN:
                if (view.valueLen == CK_UNAVAILABLE_INFORMATION) continue;
                value = &view.valueLen;
                size = sizeof view.valueLen;
                break;
            case CKA_CHECK_VALUE:
                if (view.checkValue.empty()) continue;
                value = view.checkValue.data();
                size = static_cast<CK_ULONG>(view.checkValue.size());
                break;
            default:
                continue;
        }
        if (a.pValue != nullptr && a.ulValueLen >= size) std::memcpy(a.pValue, value, size);
        a.ulValueLen = size;
    }
}

}  // namespace

std::shared_ptr<const CallerView> callerView(Cluster& cluster, Session& session,
                                             CK_OBJECT_HANDLE object) {
    ObjectIndex& index = cluster.objects();
    if (auto view = index.view(object)) return view == noView() ? nullptr : view;
    auto identity = identityLocked(cluster, session, object);
    if (!identity) return nullptr;  // cannot tell now: look again next time
    if (!identity->token || !isKey(identity->cls)) {
        index.setView(object, noView());  // session keys: the index alone knows
        return nullptr;
    }
    bool answered = false;
    for (const Placement& p : index.placements(object)) {
        Member& member = cluster.member(p.member);
        if (!member.serving()) continue;
        try {
            auto view = views::read(member, session.memberSessionLocked(p.member), *identity);
            answered = true;
            if (!view) continue;
            auto shared = std::make_shared<const CallerView>(std::move(*view));
            index.setView(object, shared);
            return shared;
        } catch (const CkError&) {
            // another holder may answer
        }
    }
    if (answered) index.setView(object, noView());
    return nullptr;
}

CK_RV getAttributes(Cluster& cluster, Session& session, CK_OBJECT_HANDLE object,
                    CK_ATTRIBUTE_PTR templ, CK_ULONG count) {
    CK_RV rv =
        withObjectLocked(cluster, session, object, cluster.usableMembers(), "C_GetAttributeValue",
                         [&](unsigned m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h) {
                             return cluster.member(m).call(&CK_FUNCTION_LIST::C_GetAttributeValue,
                                                           s, h, templ, count);
                         });
    if (rv == CKR_OK || rv == CKR_ATTRIBUTE_SENSITIVE || rv == CKR_ATTRIBUTE_TYPE_INVALID ||
        rv == CKR_BUFFER_TOO_SMALL)
        if (anyViewAttribute(templ, count) || secrecy::anySecretAttribute(templ, count))
            if (auto view = callerView(cluster, session, object)) {
                applyView(*view, templ, count);
                rv = secrecy::applyView(cluster, session, object, *view, templ, count, rv);
            }
    return rv;
}

void setAttributes(Cluster& cluster, Session& session, CK_OBJECT_HANDLE object,
                   CK_ATTRIBUTE_PTR templ, CK_ULONG count) {
    // Attributes kept in the caller's view stay with the view: the members
    // must keep holding the key wrappable under the transport key.
    std::vector<CK_ATTRIBUTE> kept;
    auto view = callerView(cluster, session, object);
    bool viewChanged = false;
    if (view) {
        CallerView next = changedView(*view, templ, count, kept);
        secrecy::lockIfNowFixed(cluster, session, object, *view, next, kept);
        viewChanged = !(next == *view);
        if (viewChanged)
            cluster.objects().setView(object, std::make_shared<const CallerView>(next));
        if (kept.empty()) {
            if (viewChanged) {
                persistView(cluster, session, object, nullptr, holders(cluster, object));
                cluster.noteWrite();  // asynchronous members get the record by repair
            }
            return;
        }
        templ = kept.data();
        count = static_cast<CK_ULONG>(kept.size());
    }
    auto targets = cluster.objects().candidates(object, writeTargets(cluster));
    if (targets.empty()) throw CkError(CKR_OBJECT_HANDLE_INVALID);
    const unsigned required = requiredOf(cluster, targets.size());
    auto handles =
        resolveForWrite(cluster, session, object, targets, required, "C_SetAttributeValue");
    auto identity =
        changesIdentity(templ, count) ? identityLocked(cluster, session, object) : nullptr;
    auto outcome = replication::write(
        cluster, targets, required,
        [&](unsigned m, CK_OBJECT_HANDLE*) {
            CK_OBJECT_HANDLE handle = handles[m];
            if (handle == CK_INVALID_HANDLE) return CKR_OBJECT_HANDLE_INVALID;
            return cluster.member(m).call(&CK_FUNCTION_LIST::C_SetAttributeValue,
                                          session.memberSessionLocked(m), handle, templ, count);
        },
        {}, "C_SetAttributeValue");
    check(outcome.rv);
    reportMissed(cluster, outcome, "C_SetAttributeValue");
    tombstoneIfMissed(cluster, session, identity.get(), outcome);
    for (unsigned m : outcome.missed) {
        Member& member = cluster.member(m);
        if (!member.async() || !member.takesWrites()) {
            cluster.objects().place(object, m, Presence::Absent);
            continue;
        }
        // An asynchronous member: repair compares objects by identity and
        // would not carry an attribute change, so it is applied here, best
        // effort (an object the member does not hold yet reaches it by
        // repair, copied with the change).
        if (handles[m] == CK_INVALID_HANDLE) continue;
        CK_RV rv;
        try {
            rv = member.call(&CK_FUNCTION_LIST::C_SetAttributeValue, session.memberSessionLocked(m),
                             handles[m], templ, count);
        } catch (const CkError& e) {
            rv = e.rv();
        }
        if (cluster.lostMember(rv)) cluster.memberFault(m, rv, "C_SetAttributeValue");
    }
    cluster.objects().setIdentity(object, nullptr);  // label or id may have changed
    if (view && (viewChanged || identity))
        persistView(cluster, session, object, identity.get(), membersOf(outcome.done));
}

CK_ULONG size(Cluster& cluster, Session& session, CK_OBJECT_HANDLE object) {
    CK_ULONG result = 0;
    check(withObjectLocked(cluster, session, object, cluster.usableMembers(), "C_GetObjectSize",
                           [&](unsigned m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h) {
                               return cluster.member(m).call(&CK_FUNCTION_LIST::C_GetObjectSize, s,
                                                             h, &result);
                           }));
    return result;
}

namespace {

// Whether the caller sees `object` with every attribute of `wanted`.
bool matches(Cluster& cluster, Session& session, CK_OBJECT_HANDLE object,
             std::span<const CK_ATTRIBUTE> wanted) {
    for (const CK_ATTRIBUTE& a : wanted) {
        if (a.pValue == nullptr && a.ulValueLen > 0) throw CkError(CKR_ARGUMENTS_BAD);
        std::vector<CK_BYTE> value(a.ulValueLen);
        CK_ATTRIBUTE probe{a.type, value.data(), a.ulValueLen};
        if (getAttributes(cluster, session, object, &probe, 1) != CKR_OK ||
            probe.ulValueLen != a.ulValueLen ||
            (a.ulValueLen > 0 && std::memcmp(value.data(), a.pValue, a.ulValueLen) != 0))
            return false;
    }
    return true;
}

}  // namespace

void findInit(Cluster& cluster, Session& session, CK_ATTRIBUTE_PTR templ, CK_ULONG count) {
    if (session.find.active) throw CkError(CKR_OPERATION_ACTIVE);
    // Attributes where the caller's view of a key differs from the members'
    // are matched here, against the caller's view; the members match the rest.
    std::vector<CK_ATTRIBUTE> memberTempl, viewTempl;
    for (CK_ULONG i = 0; i < count; ++i)
        (viewAttribute(templ[i].type) ? viewTempl : memberTempl).push_back(templ[i]);
    if (!viewTempl.empty()) {
        templ = memberTempl.data();
        count = static_cast<CK_ULONG>(memberTempl.size());
    }
    ObjectIndex& index = cluster.objects();
    std::vector<unsigned> readers = cluster.servingMembers();
    // Prefer an active, synchronous member that misses nothing the index
    // knows of; an asynchronous member that is behind reads last (it may
    // still hold what was just destroyed).
    std::stable_partition(readers.begin(), readers.end(), [&](unsigned m) {
        return !cluster.member(m).standby() && index.absentOn(m) == 0;
    });
    std::stable_partition(readers.begin(), readers.end(), [&](unsigned m) {
        return !cluster.member(m).async() || cluster.lag(m).writes == 0;
    });
    std::vector<CK_OBJECT_HANDLE> results;
    for (size_t i = 0; i < readers.size(); ++i) {
        unsigned reader = readers[i];
        std::vector<CK_OBJECT_HANDLE> found;
        try {
            found =
                findAll(cluster.member(reader), session.memberSessionLocked(reader), templ, count);
        } catch (const CkError& e) {
            if (!cluster.lostMember(e.rv())) throw;
            cluster.memberFault(reader, e.rv(), "C_FindObjects");
            continue;
        }
        CK_SESSION_HANDLE readerSession = session.memberSessionLocked(reader);
        for (CK_OBJECT_HANDLE h : found) {
            if (index.lookup(reader, h) == 0 && cluster.isInternal(reader, readerSession, h))
                continue;  // the cluster's own objects are not the caller's
            results.push_back(index.adopt(reader, h, false));
        }
        // Objects the reader is known to lack: found on the members holding them.
        if (index.absentOn(reader) > 0) {
            for (size_t j = i + 1; j < readers.size(); ++j) {
                unsigned other = readers[j];
                std::vector<CK_OBJECT_HANDLE> more;
                try {
                    more = findAll(cluster.member(other), session.memberSessionLocked(other), templ,
                                   count);
                } catch (const CkError&) {
                    continue;
                }
                for (CK_OBJECT_HANDLE h : more) {
                    CK_OBJECT_HANDLE object = index.lookup(other, h);
                    if (object != 0 &&
                        index.presence(object, reader, nullptr) == Presence::Absent &&
                        std::find(results.begin(), results.end(), object) == results.end())
                        results.push_back(object);
                }
            }
        }
        if (!viewTempl.empty())
            std::erase_if(results, [&](CK_OBJECT_HANDLE object) {
                return !matches(cluster, session, object, viewTempl);
            });
        session.find = {true, std::move(results), 0};
        return;
    }
    throw CkError(CKR_DEVICE_ERROR);
}

void find(Session& session, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG_PTR count) {
    auto& f = session.find;
    if (!f.active) throw CkError(CKR_OPERATION_NOT_INITIALIZED);
    CK_ULONG n = 0;
    while (n < max && f.next < f.results.size()) out[n++] = f.results[f.next++];
    *count = n;
}

void findFinal(Session& session) {
    if (!session.find.active) throw CkError(CKR_OPERATION_NOT_INITIALIZED);
    session.find = {};
}

}  // namespace p11c::objects

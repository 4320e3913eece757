// Objects on the virtual token: find, read, and writes applied to every
// member (create, copy, set attributes, destroy), plus the mapping of a
// virtual object to one member's handle.
//
// Every function here expects the caller to hold `session.mutex`.
#pragma once

#include <pkcs11.h>

#include <memory>
#include <vector>

#include "core/cluster.h"
#include "util/error.h"
#include "util/rv.h"

namespace p11c::objects {

// The member's handle for a virtual object, resolving it by identity when
// the index does not know it yet; CK_INVALID_HANDLE when the member lacks it.
// Throws CkError for member faults.
// *ambiguous (if given) tells "several objects match here" from "none".
CK_OBJECT_HANDLE resolveLocked(Cluster& cluster, Session& session, CK_OBJECT_HANDLE object,
                               unsigned member, bool* ambiguous = nullptr);

// The object's identity, read from a serving member that holds it when the
// index does not know it yet; nullptr when none can tell.
std::shared_ptr<const Identity> identityLocked(Cluster& cluster, Session& session,
                                               CK_OBJECT_HANDLE object);

// What to return when no serving member holds an object.
CK_RV noHolder(Cluster& cluster, CK_OBJECT_HANDLE object);

// Runs fn(member, memberSession, memberObject) on a serving member that
// holds `object`, chosen by the routing policy; a member fault moves it to
// the next. Returns fn's result (application results unchanged).
template <class Fn>
CK_RV withObjectLocked(Cluster& cluster, Session& session, CK_OBJECT_HANDLE object,
                       std::vector<unsigned> candidates, const char* what, Fn&& fn) {
    candidates = cluster.objects().candidates(object, candidates);
    while (!candidates.empty()) {
        unsigned m = cluster.pick(candidates);
        CK_RV rv;
        try {
            CK_OBJECT_HANDLE handle = resolveLocked(cluster, session, object, m);
            if (handle == CK_INVALID_HANDLE) {
                std::erase(candidates, m);
                continue;
            }
            rv = fn(m, session.memberSessionLocked(m), handle);
        } catch (const CkError& e) {
            rv = e.rv();
        }
        if (!cluster.lostMember(rv)) return rv;
        cluster.memberFault(m, rv, what);
        std::erase(candidates, m);
    }
    return noHolder(cluster, object);
}

CK_OBJECT_HANDLE create(Cluster& cluster, Session& session, CK_ATTRIBUTE_PTR templ, CK_ULONG count);
CK_OBJECT_HANDLE copy(Cluster& cluster, Session& session, CK_OBJECT_HANDLE source,
                      CK_ATTRIBUTE_PTR templ, CK_ULONG count);
void destroy(Cluster& cluster, Session& session, CK_OBJECT_HANDLE object);
// The caller's view of a key (core/views.h): from the index, else from the
// view record of a member that holds it; nullptr when the key has none (the
// members' attributes are the caller's).
std::shared_ptr<const CallerView> callerView(Cluster& cluster, Session& session,
                                             CK_OBJECT_HANDLE object);
CK_RV getAttributes(Cluster& cluster, Session& session, CK_OBJECT_HANDLE object,
                    CK_ATTRIBUTE_PTR templ, CK_ULONG count);
void setAttributes(Cluster& cluster, Session& session, CK_OBJECT_HANDLE object,
                   CK_ATTRIBUTE_PTR templ, CK_ULONG count);
CK_ULONG size(Cluster& cluster, Session& session, CK_OBJECT_HANDLE object);

void findInit(Cluster& cluster, Session& session, CK_ATTRIBUTE_PTR templ, CK_ULONG count);
void find(Session& session, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG_PTR count);
void findFinal(Session& session);

// Records an object a write made on members (`placed`); members that missed
// it are marked Absent for repair.
CK_OBJECT_HANDLE record(Cluster& cluster, Session& session, bool token,
                        std::span<const Placement> placed);

// The object may or may not have been written on `members` (their calls
// failed with member faults): see Cluster::inDoubt.
void noteDoubts(Cluster& cluster, Session& session, CK_OBJECT_HANDLE object,
                std::span<const unsigned> members);

// The CK_BBOOL value of `type` in a template, or `fallback` when absent.
bool templateFlag(CK_ATTRIBUTE_PTR templ, CK_ULONG count, CK_ATTRIBUTE_TYPE type, bool fallback);

}  // namespace p11c::objects

// Cryptographic operation contexts: an operation's member is chosen once,
// at *Init, by the routing policy among the serving members that hold the
// key; every later call of the operation goes to that member's session.
//
// Ending rules (PKCS#11 5.2): a single-part call or a Final ends the
// operation unless it returned CKR_BUFFER_TOO_SMALL or was a length query
// (NULL output) that succeeded; an Update ends it on any error.
#pragma once

#include <pkcs11.h>

#include <mutex>

#include "core/cluster.h"
#include "core/failover.h"
#include "core/objects.h"
#include "util/error.h"
#include "util/rv.h"

namespace p11c::ops {

enum class Ending { Final, Update, Always };

// Starts an operation. init(member, memberSession, memberKey) calls the
// member's *Init; key is CK_INVALID_HANDLE for keyless operations (digest).
template <class Init>
CK_RV begin(Cluster& cluster, Session& session, OpKind kind, CK_OBJECT_HANDLE key, const char* what,
            Init&& init) {
    std::lock_guard lock(session.mutex);
    Session::Operation& op = session.op(kind);
    if (op.active) return CKR_OPERATION_ACTIVE;
    int joined = session.activeMemberLocked();
    std::vector<unsigned> candidates = joined >= 0
                                           ? std::vector<unsigned>{static_cast<unsigned>(joined)}
                                           : cluster.servingMembers();
    if (key == CK_INVALID_HANDLE) {
        return onAnyMember(cluster, std::move(candidates), what, [&](unsigned m) {
            CK_RV rv = init(cluster.member(m), session.memberSessionLocked(m), CK_INVALID_HANDLE);
            if (rv == CKR_OK) op = {true, m};
            return rv;
        });
    }
    CK_RV rv;
    try {
        rv = objects::withObjectLocked(cluster, session, key, std::move(candidates), what,
                                       [&](unsigned m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h) {
                                           CK_RV r = init(cluster.member(m), s, h);
                                           if (r == CKR_OK) op = {true, m};
                                           return r;
                                       });
    } catch (const CkError& e) {
        rv = e.rv();
    }
    return rv == CKR_OBJECT_HANDLE_INVALID ? CKR_KEY_HANDLE_INVALID : rv;
}

// Continues or finishes the active operation of `kind`:
// call(member, memberSession) makes the member call.
template <class Call>
CK_RV step(Session& session, Cluster& cluster, OpKind kind, Ending ending, bool lengthQuery,
           Call&& call) {
    std::lock_guard lock(session.mutex);
    Session::Operation& op = session.op(kind);
    if (!op.active) return CKR_OPERATION_NOT_INITIALIZED;
    CK_RV rv;
    try {
        rv = call(cluster.member(op.member), session.memberSessionLocked(op.member));
    } catch (const CkError& e) {
        rv = e.rv();
    }
    bool ends = false;
    switch (ending) {
        case Ending::Always:
            ends = true;
            break;
        case Ending::Update:
            ends = rv != CKR_OK;
            break;
        case Ending::Final:
            ends = rv != CKR_BUFFER_TOO_SMALL && !(rv == CKR_OK && lengthQuery);
            break;
    }
    if (ends) op.active = false;
    if (classify(rv) == RvClass::MemberFault) cluster.memberFault(op.member, rv, "operation");
    return rv;
}

// Dual-function updates (C_DigestEncryptUpdate, ...): both operations run in
// the same member session; an error ends both.
template <class Call>
CK_RV dual(Session& session, Cluster& cluster, OpKind a, OpKind b, Call&& call) {
    std::lock_guard lock(session.mutex);
    Session::Operation& first = session.op(a);
    Session::Operation& second = session.op(b);
    if (!first.active || !second.active) return CKR_OPERATION_NOT_INITIALIZED;
    if (first.member != second.member) return CKR_FUNCTION_FAILED;
    CK_RV rv;
    try {
        rv = call(cluster.member(first.member), session.memberSessionLocked(first.member));
    } catch (const CkError& e) {
        rv = e.rv();
    }
    if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL) first.active = second.active = false;
    return rv;
}

}  // namespace p11c::ops

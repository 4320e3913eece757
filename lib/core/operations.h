// Cryptographic operation contexts: an operation's member is chosen once,
// at *Init, by the routing policy among the serving members that hold the
// key; every later call of the operation goes to that member's session.
//
// Failover: when that member fails (a member fault, or it lost our session),
// the operation is started again on another member that holds the key with
// the same mechanism, its update inputs so far are replayed there (their
// output, already delivered, is checked for length and dropped), and the
// call is made again. Inputs are kept up to `replay_limit_bytes`; an
// operation that outgrew it ends with CKR_DEVICE_ERROR instead of a wrong
// result. Dual-function operations are not replayed.
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

// What a call adds to the operation's replay record.
struct Update {
    const CK_BYTE* input = nullptr;  // an update's input
    CK_ULONG inputLen = 0;
    CK_OBJECT_HANDLE digestKey = CK_INVALID_HANDLE;  // C_DigestKey's key
    const CK_BYTE* output = nullptr;                 // an update's output buffer...
    const CK_ULONG* outputLen = nullptr;             // ...and its length after the call
};

// Records a started operation (member, member session, mechanism, key).
void started(Cluster& cluster, Session::Operation& op, unsigned member, CK_SESSION_HANDLE s,
             const CK_MECHANISM* mechanism, CK_OBJECT_HANDLE key);
// Adds a successful update to the replay record.
void recorded(Cluster& cluster, Session::Operation& op, const Update& update);
// Starts `op` again on another member and replays its updates. Returns
// CKR_OK when the operation now runs elsewhere; otherwise the operation
// is over and the result is what the caller gets.
CK_RV restart(Cluster& cluster, Session& session, OpKind kind, Session::Operation& op);

// Starts an operation. init(member, memberSession, memberKey) calls the
// member's *Init; key is CK_INVALID_HANDLE for keyless operations (digest).
template <class Init>
CK_RV begin(Cluster& cluster, Session& session, OpKind kind, const CK_MECHANISM* mechanism,
            CK_OBJECT_HANDLE key, const char* what, Init&& init) {
    std::lock_guard lock(session.mutex);
    Session::Operation& op = session.op(kind);
    if (op.active) return CKR_OPERATION_ACTIVE;
    int joined = session.activeMemberLocked();
    std::vector<unsigned> candidates = joined >= 0
                                           ? std::vector<unsigned>{static_cast<unsigned>(joined)}
                                           : cluster.usableMembers();
    if (key == CK_INVALID_HANDLE) {
        return onAnyMember(cluster, std::move(candidates), what, [&](unsigned m) {
            CK_SESSION_HANDLE s = session.memberSessionLocked(m);
            CK_RV rv = init(cluster.member(m), s, CK_INVALID_HANDLE);
            if (rv == CKR_OK) started(cluster, op, m, s, mechanism, key);
            return rv;
        });
    }
    CK_RV rv;
    try {
        rv = objects::withObjectLocked(cluster, session, key, std::move(candidates), what,
                                       [&](unsigned m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h) {
                                           CK_RV r = init(cluster.member(m), s, h);
                                           if (r == CKR_OK)
                                               started(cluster, op, m, s, mechanism, key);
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
           Call&& call, const Update& update = {}) {
    std::lock_guard lock(session.mutex);
    Session::Operation& op = session.op(kind);
    if (!op.active) return CKR_OPERATION_NOT_INITIALIZED;
    CK_RV rv;
    for (;;) {
        try {
            CK_SESSION_HANDLE s = session.memberSessionLocked(op.member);
            // A member session opened since *Init does not hold the operation.
            rv = s == op.memberSession ? call(cluster.member(op.member), s) : CKR_SESSION_CLOSED;
        } catch (const CkError& e) {
            rv = e.rv();
        }
        RvClass cls = classify(rv);
        if (cls != RvClass::MemberFault && cls != RvClass::SessionLost) break;
        cluster.memberFault(op.member, rv, "an operation");
        rv = restart(cluster, session, kind, op);
        if (rv != CKR_OK) {
            op.end();
            return rv;
        }
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
    if (ends) op.end();
    // A length query (no output buffer) consumed no input: nothing to replay.
    if (rv == CKR_OK && ending == Ending::Update && !lengthQuery) recorded(cluster, op, update);
    return rv;
}

// Dual-function updates (C_DigestEncryptUpdate, ...): both operations run in
// the same member session; an error ends both. They are not replayed.
template <class Call>
CK_RV dual(Session& session, Cluster& cluster, OpKind a, OpKind b, Call&& call) {
    std::lock_guard lock(session.mutex);
    Session::Operation& first = session.op(a);
    Session::Operation& second = session.op(b);
    if (!first.active || !second.active) return CKR_OPERATION_NOT_INITIALIZED;
    if (first.member != second.member) return CKR_FUNCTION_FAILED;
    first.replayable = second.replayable = false;
    CK_RV rv;
    try {
        rv = call(cluster.member(first.member), session.memberSessionLocked(first.member));
    } catch (const CkError& e) {
        rv = e.rv();
    }
    if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL) {
        first.end();
        second.end();
    }
    if (classify(rv) == RvClass::MemberFault) cluster.memberFault(first.member, rv, "an operation");
    return rv;
}

}  // namespace p11c::ops

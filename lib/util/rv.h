// The one table that classifies every CK_RV.
//
// Only MemberFault counts against a member's health and triggers failover.
// SessionLost means "reopen the member session" (and log in again), not
// "member down". Everything else is the caller's business and goes back to
// the caller unchanged — a wrong PIN is never retried on another member.
#pragma once

#include <pkcs11.h>

namespace p11c {

enum class RvClass {
    Ok,           // CKR_OK
    MemberFault,  // the member is broken, gone or unreachable: route around it
    SessionLost,  // the member lost our session or login: reopen, log in, retry
    Auth,         // PIN and login results: returned, never retried elsewhere
    Caller,       // bad arguments, templates, handles, states: returned as is
    Unsupported,  // the member lacks a function or mechanism
    Result,       // a legitimate answer (signature invalid, buffer too small...)
};

RvClass classify(CK_RV rv) noexcept;
const char* rvClassName(RvClass c) noexcept;

// Every CK_RV the table knows, for tests: calls f(rv, name, class).
template <class F>
void forEachKnownRv(F&& f);

struct RvInfo {
    CK_RV rv;
    const char* name;
    RvClass cls;
};
const RvInfo* knownRvs(unsigned long* count) noexcept;

template <class F>
void forEachKnownRv(F&& f) {
    unsigned long count = 0;
    const RvInfo* table = knownRvs(&count);
    for (unsigned long i = 0; i < count; ++i) f(table[i].rv, table[i].name, table[i].cls);
}

}  // namespace p11c

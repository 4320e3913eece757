// Login state shared by all sessions: C_Login, C_Logout, C_InitPIN, C_SetPIN
// applied to every member.
//
// One member decides for the caller: the first serving member that uses the
// caller's PIN. A wrong PIN is returned from it and tried nowhere else (it
// would burn a PIN attempt on every token). A member that refuses what the
// deciding member accepted is out of step: it stops serving until repaired.
#include <algorithm>

#include "core/cluster.h"
#include "util/error.h"
#include "util/log.h"
#include "util/rv.h"

namespace p11c {
namespace {

bool usesCallerPin(const Member& m, CK_USER_TYPE user) {
    return user == CKU_SO || !m.hasOwnPin();
}

// The members to apply a PIN operation to: serving ones, those checking the
// caller's PIN first.
std::vector<unsigned> pinOrder(Cluster& cluster, CK_USER_TYPE user) {
    std::vector<unsigned> order = cluster.servingMembers();
    std::stable_partition(order.begin(), order.end(),
                          [&](unsigned m) { return usesCallerPin(cluster.member(m), user); });
    return order;
}

}  // namespace

void Cluster::login(Session& session, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG pinLen) {
    if (user == CKU_CONTEXT_SPECIFIC) {
        std::lock_guard lock(session.mutex);
        int m = session.activeMemberLocked();
        if (m < 0) throw CkError(CKR_OPERATION_NOT_INITIALIZED);
        check(member(m).call(&CK_FUNCTION_LIST::C_Login, session.memberSessionLocked(m), user, pin,
                             pinLen));
        return;
    }
    if (user != CKU_SO && user != CKU_USER) throw CkError(CKR_USER_TYPE_INVALID);

    std::lock_guard lock(loginMutex_);
    CK_USER_TYPE state = loginState();
    if (state == user) throw CkError(CKR_USER_ALREADY_LOGGED_IN);
    if (state != kNotLoggedIn) throw CkError(CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
    if (user == CKU_SO && sessions_.count() > sessions_.readWriteCount())
        throw CkError(CKR_SESSION_READ_ONLY_EXISTS);

    bool decided = false;
    unsigned accepted = 0;
    for (unsigned m : pinOrder(*this, user)) {
        Member& mem = member(m);
        const bool callerPin = usesCallerPin(mem, user);
        Secret own;
        if (!callerPin) own = mem.readOwnPin();
        CK_SESSION_HANDLE anchor = anchorSession(m);
        CK_RV rv = callerPin
                       ? mem.call(&CK_FUNCTION_LIST::C_Login, anchor, user, pin, pinLen)
                       : mem.call(&CK_FUNCTION_LIST::C_Login, anchor, user, own.data(), own.size());
        if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
            ++accepted;
            decided = decided || callerPin;
            continue;
        }
        RvClass cls = classify(rv);
        if (cls == RvClass::MemberFault || cls == RvClass::SessionLost) {
            memberFault(m, rv, "C_Login");
            continue;
        }
        if (callerPin && !decided) {
            // This member decides for the caller: undo what own-PIN members
            // did (none: they come last) and report its answer unchanged.
            throw CkError(rv);
        }
        log::error("member ", mem.name(), ": refused a login the other members accepted (",
                   rvName(rv), "); it stops serving until its PIN is repaired");
        mem.setHealth(Health::Down, "login refused");
    }
    if (accepted == 0) throw CkError(CKR_DEVICE_ERROR);
    if (!decided)
        log::info(
            "login accepted by member PINs (pin_file/pin_env) without checking the "
            "caller's PIN");
    if (user == CKU_USER) userPin_ = Secret(pin, pinLen);  // for members that return
    loginState_.store(user, std::memory_order_release);
    forgetTransportKeys();
}

void Cluster::logout() {
    std::lock_guard lock(loginMutex_);
    if (loginState() == kNotLoggedIn) throw CkError(CKR_USER_NOT_LOGGED_IN);
    for (unsigned m = 0; m < members_.size(); ++m) {
        if (members_[m]->health() == Health::Down) continue;
        CK_RV rv = members_[m]->call(&CK_FUNCTION_LIST::C_Logout, anchorSession(m));
        if (rv != CKR_OK && rv != CKR_USER_NOT_LOGGED_IN)
            log::warn("member ", members_[m]->name(), ": C_Logout failed: ", rvName(rv));
    }
    loginState_.store(kNotLoggedIn, std::memory_order_release);
    userPin_ = Secret();
    forgetTransportKeys();
}

namespace {

// Applies a PIN change to every serving member that uses the caller's PIN;
// the first to answer decides for the caller.
template <class Apply>
void applyPinChange(Cluster& cluster, CK_USER_TYPE whose, const char* what, Apply apply) {
    bool decided = false;
    for (unsigned m : pinOrder(cluster, whose)) {
        Member& mem = cluster.member(m);
        if (!usesCallerPin(mem, whose)) {
            log::warn("member ", mem.name(), ": keeps its own user PIN (pin_file/pin_env); ", what,
                      " not applied there");
            continue;
        }
        CK_RV rv = apply(mem, cluster.anchorSession(m));
        if (rv == CKR_OK) {
            decided = true;
            continue;
        }
        RvClass cls = classify(rv);
        if (cls == RvClass::MemberFault || cls == RvClass::SessionLost) {
            cluster.memberFault(m, rv, what);
            continue;
        }
        if (!decided) throw CkError(rv);
        log::error("member ", mem.name(), ": refused ", what, " (", rvName(rv),
                   ") that other members accepted; it stops serving until repaired");
        mem.setHealth(Health::Down, "PIN change refused");
    }
    if (!decided) throw CkError(CKR_DEVICE_ERROR);
}

}  // namespace

void Cluster::initPin(Session& session, CK_UTF8CHAR_PTR pin, CK_ULONG pinLen) {
    std::lock_guard lock(loginMutex_);
    if (loginState() != CKU_SO) throw CkError(CKR_USER_NOT_LOGGED_IN);
    if (!session.readWrite()) throw CkError(CKR_SESSION_READ_ONLY);
    applyPinChange(*this, CKU_USER, "C_InitPIN", [&](Member& mem, CK_SESSION_HANDLE anchor) {
        return mem.call(&CK_FUNCTION_LIST::C_InitPIN, anchor, pin, pinLen);
    });
}

void Cluster::setPin(Session& session, CK_UTF8CHAR_PTR oldPin, CK_ULONG oldLen,
                     CK_UTF8CHAR_PTR newPin, CK_ULONG newLen) {
    std::lock_guard lock(loginMutex_);
    if (!session.readWrite()) throw CkError(CKR_SESSION_READ_ONLY);
    CK_USER_TYPE whose = loginState() == CKU_SO ? CKU_SO : CKU_USER;
    applyPinChange(*this, whose, "C_SetPIN", [&](Member& mem, CK_SESSION_HANDLE anchor) {
        return mem.call(&CK_FUNCTION_LIST::C_SetPIN, anchor, oldPin, oldLen, newPin, newLen);
    });
}

}  // namespace p11c

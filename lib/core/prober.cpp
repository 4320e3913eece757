// The prober: members that are not Up are checked with backoff; one that
// answers again is reconnected if it lost our sessions, logged in, repaired
// (Syncing) and only then serves again (Up).
//
//   Up --fault--> Suspect --probe fails--> Down --probe ok--> Syncing --repaired--> Up
//                    \------------------probe ok-------------->/
#include <algorithm>
#include <cstring>

#include "core/cluster.h"
#include "core/identity.h"
#include "core/repair.h"
#include "core/session.h"
#include "core/status.h"
#include "util/error.h"
#include "util/log.h"
#include "util/rv.h"

namespace p11c {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kFirstBackoff{100};
constexpr milliseconds kCompareEvery{5000};
constexpr milliseconds kMaxBackoff{5000};

// How many token objects a member holds, tombstones aside (they differ
// between members by design): handles only, cheap.
long countObjects(Member& member, CK_SESSION_HANDLE session) {  // throws CkError
    CK_BBOOL yes = CK_TRUE;
    CK_OBJECT_CLASS data = CKO_DATA;
    CK_ATTRIBUTE all[] = {{CKA_TOKEN, &yes, sizeof yes}};
    CK_ATTRIBUTE tombs[] = {{CKA_TOKEN, &yes, sizeof yes},
                            {CKA_CLASS, &data, sizeof data},
                            {CKA_LABEL, const_cast<char*>(repair::kTombstoneLabel),
                             std::strlen(repair::kTombstoneLabel)}};
    return static_cast<long>(findAll(member, session, all, 1).size()) -
           static_cast<long>(findAll(member, session, tombs, 3).size());
}

}  // namespace

void Cluster::startProber(bool ownThread) {
    proberThread_ = ownThread;
    if (ownThread) prober_ = std::thread([this] { proberLoop(); });
}

void Cluster::wakeProber() {
    probeWanted_.store(true, std::memory_order_release);
    if (proberThread_) proberWake_.notify_all();
}

void Cluster::proberLoop() {
    const bool publishing = !config_.cluster.statusDir.empty();
    auto published = Clock::time_point{};
    auto compared = Clock::now();
    std::unique_lock lock(proberMutex_);
    while (!proberStop_) {
        lock.unlock();
        // Publish a member fault before the (possibly slow) probe of it.
        if (publishing && probeWanted_.load()) status::publish(*this);
        probeDue();
        // Anti-entropy: now and then, compare how many objects the members
        // hold (cheap); a difference starts a repair.
        if (Clock::now() - compared >= kCompareEvery) {
            compared = Clock::now();
            if (loginState() == CKU_USER && membersDiffer()) repairMembers("periodic comparison");
        }
        bool idle = !probeWanted_.load() && !repairWanted_.load();
        for (auto& m : members_) idle = idle && m->health() == Health::Up;
        if (publishing && (!idle || Clock::now() - published >= milliseconds(1000))) {
            status::publish(*this);
            published = Clock::now();
        }
        lock.lock();
        if (proberStop_) break;
        // Idle: sleep until woken (or the next status update). Otherwise
        // look again soon (backoff is per member).
        if (!idle)
            proberWake_.wait_for(lock, milliseconds(50));
        else
            proberWake_.wait_for(lock, milliseconds(1000),
                                 [&] { return proberStop_ || probeWanted_.load(); });
    }
    if (publishing) status::withdraw(*this);
}

void Cluster::probeDue() {
    std::unique_lock run(probeRun_, std::try_to_lock);
    if (!run.owns_lock()) return;
    probeWanted_.store(false, std::memory_order_release);
    const auto now = Clock::now();
    for (unsigned m = 0; m < members_.size(); ++m) {
        Member& member = *members_[m];
        Health h = member.health();
        if (h == Health::Up) {
            probes_[m].backoff = milliseconds(0);
            continue;
        }
        ProbeState& state = probes_[m];
        if (h != Health::Suspect && now < state.due) continue;
        if (probe(m)) {
            state.backoff = milliseconds(0);
            continue;
        }
        state.backoff = std::min(kMaxBackoff, std::max(kFirstBackoff, state.backoff * 2));
        state.due = Clock::now() + state.backoff;
        if (member.health() != Health::Down) member.setHealth(Health::Down, "probe failed");
    }
    if (repairWanted_.exchange(false)) {
        // Catching up asynchronous members is their normal course, not news.
        if (catchUpDue())
            repairMembers("catching up asynchronous members", true);
        else
            repairMembers("members hold different objects");
    }
    int64_t next = 0;
    for (unsigned m = 0; m < members_.size(); ++m)
        if (members_[m]->health() != Health::Up) {
            int64_t due = probes_[m].due.time_since_epoch().count();
            if (next == 0 || due < next) next = due;
        }
    nextDue_.store(next, std::memory_order_relaxed);
}

CK_RV Cluster::loginMember(unsigned m) {
    std::lock_guard lock(loginMutex_);
    CK_USER_TYPE state = loginState();
    if (state != CKU_USER) return CKR_OK;  // SO sessions are short: not restored
    Member& member = *members_[m];
    Secret own;
    CK_RV rv;
    if (member.hasOwnPin()) {
        try {
            own = member.readOwnPin();
        } catch (const CkError& e) {
            return e.rv();
        }
        rv = member.call(&CK_FUNCTION_LIST::C_Login, anchorSession(m), CKU_USER, own.data(),
                         own.size());
    } else {
        rv = member.call(&CK_FUNCTION_LIST::C_Login, anchorSession(m), CKU_USER, userPin_.data(),
                         userPin_.size());
    }
    return rv == CKR_USER_ALREADY_LOGGED_IN ? CKR_OK : rv;
}

bool Cluster::probe(unsigned m) {
    Member& member = *members_[m];
    // Does the member still know our anchor session (and so our login)?
    CK_SESSION_INFO info{};
    CK_SESSION_HANDLE anchor = anchorSession(m);
    CK_RV rv = anchor == CK_INVALID_HANDLE
                   ? CKR_SESSION_HANDLE_INVALID
                   : member.call(&CK_FUNCTION_LIST::C_GetSessionInfo, anchor, &info);
    if (rv != CKR_OK) {
        // It lost our sessions (a restarted member host) or does not answer:
        // start over with it. Every handle from before is void.
        const uint64_t before = member.generation();
        rv = member.reconnect();
        if (member.generation() != before) {
            objects_.forgetMember(m);
            {
                std::lock_guard lock(internalMutex_);
                transport_[m] = 0;
                internal_[m].clear();
            }
            anchors_[m].store(CK_INVALID_HANDLE);
            // Members served by the same host lost their sessions too.
            for (auto& other : members_)
                if (other.get() != &member && &other->module() == &member.module() &&
                    other->health() == Health::Up)
                    other->setHealth(Health::Suspect, "its member host restarted");
        }
        if (rv != CKR_OK) return false;
        if (!member.located()) {
            try {
                member.locate();
            } catch (const ModuleLoadError& e) {
                log::error(e.what());
                return false;
            }
            log::info("member ", member.name(), ": reached for the first time");
        }
        CK_SESSION_HANDLE fresh = CK_INVALID_HANDLE;
        rv = member.call(&CK_FUNCTION_LIST::C_OpenSession, member.slot(),
                         CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &fresh);
        if (rv != CKR_OK) return false;
        anchors_[m].store(fresh);
    }
    // Calls that missed their deadline may still run on the member (a host
    // that was frozen): wait for them before repairing it.
    if (member.fence() != CKR_OK) return false;
    rv = loginMember(m);
    if (rv != CKR_OK) {
        log::error("member ", member.name(), ": logging in again failed with ", rvName(rv),
                   "; it stays out of service");
        return false;
    }
    member.retireSessions();
    member.setHealth(Health::Syncing, "answers again");
    if (loginState() == CKU_USER) {
        probes_[m].needsSync.store(false);
        repairMembers("a member returned");
    } else {
        // Private objects are invisible until a user logs in: repair then.
        probes_[m].needsSync.store(true);
    }
    if (member.health() != Health::Syncing) return false;  // faulted again while repairing
    member.setHealth(Health::Up, "in sync");
    return true;
}

void Cluster::inDoubt(unsigned member, const Identity& identity) {
    log::info("member ", members_[member]->name(), ": in doubt: id ",
              std::string(identity.id.begin(), identity.id.end()));
    {
        std::lock_guard lock(doubtMutex_);
        doubts_[member].push_back(identity);
    }
    // A member that serves already (it returned before the doubt was
    // known) is cleared by the next repair, which starts now.
    if (members_[member]->takesWrites()) {
        repairWanted_.store(true);
        wakeProber();
    }
}

void Cluster::resolveDoubtsLocked(unsigned m) {
    std::vector<Identity> doubts;
    {
        std::lock_guard lock(doubtMutex_);
        doubts.swap(doubts_[m]);
    }
    if (doubts.empty()) return;
    Member& member = *members_[m];
    Session session(*this, CK_INVALID_HANDLE, CKF_SERIAL_SESSION | CKF_RW_SESSION, memberCount());
    std::lock_guard lock(session.mutex);
    unsigned removed = 0;
    for (const Identity& d : doubts) {
        CK_OBJECT_CLASS cls = d.cls;
        CK_BBOOL token = d.token;
        std::vector<CK_ATTRIBUTE> templ = {{CKA_CLASS, &cls, sizeof cls},
                                           {CKA_TOKEN, &token, sizeof token}};
        if (!d.id.empty())
            templ.push_back({CKA_ID, const_cast<CK_BYTE*>(d.id.data()), d.id.size()});
        if (!d.label.empty())
            templ.push_back({CKA_LABEL, const_cast<CK_BYTE*>(d.label.data()), d.label.size()});
        try {
            CK_SESSION_HANDLE s = session.memberSessionLocked(m);
            for (CK_OBJECT_HANDLE h :
                 findAll(member, s, templ.data(), static_cast<CK_ULONG>(templ.size()))) {
                auto found = readIdentity(member, s, h);
                if (!found || found->subtype != d.subtype) continue;
                if (member.call(&CK_FUNCTION_LIST::C_DestroyObject, s, h) == CKR_OK) ++removed;
                log::info("member ", member.name(), ": in doubt: removed id ",
                          std::string(d.id.begin(), d.id.end()));
            }
        } catch (const CkError& e) {
            log::warn("member ", member.name(),
                      ": clearing doubtful writes failed: ", rvName(e.rv()));
        }
    }
    objects_.forgetMember(m);
    log::info("member ", member.name(), ": removed ", removed,
              " objects of writes it may have missed; repair restores them");
}

repair::Report Cluster::repairMembers(const char* why, bool routine) {
    if (loginState() != CKU_USER) return {};  // private objects are invisible: later
    std::unique_lock gate(writeGate_);
    // No caller write runs while the gate is held: every write noted so far
    // is applied when this repair succeeds.
    const uint64_t applied = writeSeq_.load();
    std::vector<unsigned> members;
    for (auto& m : members_)
        if (m->takesWrites()) members.push_back(m->index());
    for (unsigned m : members) resolveDoubtsLocked(m);
    if (members.size() < 2) return {};
    Session session(*this, CK_INVALID_HANDLE, CKF_SERIAL_SESSION | CKF_RW_SESSION, memberCount());
    std::lock_guard lock(session.mutex);
    repair::Report report = repair::reconcile(*this, session, members);
    if (report.copied > 0 || report.failed == 0)
        for (unsigned m : members) objects_.forgetAbsence(m);
    if (report.failed || ((report.copied || report.removed) && !routine))
        log::warn("repair (", why, "): ", report.copied, " copies made, ", report.removed,
                  " destroyed objects removed, ", report.failed, " failed");
    if (report.failed == 0)
        for (unsigned m : members) {
            probes_[m].needsSync.store(false);
            probes_[m].appliedWrites.store(applied);
            const int64_t since = probes_[m].behindSinceNs.exchange(0);
            if (since != 0) {
                const int64_t took =
                    std::chrono::steady_clock::now().time_since_epoch().count() - since;
                if (took > probes_[m].worstCatchUpNs.load()) probes_[m].worstCatchUpNs.store(took);
            }
        }
    return report;
}

bool Cluster::asyncStandIn() const noexcept {
    return std::none_of(members_.begin(), members_.end(),
                        [](const auto& m) { return !m->async() && m->takesWrites(); });
}

bool Cluster::writesTo(unsigned member) const noexcept {
    const Member& m = *members_[member];
    if (!m.takesWrites()) return false;
    return !m.async() || (config_.cluster.acceptWritesOnAsync && asyncStandIn());
}

unsigned Cluster::quorumBase() const noexcept {
    const bool standIn = config_.cluster.acceptWritesOnAsync && asyncStandIn();
    unsigned n = 0;
    for (const auto& m : members_) n += m->async() == standIn ? 1 : 0;
    return n;
}

bool Cluster::catchUpDue() const noexcept {
    // One that is down is caught up by the repair its return starts.
    for (unsigned m = 0; m < members_.size(); ++m)
        if (probes_[m].behindSinceNs.load() != 0 && members_[m]->takesWrites()) return true;
    return false;
}

void Cluster::noteWrite() {
    const uint64_t seq = writeSeq_.fetch_add(1) + 1;
    const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
    for (unsigned m = 0; m < members_.size(); ++m) {
        if (!members_[m]->async() || writesTo(m)) {
            probes_[m].appliedWrites.store(seq);  // it took the write itself
            continue;
        }
        int64_t none = 0;
        probes_[m].behindSinceNs.compare_exchange_strong(none, now);
    }
    if (catchUpDue()) requestRepair();
}

Cluster::Lag Cluster::lag(unsigned member) const noexcept {
    Lag lag;
    const uint64_t seq = writeSeq_.load(std::memory_order_relaxed);
    const uint64_t applied = probes_[member].appliedWrites.load(std::memory_order_relaxed);
    lag.writes = seq > applied ? seq - applied : 0;
    lag.worstSeconds = std::chrono::duration<double>(
                           std::chrono::steady_clock::duration(
                               probes_[member].worstCatchUpNs.load(std::memory_order_relaxed)))
                           .count();
    const int64_t since = probes_[member].behindSinceNs.load(std::memory_order_relaxed);
    if (since != 0 && lag.writes > 0)
        lag.seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch() -
                                          std::chrono::steady_clock::duration(since))
                .count();
    return lag;
}

bool Cluster::membersDiffer() {
    std::shared_lock gate(writeGate_);
    Session session(*this, CK_INVALID_HANDLE, CKF_SERIAL_SESSION | CKF_RW_SESSION, memberCount());
    std::lock_guard lock(session.mutex);
    long first = -2;
    bool differ = false;
    for (unsigned m : servingMembers()) {
        long n = -1;
        try {
            n = countObjects(*members_[m], session.memberSessionLocked(m));
        } catch (const CkError& e) {
            // A member that stopped answering (its host restarted, say) is
            // taken out and brought back through repair, like any fault.
            if (classify(e.rv()) == RvClass::MemberFault) memberFault(m, e.rv(), "comparison");
            continue;
        }
        if (first == -2) first = n;
        differ = differ || n != first;
    }
    return differ;
}

void Cluster::afterLogin() {
    {
        std::shared_lock gate(writeGate_);
        Session session(*this, CK_INVALID_HANDLE, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                        memberCount());
        std::lock_guard lock(session.mutex);
        // Objects destroyed while a member was away must not be seen again,
        // whichever process meets that member first: remove them now.
        repair::sweep(*this, session, servingMembers());
    }
    bool differ = membersDiffer();
    for (unsigned m = 0; m < members_.size(); ++m) differ = differ || probes_[m].needsSync.load();
    if (!differ) return;
    // The members disagree (a write one of them missed in another process):
    // repair in the background, or here when threads are not allowed.
    repairWanted_.store(true);
    if (proberThread_)
        wakeProber();
    else
        probeDue();
}

}  // namespace p11c

// Cluster: the virtual slot and token over the members.
//
// Owns the members, the routing policy, the virtual sessions, the object
// index and the shared login state. One Cluster exists between C_Initialize
// and C_Finalize. Thread-safety: all methods may be called concurrently;
// no cluster-wide lock is held across a call into a member (login, which
// the specification serialises anyway, is the one exception).
#pragma once

#include <pkcs11.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <thread>
#include <vector>

#include "config/config.h"
#include "core/identity.h"
#include "core/object_index.h"
#include "core/repair.h"
#include "core/session.h"
#include "member/member.h"
#include "routing/policy.h"
#include "util/rv.h"
#include "util/secret.h"
#include "util/write_gate.h"

namespace p11c {

inline constexpr CK_USER_TYPE kNotLoggedIn = static_cast<CK_USER_TYPE>(-1);

class Cluster {
  public:
    // Connects every member. Throws ModuleLoadError / config::ConfigError.
    static std::unique_ptr<Cluster> start(config::Config config);
    ~Cluster();

    const config::Config& config() const noexcept { return config_; }
    unsigned memberCount() const noexcept { return static_cast<unsigned>(members_.size()); }
    Member& member(unsigned index) noexcept { return *members_[index]; }
    SessionTable& sessions() noexcept { return sessions_; }
    ObjectIndex& objects() noexcept { return objects_; }

    // --- the virtual slot and token -------------------------------------
    CK_SLOT_ID slotId() const noexcept { return config_.cluster.slotId; }
    void checkSlot(CK_SLOT_ID slot) const;  // throws CKR_SLOT_ID_INVALID
    void slotInfo(CK_SLOT_INFO& info) const;
    void tokenInfo(CK_TOKEN_INFO& info);
    const std::vector<CK_MECHANISM_TYPE>& mechanismList() const noexcept { return mechTypes_; }
    void mechanismInfo(CK_MECHANISM_TYPE type, CK_MECHANISM_INFO& info) const;

    // --- routing ---------------------------------------------------------
    // Picks a serving member among `candidates` by the routing tiers and
    // policy (routing::Router: local zone first, standby only when no
    // active member is a candidate). Throws
    // CKR_DEVICE_ERROR when none is serving.
    unsigned pick(std::span<const unsigned> candidates);
    std::vector<unsigned> servingMembers() const;
    // Members for crypto operations and reads of known objects: the serving
    // ones; when none serves, the Suspect ones (a slow answer or a lost
    // connection not probed yet: they were in sync when it happened), tried
    // before the caller gets an error. Never members being repaired.
    std::vector<unsigned> usableMembers() const;
    std::vector<unsigned> allMembers() const;
    // Records a member fault seen by a caller; the member stops serving
    // (Suspect) and the prober looks at it at once.
    void memberFault(unsigned member, CK_RV rv, const char* during);

    // --- health, probing and repair (core/prober.cpp) -----------------------
    // Starts probing members that are not Up: in a thread of its own, or,
    // when the application forbids threads (CKF_LIBRARY_CANT_CREATE_OS_THREADS),
    // in callers' threads when a probe is due.
    void startProber(bool ownThread);
    // Runs the probes that are due, in the calling thread (one round at a
    // time per process; returns at once if another thread is probing).
    void probeDue();
    // Without a prober thread: whether a probe is due (checked by every
    // entry point before it takes any lock).
    bool probeInline() const noexcept {
        if (proberThread_) return false;
        if (probeWanted_.load(std::memory_order_relaxed)) return true;
        int64_t due = nextDue_.load(std::memory_order_relaxed);
        return due != 0 && std::chrono::steady_clock::now().time_since_epoch().count() >= due;
    }
    // Caller writes hold this shared; repair holds it exclusively, so that a
    // write never races with the copy or removal of the same object.
    WriteGate& writeGate() noexcept { return writeGate_; }
    // After a user login: removes tombstoned objects, and repairs in the
    // background when the members hold different numbers of objects.
    void afterLogin();
    // Asks the prober for a repair of every member that takes writes (a
    // write reached fewer members than take writes).
    // Repairs every member that takes writes now, in the calling thread
    // (`p11cluster repair`). Needs the user logged in.
    repair::Report repairNow(const char* why) { return repairMembers(why); }
    void requestRepair() {
        repairWanted_.store(true);
        wakeProber();
    }
    // A write of the object with `identity` may or may not have happened on
    // `member` (its call failed with a member fault). Before the member
    // serves again, every object matching the identity's class, type,
    // CKA_ID and CKA_LABEL is removed from it; repair then copies the
    // cluster's version back.
    void inDoubt(unsigned member, const Identity& identity);
    // Members whose last repair is still to do (they serve meanwhile).
    bool needsSync(unsigned member) const noexcept {
        return probes_[member].needsSync.load(std::memory_order_relaxed);
    }

    // --- synchronous and asynchronous members (sync = "async") ---------------
    // Whether caller writes go to `member` now: it takes writes and is
    // synchronous; or it is asynchronous while no synchronous member takes
    // writes and writes_without_sync = "accept". Repair writes to every
    // member that takes writes.
    bool writesTo(unsigned member) const noexcept;
    // How many members the write quorum is counted over now: the
    // synchronous ones, or the asynchronous ones while they stand in.
    unsigned quorumBase() const noexcept;
    // A caller's token write succeeded: asynchronous members that did not
    // take it lag by one more write until repair (started now, in the
    // background) catches them up. Called with the write gate held shared.
    void noteWrite();
    struct Lag {
        uint64_t writes = 0;      // caller writes not applied yet
        double seconds = 0;       // since the oldest of them
        double worstSeconds = 0;  // the longest catch-up so far: oldest write to applied
    };
    Lag lag(unsigned member) const noexcept;

    // --- login (shared by all sessions, as the specification requires) --
    CK_USER_TYPE loginState() const noexcept { return loginState_.load(std::memory_order_acquire); }
    // Whether a member's result means the member, or our session or login
    // on it, failed (route around it; the prober reopens and logs in again):
    // member faults, and lost sessions. A member saying "not logged in" is a
    // lost login only while the cluster is logged in (else it is the
    // caller's answer).
    bool lostMember(CK_RV rv) const noexcept {
        switch (classify(rv)) {
            case RvClass::MemberFault:
                return true;
            case RvClass::SessionLost:
                return rv != CKR_USER_NOT_LOGGED_IN || loginState() == CKU_USER;
            default:
                return false;
        }
    }
    void login(Session& session, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG pinLen);
    void logout();
    void initPin(Session& session, CK_UTF8CHAR_PTR pin, CK_ULONG pinLen);
    void setPin(Session& session, CK_UTF8CHAR_PTR oldPin, CK_ULONG oldLen, CK_UTF8CHAR_PTR newPin,
                CK_ULONG newLen);
    // Called when the last virtual session closes: the login ends.
    void lastSessionClosed();
    // The session on `member` that keeps this process's login alive there.
    CK_SESSION_HANDLE anchorSession(unsigned member) const noexcept {
        return anchors_[member].load(std::memory_order_acquire);
    }

    // --- the cluster's own objects on the members -----------------------
    // The member's transport key (replication/transport.h), looked up once;
    // CK_INVALID_HANDLE when it has none.
    CK_OBJECT_HANDLE transportKey(unsigned member);
    // Whether a member object belongs to the cluster itself (hidden from
    // the caller's C_FindObjects). Reads the object's CKA_ID once.
    bool isInternal(unsigned member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object);

  private:
    explicit Cluster(config::Config config);
    void computeMechanisms();
    // One probe of a member that is not Up; true when it serves again.
    bool probe(unsigned member);
    void proberLoop();
    void wakeProber();
    // Reconciles every member that takes writes; needs the user login.
    // A routine repair (catching up asynchronous members) logs only failures.
    repair::Report repairMembers(const char* why, bool routine = false);
    // Whether the serving members hold different numbers of token objects.
    bool membersDiffer();
    // Logs the member in as the cluster is (user PIN kept since C_Login).
    CK_RV loginMember(unsigned member);
    // After a login or logout: the transport key is a private object (its
    // handle changes with the login, and it is seen only while logged in).
    void forgetTransportKeys();

    config::Config config_;
    std::vector<std::unique_ptr<Member>> members_;
    std::vector<std::atomic<CK_SESSION_HANDLE>> anchors_;
    std::unique_ptr<routing::Router> router_;
    SessionTable sessions_;
    ObjectIndex objects_;

    std::vector<CK_MECHANISM_TYPE> mechTypes_;
    std::map<CK_MECHANISM_TYPE, CK_MECHANISM_INFO> mechInfo_;

    std::mutex internalMutex_;
    std::vector<CK_OBJECT_HANDLE> transport_;                 // per member; 0 = not looked up
    std::vector<std::map<CK_OBJECT_HANDLE, bool>> internal_;  // per member: handle -> internal?

    std::mutex loginMutex_;
    std::atomic<CK_USER_TYPE> loginState_{kNotLoggedIn};
    Secret userPin_;  // guarded by loginMutex_; kept to log in members that return

    struct ProbeState {
        std::chrono::steady_clock::time_point due{};
        std::chrono::milliseconds backoff{0};
        std::atomic<bool> needsSync{false};
        std::atomic<uint64_t> appliedWrites{0};  // writeSeq_ when last caught up
        std::atomic<int64_t> behindSinceNs{0};   // the oldest write not applied; 0: none
        std::atomic<int64_t> worstCatchUpNs{0};
    };
    bool asyncStandIn() const noexcept;  // no synchronous member takes writes
    // An asynchronous member that takes writes is behind: a catch-up is due.
    bool catchUpDue() const noexcept;
    std::atomic<uint64_t> writeSeq_{0};  // caller token writes so far
    std::unique_ptr<ProbeState[]> probes_;
    WriteGate writeGate_;
    std::mutex doubtMutex_;
    std::vector<std::vector<Identity>> doubts_;  // per member
    void resolveDoubtsLocked(unsigned member);   // writeGate_ held exclusively
    std::mutex probeRun_;                        // one probe round at a time
    std::mutex proberMutex_;
    std::condition_variable proberWake_;
    bool proberStop_ = false;
    bool proberThread_ = false;
    std::atomic<bool> repairWanted_{false};
    std::atomic<bool> probeWanted_{false};
    std::atomic<int64_t> nextDue_{0};  // earliest due probe (steady clock ticks), 0 = none
    std::thread prober_;
};

}  // namespace p11c

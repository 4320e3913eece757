// Member: one real token behind the virtual token — its module, its slot,
// its health and its figures for routing. Sessions on the member belong to
// the virtual sessions (core/session.h); a Member only opens and closes them.
//
// Thread-safety: every method may be called from any thread. Calls into the
// member's module are made without any cluster-wide lock held.
#pragma once

#include <pkcs11.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "config/config.h"
#include "member/health.h"
#include "member/latency.h"
#include "member/module_library.h"
#include "routing/policy.h"
#include "util/secret.h"

namespace p11c {

class Member {
  public:
    // Loads the member's module and finds its token. Throws ModuleLoadError
    // naming the member when the module does not load or the token is not
    // found (or matches more than one token). A remote member whose host
    // cannot be reached is returned Down, to be located when it answers.
    static std::unique_ptr<Member> connect(unsigned index, const config::Member& config,
                                           std::chrono::milliseconds callTimeout);

    unsigned index() const noexcept { return index_; }
    const std::string& name() const noexcept { return config_.name; }
    const config::Member& config() const noexcept { return config_; }
    bool standby() const noexcept { return config_.role == config::Role::Standby; }
    bool async() const noexcept { return config_.async; }
    CK_SLOT_ID slot() const noexcept { return slot_.load(std::memory_order_acquire); }
    // Whether the member's token has been found (a remote member that was
    // unreachable at start is found when it first answers).
    bool located() const noexcept { return located_.load(std::memory_order_acquire); }
    // Finds the member's token in its module. Throws ModuleLoadError when it
    // is not found or matches several tokens.
    void locate();
    const ModuleLibrary& module() const noexcept { return *module_; }
    CK_FUNCTION_LIST* fn() const noexcept { return module_->functions(); }
    CK_FUNCTION_LIST_3_0* fn30() const noexcept { return module_->functions30(); }

    // Changes whenever the member's sessions and object handles from before
    // became void (ModuleLibrary::reconnect).
    uint64_t generation() const noexcept { return module_->generation(); }
    CK_RV reconnect() { return module_->reconnect(); }
    CK_RV fence() { return module_->fence(); }
    CK_RV pause(CK_ULONG seconds) { return module_->pause(seconds); }
    // Sessions opened before a fault may hold half-done operations (a call
    // that missed its deadline may still run on the member): a member that
    // returns gets fresh sessions; the old ones are closed on next use.
    uint64_t sessionEpoch() const noexcept { return epoch_.load(std::memory_order_acquire); }
    void retireSessions() noexcept { epoch_.fetch_add(1, std::memory_order_acq_rel); }

    routing::MemberStats& stats() noexcept { return stats_; }
    const LatencyHistogram& latency() const noexcept { return latency_; }
    // Times the member was taken out of service (up -> suspect or down), and
    // times it came back in sync (syncing -> up).
    uint64_t failovers() const noexcept { return failovers_.load(std::memory_order_relaxed); }
    uint64_t returns() const noexcept { return returns_.load(std::memory_order_relaxed); }
    Health health() const noexcept { return health_.load(std::memory_order_acquire); }
    bool serving() const noexcept { return health() == Health::Up; }
    // Syncing members already take writes, so that they miss none while repaired.
    bool takesWrites() const noexcept {
        Health h = health();
        return h == Health::Up || h == Health::Syncing;
    }
    void setHealth(Health next, const char* why);

    // Calls one function of the member's module, counting it for routing:
    //   member.call(&CK_FUNCTION_LIST::C_Sign, session, data, len, sig, &sigLen)
    // Timing a call costs two clock reads (about 50 ns, a few percent of a
    // digest): calls to a member that answers in under kSampleBelowNs on
    // average are timed one in kSampleEvery, each sample standing for that
    // many calls; slower members are timed on every call.
    template <class Fn, class... Args>
    CK_RV call(Fn CK_FUNCTION_LIST::*fn, Args... args) {
        routing::InFlight counted(stats_);
        const uint64_t weight =
            timingWeight(stats_.operations.fetch_add(1, std::memory_order_relaxed));
        if (weight == 0) {
            CK_RV rv = (module_->functions()->*fn)(args...);
            if (rv != CKR_OK) noteResult(rv);
            return rv;
        }
        const auto start = std::chrono::steady_clock::now();
        CK_RV rv = (module_->functions()->*fn)(args...);
        const auto end = std::chrono::steady_clock::now();
        const auto ns = static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
        stats_.noteLatency(
            ns,
            std::chrono::duration_cast<std::chrono::nanoseconds>(end.time_since_epoch()).count());
        latency_.record(ns, weight);
        if (rv != CKR_OK) noteResult(rv);
        return rv;
    }

    // The member's PIN from pin_file / pin_env, if it has its own.
    bool hasOwnPin() const noexcept { return config_.pinFile || config_.pinEnv; }
    Secret readOwnPin() const;  // throws CkError when it cannot be read

  private:
    static constexpr uint64_t kSampleBelowNs = 50'000;
    static constexpr uint64_t kSampleEvery = 8;
    // How many calls the timing of the member's call number `n` stands
    // for; 0: not timed. Counted per member, so that every member and call
    // pattern gets its samples.
    uint64_t timingWeight(uint64_t n) const noexcept {
        if (stats_.latencyNs.load(std::memory_order_relaxed) >= kSampleBelowNs) return 1;
        return n % kSampleEvery == 0 ? kSampleEvery : 0;
    }
    Member(unsigned index, config::Member config, std::shared_ptr<ModuleLibrary> module,
           CK_SLOT_ID slot);
    void noteResult(CK_RV rv) noexcept;

    unsigned index_;
    config::Member config_;
    std::shared_ptr<ModuleLibrary> module_;
    std::atomic<CK_SLOT_ID> slot_;
    std::atomic<bool> located_{false};
    routing::MemberStats stats_;
    LatencyHistogram latency_;
    std::atomic<uint64_t> failovers_{0}, returns_{0};
    std::atomic<Health> health_{Health::Up};
    std::atomic<uint64_t> epoch_{0};
};

}  // namespace p11c

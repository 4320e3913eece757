// Routing: which member serves the next operation.
//
// A Policy sees member figures (MemberStats), never PKCS#11 details. The core
// decides which members are eligible for an operation (serving, holding the
// key) and asks the Router, which applies the tiers (local zone, other zones,
// standby) and lets the policy pick one member of the chosen tier.
//
// Threading: pick() is called concurrently from every caller thread and
// takes no lock; member figures are relaxed atomics written by the threads
// that call the member. Time and randomness come from an injected Clock and
// Random, so that tests drive them.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace p11c::routing {

// Steady time in nanoseconds; tests use a fake one.
class Clock {
  public:
    virtual ~Clock() = default;
    virtual int64_t nowNs() const noexcept = 0;
};
std::shared_ptr<Clock> steadyClock();

// Uniform 64-bit numbers, callable from any thread; tests use a seeded one.
class Random {
  public:
    virtual ~Random() = default;
    virtual uint64_t next() noexcept = 0;
    // A number below `bound` (> 0).
    uint64_t below(uint64_t bound) noexcept { return next() % bound; }
};
// A SplitMix64 sequence over an atomic counter (lock-free, thread-safe).
std::shared_ptr<Random> makeRandom(uint64_t seed);

// Per-member figures, updated lock-free by the threads that call the member.
struct MemberStats {
    unsigned weight = 1;
    std::string zone;
    bool standby = false;
    std::atomic<uint32_t> inFlight{0};  // calls into the member running now
    // Operations begun on the member (*Init) and not ended yet: a signature
    // between its C_SignInit and its C_Sign is the member's work too.
    std::atomic<uint32_t> assigned{0};
    std::atomic<uint64_t> operations{0};
    std::atomic<uint64_t> errors{0};
    // Peak-sensitive moving average of call latency, in ns: a sample above
    // it is taken at once, one below moves it 1/8 of the way (0: no sample).
    std::atomic<uint64_t> latencyNs{0};
    std::atomic<int64_t> sampledAtNs{0};  // clock time of the last sample

    void noteLatency(uint64_t ns, int64_t nowNs) noexcept {
        const uint64_t old = latencyNs.load(std::memory_order_relaxed);
        latencyNs.store(old == 0 || ns >= old ? ns : old - old / 8 + ns / 8,
                        std::memory_order_relaxed);
        sampledAtNs.store(nowNs, std::memory_order_relaxed);
    }
    // The member's load as the policies see it: the more of calls running
    // and operations begun (a call of a begun operation is both; a one-off
    // call such as C_GenerateRandom only the first).
    uint32_t load() const noexcept {
        return std::max(inFlight.load(std::memory_order_relaxed),
                        assigned.load(std::memory_order_relaxed));
    }
    // The latency estimate, halved for every `halfLifeNs` without a sample,
    // so that a member once slow is tried again after a while.
    uint64_t agedLatencyNs(int64_t nowNs, int64_t halfLifeNs) const noexcept {
        const uint64_t lat = latencyNs.load(std::memory_order_relaxed);
        const int64_t age = nowNs - sampledAtNs.load(std::memory_order_relaxed);
        if (age <= halfLifeNs) return lat;
        const int64_t halvings = age / halfLifeNs;
        return halvings >= 63 ? 0 : lat >> halvings;
    }
};

using Members = std::vector<const MemberStats*>;

class Policy {
  public:
    virtual ~Policy() = default;
    virtual const char* name() const noexcept = 0;
    // Picks one of `candidates` (indices into the member list); never empty.
    virtual unsigned pick(std::span<const unsigned> candidates) noexcept = 0;
};

// What a policy is built from: the members' figures (which outlive it),
// the clock and the random source.
struct PolicyContext {
    Members members;
    std::shared_ptr<Clock> clock = steadyClock();
    std::shared_ptr<Random> random = makeRandom(0x5eed);
};

// Builds the named policy. Throws std::invalid_argument for an unknown name.
std::unique_ptr<Policy> makePolicy(const std::string& name, PolicyContext context);

bool policyExists(const std::string& name);
std::string policyNames();  // "round-robin, ..." for messages

// Tiers over a policy. Among the candidates: the active members of the
// local zone (all active members when no local zone is set), then the
// active members of other zones, then standby members; the policy picks in
// the first tier that has a candidate. When every local candidate has at
// least `spillInFlight` calls in flight (saturated), the other zones' active
// candidates join the local ones. Standby members take work only when no
// active member is a candidate.
struct RouterSettings {
    std::string policy = "round-robin";
    std::string localZone;
    unsigned spillInFlight = 8;
};

class Router {
  public:
    Router(const RouterSettings& settings, PolicyContext context);
    const char* policyName() const noexcept { return policy_->name(); }
    // Picks one of `candidates` (never empty, at most 64 are considered).
    unsigned pick(std::span<const unsigned> candidates) noexcept;

  private:
    RouterSettings settings_;
    Members members_;
    std::unique_ptr<Policy> policy_;
};

// Counts one begun operation on a member (MemberStats::assigned) until it
// is released, moved to another member, or destroyed.
class Assignment {
  public:
    Assignment() = default;
    ~Assignment() { release(); }
    Assignment(const Assignment&) = delete;
    Assignment& operator=(const Assignment&) = delete;
    void set(MemberStats& stats) noexcept {
        release();
        stats_ = &stats;
        stats_->assigned.fetch_add(1, std::memory_order_relaxed);
    }
    void release() noexcept {
        if (stats_ != nullptr) stats_->assigned.fetch_sub(1, std::memory_order_relaxed);
        stats_ = nullptr;
    }

  private:
    MemberStats* stats_ = nullptr;
};

// Counts one call in flight on a member for as long as it lives.
class InFlight {
  public:
    explicit InFlight(MemberStats& stats) noexcept : stats_(stats) {
        stats_.inFlight.fetch_add(1, std::memory_order_relaxed);
    }
    ~InFlight() { stats_.inFlight.fetch_sub(1, std::memory_order_relaxed); }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;

  private:
    MemberStats& stats_;
};

}  // namespace p11c::routing

// Routing: which member serves the next operation.
//
// A Policy sees member figures (MemberStats), never PKCS#11 details. The core
// decides which members are eligible for an operation (healthy, holding the
// key, role tier) and asks the policy to pick one of them. pick() is called
// concurrently from every caller thread: implementations are lock-free.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace p11c::routing {

// Per-member figures, updated lock-free by the threads that call the member.
struct MemberStats {
    unsigned weight = 1;
    std::string zone;
    std::atomic<uint32_t> inFlight{0};
    std::atomic<uint64_t> operations{0};
    std::atomic<uint64_t> errors{0};
    // Exponentially weighted mean of call latency (1/8 per sample), in ns.
    std::atomic<uint64_t> latencyNs{0};

    void noteLatency(uint64_t ns) noexcept {
        uint64_t old = latencyNs.load(std::memory_order_relaxed);
        latencyNs.store(old == 0 ? ns : old - old / 8 + ns / 8, std::memory_order_relaxed);
    }
};

class Policy {
  public:
    virtual ~Policy() = default;
    virtual const char* name() const noexcept = 0;
    // Picks one of `candidates` (indices into the member list); never empty.
    virtual unsigned pick(std::span<const unsigned> candidates) noexcept = 0;
};

// Builds the named policy over `members` (which outlive it).
std::unique_ptr<Policy> makePolicy(const std::string& name,
                                   std::vector<const MemberStats*> members);

bool policyExists(const std::string& name);
std::string policyNames();  // "round-robin, ..." for messages

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

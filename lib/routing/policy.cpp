// The policy registry, the steady clock and the random source.
#include "routing/policy.h"

#include <chrono>
#include <stdexcept>

#include "routing/policies.h"

namespace p11c::routing {
namespace {

struct Known {
    const char* name;
    std::unique_ptr<Policy> (*make)(PolicyContext);
};
const Known kPolicies[] = {
    {"round-robin", makeRoundRobin},     {"random", makeRandomPolicy},
    {"weighted", makeWeighted},          {"least-outstanding", makeLeastOutstanding},
    {"latency-aware", makeLatencyAware},
};

class SteadyClock final : public Clock {
  public:
    int64_t nowNs() const noexcept override {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }
};

// SplitMix64 over an atomic counter: each call takes the next counter value
// and mixes it, so threads never share more than one atomic add.
class SplitMix final : public Random {
  public:
    explicit SplitMix(uint64_t seed) : state_(seed) {}
    uint64_t next() noexcept override {
        uint64_t z = state_.fetch_add(0x9e3779b97f4a7c15ull, std::memory_order_relaxed) +
                     0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }

  private:
    std::atomic<uint64_t> state_;
};

}  // namespace

std::shared_ptr<Clock> steadyClock() {
    static const std::shared_ptr<Clock> clock = std::make_shared<SteadyClock>();
    return clock;
}

std::shared_ptr<Random> makeRandom(uint64_t seed) {
    return std::make_shared<SplitMix>(seed);
}

bool policyExists(const std::string& name) {
    for (const Known& known : kPolicies)
        if (name == known.name) return true;
    return false;
}

std::string policyNames() {
    std::string names;
    for (const Known& known : kPolicies)
        names += (names.empty() ? "" : ", ") + std::string(known.name);
    return names;
}

std::unique_ptr<Policy> makePolicy(const std::string& name, PolicyContext context) {
    for (const Known& known : kPolicies)
        if (name == known.name) return known.make(std::move(context));
    throw std::invalid_argument("unknown routing policy: " + name);
}

}  // namespace p11c::routing

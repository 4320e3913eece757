// Round-robin: each pick takes the next candidate in turn.
#include "routing/policy.h"

namespace p11c::routing {
namespace {

class RoundRobin final : public Policy {
  public:
    const char* name() const noexcept override { return "round-robin"; }
    unsigned pick(std::span<const unsigned> candidates) noexcept override {
        uint64_t turn = next_.fetch_add(1, std::memory_order_relaxed);
        return candidates[turn % candidates.size()];
    }

  private:
    std::atomic<uint64_t> next_{0};
};

}  // namespace

std::unique_ptr<Policy> makeRoundRobin() {
    return std::make_unique<RoundRobin>();
}

}  // namespace p11c::routing

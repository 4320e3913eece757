// Policies that ignore load: round-robin, random and weighted.
#include "routing/policies.h"

namespace p11c::routing {
namespace {

class RoundRobin final : public Policy {
  public:
    const char* name() const noexcept override { return "round-robin"; }
    unsigned pick(std::span<const unsigned> candidates) noexcept override {
        const uint64_t turn = next_.fetch_add(1, std::memory_order_relaxed);
        return candidates[turn % candidates.size()];
    }

  private:
    std::atomic<uint64_t> next_{0};
};

class RandomPolicy final : public Policy {
  public:
    explicit RandomPolicy(std::shared_ptr<Random> random) : random_(std::move(random)) {}
    const char* name() const noexcept override { return "random"; }
    unsigned pick(std::span<const unsigned> candidates) noexcept override {
        return candidates[random_->below(candidates.size())];
    }

  private:
    std::shared_ptr<Random> random_;
};

// Turn t lands at frac(t * golden ratio) of the candidates' total weight: a
// low-discrepancy sequence, so every window of picks gives each candidate
// its share within a pick or two, with one atomic add and no lock.
class Weighted final : public Policy {
  public:
    explicit Weighted(Members members) : members_(std::move(members)) {}
    const char* name() const noexcept override { return "weighted"; }
    unsigned pick(std::span<const unsigned> candidates) noexcept override {
        uint64_t total = 0;
        for (unsigned c : candidates) total += weight(c);
        const uint64_t turn = next_.fetch_add(1, std::memory_order_relaxed);
        const uint64_t fraction = (turn * 0x9e3779b97f4a7c15ull) >> 32;  // 32-bit fixed point
        uint64_t position = (fraction * total) >> 32;
        for (unsigned c : candidates) {
            if (position < weight(c)) return c;
            position -= weight(c);
        }
        return candidates.back();
    }

  private:
    uint64_t weight(unsigned member) const noexcept {
        return member < members_.size() && members_[member]->weight > 0 ? members_[member]->weight
                                                                        : 1;
    }
    Members members_;
    std::atomic<uint64_t> next_{0};
};

}  // namespace

std::unique_ptr<Policy> makeRoundRobin(PolicyContext) {
    return std::make_unique<RoundRobin>();
}

std::unique_ptr<Policy> makeRandomPolicy(PolicyContext context) {
    return std::make_unique<RandomPolicy>(std::move(context.random));
}

std::unique_ptr<Policy> makeWeighted(PolicyContext context) {
    return std::make_unique<Weighted>(std::move(context.members));
}

}  // namespace p11c::routing

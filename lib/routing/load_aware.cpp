// Policies that follow load: least-outstanding and latency-aware (peak EWMA).
//
// Both compare candidates by a cost. Over at most kScanLimit candidates
// (every cluster of HSMs we know of) they look at all of them; over more,
// at two drawn at random (power of two choices), which keeps the pick
// cheap and avoids herding on one member. A cost within 25% of the best
// counts as a tie; ties are broken by turns, so that equal members share
// the work even at low load.
#include <algorithm>

#include "routing/policies.h"

namespace p11c::routing {
namespace {

constexpr size_t kScanLimit = 8;
// A latency estimate halves for every 2 s without a sample: a member once
// slow is tried again after a while.
constexpr int64_t kHalfLifeNs = 2'000'000'000;

// Whether b is more than 25% above a.
bool clearlyAbove(uint64_t b, uint64_t a) noexcept {
    return b > a && (b - a) * 4 > b;
}

// A candidate's cost: the primary must be the lowest; among those, a
// secondary within 25% of the lowest is a tie.
struct Cost {
    uint64_t primary = 0, secondary = 0;
};

class LowestCost : public Policy {
  public:
    explicit LowestCost(PolicyContext context) : context_(std::move(context)) {}

    unsigned pick(std::span<const unsigned> candidates) noexcept override {
        const size_t n = candidates.size();
        if (n == 1) return candidates[0];
        const int64_t now = needsClock() ? context_.clock->nowNs() : 0;
        const uint64_t turn = turn_.fetch_add(1, std::memory_order_relaxed);
        if (n > kScanLimit) {
            const size_t i = context_.random->below(n);
            size_t j = context_.random->below(n - 1);
            if (j >= i) ++j;
            const Cost a = cost(candidates[i], now), b = cost(candidates[j], now);
            if (a.primary != b.primary)
                return a.primary < b.primary ? candidates[i] : candidates[j];
            if (clearlyAbove(b.secondary, a.secondary)) return candidates[i];
            if (clearlyAbove(a.secondary, b.secondary)) return candidates[j];
            return turn % 2 ? candidates[i] : candidates[j];
        }
        Cost costs[kScanLimit];
        Cost best{UINT64_MAX, UINT64_MAX};
        for (size_t k = 0; k < n; ++k) {
            costs[k] = cost(candidates[k], now);
            if (costs[k].primary < best.primary ||
                (costs[k].primary == best.primary && costs[k].secondary < best.secondary))
                best = costs[k];
        }
        size_t ties[kScanLimit], nTies = 0;
        for (size_t k = 0; k < n; ++k)
            if (costs[k].primary == best.primary &&
                !clearlyAbove(costs[k].secondary, best.secondary))
                ties[nTies++] = k;
        return candidates[ties[turn % nTies]];
    }

  protected:
    const MemberStats& stats(unsigned member) const noexcept { return *context_.members[member]; }
    virtual bool needsClock() const noexcept = 0;
    virtual Cost cost(unsigned member, int64_t now) const noexcept = 0;

  private:
    PolicyContext context_;
    std::atomic<uint64_t> turn_{0};
};

// The least load (calls in flight and operations begun); among equals, a clearly lower latency (a
// member not measured yet counts as fastest, so that it is measured).
class LeastOutstanding final : public LowestCost {
  public:
    using LowestCost::LowestCost;
    const char* name() const noexcept override { return "least-outstanding"; }

  private:
    bool needsClock() const noexcept override { return true; }
    Cost cost(unsigned m, int64_t now) const noexcept override {
        return {stats(m).load(), stats(m).agedLatencyNs(now, kHalfLifeNs)};
    }
};

// Peak EWMA: the expected wait, latency estimate x (calls in flight + 1).
// A member that turns slow is avoided at once (the estimate takes a higher
// sample at once) and is tried again as its estimate ages.
class LatencyAware final : public LowestCost {
  public:
    using LowestCost::LowestCost;
    const char* name() const noexcept override { return "latency-aware"; }

  private:
    bool needsClock() const noexcept override { return true; }
    Cost cost(unsigned m, int64_t now) const noexcept override {
        const MemberStats& s = stats(m);
        // At least 1 ns: a member not measured yet still counts its load.
        return {
            0, std::max<uint64_t>(1, s.agedLatencyNs(now, kHalfLifeNs)) * (uint64_t{s.load()} + 1)};
    }
};

}  // namespace

std::unique_ptr<Policy> makeLeastOutstanding(PolicyContext context) {
    return std::make_unique<LeastOutstanding>(std::move(context));
}

std::unique_ptr<Policy> makeLatencyAware(PolicyContext context) {
    return std::make_unique<LatencyAware>(std::move(context));
}

}  // namespace p11c::routing

// LatencyHistogram: call latencies of one member in fixed buckets, recorded
// lock-free from every caller thread (one relaxed atomic add per call), read
// for percentiles (p11cluster status) and as a Prometheus histogram.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace p11c {

class LatencyHistogram {
  public:
    // Upper bounds of the buckets, in microseconds; the last bucket is +Inf.
    static constexpr std::array<uint64_t, 18> kBoundsUs = {
        25,    50,    100,    250,    500,    1000,    2500,    5000,    10000,
        25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
    static constexpr size_t kBuckets = kBoundsUs.size() + 1;

    // One call of `ns`, standing for `weight` calls (a sampled call).
    void record(uint64_t ns, uint64_t weight = 1) noexcept {
        const uint64_t us = ns / 1000;
        size_t i = 0;
        while (i < kBoundsUs.size() && us > kBoundsUs[i]) ++i;
        counts_[i].fetch_add(weight, std::memory_order_relaxed);
        sumNs_.fetch_add(ns * weight, std::memory_order_relaxed);
    }

    struct Snapshot {
        std::array<uint64_t, kBuckets> counts{};  // per bucket (not cumulative)
        uint64_t sumNs = 0;
        uint64_t total() const noexcept {
            uint64_t n = 0;
            for (uint64_t c : counts) n += c;
            return n;
        }
        // The upper bound (µs) of the bucket holding quantile q (0..1); the
        // last finite bound for the overflow bucket, 0 with no samples.
        uint64_t quantileUs(double q) const noexcept {
            const uint64_t n = total();
            if (n == 0) return 0;
            const auto rank = static_cast<uint64_t>(q * static_cast<double>(n - 1)) + 1;
            uint64_t seen = 0;
            for (size_t i = 0; i < kBuckets; ++i) {
                seen += counts[i];
                if (seen >= rank) return i < kBoundsUs.size() ? kBoundsUs[i] : kBoundsUs.back();
            }
            return kBoundsUs.back();
        }
    };
    Snapshot snapshot() const noexcept {
        Snapshot s;
        for (size_t i = 0; i < kBuckets; ++i)
            s.counts[i] = counts_[i].load(std::memory_order_relaxed);
        s.sumNs = sumNs_.load(std::memory_order_relaxed);
        return s;
    }

  private:
    std::array<std::atomic<uint64_t>, kBuckets> counts_{};
    std::atomic<uint64_t> sumNs_{0};
};

}  // namespace p11c

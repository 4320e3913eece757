// Routing policies and the router's tiers, with fake member figures, a fake
// clock and seeded randomness: each test checks which members get picked.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <vector>

#include "routing/policy.h"

using namespace p11c::routing;

namespace {

class FakeClock final : public Clock {
  public:
    int64_t nowNs() const noexcept override { return now; }
    int64_t now = 1'000'000'000;
};

// Members with figures the test sets, and policies built over them.
struct Fleet {
    explicit Fleet(size_t n) : stats(n) {
        for (auto& s : stats) s = std::make_unique<MemberStats>();
    }
    MemberStats& operator[](size_t i) { return *stats[i]; }
    PolicyContext context(uint64_t seed = 7) {
        PolicyContext c;
        for (auto& s : stats) c.members.push_back(s.get());
        c.clock = clock;
        c.random = makeRandom(seed);
        return c;
    }
    std::unique_ptr<Policy> policy(const std::string& name) { return makePolicy(name, context()); }
    std::vector<unsigned> all() const {
        std::vector<unsigned> out(stats.size());
        for (unsigned i = 0; i < out.size(); ++i) out[i] = i;
        return out;
    }
    // Picks n times; returns how often each member was picked.
    template <class Picker>
    std::map<unsigned, int> counts(Picker& picker, const std::vector<unsigned>& candidates, int n) {
        std::map<unsigned, int> seen;
        for (int i = 0; i < n; ++i) ++seen[picker.pick(candidates)];
        return seen;
    }
    std::vector<std::unique_ptr<MemberStats>> stats;
    std::shared_ptr<FakeClock> clock = std::make_shared<FakeClock>();
};

}  // namespace

TEST_CASE("routing: every policy name is known and builds, an unknown one is refused") {
    Fleet fleet(2);
    for (const char* name :
         {"round-robin", "random", "weighted", "least-outstanding", "latency-aware"}) {
        CHECK(policyExists(name));
        auto policy = fleet.policy(name);
        CHECK(std::string(policy->name()) == name);
        CHECK(policyNames().find(name) != std::string::npos);
    }
    CHECK_FALSE(policyExists("fastest"));
    CHECK_THROWS_AS(fleet.policy("fastest"), std::invalid_argument);
}

TEST_CASE("routing: round-robin takes each candidate in turn") {
    Fleet fleet(4);
    auto rr = fleet.policy("round-robin");
    std::vector<unsigned> candidates = {0, 2, 3};
    std::vector<unsigned> seen;
    for (int i = 0; i < 6; ++i) seen.push_back(rr->pick(candidates));
    CHECK(seen == std::vector<unsigned>{0, 2, 3, 0, 2, 3});
}

TEST_CASE("routing: random spreads picks evenly and only over the candidates") {
    Fleet fleet(5);
    auto random = fleet.policy("random");
    auto seen = fleet.counts(*random, {1, 3, 4}, 30000);
    REQUIRE(seen.size() == 3);
    for (auto [member, n] : seen) {
        CHECK((member == 1 || member == 3 || member == 4));
        CHECK(n > 9000);
        CHECK(n < 11000);
    }
}

TEST_CASE("routing: weighted gives each candidate its share, interleaved") {
    Fleet fleet(3);
    fleet[0].weight = 3;
    fleet[1].weight = 1;
    fleet[2].weight = 6;
    auto weighted = fleet.policy("weighted");
    auto seen = fleet.counts(*weighted, fleet.all(), 10000);
    CHECK(seen[0] == Approx(3000).margin(30));
    CHECK(seen[1] == Approx(1000).margin(30));
    CHECK(seen[2] == Approx(6000).margin(30));
    // Interleaved, not in runs: in any 10 picks the weight-6 member gets 5 to 7.
    std::vector<unsigned> order;
    for (int i = 0; i < 1000; ++i) order.push_back(weighted->pick(fleet.all()));
    for (size_t i = 0; i + 10 <= order.size(); i += 10) {
        const auto n = std::count(order.begin() + i, order.begin() + i + 10, 2u);
        CHECK(n >= 5);
        CHECK(n <= 7);
    }
    // Shares hold over a subset too (member 2 out of service).
    auto subset = fleet.counts(*weighted, {0, 1}, 4000);
    CHECK(subset[0] == Approx(3000).margin(30));
    CHECK(subset[1] == Approx(1000).margin(30));
}

TEST_CASE("routing: least-outstanding picks the member with the fewest calls in flight") {
    Fleet fleet(4);
    fleet[0].inFlight = 3;
    fleet[1].inFlight = 1;
    fleet[2].inFlight = 2;
    fleet[3].inFlight = 5;
    auto lo = fleet.policy("least-outstanding");
    for (int i = 0; i < 20; ++i) CHECK(lo->pick(fleet.all()) == 1);
    CHECK(lo->pick(std::vector<unsigned>{0, 2, 3}) == 2);
}

TEST_CASE("routing: least-outstanding breaks ties by latency, and equal members take turns") {
    Fleet fleet(3);
    fleet[0].latencyNs = 5'000'000;  // a slow member, idle like the others
    fleet[1].latencyNs = 1'000'000;
    fleet[2].latencyNs = 1'100'000;  // within 25% of member 1: a tie
    auto lo = fleet.policy("least-outstanding");
    auto seen = fleet.counts(*lo, fleet.all(), 300);
    CHECK(seen[0] == 0);
    CHECK(seen[1] == Approx(150).margin(10));
    CHECK(seen[2] == Approx(150).margin(10));
    // A member never measured is tried first, so that it gets measured.
    fleet[0].latencyNs = 0;
    CHECK(lo->pick(fleet.all()) == 0);
}

TEST_CASE("routing: over many candidates least-outstanding compares two (never the busiest)") {
    Fleet fleet(16);
    for (unsigned i = 0; i < 16; ++i) fleet[i].inFlight = i;  // member 15 is the busiest
    auto lo = fleet.policy("least-outstanding");
    auto seen = fleet.counts(*lo, fleet.all(), 5000);
    CHECK(seen.count(15) == 0);
    // The idlest is picked most often (whenever it is one of the two drawn).
    CHECK(seen[0] > seen[8]);
    CHECK(seen[0] > 5000 / 16);
    CHECK(seen.size() > 8);  // but the work is not herded onto one member
}

TEST_CASE("routing: latency-aware weighs latency by calls in flight") {
    Fleet fleet(3);
    fleet[0].latencyNs = 1'000'000;
    fleet[1].latencyNs = 1'000'000;
    fleet[2].latencyNs = 5'000'000;
    for (unsigned i = 0; i < 3; ++i) fleet[i].sampledAtNs = fleet.clock->now;
    auto la = fleet.policy("latency-aware");
    // Idle fast members share the work; the slow one gets none.
    auto seen = fleet.counts(*la, fleet.all(), 200);
    CHECK(seen[2] == 0);
    CHECK(seen[0] == Approx(100).margin(5));
    // Busy fast members: 1 ms x (7 + 1) is well above 5 ms x 1, so the slow one serves.
    fleet[0].inFlight = 7;
    fleet[1].inFlight = 8;
    CHECK(la->pick(fleet.all()) == 2);
    // One busy fast member: the other fast one.
    fleet[1].inFlight = 0;
    CHECK(la->pick(fleet.all()) == 1);
}

TEST_CASE("routing: latency-aware tries a slow member again once its estimate has aged") {
    Fleet fleet(2);
    fleet[0].noteLatency(1'000'000, fleet.clock->now);
    fleet[1].noteLatency(5'000'000, fleet.clock->now);
    auto la = fleet.policy("latency-aware");
    for (int i = 0; i < 10; ++i) {
        fleet.clock->now += 10'000'000;  // member 0 keeps being measured
        fleet[0].noteLatency(1'000'000, fleet.clock->now);
        CHECK(la->pick(fleet.all()) == 0);
    }
    fleet.clock->now += 8'000'000'000;  // 8 s without a sample of member 1: 5 ms / 16
    fleet[0].noteLatency(1'000'000, fleet.clock->now);
    CHECK(la->pick(fleet.all()) == 1);
}

TEST_CASE("routing: the latency estimate takes a peak at once and lets it go slowly") {
    MemberStats s;
    s.noteLatency(1000, 1);
    CHECK(s.latencyNs == 1000);
    s.noteLatency(9000, 2);
    CHECK(s.latencyNs == 9000);  // a higher sample: at once
    s.noteLatency(1000, 3);
    CHECK(s.latencyNs == 9000 - 9000 / 8 + 1000 / 8);  // a lower one: 1/8 of the way
    for (int i = 0; i < 100; ++i) s.noteLatency(1000, 4);
    CHECK(s.latencyNs < 1100);
    CHECK(s.agedLatencyNs(4, 1000) == s.latencyNs);
    CHECK(s.agedLatencyNs(4 + 2000, 1000) == s.latencyNs / 4);
}

TEST_CASE("routing: the router prefers the local zone and spills when it is saturated") {
    Fleet fleet(4);
    fleet[0].zone = fleet[1].zone = "z1";
    fleet[2].zone = fleet[3].zone = "z2";
    Router router(RouterSettings{"least-outstanding", "z1", 4}, fleet.context());
    auto seen = fleet.counts(router, fleet.all(), 100);
    CHECK(seen[0] + seen[1] == 100);
    // Local members down (not candidates): the other zone serves.
    seen = fleet.counts(router, {2, 3}, 100);
    CHECK(seen[2] + seen[3] == 100);
    // One local member saturated, the other not: still local.
    fleet[0].inFlight = 4;
    CHECK(router.pick(fleet.all()) == 1);
    // Both saturated: the other zone shares the work (it is idler).
    fleet[1].inFlight = 4;
    seen = fleet.counts(router, fleet.all(), 100);
    CHECK(seen[2] + seen[3] == 100);
}

TEST_CASE("routing: without a local zone every active member is one tier") {
    Fleet fleet(3);
    fleet[0].zone = "z1";
    fleet[1].zone = "z2";
    fleet[2].zone = "z3";
    Router router(RouterSettings{"round-robin", "", 8}, fleet.context());
    auto seen = fleet.counts(router, fleet.all(), 300);
    CHECK(seen[0] == 100);
    CHECK(seen[1] == 100);
    CHECK(seen[2] == 100);
}

TEST_CASE("routing: standby members serve only when no active member can") {
    Fleet fleet(3);
    fleet[2].standby = true;
    Router router(RouterSettings{"round-robin", "", 8}, fleet.context());
    auto seen = fleet.counts(router, fleet.all(), 100);
    CHECK(seen.count(2) == 0);
    // Saturation does not bring a standby member in.
    fleet[0].inFlight = fleet[1].inFlight = 100;
    CHECK(fleet.counts(router, fleet.all(), 100).count(2) == 0);
    // The active members out of service: the standby serves.
    CHECK(router.pick(std::vector<unsigned>{2}) == 2);
    CHECK(router.policyName() == std::string("round-robin"));
}

TEST_CASE("routing: an operation begun on a member counts as its load until it ends") {
    Fleet fleet(2);
    auto lo = fleet.policy("least-outstanding");
    {
        Assignment begun;  // a C_SignInit on member 0, its C_Sign still to come
        begun.set(fleet[0]);
        CHECK(fleet[0].load() == 1);
        CHECK(lo->pick(fleet.all()) == 1);
        begun.set(fleet[1]);  // moved to member 1 (failover)
        CHECK(fleet[0].load() == 0);
        CHECK(fleet[1].load() == 1);
        CHECK(lo->pick(fleet.all()) == 0);
        begun.release();  // ended
        CHECK(fleet[1].load() == 0);
        begun.set(fleet[1]);
    }  // the session closed with the operation open
    CHECK(fleet[1].load() == 0);
}

TEST_CASE("routing: a call of a begun operation counts once, a one-off call beside it too") {
    Fleet fleet(1);
    Assignment begun;
    begun.set(fleet[0]);
    CHECK(fleet[0].load() == 1);
    {
        InFlight call(fleet[0]);  // that operation's C_Sign
        CHECK(fleet[0].load() == 1);
        InFlight other(fleet[0]);  // a C_GenerateRandom at the same time
        CHECK(fleet[0].load() == 2);
    }
    CHECK(fleet[0].load() == 1);
}

TEST_CASE("routing: least-outstanding tries a member once slow again as its estimate ages") {
    Fleet fleet(2);
    fleet[0].noteLatency(1'000'000, fleet.clock->now);
    fleet[1].noteLatency(5'000'000, fleet.clock->now);  // one slow answer
    auto lo = fleet.policy("least-outstanding");
    for (int i = 0; i < 10; ++i) {
        fleet.clock->now += 10'000'000;
        fleet[0].noteLatency(1'000'000, fleet.clock->now);
        CHECK(lo->pick(fleet.all()) == 0);  // idle alike: the faster one
    }
    fleet.clock->now += 8'000'000'000;  // 8 s without a sample of member 1
    fleet[0].noteLatency(1'000'000, fleet.clock->now);
    auto seen = fleet.counts(*lo, fleet.all(), 10);
    CHECK(seen[1] > 0);  // within 25% now: a tie, taken in turns
}

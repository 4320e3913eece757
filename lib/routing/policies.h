// The routing policies, each built from a PolicyContext (routing/policy.h).
// Internal to lib/routing: the rest of the module names policies by string.
#pragma once

#include "routing/policy.h"

namespace p11c::routing {

// Each candidate in turn.
std::unique_ptr<Policy> makeRoundRobin(PolicyContext context);
// A candidate drawn uniformly.
std::unique_ptr<Policy> makeRandomPolicy(PolicyContext context);
// Candidates in proportion to their weights, evenly interleaved.
std::unique_ptr<Policy> makeWeighted(PolicyContext context);
// The candidate with the fewest calls in flight (power of two choices over
// many candidates).
std::unique_ptr<Policy> makeLeastOutstanding(PolicyContext context);
// The candidate with the lowest peak-EWMA latency x (calls in flight + 1).
std::unique_ptr<Policy> makeLatencyAware(PolicyContext context);

}  // namespace p11c::routing

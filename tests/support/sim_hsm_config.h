// The simulated network HSM's configuration (P11C_SIMHSM): for each token
// label, a fixed service time per cryptographic call and how many calls the
// token runs at once.
//
//   member-a=1000us/2,member-b=5ms/2,*=2000us/1
//
// `*` is the rule for tokens not named. Parsing is strict and never throws;
// a parsed configuration is a plain value (no shared state, no locks).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace p11c::simhsm {

struct Rule {
    std::string label;  // the token label, or "*"
    std::chrono::microseconds service{0};
    unsigned concurrency = 1;
};

struct Config {
    std::vector<Rule> rules;       // named tokens
    std::optional<Rule> fallback;  // `*`
    // The rule for a token label: the named one, else `*`, else none.
    const Rule* find(std::string_view label) const;
};

inline constexpr unsigned kMaxConcurrency = 4096;

// Parses `text` into `out`. On a malformed value returns false and puts in
// `error` which part is wrong and why. An empty text is a valid configuration
// with no rules (every token untimed).
bool parseConfig(std::string_view text, Config& out, std::string& error) noexcept;

}  // namespace p11c::simhsm

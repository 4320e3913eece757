// Parses P11C_SIMHSM (sim_hsm_config.h). No exceptions escape: the module
// calls this from C_Initialize.
#include "support/sim_hsm_config.h"

#include <charconv>
#include <cstdint>

namespace p11c::simhsm {

namespace {

constexpr size_t kMaxLabel = 32;  // CK_TOKEN_INFO.label
constexpr uint64_t kMaxServiceUs = 60'000'000;

// An unsigned decimal that fills `text` exactly.
bool number(std::string_view text, uint64_t& value) {
    if (text.empty() || text.size() > 12) return false;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec == std::errc() && end == text.data() + text.size();
}

// `<n>us` or `<n>ms`.
bool serviceTime(std::string_view text, std::chrono::microseconds& out, std::string& why) {
    uint64_t scale = 0;
    if (text.size() > 2 && text.substr(text.size() - 2) == "us") scale = 1;
    if (text.size() > 2 && text.substr(text.size() - 2) == "ms") scale = 1000;
    uint64_t n = 0;
    if (scale == 0 || !number(text.substr(0, text.size() - 2), n)) {
        why = "service time \"" + std::string(text) + "\" is not <digits>us or <digits>ms";
        return false;
    }
    if (n > kMaxServiceUs / scale) {
        why = "service time \"" + std::string(text) + "\" is over 60 s";
        return false;
    }
    out = std::chrono::microseconds(n * scale);
    return true;
}

bool concurrency(std::string_view text, unsigned& out, std::string& why) {
    uint64_t n = 0;
    if (!number(text, n) || n == 0 || n > kMaxConcurrency) {
        why = "concurrency limit \"" + std::string(text) + "\" is not a number from 1 to " +
              std::to_string(kMaxConcurrency);
        return false;
    }
    out = static_cast<unsigned>(n);
    return true;
}

// One `label=<time>/<limit>` entry.
bool entry(std::string_view text, Rule& rule, std::string& why) {
    size_t eq = text.find('=');
    if (eq == std::string_view::npos) {
        why = "no '=' (expected LABEL=<time>us/<limit>)";
        return false;
    }
    std::string_view label = text.substr(0, eq), value = text.substr(eq + 1);
    if (label.empty() || label.size() > kMaxLabel) {
        why = "token label must be 1 to 32 characters";
        return false;
    }
    size_t slash = value.find('/');
    if (slash == std::string_view::npos) {
        why = "no '/' (expected LABEL=<time>us/<limit>)";
        return false;
    }
    rule.label = std::string(label);
    return serviceTime(value.substr(0, slash), rule.service, why) &&
           concurrency(value.substr(slash + 1), rule.concurrency, why);
}

bool alreadyNamed(const Config& config, const std::string& label) {
    if (label == "*") return config.fallback.has_value();
    for (const Rule& rule : config.rules)
        if (rule.label == label) return true;
    return false;
}

bool parse(std::string_view text, Config& out, std::string& error) {
    Config config;
    if (text.empty()) {
        out = std::move(config);
        return true;
    }
    for (size_t start = 0;;) {
        size_t comma = text.find(',', start);
        std::string_view item = text.substr(
            start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        Rule rule;
        std::string why;
        if (item.empty())
            why = "empty entry";
        else if (entry(item, rule, why) && alreadyNamed(config, rule.label))
            why = "token \"" + rule.label + "\" named twice";
        if (!why.empty()) {
            error = "bad entry \"" + std::string(item) + "\": " + why;
            return false;
        }
        if (rule.label == "*")
            config.fallback = std::move(rule);
        else
            config.rules.push_back(std::move(rule));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    out = std::move(config);
    return true;
}

}  // namespace

const Rule* Config::find(std::string_view label) const {
    for (const Rule& rule : rules)
        if (rule.label == label) return &rule;
    return fallback ? &*fallback : nullptr;
}

bool parseConfig(std::string_view text, Config& out, std::string& error) noexcept {
    try {
        return parse(text, out, error);
    } catch (...) {
        error = "out of memory";
        return false;
    }
}

}  // namespace p11c::simhsm

// Logging to stderr, prefixed "p11cluster:". Level from P11CLUSTER_LOG
// (error | warn | info | debug; default warn). Thread-safe: each message is
// written with one write(2). Never pass PINs or key material to these.
//
//   log::warn("member ", name, ": login failed: ", rvName(rv));
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace p11c::log {

enum class Level { Error = 0, Warn = 1, Info = 2, Debug = 3 };

bool enabled(Level level) noexcept;
void write(Level level, std::string_view message) noexcept;

template <class... Args>
void at(Level level, const Args&... args) {
    if (!enabled(level)) return;
    std::ostringstream out;
    (out << ... << args);
    write(level, out.str());
}
template <class... Args>
void error(const Args&... args) {
    at(Level::Error, args...);
}
template <class... Args>
void warn(const Args&... args) {
    at(Level::Warn, args...);
}
template <class... Args>
void info(const Args&... args) {
    at(Level::Info, args...);
}
template <class... Args>
void debug(const Args&... args) {
    at(Level::Debug, args...);
}

}  // namespace p11c::log

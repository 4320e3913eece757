#include "util/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace p11c::log {
namespace {

int levelFromEnvironment() {
    const char* value = std::getenv("P11CLUSTER_LOG");
    if (value == nullptr) return static_cast<int>(Level::Warn);
    if (std::strcmp(value, "error") == 0) return static_cast<int>(Level::Error);
    if (std::strcmp(value, "info") == 0) return static_cast<int>(Level::Info);
    if (std::strcmp(value, "debug") == 0) return static_cast<int>(Level::Debug);
    return static_cast<int>(Level::Warn);
}

const char* levelName(Level level) {
    switch (level) {
        case Level::Error:
            return "error";
        case Level::Warn:
            return "warning";
        case Level::Info:
            return "info";
        case Level::Debug:
            return "debug";
    }
    return "";
}

}  // namespace

bool enabled(Level level) noexcept {
    static const int threshold = levelFromEnvironment();
    return static_cast<int>(level) <= threshold;
}

void write(Level level, std::string_view message) noexcept {
    try {
        std::string line = "p11cluster: ";
        line += levelName(level);
        line += ": ";
        line += message;
        line += '\n';
        ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
        (void)ignored;
    } catch (...) {
    }
}

}  // namespace p11c::log

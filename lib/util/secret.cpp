#include "util/secret.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

namespace p11c {

Secret::Secret(const void* data, size_t size)
    : bytes_(static_cast<const CK_UTF8CHAR*>(data), static_cast<const CK_UTF8CHAR*>(data) + size) {}

Secret::~Secret() {
    wipe();
}

Secret::Secret(Secret&& other) noexcept : bytes_(std::move(other.bytes_)) {
    other.bytes_.clear();
}

Secret& Secret::operator=(Secret&& other) noexcept {
    if (this != &other) {
        wipe();
        bytes_ = std::move(other.bytes_);
        other.bytes_.clear();
    }
    return *this;
}

void Secret::wipe() noexcept {
    if (!bytes_.empty()) ::explicit_bzero(bytes_.data(), bytes_.size());
    bytes_.clear();
}

Secret Secret::readFile(const std::string& path) {
    Secret secret;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return secret;
    CK_UTF8CHAR buffer[256];
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    ::close(fd);
    if (n > 0) {
        size_t size = static_cast<size_t>(n);
        while (size > 0 && (buffer[size - 1] == '\n' || buffer[size - 1] == '\r')) --size;
        secret = Secret(buffer, size);
    }
    ::explicit_bzero(buffer, sizeof buffer);
    return secret;
}

}  // namespace p11c

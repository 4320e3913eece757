// Secret: bytes that must not linger (PINs). Zeroized on destruction and
// never printed. Move-only.
#pragma once

#include <pkcs11.h>

#include <cstddef>
#include <string>
#include <vector>

namespace p11c {

class Secret {
  public:
    Secret() = default;
    Secret(const void* data, size_t size);
    ~Secret();
    Secret(Secret&& other) noexcept;
    Secret& operator=(Secret&& other) noexcept;
    Secret(const Secret&) = delete;
    Secret& operator=(const Secret&) = delete;

    // Reads a whole file, dropping one trailing newline; empty on failure.
    static Secret readFile(const std::string& path);

    CK_UTF8CHAR_PTR data() noexcept { return bytes_.data(); }
    CK_ULONG size() const noexcept { return bytes_.size(); }
    bool empty() const noexcept { return bytes_.empty(); }

  private:
    void wipe() noexcept;
    std::vector<CK_UTF8CHAR> bytes_;
};

}  // namespace p11c

// TokenSelector: which token of a module a member is — a PKCS#11 URI
// ("pkcs11:token=member-a;serial=...", parsed with p11-kit) or a plain label.
// Immutable after parse(); safe to share between threads.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

namespace p11c {

class TokenSelector {
  public:
    // Throws std::invalid_argument with a message naming the problem.
    static TokenSelector parse(const std::string& text);

    TokenSelector(TokenSelector&&) noexcept;
    TokenSelector& operator=(TokenSelector&&) noexcept;
    ~TokenSelector();

    // `slotInfo` and `tokenInfo` point to CK_SLOT_INFO and CK_TOKEN_INFO
    // (kept opaque here so that p11-kit's PKCS#11 header and ours never meet
    // in one translation unit).
    bool matches(const void* slotInfo, const void* tokenInfo, unsigned long slotId) const;

    const std::string& text() const noexcept { return text_; }

  private:
    TokenSelector() = default;
    struct Uri;
    std::string text_;
    std::string label_;         // plain label form
    std::unique_ptr<Uri> uri_;  // URI form
};

}  // namespace p11c

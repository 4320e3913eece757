// CkError: a PKCS#11 result carried as an exception inside the library.
// Errors become a CK_RV where they arise (throw CkError{rv}); the C ABI layer
// (module/guard.h) turns it back into the return value. Never crosses the ABI.
#pragma once

#include <pkcs11.h>

#include <exception>

namespace p11c {

class CkError : public std::exception {
  public:
    explicit CkError(CK_RV rv) noexcept : rv_(rv) {}
    CK_RV rv() const noexcept { return rv_; }
    const char* what() const noexcept override { return "PKCS#11 error"; }

  private:
    CK_RV rv_;
};

// Throws CkError when rv is not CKR_OK.
inline void check(CK_RV rv) {
    if (rv != CKR_OK) throw CkError(rv);
}

// Name of a CK_RV ("CKR_PIN_INCORRECT"), or "CKR_0x..." for unknown values.
const char* rvName(CK_RV rv) noexcept;

}  // namespace p11c

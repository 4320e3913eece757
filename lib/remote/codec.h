// Encoding of the Cryptoki values that contain pointers: attribute
// templates (with nested templates for CKF_ARRAY_ATTRIBUTE attributes) and
// mechanism parameters. The client side writes from the caller's
// structures; the host side rebuilds equivalent structures that own their
// memory (HostTemplate, HostMechanism).
#pragma once

#include <pkcs11.h>

#include <memory>
#include <vector>

#include "remote/wire.h"

namespace p11c::remote {

// --- templates given to the token (C_CreateObject, C_GenerateKey, ...) ----

void writeTemplate(Writer& w, const CK_ATTRIBUTE* attrs, CK_ULONG count);

// --- templates the token fills (C_GetAttributeValue) ---------------------
// The client sends each attribute's type and buffer size; the host answers
// with each ulValueLen and the values that fit.
void writeTemplateQuery(Writer& w, const CK_ATTRIBUTE* attrs, CK_ULONG count);
// Copies the host's answer into the caller's template. `capacity` holds
// each attribute's ulValueLen as the caller gave it (read before the call).
void readTemplateAnswer(Reader& r, CK_ATTRIBUTE* attrs, CK_ULONG count,
                        const std::vector<CK_ULONG>& capacity);

class HostTemplate {
  public:
    // Reads a template (query = false) or a query (query = true).
    bool read(Reader& r, bool query, int depth = 0);
    CK_ATTRIBUTE* data() noexcept { return attrs_.empty() ? nullptr : attrs_.data(); }
    CK_ULONG count() const noexcept { return attrs_.size(); }
    // After the token filled a query: the answer for readTemplateAnswer.
    void writeAnswer(Writer& w) const;

  private:
    std::vector<CK_ATTRIBUTE> attrs_;
    std::vector<CK_ULONG> capacity_;
    std::vector<std::vector<uint8_t>> values_;
    std::vector<std::unique_ptr<HostTemplate>> nested_;
};

// --- mechanisms ------------------------------------------------------------

// False when the mechanism's parameter cannot be sent (a parameter of the
// wrong size for a mechanism whose parameter holds pointers).
bool writeMechanism(Writer& w, const CK_MECHANISM* mechanism);

class HostMechanism {
  public:
    bool read(Reader& r);
    CK_MECHANISM* get() noexcept { return present_ ? &mechanism_ : nullptr; }

  private:
    bool present_ = false;
    CK_MECHANISM mechanism_{};
    std::vector<std::vector<uint8_t>> buffers_;  // the parameter and what it points to
};

}  // namespace p11c::remote

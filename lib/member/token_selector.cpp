// This file includes p11-kit's headers, which bring p11-kit's own PKCS#11
// definitions; it must not include the project's pkcs11.h.
#include "member/token_selector.h"

#include <p11-kit/uri.h>

#include <cstring>

namespace p11c {

struct TokenSelector::Uri {
    P11KitUri* uri = nullptr;
    ~Uri() {
        if (uri != nullptr) p11_kit_uri_free(uri);
    }
};

TokenSelector::TokenSelector(TokenSelector&&) noexcept = default;
TokenSelector& TokenSelector::operator=(TokenSelector&&) noexcept = default;
TokenSelector::~TokenSelector() = default;

namespace {

std::string trimPadded(const unsigned char* field, size_t size) {
    std::string value(reinterpret_cast<const char*>(field), size);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\0')) value.pop_back();
    return value;
}

}  // namespace

TokenSelector TokenSelector::parse(const std::string& text) {
    TokenSelector selector;
    selector.text_ = text;
    if (text.rfind("pkcs11:", 0) != 0) {
        if (text.size() > 32)
            throw std::invalid_argument("token label \"" + text + "\" is longer than 32 bytes");
        selector.label_ = text;
        return selector;
    }
    auto uri = std::make_unique<Uri>();
    uri->uri = p11_kit_uri_new();
    if (uri->uri == nullptr) throw std::bad_alloc();
    int rc = p11_kit_uri_parse(
        text.c_str(), static_cast<P11KitUriType>(P11_KIT_URI_FOR_SLOT | P11_KIT_URI_FOR_TOKEN),
        uri->uri);
    if (rc != P11_KIT_URI_OK)
        throw std::invalid_argument("invalid PKCS#11 URI \"" + text +
                                    "\": " + p11_kit_uri_message(rc));
    if (p11_kit_uri_any_unrecognized(uri->uri))
        throw std::invalid_argument("PKCS#11 URI \"" + text +
                                    "\" has attributes that cannot select a token");
    if (p11_kit_uri_get_pin_value(uri->uri) != nullptr ||
        p11_kit_uri_get_pin_source(uri->uri) != nullptr)
        throw std::invalid_argument(
            "PKCS#11 URI \"" + text.substr(0, text.find('?')) +
            "?...\" carries a PIN; give member PINs with pin_file or pin_env instead");
    selector.uri_ = std::move(uri);
    return selector;
}

bool TokenSelector::matches(const void* slotInfo, const void* tokenInfo,
                            unsigned long slotId) const {
    const auto* token = static_cast<const CK_TOKEN_INFO*>(tokenInfo);
    if (!uri_) return trimPadded(token->label, sizeof token->label) == label_;
    CK_SLOT_ID wantSlot = p11_kit_uri_get_slot_id(uri_->uri);
    if (wantSlot != static_cast<CK_SLOT_ID>(-1) && wantSlot != slotId) return false;
    if (!p11_kit_uri_match_slot_info(uri_->uri, static_cast<const CK_SLOT_INFO*>(slotInfo)))
        return false;
    return p11_kit_uri_match_token_info(uri_->uri, token) != 0;
}

}  // namespace p11c

// Identity: how the cluster recognises the same object on every member.
//
// Member handles differ per member and per process, so an object is known
// by what any member can read of it: class, token flag, key or certificate
// type, CKA_ID, CKA_LABEL, and a SHA-256 digest of its public material (RSA
// modulus, EC point, public key info, certificate or data value, secret-key
// check value). Objects whose identity matches none or several objects on a
// member are treated as absent there (never guessed).
#pragma once

#include <pkcs11.h>

#include <array>
#include <optional>
#include <span>
#include <vector>

namespace p11c {

class Member;

struct Identity {
    CK_OBJECT_CLASS cls = 0;
    CK_BBOOL token = CK_FALSE;
    CK_ULONG subtype = CK_UNAVAILABLE_INFORMATION;  // key type or certificate type
    std::vector<CK_BYTE> id;
    std::vector<CK_BYTE> label;
    bool hasMaterial = false;
    std::array<CK_BYTE, 32> material{};
    // Every storage object has CKA_LABEL; one without it was cut short
    // while a token wrote it (a member killed mid-write).
    bool labelled = true;

    bool operator==(const Identity&) const = default;
};

// Reads `types` of a member object with two calls (lengths, then values):
// each value, or nullopt where the object lacks the attribute or hides it.
// Throws CkError with the member's CK_RV when the member cannot answer.
using AttributeValues = std::vector<std::optional<std::vector<CK_BYTE>>>;
AttributeValues readAttributes(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                               std::span<const CK_ATTRIBUTE_TYPE> types);

// Reads the identity of `object` on `member` through `session`.
// nullopt when the member cannot read it (e.g. the handle is gone).
std::optional<Identity> readIdentity(Member& member, CK_SESSION_HANDLE session,
                                     CK_OBJECT_HANDLE object);

// The member's handle of the one object with `identity`, or CK_INVALID_HANDLE
// when it has none or more than one (then *ambiguous is set, if given).
CK_OBJECT_HANDLE findByIdentity(Member& member, CK_SESSION_HANDLE session, const Identity& identity,
                                bool* ambiguous = nullptr);

// Runs C_FindObjects* on a member and returns every handle found.
// Throws CkError with the member's CK_RV on failure.
std::vector<CK_OBJECT_HANDLE> findAll(Member& member, CK_SESSION_HANDLE session,
                                      CK_ATTRIBUTE_PTR templ, CK_ULONG count);

}  // namespace p11c

// The cluster's small records on a token: private CKO_DATA token objects
// with CKA_APPLICATION "p11cluster" (hidden from the caller's finds like the
// tombstones and view records), found by label. The cluster identity and
// the serial of the current backup key live in them.
//
// Private: they need the user logged in. Not thread-safe (the admin
// command's thread).
#pragma once

#include <pkcs11.h>

#include <optional>
#include <span>
#include <string>
#include <vector>

namespace p11c {
class Member;
}

namespace p11c::replication {

// The value of the record `label`, if the token holds one (the first, if
// several). Throws CkError when the member cannot answer.
std::optional<std::vector<CK_BYTE>> readRecord(Member& member, CK_SESSION_HANDLE session,
                                               const std::string& label);

// Makes `value` the token's only record `label`. Throws TransportError.
void replaceRecord(Member& member, CK_SESSION_HANDLE session, const std::string& label,
                   std::span<const CK_BYTE> value);

// Removes every record `label` from the token. Throws CkError.
void removeRecords(Member& member, CK_SESSION_HANDLE session, const std::string& label);

// Lower-case hexadecimal, and back (nullopt: not hexadecimal).
std::string toHex(std::span<const CK_BYTE> bytes);
std::optional<std::vector<CK_BYTE>> fromHex(const std::string& text);

// `size` random bytes (OpenSSL's generator).
std::vector<CK_BYTE> randomBytes(size_t size);

}  // namespace p11c::replication

// Views: the caller's view of a token key, kept on the members so that every
// process sees the attributes the key was made with.
//
// A key the caller made non-extractable is held by the members extractable
// under trusted keys (so that the transport key can carry it), and a copy
// made by unwrapping is not "local" and may not know its length or check
// value (core/object_index.h, CallerView). Within one process the index
// keeps the view; for every other process (and the next run of this one) a
// view record on each member that holds the key keeps it: a private CKO_DATA
// object, CKA_APPLICATION "p11cluster" (so hidden from the caller's finds
// like the tombstones), labelled "p11cluster view " + the SHA-256 of the
// key's identity (as a token object), holding the view (format 2 adds the
// caller's CKA_SENSITIVE; format 1 records still read).
//
// Records are written before a generated key becomes a token object, so a
// key found in any process has its record; a record whose key is gone from
// every member is removed by repair (reconcile), and a member that lacks a
// record beside its key receives a copy.
#pragma once

#include <pkcs11.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "core/identity.h"
#include "core/object_index.h"

namespace p11c {
class Cluster;
class Member;
class Session;
}  // namespace p11c

namespace p11c::views {

inline constexpr char kLabelPrefix[] = "p11cluster view ";

// The record's label for a key of `identity` (taken as a token object).
std::string labelFor(const Identity& identity);

// A record's CKA_VALUE: format, when written (seconds), the view.
std::vector<CK_BYTE> encode(const CallerView& view);
std::optional<CallerView> decode(std::span<const CK_BYTE> value, int64_t* written = nullptr);

// Writes (or replaces) the record for `identity` on each of `members`.
// Returns the members where it was written; failures are logged.
std::vector<unsigned> store(Cluster& cluster, Session& session, const Identity& identity,
                            const CallerView& view, std::span<const unsigned> members);

// Removes the record for `identity` from each of `members` (where present).
void remove(Cluster& cluster, Session& session, const Identity& identity,
            std::span<const unsigned> members);

// The view recorded on `member` for `identity`, if it holds a record.
// Throws CkError when the member cannot answer.
std::optional<CallerView> read(Member& member, CK_SESSION_HANDLE session, const Identity& identity);

// Every record on one member: label -> handles.
std::map<std::string, std::vector<CK_OBJECT_HANDLE>> recordsOn(Member& member,
                                                               CK_SESSION_HANDLE session);

// Whether objects of this identity can have a view record (token keys).
bool recorded(const Identity& identity);

// Repair (called by repair::reconcile, with every record listed BEFORE the
// keys, so that a record seen has its key listed unless it was destroyed):
// a member holding a key but not its record, or an older one (a write that
// failed half-way), gets a copy of the newest record; a
// record whose key no member holds goes when the key is tombstoned
// (`tombstoned`: labels of tombstoned identities) or the record is older
// than a minute (a new key's record is written just before the key becomes
// a token object, perhaps by another process), and only when every member
// was listed (`complete`).
struct Mended {
    unsigned copied = 0, removed = 0, failed = 0;
};
using Records = std::map<std::string, std::vector<CK_OBJECT_HANDLE>>;
Mended reconcile(Cluster& cluster, Session& session, std::span<const unsigned> listed,
                 const std::vector<Records>& records,
                 const std::map<std::string, std::vector<unsigned>>& keyHolders,
                 const std::set<std::string>& tombstoned, bool complete);

}  // namespace p11c::views

// Repair: bringing members back to the same objects, and the tombstones
// that keep destroyed objects from coming back.
//
// A tombstone is a private CKO_DATA object on a member (CKA_APPLICATION
// "p11cluster", label "p11cluster tombstone", hidden from the caller's
// finds) holding the
// identity of an object that was destroyed, or changed so that its identity
// changed, while some member could not take the write. Every process sees
// them, so a member that missed a destroy cannot bring the object back,
// whichever process meets it first.
//
// reconcile() makes a set of members hold the same objects: an object some
// of them lack is copied from one that holds it (keys wrapped under the
// transport key, other objects as their attributes); an object whose
// identity is tombstoned on a member that no longer holds it is removed
// where it remains. An object held by a member that has the tombstone too
// was made again after the destroy: it stays, and the stale tombstone goes.
//
// Private objects are only visible while logged in: callers run these with
// the user logged in on the members. All of it runs in the calling thread,
// with `session` (an internal session, never a caller's) locked by the caller.
#pragma once

#include <pkcs11.h>

#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "core/identity.h"

namespace p11c {
class Cluster;
class Member;
class Session;
}  // namespace p11c

namespace p11c::repair {

inline constexpr char kTombstoneLabel[] = "p11cluster tombstone";

std::vector<CK_BYTE> encodeIdentity(const Identity& identity);
std::optional<Identity> decodeIdentity(std::span<const CK_BYTE> bytes);

// Creates one of the cluster's own records on a member: a private token
// CKO_DATA object, CKA_APPLICATION "p11cluster", with `label` and `value`
// (tombstones here, key views in core/views.h). Returns the member's CK_RV.
CK_RV writeRecord(Member& member, CK_SESSION_HANDLE session, std::string_view label,
                  std::span<const CK_BYTE> value);

// Writes a tombstone for `identity` on each of `members` that can take it.
void tombstone(Cluster& cluster, Session& session, const Identity& identity,
               std::span<const unsigned> members);

struct Report {
    unsigned copied = 0;   // object copies made
    unsigned removed = 0;  // tombstoned objects removed
    unsigned failed = 0;   // copies or removals that did not work
};

Report reconcile(Cluster& cluster, Session& session, std::span<const unsigned> members);

// Removes tombstoned objects from `members` without copying anything:
// cheap (proportional to the number of tombstones), run at login.
Report sweep(Cluster& cluster, Session& session, std::span<const unsigned> members);

}  // namespace p11c::repair

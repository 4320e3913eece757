// The cluster transport key: one AES-256 key, identical on every member,
// that carries generated keys from the member that made them to the others
// (C_WrapKey on the source, C_UnwrapKey on each target) and repair's copies.
//
// It is a cluster key (replication/handover.h): private, trusted,
// unmodifiable, for CKM_AES_KEY_WRAP_PAD only, and whatever it unwraps is
// sensitive and extractable only under trusted keys. Its value never exists
// outside the members. `p11cluster init` makes it inside one member and hands
// it to each other member; running init again rotates it (that is also how
// a new member receives it, and how a transport key of an earlier release, a
// public object, is replaced).
#pragma once

#include <pkcs11.h>

#include <ostream>
#include <span>
#include <vector>

#include "replication/handover.h"

namespace p11c {
class Cluster;
class Member;
}  // namespace p11c

namespace p11c::replication {

inline constexpr char kTransportId[] = "p11cluster-transport";
inline constexpr char kTransportLabel[] = "p11cluster transport key";

// The member's transport key, or CK_INVALID_HANDLE (none the session can
// see, or more than one). A transport key of an earlier release (a public
// object) is still found, with a warning, until `p11cluster init` runs.
CK_OBJECT_HANDLE findTransportKey(Member& member, CK_SESSION_HANDLE session);

// Whether two cluster keys are the same key: a throwaway key made and
// wrapped on `source` unwraps on `target` (AES key wrap checks integrity).
bool sameKey(Member& source, CK_SESSION_HANDLE sourceSession, CK_OBJECT_HANDLE sourceKey,
             Member& target, CK_SESSION_HANDLE targetSession, CK_OBJECT_HANDLE targetKey);

// `p11cluster init`, in two steps (only the security officer can make a key
// trusted, only the user can make it private):
//  1. the SO logged in on every member (through the cluster's anchor
//     sessions): a new transport key made inside member 0 and handed to
//     every other member, each copy proven the same; returns each member's
//     staged copy (a session object). Throws TransportError.
std::vector<CK_OBJECT_HANDLE> stageTransportKey(Cluster& cluster, std::ostream& out);
//  2. the user logged in on every member: each staged copy becomes the
//     member's private transport key, and older transport keys go.
void commitTransportKey(Cluster& cluster, std::span<const CK_OBJECT_HANDLE> staged,
                        std::ostream& out);

}  // namespace p11c::replication

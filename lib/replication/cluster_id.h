// The cluster's identity: 16 random bytes, made by the first `p11cluster
// init` and kept on every member in a record (replication/records.h). A
// backup file carries the identity of the cluster that wrote it, and
// `restore` refuses a file of another cluster even when both share a label
// and a recovery token (docs/backup.md).
//
// A cluster rebuilt from fresh tokens after a loss takes its old identity
// again with `p11cluster init --cluster-id HEX` (printed by `backup`, and by
// `restore` when it refuses). Not thread-safe (the admin command's thread).
#pragma once

#include <pkcs11.h>

#include <optional>
#include <ostream>
#include <vector>

namespace p11c {
class Cluster;
class Member;
}  // namespace p11c

namespace p11c::replication {

inline constexpr char kIdentityRecord[] = "p11cluster identity";
inline constexpr size_t kIdentitySize = 16;

// The identity a member holds, if it holds one (the user logged in).
// Throws CkError when the member cannot answer.
std::optional<std::vector<CK_BYTE>> clusterIdOf(Member& member, CK_SESSION_HANDLE session);

// The identity the reachable members hold; throws TransportError when they
// hold different ones or none holds one (run `p11cluster init`).
std::vector<CK_BYTE> clusterId(Cluster& cluster);

// Whether a reachable member holds a token object of the caller's (the
// user logged in).
bool holdsCallerObjects(Cluster& cluster);

// A cluster rebuilt from fresh tokens (`init --cluster-id` gave it the
// identity of the one it replaces) is marked so until a restore completes:
// what it lacks of its backups was lost, not destroyed.
inline constexpr char kRebuiltRecord[] = "p11cluster rebuilt";
bool markedRebuilt(Cluster& cluster);
void clearRebuilt(Cluster& cluster);

// `p11cluster init` (the user logged in on every member): gives every
// reachable member the cluster's identity — `wanted` (--cluster-id), else
// the one the members hold, else a new one — and returns it. Members
// holding different identities, or a `wanted` identity other than the one
// a cluster that holds keys already has, are refused (TransportError). A
// `wanted` identity that members did not hold marks the cluster rebuilt.
std::vector<CK_BYTE> establishClusterId(Cluster& cluster,
                                        const std::optional<std::vector<CK_BYTE>>& wanted,
                                        std::ostream& out);

}  // namespace p11c::replication

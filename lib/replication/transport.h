// The cluster transport key: one AES-256 key, identical on every member,
// that carries generated keys from the member that made them to the others
// (C_WrapKey on the source, C_UnwrapKey on each target).
//
// Its value never exists outside the members. `p11cluster init` makes it on
// one member and hands it to each other member under a key both derive by
// ECDH (CKM_ECDH1_DERIVE between fresh P-256 key pairs made inside the two
// members); the public points are the only thing the host sees. After the
// hand-over every copy is CKA_EXTRACTABLE=FALSE, CKA_SENSITIVE=TRUE and
// CKA_TRUSTED=TRUE (so it may wrap keys held CKA_WRAP_WITH_TRUSTED). Running
// init again rotates it (that is also how a new member receives it).
#pragma once

#include <pkcs11.h>

#include <ostream>
#include <stdexcept>
#include <vector>

namespace p11c {
class Cluster;
class Member;
}  // namespace p11c

namespace p11c::replication {

inline constexpr char kTransportId[] = "p11cluster-transport";
inline constexpr char kTransportLabel[] = "p11cluster transport key";
inline constexpr CK_MECHANISM_TYPE kTransportWrap = CKM_AES_KEY_WRAP_PAD;

class TransportError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The member's transport key, or CK_INVALID_HANDLE (none, or more than one).
CK_OBJECT_HANDLE findTransportKey(Member& member, CK_SESSION_HANDLE session);

// Whether two members' transport keys are the same key: a throwaway key
// made and wrapped on `source` unwraps on `target`.
bool sameTransportKey(Member& source, CK_SESSION_HANDLE sourceSession, CK_OBJECT_HANDLE sourceKey,
                      Member& target, CK_SESSION_HANDLE targetSession, CK_OBJECT_HANDLE targetKey);

// The cluster backup key (docs/backup.md): AES-256, made on a recovery token
// the operator keeps apart, handed to every member like the transport key;
// backups are wrapped under it.
inline constexpr char kBackupId[] = "p11cluster-backup";
inline constexpr char kBackupLabel[] = "p11cluster backup key";

// Hands `key` (extractable under trusted keys on `from`) to `to` under an
// AES key both derive by ECDH inside the tokens; the copy gets `templ`.
// The security officer must be logged in on both. Throws TransportError.
CK_OBJECT_HANDLE handOver(Member& from, CK_SESSION_HANDLE fromSession, CK_OBJECT_HANDLE key,
                          Member& to, CK_SESSION_HANDLE toSession, CK_ATTRIBUTE_PTR templ,
                          CK_ULONG count);

CK_OBJECT_HANDLE findBackupKey(Member& member, CK_SESSION_HANDLE session);

// Makes the backup key on the recovery token if it has none, and hands it to
// every reachable member that lacks it (replacing a backup key of another
// recovery token). The security officer must be logged in on all of them.
void establishBackupKey(Cluster& cluster, Member& recovery, CK_SESSION_HANDLE recoverySession,
                        std::ostream& out);

// Makes a fresh transport key on every member and removes older ones. The
// security officer must be logged in on every member (through the cluster's
// anchor sessions). Progress goes to `out`. Throws TransportError.
void establishTransportKey(Cluster& cluster, std::ostream& out);

}  // namespace p11c::replication

// Backup keys (docs/backup.md): cluster keys (replication/handover.h) made
// on a recovery token and handed to every member; backups are wrapped under
// the current one.
//
// Each backup key has a serial (16 hex digits, in its label "p11cluster
// backup key SERIAL"); a token's record "p11cluster backup key" names its
// current one. A member keeps every backup key it was given, so that a
// backup made under an older one still restores, until `backup-key --drop
// SERIAL` removes it. A backup key of an earlier release (a public object
// without a serial) becomes the private, wrap-disabled key "legacy", kept
// only to restore that release's files (`restore --legacy`).
//
// On the recovery token the key is private, sensitive and extractable only
// under trusted keys, and can neither wrap nor unwrap: it only travels. On
// the members it is private, trusted, unmodifiable, for
// CKM_AES_KEY_WRAP_PAD only, with the cluster keys' unwrap template.
//
// Not thread-safe (the admin command's thread).
#pragma once

#include <pkcs11.h>

#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace p11c {
class Cluster;
class Member;
}  // namespace p11c

namespace p11c::replication {

inline constexpr char kBackupId[] = "p11cluster-backup";
inline constexpr char kBackupLabel[] = "p11cluster backup key";  // + " " + serial
inline constexpr char kCurrentBackupRecord[] = "p11cluster backup key";
inline constexpr char kLegacySerial[] = "legacy";

struct BackupKey {
    std::string serial;
    CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
};

// Every backup key the session sees on the token (the user logged in).
// Throws CkError when the member cannot answer.
std::vector<BackupKey> backupKeysOn(Member& member, CK_SESSION_HANDLE session);
// The token's current backup key, if it holds one (and it is named current).
std::optional<BackupKey> currentBackupKey(Member& member, CK_SESSION_HANDLE session);
// The token's backup key of `serial`, if it holds it.
std::optional<BackupKey> backupKeyBySerial(Member& member, CK_SESSION_HANDLE session,
                                           const std::string& serial);

// Changes the login of the recovery token, and of the members, to `user`
// (CKU_SO or CKU_USER); the admin command supplies them (it holds the PINs).
struct Logins {
    std::function<void(CK_USER_TYPE)> recovery;
    std::function<void(CK_USER_TYPE)> members;
};

struct BackupKeyRequest {
    bool fresh = false;  // --new: a new backup key on the recovery token
    std::string drop;    // --drop SERIAL: remove that (not current) key
};

// `p11cluster backup-key`: the recovery token's backup keys (a new one if it
// has none, or `fresh`) handed to every reachable member that lacks them,
// and the recovery token's current key made the members' current one.
// Throws TransportError.
void establishBackupKey(Cluster& cluster, Member& recovery, CK_SESSION_HANDLE recoverySession,
                        const Logins& logins, const BackupKeyRequest& request, std::ostream& out);

}  // namespace p11c::replication

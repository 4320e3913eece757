// Test support: the attackers of docs/security.md, played for real.
//
// What someone without the user PIN may hold: a copy of a member's (or the
// recovery token's) SoftHSM directory, a backup file, a session on a member
// that never logged in. These helpers do what such an attacker would do
// with them, with OpenSSL where the attacker computes on their own machine:
// look for AES keys stored in the clear, unwrap blobs, forge backup files.
#pragma once

#include <pkcs11.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "integration/crypto_helpers.h"

namespace p11c::test::attack {

// AES key wrap with padding (RFC 5649, CKM_AES_KEY_WRAP_PAD) with a key the
// attacker holds: nullopt when the blob does not unwrap (its integrity
// check fails).
std::optional<Bytes> kwpUnwrap(const Bytes& key, const Bytes& blob);
Bytes kwpWrap(const Bytes& key, const Bytes& plain);
Bytes hmacSha256(const Bytes& key, const Bytes& data);

Bytes readFile(const std::string& path);
void writeFile(const std::string& path, const Bytes& bytes);

// Every byte string in `file` that may be a wrapped key, found without
// knowing the format: a little-endian u64 length L (24 <= L <= 8192, a
// multiple of 8) followed by L bytes.
std::vector<Bytes> candidateBlobs(const Bytes& file);

// Reads every file under `dir` (a copy of token directories) and returns
// the first 32-byte run of bytes that unwraps one of `blobs`: an AES-256
// key stored in the clear.
std::optional<Bytes> aesKeyInClear(const std::string& dir, const std::vector<Bytes>& blobs);

// A backup file as docs/backup.md describes it (formats P11CBAK1 and
// P11CBAK2), parsed far enough to be changed and signed again.
struct BackupObject {
    CK_ULONG cls = 0;
    std::vector<std::pair<CK_ULONG, Bytes>> attributes;
    uint8_t under = 1;  // P11CBAK2: 0 none, 1 the backup key, 2 the file key
    Bytes wrapped;
};
struct BackupImage {
    int version = 0;  // 1 or 2
    uint64_t written = 0;
    Bytes label, clusterId, backupKeyLabel, macKey, fileKey;
    std::vector<BackupObject> objects;
    Bytes mac;
};
std::optional<BackupImage> parseBackup(const Bytes& file);
// The file's bytes before its MAC, and with a MAC made with `macValue`.
Bytes backupBody(const BackupImage& image);
Bytes signedBackup(const BackupImage& image, const Bytes& macValue);

// An object for a planted secret key: an AES key of the given id.
BackupObject plantedAes(const std::string& id, uint8_t under);

// A session on one token of SoftHSM opened directly, that never logs in.
// Slots by token label; all secret keys the session can see.
std::vector<CK_OBJECT_HANDLE> visibleSecretKeys(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session);

}  // namespace p11c::test::attack

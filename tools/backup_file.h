// The backup file (docs/backup.md) and what `backup` and `restore` share.
//
// Format P11CBAK2 (integers u64 little-endian, byte strings as a u64 length
// and the bytes):
//   "P11CBAK2", written (seconds since 1970), cluster label, cluster
//   identity (16 bytes), backup key serial, MAC key wrapped under the backup
//   key, file key wrapped under the backup key, object count, per object:
//   class, attribute count, (type, value)..., u8 under what its key is
//   wrapped (0 nothing, 1 the backup key, 2 the file key), wrapped key;
//   then 32 bytes: the HMAC-SHA256 of everything before it.
// Keys the members hold extractable only under trusted keys are wrapped
// under the backup key; keys the caller made extractable under the file key
// (a fresh AES key per file: the backup key's unwrap template would make
// them sensitive and trusted-only on restore).
//
// Format P11CBAK1 (an earlier release): no identity, serial or file key;
// every key under the backup key. Restored only with `restore --legacy`.
#pragma once

#include <pkcs11.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "replication/replicate.h"

namespace p11c {
class Member;
}

namespace p11c::tool::backupfile {

inline constexpr size_t kMacSize = 32;
enum Under : uint8_t { kUnderNothing = 0, kUnderBackupKey = 1, kUnderFileKey = 2 };

struct Object {
    replication::Exported exported;
    uint8_t under = kUnderNothing;
};

struct BackupFile {
    int version = 2;
    uint64_t written = 0;
    std::string label;
    std::vector<CK_BYTE> clusterId;  // format 2
    std::string backupKey;           // format 2: the backup key's serial
    std::vector<CK_BYTE> macKey;     // wrapped under the backup key
    std::vector<CK_BYTE> fileKey;    // format 2: wrapped under the backup key
    std::vector<Object> objects;
};

// 1 or 2 for a backup file's first bytes; 0 for anything else.
int versionOf(const std::vector<CK_BYTE>& bytes);
std::vector<CK_BYTE> encodeBody(const BackupFile& file);
// Parses a file's body (the MAC checked separately). nullopt: malformed.
std::optional<BackupFile> decodeBody(const std::vector<CK_BYTE>& body);

// Writes through a temporary file made with O_EXCL (mkstemp, mode 0600),
// synced, then renamed over `path`. Throws std::runtime_error.
void writeFile(const std::string& path, const std::vector<CK_BYTE>& bytes);
std::vector<CK_BYTE> readFile(const std::string& path);

// A member computes the HMAC-SHA256 of `body` with `mac` (sign or verify).
CK_RV hmac(Member& member, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE mac,
           const std::vector<CK_BYTE>& body, CK_BYTE* out, bool verify);

// The MAC key's template when it is unwrapped from a file (what the backup
// key's unwrap template demands: sensitive, extractable only under trusted
// keys).
struct MacTemplate {
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_GENERIC_SECRET;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE attrs[8] = {
        {CKA_CLASS, &cls, sizeof cls},     {CKA_KEY_TYPE, &type, sizeof type},
        {CKA_TOKEN, &no, sizeof no},       {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_SENSITIVE, &yes, sizeof yes}, {CKA_WRAP_WITH_TRUSTED, &yes, sizeof yes},
        {CKA_SIGN, &yes, sizeof yes},      {CKA_VERIFY, &yes, sizeof yes}};
};

bool isViewRecord(const replication::Exported& object);
std::optional<std::string> attributeText(const replication::Exported& object,
                                         CK_ATTRIBUTE_TYPE type);
// "secret key label=\"...\" id=\"...\"" for messages.
std::string describe(const replication::Exported& object);

}  // namespace p11c::tool::backupfile

// p11cluster backup-key, backup, restore (docs/backup.md).
//
// A backup file holds every cluster object: its attributes, and for private
// and secret keys the key wrapped (CKM_AES_KEY_WRAP_PAD) under the cluster
// backup key, an AES-256 key made on a recovery token that the operator
// keeps apart and handed to the members like the transport key. The file is
// authenticated by an HMAC-SHA256 computed inside a member with a fresh MAC
// key that travels in the file wrapped under the backup key: a file that
// was cut short, changed, or made for another backup key is refused before
// anything is restored.
//
// Format (integers u64 little-endian, byte strings as a u64 length and the
// bytes):
//   "P11CBAK1", written (seconds since 1970), cluster label, wrapped MAC key,
//   object count, per object: class, attribute count, (type, value)...,
//   wrapped key (empty for objects without secrets);
//   then 32 bytes: the HMAC-SHA256 of everything before it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>

#include "core/identity.h"
#include "core/views.h"
#include "member/member.h"
#include "remote/wire.h"
#include "replication/replicate.h"
#include "replication/transport.h"
#include "tools/cli.h"
#include "util/error.h"
#include "util/rv.h"

namespace p11c::tool {
namespace {

constexpr char kMagic[] = "P11CBAK1";
constexpr size_t kMacSize = 32;
constexpr CK_MECHANISM_TYPE kWrap = replication::kTransportWrap;

CK_BBOOL yes = CK_TRUE;
CK_BBOOL no = CK_FALSE;

struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

void need(CK_RV rv, const Member& member, const std::string& what) {
    if (rv != CKR_OK)
        throw Failure("member \"" + member.name() + "\": " + what + " failed: " + rvName(rv));
}

// The first serving member that holds the backup key, and the key.
std::pair<unsigned, CK_OBJECT_HANDLE> memberWithBackupKey(Cluster& cluster) {
    for (unsigned m = 0; m < cluster.memberCount(); ++m) {
        if (!cluster.member(m).serving()) continue;
        CK_OBJECT_HANDLE key =
            replication::findBackupKey(cluster.member(m), cluster.anchorSession(m));
        if (key != CK_INVALID_HANDLE) return {m, key};
    }
    throw Failure(
        "no reachable member holds the backup key: run `p11cluster backup-key` with the "
        "recovery token first");
}

std::string labelOf(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object) {
    static constexpr CK_ATTRIBUTE_TYPE kLabel[] = {CKA_LABEL};
    auto values = readAttributes(member, session, object, kLabel);
    return values[0] ? std::string(values[0]->begin(), values[0]->end()) : std::string();
}

bool isViewRecord(const replication::Exported& object) {
    if (object.cls != CKO_DATA) return false;
    for (const auto& [type, value] : object.attributes)
        if (type == CKA_LABEL)
            return std::string(value.begin(), value.end()).rfind(views::kLabelPrefix, 0) == 0;
    return false;
}

std::optional<std::string> attributeText(const replication::Exported& object,
                                         CK_ATTRIBUTE_TYPE type) {
    for (const auto& [t, value] : object.attributes)
        if (t == type) return std::string(value.begin(), value.end());
    return std::nullopt;
}

std::string describe(const replication::Exported& object) {
    static const std::map<CK_OBJECT_CLASS, const char*> names = {{CKO_DATA, "data object"},
                                                                 {CKO_CERTIFICATE, "certificate"},
                                                                 {CKO_PUBLIC_KEY, "public key"},
                                                                 {CKO_PRIVATE_KEY, "private key"},
                                                                 {CKO_SECRET_KEY, "secret key"}};
    auto it = names.find(object.cls);
    std::string out = it != names.end() ? it->second : "object";
    out += " label=\"" + attributeText(object, CKA_LABEL).value_or("") + "\"";
    const std::string id = attributeText(object, CKA_ID).value_or("");
    if (std::all_of(id.begin(), id.end(), [](unsigned char c) { return std::isprint(c); })) {
        out += " id=\"" + id + "\"";
    } else {
        static constexpr char kHex[] = "0123456789abcdef";
        out += " id=0x";
        for (unsigned char c : id) out += {kHex[c >> 4], kHex[c & 15]};
    }
    return out;
}

// A member computes the HMAC-SHA256 of `body` with `mac` (sign or verify).
CK_RV hmac(Member& member, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE mac,
           const std::vector<CK_BYTE>& body, CK_BYTE* out, bool verify) {
    CK_MECHANISM mech{CKM_SHA256_HMAC, nullptr, 0};
    auto data = const_cast<CK_BYTE*>(body.data());
    auto size = static_cast<CK_ULONG>(body.size());
    if (verify) {
        CK_RV rv = member.call(&CK_FUNCTION_LIST::C_VerifyInit, s, &mech, mac);
        return rv != CKR_OK ? rv
                            : member.call(&CK_FUNCTION_LIST::C_Verify, s, data, size, out,
                                          CK_ULONG{kMacSize});
    }
    CK_RV rv = member.call(&CK_FUNCTION_LIST::C_SignInit, s, &mech, mac);
    CK_ULONG length = kMacSize;
    return rv != CKR_OK ? rv : member.call(&CK_FUNCTION_LIST::C_Sign, s, data, size, out, &length);
}

// The MAC key's template when it is unwrapped from a file.
struct MacTemplate {
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE type = CKK_GENERIC_SECRET;
    CK_ATTRIBUTE attrs[7] = {{CKA_CLASS, &cls, sizeof cls},     {CKA_KEY_TYPE, &type, sizeof type},
                             {CKA_TOKEN, &no, sizeof no},       {CKA_PRIVATE, &no, sizeof no},
                             {CKA_SENSITIVE, &yes, sizeof yes}, {CKA_SIGN, &yes, sizeof yes},
                             {CKA_VERIFY, &yes, sizeof yes}};
};

struct BackupFile {
    uint64_t written = 0;
    std::string label;
    std::vector<CK_BYTE> macKey;  // wrapped under the backup key
    std::vector<replication::Exported> objects;
};

std::vector<CK_BYTE> encodeBody(const BackupFile& file) {
    remote::Writer w;
    w.raw(kMagic, sizeof kMagic - 1);
    w.u64(file.written);
    w.bytes(file.label.data(), file.label.size());
    w.bytes(file.macKey.data(), file.macKey.size());
    w.u64(file.objects.size());
    for (const auto& object : file.objects) {
        w.u64(object.cls);
        w.u64(object.attributes.size());
        for (const auto& [type, value] : object.attributes) {
            w.u64(type);
            w.bytes(value.data(), value.size());
        }
        w.bytes(object.wrapped.data(), object.wrapped.size());
    }
    return std::move(w.buffer());
}

// Parses a file's body (the MAC checked separately). nullopt: malformed.
std::optional<BackupFile> decodeBody(const std::vector<CK_BYTE>& body) {
    remote::Reader r(body.data(), body.size());
    char magic[sizeof kMagic - 1];
    r.raw(magic, sizeof magic);
    if (!r.ok() || std::memcmp(magic, kMagic, sizeof magic) != 0) return std::nullopt;
    BackupFile file;
    file.written = r.u64();
    auto label = r.bytes(4096);
    file.label.assign(label.begin(), label.end());
    file.macKey = r.bytes(4096);
    const uint64_t count = r.u64();
    if (!r.ok() || count > body.size()) return std::nullopt;
    for (uint64_t i = 0; i < count && r.ok(); ++i) {
        replication::Exported object;
        object.cls = r.u64();
        const uint64_t attributes = r.u64();
        if (attributes > 256) return std::nullopt;
        for (uint64_t a = 0; a < attributes && r.ok(); ++a) {
            CK_ATTRIBUTE_TYPE type = r.u64();
            object.attributes.emplace_back(type, r.bytes(1 << 20));
        }
        object.wrapped = r.bytes(1 << 20);
        file.objects.push_back(std::move(object));
    }
    if (!r.ok() || !r.atEnd()) return std::nullopt;
    return file;
}

void writeFile(const std::string& path, const std::vector<CK_BYTE>& bytes) {
    const std::string temporary = path + ".tmp";
    int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw Failure(path + ": cannot write: " + std::strerror(errno));
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n <= 0) {
            ::close(fd);
            ::unlink(temporary.c_str());
            throw Failure(path + ": write failed: " + std::strerror(errno));
        }
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(temporary.c_str(), path.c_str()) != 0) {
        ::unlink(temporary.c_str());
        throw Failure(path + ": write failed: " + std::strerror(errno));
    }
}

std::vector<CK_BYTE> readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Failure(path + ": cannot read: " + std::strerror(errno));
    return std::vector<CK_BYTE>(std::istreambuf_iterator<char>(in), {});
}

// The objects on `m` that belong in a backup: the caller's token objects and
// the views of its keys (not tombstones, transport or backup keys).
std::vector<CK_OBJECT_HANDLE> backedUp(Cluster& cluster, unsigned m) {
    Member& member = cluster.member(m);
    CK_SESSION_HANDLE s = cluster.anchorSession(m);
    CK_ATTRIBUTE token{CKA_TOKEN, &yes, sizeof yes};
    std::vector<CK_OBJECT_HANDLE> out;
    for (CK_OBJECT_HANDLE h : findAll(member, s, &token, 1))
        if (!cluster.isInternal(m, s, h) ||
            labelOf(member, s, h).rfind(views::kLabelPrefix, 0) == 0)
            out.push_back(h);
    return out;
}

// Whether a member already holds an object like `object` (class, id, label).
bool present(Member& member, CK_SESSION_HANDLE s, const replication::Exported& object) {
    CK_OBJECT_CLASS cls = object.cls;
    std::vector<CK_ATTRIBUTE> templ = {{CKA_CLASS, &cls, sizeof cls}};
    for (const auto& [type, value] : object.attributes)
        if (type == CKA_ID || type == CKA_LABEL || type == CKA_TOKEN)
            templ.push_back(
                {type, const_cast<CK_BYTE*>(value.data()), static_cast<CK_ULONG>(value.size())});
    return !findAll(member, s, templ.data(), static_cast<CK_ULONG>(templ.size())).empty();
}

}  // namespace

int backupKeyCommand(const Options& options) {
    if (options.get("recovery-module").empty() || options.get("recovery-token").empty())
        throw UsageError("backup-key needs --recovery-module PATH and --recovery-token TOKEN");
    Secret soPin = readPin(options, "so");
    Secret recoveryPin = readPin(options, "recovery-so");
    auto cluster = connect(options);
    config::Member recoveryConfig;
    recoveryConfig.name = "recovery";
    recoveryConfig.module = options.get("recovery-module");
    recoveryConfig.token = options.get("recovery-token");
    auto recovery =
        Member::connect(cluster->memberCount(), recoveryConfig, std::chrono::milliseconds(30000));
    CK_SESSION_HANDLE rs;
    need(recovery->call(&CK_FUNCTION_LIST::C_OpenSession, recovery->slot(),
                        CK_FLAGS{CKF_SERIAL_SESSION | CKF_RW_SESSION}, nullptr, nullptr, &rs),
         *recovery, "opening a session on the recovery token");
    CK_RV rv = recovery->call(&CK_FUNCTION_LIST::C_Login, rs, CK_USER_TYPE{CKU_SO},
                              reinterpret_cast<CK_UTF8CHAR_PTR>(recoveryPin.data()),
                              static_cast<CK_ULONG>(recoveryPin.size()));
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
        need(rv, *recovery, "the security officer's login on the recovery token");
    loginAll(*cluster, CKU_SO, soPin);
    try {
        replication::establishBackupKey(*cluster, *recovery, rs, std::cout);
    } catch (const replication::TransportError& e) {
        throw Failure(e.what());
    }
    recovery->call(&CK_FUNCTION_LIST::C_Logout, rs);
    recovery->call(&CK_FUNCTION_LIST::C_CloseSession, rs);
    cluster->logout();
    return 0;
}

int backupCommand(const Options& options) {
    const std::string out = options.get("out");
    if (out.empty()) throw UsageError("backup needs --out FILE");
    Secret pin = readPin(options, "user");
    auto cluster = connect(options);
    loginAll(*cluster, CKU_USER, pin);
    cluster->repairNow("p11cluster backup");  // the members agree on what is backed up
    auto [m, backupKey] = memberWithBackupKey(*cluster);
    Member& member = cluster->member(m);
    CK_SESSION_HANDLE s = cluster->anchorSession(m);

    BackupFile file;
    file.written = static_cast<uint64_t>(std::time(nullptr));
    file.label = cluster->config().cluster.label;
    unsigned keys = 0, skipped = 0, viewRecords = 0;
    for (CK_OBJECT_HANDLE h : backedUp(*cluster, m)) {
        try {
            file.objects.push_back(replication::exportObject(member, s, h, backupKey, kWrap));
            keys += !file.objects.back().wrapped.empty();
            viewRecords += isViewRecord(file.objects.back());
        } catch (const CkError& e) {
            ++skipped;
            auto id = readIdentity(member, s, h);
            std::cerr << "p11cluster backup: an object (label \""
                      << (id ? std::string(id->label.begin(), id->label.end()) : "?")
                      << "\") cannot be backed up: " << rvName(e.rv()) << "\n";
        }
    }
    // The MAC key: made inside the member, carried wrapped under the backup key.
    MacTemplate macTemplate;
    CK_ULONG length = 32;
    CK_ATTRIBUTE generate[] = {macTemplate.attrs[2],
                               macTemplate.attrs[3],
                               macTemplate.attrs[4],
                               macTemplate.attrs[5],
                               macTemplate.attrs[6],
                               {CKA_EXTRACTABLE, &yes, sizeof yes},
                               {CKA_VALUE_LEN, &length, sizeof length}};
    CK_MECHANISM keyGen{CKM_GENERIC_SECRET_KEY_GEN, nullptr, 0};
    CK_OBJECT_HANDLE mac;
    need(member.call(&CK_FUNCTION_LIST::C_GenerateKey, s, &keyGen, generate, CK_ULONG{7}, &mac),
         member, "making the backup's MAC key");
    CK_MECHANISM wrap{kWrap, nullptr, 0};
    file.macKey.resize(256);
    CK_ULONG wrappedLength = file.macKey.size();
    CK_RV rv = member.call(&CK_FUNCTION_LIST::C_WrapKey, s, &wrap, backupKey, mac,
                           file.macKey.data(), &wrappedLength);
    file.macKey.resize(wrappedLength);
    std::vector<CK_BYTE> bytes = encodeBody(file);
    CK_BYTE tag[kMacSize];
    if (rv == CKR_OK) rv = hmac(member, s, mac, bytes, tag, false);
    member.call(&CK_FUNCTION_LIST::C_DestroyObject, s, mac);
    need(rv, member, "authenticating the backup");
    bytes.insert(bytes.end(), tag, tag + kMacSize);
    writeFile(out, bytes);
    std::cout << "backup: " << file.objects.size() - viewRecords << " objects (" << keys
              << " keys wrapped under the backup key; " << viewRecords
              << " key views) from member \"" << member.name() << "\" written to " << out << "\n";
    if (skipped > 0)
        std::cout << "backup: INCOMPLETE: " << skipped << " objects could not be backed up\n";
    cluster->logout();
    return skipped == 0 ? 0 : 1;
}

int restoreCommand(const Options& options) {
    const std::string in = options.get("in");
    if (in.empty()) throw UsageError("restore needs --in FILE");
    std::string onlyId = options.get("id");
    const std::string onlyLabel = options.get("label");
    if (std::string hex = options.get("id-hex"); !hex.empty()) {
        // as pkcs11-tool writes ids: hexadecimal
        if (hex.size() % 2 != 0 ||
            hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
            throw UsageError("--id-hex wants hexadecimal digits, two per byte: \"" + hex + "\"");
        onlyId.clear();
        for (size_t i = 0; i < hex.size(); i += 2)
            onlyId.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
    std::vector<CK_BYTE> bytes = readFile(in);
    if (bytes.size() < sizeof kMagic - 1 + kMacSize ||
        std::memcmp(bytes.data(), kMagic, sizeof kMagic - 1) != 0)
        throw Failure(in + ": not a p11cluster backup file (or cut short); nothing restored");
    std::vector<CK_BYTE> body(bytes.begin(), bytes.end() - kMacSize);
    std::vector<CK_BYTE> tag(bytes.end() - kMacSize, bytes.end());
    std::optional<BackupFile> file = decodeBody(body);

    Secret pin = readPin(options, "user");
    auto cluster = connect(options);
    loginAll(*cluster, CKU_USER, pin);
    {
        // The file must be this backup key's, and unchanged.
        auto [m, backupKey] = memberWithBackupKey(*cluster);
        Member& member = cluster->member(m);
        CK_SESSION_HANDLE s = cluster->anchorSession(m);
        if (!file)
            throw Failure(in + ": damaged or cut short (it does not parse); nothing restored");
        MacTemplate macTemplate;
        CK_MECHANISM unwrap{kWrap, nullptr, 0};
        CK_OBJECT_HANDLE mac;
        CK_RV rv = member.call(&CK_FUNCTION_LIST::C_UnwrapKey, s, &unwrap, backupKey,
                               file->macKey.data(), static_cast<CK_ULONG>(file->macKey.size()),
                               macTemplate.attrs, CK_ULONG{7}, &mac);
        if (rv != CKR_OK)
            throw Failure(in +
                          ": made for another backup key, or damaged (its MAC key does not "
                          "unwrap under this cluster's backup key: " +
                          rvName(rv) + "); nothing restored");
        rv = hmac(member, s, mac, body, tag.data(), true);
        member.call(&CK_FUNCTION_LIST::C_DestroyObject, s, mac);
        if (rv != CKR_OK)
            throw Failure(in + ": changed or damaged (its MAC does not verify: " + rvName(rv) +
                          "); nothing restored");
    }
    std::cout << "restore: " << in << " is authentic (cluster \"" << file->label << "\")\n";

    // Where to restore: every reachable member that holds the backup key
    // (the others receive the objects by repair).
    std::vector<std::pair<unsigned, CK_OBJECT_HANDLE>> targets;
    std::vector<std::string> without;
    for (unsigned m = 0; m < cluster->memberCount(); ++m) {
        Member& member = cluster->member(m);
        if (!member.serving()) continue;
        CK_OBJECT_HANDLE key = replication::findBackupKey(member, cluster->anchorSession(m));
        if (key != CK_INVALID_HANDLE)
            targets.emplace_back(m, key);
        else
            without.push_back(member.name());
    }

    auto selected = [&](const replication::Exported& object) {
        if (onlyId.empty() && onlyLabel.empty()) return true;
        return (!onlyId.empty() && attributeText(object, CKA_ID) == onlyId) ||
               (!onlyLabel.empty() && attributeText(object, CKA_LABEL) == onlyLabel);
    };
    unsigned restored = 0, already = 0, failed = 0, viewsRestored = 0;
    std::set<std::string> viewsWanted;  // view records of the keys restored
    auto restoreOne = [&](const replication::Exported& object) {
        const bool view = isViewRecord(object);
        auto [first, firstKey] = targets.front();
        if (present(cluster->member(first), cluster->anchorSession(first), object)) {
            if (view) return;
            ++already;
            std::cout << "restore: " << describe(object) << ": present, left alone\n";
            return;
        }
        bool any = false;
        for (auto [m, key] : targets) {
            Member& member = cluster->member(m);
            CK_SESSION_HANDLE s = cluster->anchorSession(m);
            CK_OBJECT_HANDLE made = CK_INVALID_HANDLE;
            CK_RV rv;
            try {
                rv = replication::importObject(member, s, object, key, kWrap, &made);
            } catch (const CkError& e) {
                rv = e.rv();
            }
            if (rv != CKR_OK) {
                std::cerr << "p11cluster restore: member \"" << member.name()
                          << "\": " << describe(object) << ": " << rvName(rv) << "\n";
                ++failed;
                continue;
            }
            if (!any)
                if (auto identity = readIdentity(member, s, made);
                    identity && views::recorded(*identity))
                    viewsWanted.insert(views::labelFor(*identity));
            any = true;
        }
        if (!any) return;
        if (view) {
            ++viewsRestored;
            return;
        }
        ++restored;
        std::cout << "restore: " << describe(object) << ": restored\n";
    };
    for (const auto& object : file->objects)
        if (!isViewRecord(object) && selected(object)) restoreOne(object);
    for (const auto& object : file->objects)
        if (isViewRecord(object) &&
            viewsWanted.count(attributeText(object, CKA_LABEL).value_or("")))
            restoreOne(object);
    if (!without.empty()) {
        std::cout << "restore: members without the backup key receive the objects by repair:";
        for (const auto& name : without) std::cout << " " << name;
        std::cout << "\n";
        cluster->repairNow("p11cluster restore");
    }
    std::cout << "restore: " << restored << " restored, " << already << " already present, "
              << failed << " failed (" << viewsRestored << " key views restored)\n";
    cluster->logout();
    return failed == 0 ? 0 : 1;
}

}  // namespace p11c::tool

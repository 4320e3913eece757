// p11cluster restore (docs/backup.md): checks a backup file before it
// changes anything — its format, the cluster it belongs to (by identity, not
// label), the backup key it was made under, its MAC — then restores what the
// members lack. A cluster that holds objects lacks a key of its own backup
// only because the key was destroyed (or renamed) since: such a key comes
// back only when named (--id/--label) with --undelete.
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include "core/identity.h"
#include "core/views.h"
#include "member/member.h"
#include "replication/backup_key.h"
#include "replication/cluster_id.h"
#include "replication/handover.h"
#include "replication/records.h"
#include "replication/replicate.h"
#include "tools/backup_file.h"
#include "tools/cli.h"
#include "util/error.h"
#include "util/rv.h"

namespace p11c::tool {
namespace {

using namespace backupfile;

struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

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

bool saysTrustedOnly(const replication::Exported& object) {
    for (const auto& [type, value] : object.attributes)
        if (type == CKA_WRAP_WITH_TRUSTED) return value.size() == 1 && value[0] != CK_FALSE;
    return false;
}

struct Target {
    unsigned member;
    CK_OBJECT_HANDLE backupKey;
    CK_OBJECT_HANDLE fileKey = CK_INVALID_HANDLE;
};

// Checks the file against this cluster; throws Failure (nothing changed).
void checkBelongs(const std::string& in, const BackupFile& file, Cluster& cluster) {
    if (file.version == 1) {
        if (file.label != cluster.config().cluster.label)
            throw Failure(in + ": a backup of another cluster (labelled \"" + file.label +
                          "\"); nothing restored");
        return;
    }
    std::vector<CK_BYTE> ours;
    try {
        ours = replication::clusterId(cluster);
    } catch (const replication::TransportError& e) {
        throw Failure(std::string(e.what()) + "; nothing restored");
    }
    if (ours != file.clusterId) {
        const std::string theirs = replication::toHex(file.clusterId);
        throw Failure(in + ": a backup of another cluster (identity " + theirs + ", labelled \"" +
                      file.label + "\"; this cluster is " + replication::toHex(ours) +
                      "); nothing restored. A cluster rebuilt from fresh tokens to replace that "
                      "one takes its identity first: p11cluster init --cluster-id " +
                      theirs);
    }
}

// The members that hold the file's backup key; checks the MAC on the first.
std::vector<Target> checkAuthentic(const std::string& in, const BackupFile& file,
                                   const std::vector<CK_BYTE>& body,
                                   const std::vector<CK_BYTE>& tag, Cluster& cluster,
                                   std::vector<std::string>& without) {
    const std::string serial = file.version == 1 ? replication::kLegacySerial : file.backupKey;
    std::vector<Target> targets;
    for (unsigned m = 0; m < cluster.memberCount(); ++m) {
        Member& member = cluster.member(m);
        if (!member.serving()) continue;
        auto key = replication::backupKeyBySerial(member, cluster.anchorSession(m), serial);
        if (key)
            targets.push_back({m, key->handle});
        else
            without.push_back(member.name());
    }
    if (targets.empty())
        throw Failure(in + ": made under backup key " + serial +
                      ", which no reachable member holds (made for another backup key, or that "
                      "key was dropped): run `p11cluster backup-key` with the recovery token "
                      "that holds it; nothing restored");
    Member& member = cluster.member(targets.front().member);
    CK_SESSION_HANDLE s = cluster.anchorSession(targets.front().member);
    MacTemplate macTemplate;
    CK_MECHANISM unwrap{replication::kTransportWrap, nullptr, 0};
    CK_OBJECT_HANDLE mac;
    CK_RV rv = member.call(&CK_FUNCTION_LIST::C_UnwrapKey, s, &unwrap, targets.front().backupKey,
                           const_cast<CK_BYTE*>(file.macKey.data()),
                           static_cast<CK_ULONG>(file.macKey.size()), macTemplate.attrs,
                           CK_ULONG{8}, &mac);
    if (rv != CKR_OK)
        throw Failure(in +
                      ": made for another backup key, or damaged (its MAC key does not "
                      "unwrap under backup key " +
                      serial + ": " + rvName(rv) + "); nothing restored");
    rv = hmac(member, s, mac, body, const_cast<CK_BYTE*>(tag.data()), true);
    member.call(&CK_FUNCTION_LIST::C_DestroyObject, s, mac);
    if (rv != CKR_OK)
        throw Failure(in + ": changed or damaged (its MAC does not verify: " + rvName(rv) +
                      "); nothing restored");
    return targets;
}

}  // namespace

int restoreCommand(const Options& options) {
    const std::string in = options.get("in");
    if (in.empty()) throw UsageError("restore needs --in FILE");
    std::string onlyId = options.get("id");
    const std::string onlyLabel = options.get("label");
    if (std::string hex = options.get("id-hex"); !hex.empty()) {
        // as pkcs11-tool writes ids: hexadecimal
        auto bytes = replication::fromHex(hex);
        if (!bytes)
            throw UsageError("--id-hex wants hexadecimal digits, two per byte: \"" + hex + "\"");
        onlyId.assign(bytes->begin(), bytes->end());
    }
    const bool undelete = options.has("undelete");
    if (undelete && onlyId.empty() && onlyLabel.empty())
        throw UsageError(
            "--undelete brings back only the keys it is given by name: add --id ID, --id-hex HEX "
            "or --label LABEL");
    std::vector<CK_BYTE> bytes = readFile(in);
    const int version = versionOf(bytes);
    if (version == 0 || bytes.size() < 8 + kMacSize)
        throw Failure(in + ": not a p11cluster backup file (or cut short); nothing restored");
    if (version == 1 && !options.has("legacy"))
        throw Failure(in +
                      ": written by an earlier release (format P11CBAK1), whose backup key was a "
                      "public object that anyone able to read a member's token directory could "
                      "read, and so could forge such a file: restore it with --legacy only if "
                      "you trust where it was kept; nothing restored");
    std::vector<CK_BYTE> body(bytes.begin(), bytes.end() - kMacSize);
    std::vector<CK_BYTE> tag(bytes.end() - kMacSize, bytes.end());
    std::optional<BackupFile> file = decodeBody(body);

    Secret pin = readPin(options, "user");
    auto cluster = connect(options);
    loginAll(*cluster, CKU_USER, pin);
    if (!file) throw Failure(in + ": damaged or cut short (it does not parse); nothing restored");
    checkBelongs(in, *file, *cluster);
    std::vector<std::string> without;
    std::vector<Target> targets = checkAuthentic(in, *file, body, tag, *cluster, without);
    std::cout << "restore: " << in << " is authentic (cluster \"" << file->label << "\"";
    if (file->version >= 2)
        std::cout << ", identity " << replication::toHex(file->clusterId) << ", backup key "
                  << file->backupKey;
    std::cout << ")\n";
    if (file->version == 1)
        std::cout << "restore: WARNING: a file of an earlier release, restored because --legacy "
                     "was given; make a new backup now\n";

    // The file key, on every member that restores.
    if (file->version >= 2)
        for (Target& t : targets) {
            Member& member = cluster->member(t.member);
            CK_RV rv;
            try {
                rv = replication::receiveCarrier(member, cluster->anchorSession(t.member),
                                                 t.backupKey, file->fileKey, &t.fileKey);
            } catch (const CkError& e) {
                rv = e.rv();
            }
            if (rv != CKR_OK)
                throw Failure("member \"" + member.name() + "\": the file key does not unwrap: " +
                              rvName(rv) + "; nothing restored");
        }

    // A cluster rebuilt from fresh tokens lost what it lacks; any other
    // lacks a key of its own backup because it was destroyed (or renamed).
    // (An earlier release's file names no cluster: a cluster that holds
    // nothing of the caller's is taken as rebuilt for it.)
    const bool rebuilt = file->version >= 2 ? replication::markedRebuilt(*cluster)
                                            : !replication::holdsCallerObjects(*cluster);
    auto selected = [&](const replication::Exported& object) {
        if (onlyId.empty() && onlyLabel.empty()) return true;
        return (!onlyId.empty() && attributeText(object, CKA_ID) == onlyId) ||
               (!onlyLabel.empty() && attributeText(object, CKA_LABEL) == onlyLabel);
    };
    unsigned restored = 0, already = 0, failed = 0, viewsRestored = 0, destroyed = 0;
    std::set<std::string> viewsWanted;  // view records of the keys restored
    auto restoreOne = [&](const Object& entry) {
        const replication::Exported& object = entry.exported;
        const bool view = isViewRecord(object);
        const Target& first = targets.front();
        if (present(cluster->member(first.member), cluster->anchorSession(first.member), object)) {
            if (view) return;
            ++already;
            std::cout << "restore: " << describe(object) << ": present, left alone\n";
            return;
        }
        if (!view && !rebuilt && !undelete) {
            ++destroyed;
            std::cout << "restore: " << describe(object)
                      << ": not in the cluster: destroyed (or renamed) since the backup, and left "
                         "so; to bring it back: restore --id ID --undelete\n";
            return;
        }
        bool any = false;
        for (const Target& t : targets) {
            Member& member = cluster->member(t.member);
            CK_SESSION_HANDLE s = cluster->anchorSession(t.member);
            CK_OBJECT_HANDLE made = CK_INVALID_HANDLE;
            CK_OBJECT_HANDLE under = entry.under == kUnderBackupKey ? t.backupKey
                                     : entry.under == kUnderFileKey ? t.fileKey
                                                                    : CK_INVALID_HANDLE;
            const bool locked =
                entry.under == kUnderBackupKey && (file->version >= 2 || saysTrustedOnly(object));
            CK_RV rv;
            try {
                rv = replication::importObject(member, s, object, under,
                                               replication::kTransportWrap, &made, locked);
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
        std::cout << "restore: " << describe(object)
                  << (rebuilt ? ": restored\n"
                              : ": restored (undeleted: it was destroyed since the backup)\n");
    };
    for (const Object& object : file->objects)
        if (!isViewRecord(object.exported) && selected(object.exported)) restoreOne(object);
    for (const Object& object : file->objects)
        if (isViewRecord(object.exported) &&
            viewsWanted.count(attributeText(object.exported, CKA_LABEL).value_or("")))
            restoreOne(object);
    for (const Target& t : targets)
        if (t.fileKey != CK_INVALID_HANDLE)
            cluster->member(t.member).call(&CK_FUNCTION_LIST::C_DestroyObject,
                                           cluster->anchorSession(t.member), t.fileKey);
    if (!without.empty()) {
        std::cout << "restore: members without the backup key receive the objects by repair:";
        for (const auto& name : without) std::cout << " " << name;
        std::cout << "\n";
        cluster->repairNow("p11cluster restore");
    }
    std::cout << "restore: " << restored << " restored, " << already << " already present, "
              << failed << " failed (" << viewsRestored << " key views restored)\n";
    const bool whole = onlyId.empty() && onlyLabel.empty();
    if (rebuilt && whole && failed == 0 && file->version >= 2) replication::clearRebuilt(*cluster);
    if (destroyed > 0)
        std::cout << "restore: " << destroyed
                  << " objects destroyed (or renamed) since the backup were left so; bring one "
                     "back by name with --id ID (or --label LABEL) and --undelete\n";
    cluster->logout();
    return failed == 0 ? 0 : 1;
}

}  // namespace p11c::tool

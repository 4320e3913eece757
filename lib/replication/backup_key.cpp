#include "replication/backup_key.h"

#include <algorithm>
#include <memory>

#include "core/cluster.h"
#include "core/identity.h"
#include "replication/handover.h"
#include "replication/records.h"
#include "util/error.h"
#include "util/rv.h"

namespace p11c::replication {
namespace {

CK_BBOOL yes = CK_TRUE;
CK_BBOOL no = CK_FALSE;

std::string labelFor(const std::string& serial) {
    return std::string(kBackupLabel) + " " + serial;
}

std::string serialOf(const std::optional<std::vector<CK_BYTE>>& label) {
    if (!label) return {};
    std::string text(label->begin(), label->end());
    if (text == kBackupLabel) return kLegacySerial;  // an earlier release's key
    const std::string prefix = std::string(kBackupLabel) + " ";
    return text.rfind(prefix, 0) == 0 ? text.substr(prefix.size()) : std::string();
}

bool isPrivate(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key) {
    CK_BBOOL value = CK_TRUE;
    CK_ATTRIBUTE attr{CKA_PRIVATE, &value, sizeof value};
    need(member.call(&CK_FUNCTION_LIST::C_GetAttributeValue, session, key, &attr, CK_ULONG{1}),
         member, "reading a backup key");
    return value != CK_FALSE;
}

// An earlier release's backup key is a public object (its value stored in
// the clear by SoftHSM): it becomes a private copy that can no longer wrap
// (on the recovery token, nor unwrap), kept only for that release's files.
void convertLegacy(Member& member, CK_SESSION_HANDLE session, bool recovery, std::ostream& out,
                   const std::string& where) {
    for (CK_OBJECT_HANDLE key : keysWithId(member, session, kBackupId)) {
        if (isPrivate(member, session, key)) continue;
        const std::string label = labelFor(kLegacySerial);
        // (CKA_MODIFIABLE last: SoftHSM applies the template in order.)
        CK_ATTRIBUTE templ[] = {{CKA_TOKEN, &yes, sizeof yes},
                                {CKA_PRIVATE, &yes, sizeof yes},
                                {CKA_WRAP, &no, sizeof no},
                                {CKA_UNWRAP, recovery ? &no : &yes, sizeof yes},
                                {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
                                {CKA_MODIFIABLE, &no, sizeof no}};
        CK_OBJECT_HANDLE kept;
        need(member.call(&CK_FUNCTION_LIST::C_CopyObject, session, key, templ, CK_ULONG{6}, &kept),
             member, "making an earlier release's backup key private");
        need(member.call(&CK_FUNCTION_LIST::C_DestroyObject, session, key), member,
             "removing an earlier release's public backup key");
        out << where << ": the earlier release's public backup key is now private (\""
            << kLegacySerial << "\": it restores that release's files, and wraps nothing)\n";
    }
}

void dropKey(Member& member, CK_SESSION_HANDLE session, const std::string& serial,
             std::ostream& out, const std::string& where) {
    for (const BackupKey& key : backupKeysOn(member, session))
        if (key.serial == serial) {
            need(member.call(&CK_FUNCTION_LIST::C_DestroyObject, session, key.handle), member,
                 "removing backup key " + serial);
            out << where << ": backup key " << serial << " removed\n";
        }
}

}  // namespace

std::vector<BackupKey> backupKeysOn(Member& member, CK_SESSION_HANDLE session) {
    static constexpr CK_ATTRIBUTE_TYPE kLabel[] = {CKA_LABEL};
    std::vector<BackupKey> out;
    for (CK_OBJECT_HANDLE h : keysWithId(member, session, kBackupId)) {
        std::string serial = serialOf(readAttributes(member, session, h, kLabel)[0]);
        if (!serial.empty()) out.push_back({serial, h});
    }
    return out;
}

std::optional<BackupKey> backupKeyBySerial(Member& member, CK_SESSION_HANDLE session,
                                           const std::string& serial) {
    for (BackupKey& key : backupKeysOn(member, session))
        if (key.serial == serial) return key;
    return std::nullopt;
}

std::optional<BackupKey> currentBackupKey(Member& member, CK_SESSION_HANDLE session) {
    auto record = readRecord(member, session, kCurrentBackupRecord);
    if (!record) return std::nullopt;
    return backupKeyBySerial(member, session, std::string(record->begin(), record->end()));
}

void establishBackupKey(Cluster& cluster, Member& recovery, CK_SESSION_HANDLE rs,
                        const Logins& logins, const BackupKeyRequest& request, std::ostream& out) {
    logins.recovery(CKU_USER);
    logins.members(CKU_USER);
    auto onMembers = [&](auto&& fn) {
        for (unsigned m = 0; m < cluster.memberCount(); ++m) {
            Member& member = cluster.member(m);
            if (!member.serving()) {
                out << "member \"" << member.name() << "\": not reachable; run this again later\n";
                continue;
            }
            fn(m, member, cluster.anchorSession(m));
        }
    };
    try {
        convertLegacy(recovery, rs, true, out, "recovery token");
        std::optional<BackupKey> current = currentBackupKey(recovery, rs);
        if (!request.drop.empty()) {
            if (current && current->serial == request.drop)
                throw TransportError("backup key " + request.drop +
                                     " is the current one: make another with --new first");
            dropKey(recovery, rs, request.drop, out, "recovery token");
            onMembers([&](unsigned, Member& member, CK_SESSION_HANDLE s) {
                dropKey(member, s, request.drop, out, "member \"" + member.name() + "\"");
            });
            out << "backups made under backup key " << request.drop
                << " can no longer be restored here\n";
            return;
        }
        if (!current || request.fresh) {
            const std::string serial = toHex(randomBytes(8));
            ClusterKeyTemplate generate(ClusterKeyTemplate::Stage::Recovery, kBackupId,
                                        labelFor(serial));
            CK_MECHANISM keyGen{CKM_AES_KEY_GEN, nullptr, 0};
            BackupKey made{serial, CK_INVALID_HANDLE};
            need(recovery.call(&CK_FUNCTION_LIST::C_GenerateKey, rs, &keyGen, generate.data(),
                               generate.size(), &made.handle),
                 recovery, "generating the backup key");
            replaceRecord(recovery, rs, kCurrentBackupRecord,
                          std::vector<CK_BYTE>(serial.begin(), serial.end()));
            current = made;
            out << "backup key " << serial << " generated inside the recovery token\n";
        } else {
            out << "backup key " << current->serial << " found on the recovery token\n";
        }
        const std::vector<BackupKey> keys = backupKeysOn(recovery, rs);

        // What each member lacks.
        std::vector<std::pair<unsigned, std::vector<BackupKey>>> lacking;
        onMembers([&](unsigned m, Member& member, CK_SESSION_HANDLE s) {
            convertLegacy(member, s, false, out, "member \"" + member.name() + "\"");
            auto held = backupKeysOn(member, s);
            std::vector<BackupKey> missing;
            for (const BackupKey& key : keys)
                if (std::none_of(held.begin(), held.end(),
                                 [&](const BackupKey& h) { return h.serial == key.serial; }))
                    missing.push_back(key);
            if (!missing.empty()) lacking.emplace_back(m, std::move(missing));
        });

        if (!lacking.empty()) {
            // Trusted copies need the security officer on both sides; the
            // recovery token's key is private, so its user wraps it.
            std::vector<std::vector<CK_OBJECT_HANDLE>> staged(lacking.size());
            {
                logins.members(CKU_SO);
                logins.recovery(CKU_SO);
                std::vector<std::unique_ptr<HandOver>> handOvers;
                for (auto& [m, missing] : lacking)
                    handOvers.push_back(std::make_unique<HandOver>(recovery, rs, cluster.member(m),
                                                                   cluster.anchorSession(m)));
                // A new login gives private objects new handles: look again.
                logins.recovery(CKU_USER);
                for (size_t i = 0; i < lacking.size(); ++i)
                    for (const BackupKey& key : lacking[i].second) {
                        auto now = backupKeyBySerial(recovery, rs, key.serial);
                        if (!now)
                            throw TransportError("recovery token: backup key " + key.serial +
                                                 " went away during the hand-over");
                        auto blob = handOvers[i]->wrap(now->handle);
                        ClusterKeyTemplate receive(ClusterKeyTemplate::Stage::Received, kBackupId,
                                                   labelFor(key.serial));
                        staged[i].push_back(
                            handOvers[i]->unwrap(blob, receive.data(), receive.size()));
                    }
            }
            logins.members(CKU_USER);
            for (size_t i = 0; i < lacking.size(); ++i) {
                Member& member = cluster.member(lacking[i].first);
                CK_SESSION_HANDLE s = cluster.anchorSession(lacking[i].first);
                for (size_t k = 0; k < staged[i].size(); ++k) {
                    keepPrivately(member, s, staged[i][k]);
                    member.call(&CK_FUNCTION_LIST::C_DestroyObject, s, staged[i][k]);
                    out << "member \"" << member.name() << "\": backup key "
                        << lacking[i].second[k].serial
                        << " handed over under an ECDH-derived key\n";
                }
            }
        }
        const std::vector<CK_BYTE> serial(current->serial.begin(), current->serial.end());
        onMembers([&](unsigned, Member& member, CK_SESSION_HANDLE s) {
            if (readRecord(member, s, kCurrentBackupRecord) != serial)
                replaceRecord(member, s, kCurrentBackupRecord, serial);
            out << "member \"" << member.name() << "\": backups use backup key " << current->serial
                << "\n";
        });
    } catch (const CkError& e) {
        throw TransportError(std::string("a token failed: ") + rvName(e.rv()));
    }
}

}  // namespace p11c::replication

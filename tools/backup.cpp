// p11cluster backup-key and backup (docs/backup.md; restore in restore.cpp).
//
// A backup file (tools/backup_file.h) holds every cluster object: its
// attributes, and for private and secret keys the key wrapped inside a
// member — under the cluster's current backup key (replication/backup_key.h)
// or, for keys the caller made extractable, under a file key that is itself
// wrapped under the backup key. It is authenticated by an HMAC-SHA256
// computed inside the member with a fresh MAC key that travels in the file
// wrapped under the backup key: only a session logged in to the cluster
// (the backup key is private) or the recovery token's officers can make one.
#include <cstring>
#include <ctime>
#include <iostream>

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

void need(CK_RV rv, const Member& member, const std::string& what) {
    if (rv != CKR_OK)
        throw Failure("member \"" + member.name() + "\": " + what + " failed: " + rvName(rv));
}

std::string labelOf(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object) {
    static constexpr CK_ATTRIBUTE_TYPE kLabel[] = {CKA_LABEL};
    auto values = readAttributes(member, session, object, kLabel);
    return values[0] ? std::string(values[0]->begin(), values[0]->end()) : std::string();
}

// The objects on `m` that belong in a backup: the caller's token objects and
// the views of its keys (not tombstones, cluster records or cluster keys).
std::vector<CK_OBJECT_HANDLE> backedUp(Cluster& cluster, unsigned m) {
    Member& member = cluster.member(m);
    CK_SESSION_HANDLE s = cluster.anchorSession(m);
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE token{CKA_TOKEN, &yes, sizeof yes};
    std::vector<CK_OBJECT_HANDLE> out;
    for (CK_OBJECT_HANDLE h : findAll(member, s, &token, 1))
        if (!cluster.isInternal(m, s, h) ||
            labelOf(member, s, h).rfind(views::kLabelPrefix, 0) == 0)
            out.push_back(h);
    return out;
}

// The first serving member with a current backup key, and the key.
std::pair<unsigned, replication::BackupKey> memberWithBackupKey(Cluster& cluster) {
    for (unsigned m = 0; m < cluster.memberCount(); ++m) {
        if (!cluster.member(m).serving()) continue;
        if (auto key = replication::currentBackupKey(cluster.member(m), cluster.anchorSession(m)))
            return {m, *key};
    }
    throw Failure(
        "no reachable member holds a current backup key: run `p11cluster backup-key` with the "
        "recovery token first");
}

// The MAC key: made inside the member, carried wrapped under the backup key.
CK_OBJECT_HANDLE makeMacKey(Member& member, CK_SESSION_HANDLE s) {
    MacTemplate t;
    CK_ULONG length = 32;
    std::vector<CK_ATTRIBUTE> templ(std::begin(t.attrs) + 2, std::end(t.attrs));
    templ.push_back({CKA_EXTRACTABLE, &t.yes, sizeof t.yes});
    templ.push_back({CKA_VALUE_LEN, &length, sizeof length});
    CK_MECHANISM keyGen{CKM_GENERIC_SECRET_KEY_GEN, nullptr, 0};
    CK_OBJECT_HANDLE mac;
    need(member.call(&CK_FUNCTION_LIST::C_GenerateKey, s, &keyGen, templ.data(),
                     static_cast<CK_ULONG>(templ.size()), &mac),
         member, "making the backup's MAC key");
    return mac;
}

}  // namespace

int backupKeyCommand(const Options& options) {
    if (options.get("recovery-module").empty() || options.get("recovery-token").empty())
        throw UsageError("backup-key needs --recovery-module PATH and --recovery-token TOKEN");
    replication::BackupKeyRequest request;
    request.fresh = options.has("new");
    request.drop = options.get("drop");
    if (request.fresh && !request.drop.empty())
        throw UsageError("backup-key: --new and --drop go in separate runs");
    Secret soPin = readPin(options, "so");
    Secret userPin = readPin(options, "user");
    Secret recoverySoPin = readPin(options, "recovery-so");
    Secret recoveryPin = readPin(options, "recovery");
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
    replication::Logins logins;
    logins.recovery = [&](CK_USER_TYPE user) {
        recovery->call(&CK_FUNCTION_LIST::C_Logout, rs);
        Secret& pin = user == CKU_SO ? recoverySoPin : recoveryPin;
        CK_RV rv = recovery->call(&CK_FUNCTION_LIST::C_Login, rs, user,
                                  reinterpret_cast<CK_UTF8CHAR_PTR>(pin.data()),
                                  static_cast<CK_ULONG>(pin.size()));
        if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
            need(rv, *recovery,
                 user == CKU_SO ? "the security officer's login on the recovery token"
                                : "the user's login on the recovery token");
    };
    logins.members = [&](CK_USER_TYPE user) {
        if (cluster->loginState() == user) return;
        if (cluster->loginState() != kNotLoggedIn) cluster->logout();
        loginAll(*cluster, user, user == CKU_SO ? soPin : userPin);
    };
    replication::establishBackupKey(*cluster, *recovery, rs, logins, request, std::cout);
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
    file.clusterId = replication::clusterId(*cluster);
    file.backupKey = backupKey.serial;
    // The file key: for the keys the caller made extractable.
    CK_OBJECT_HANDLE fileKey = replication::makeCarrier(member, s);
    unsigned keys = 0, skipped = 0, viewRecords = 0;
    try {
        file.fileKey = replication::wrapUnder(member, s, backupKey.handle, fileKey);
        for (CK_OBJECT_HANDLE h : backedUp(*cluster, m)) {
            try {
                static constexpr CK_ATTRIBUTE_TYPE kClass[] = {CKA_CLASS};
                auto cls = readAttributes(member, s, h, kClass)[0];
                CK_OBJECT_CLASS c = 0;
                if (cls && cls->size() == sizeof c) std::memcpy(&c, cls->data(), sizeof c);
                Object object;
                if (!replication::carriesSecret(c)) {
                    object.exported = replication::exportObject(member, s, h, CK_INVALID_HANDLE,
                                                                replication::kTransportWrap);
                } else {
                    const bool locked = replication::heldLocked(member, s, h);
                    object.under = locked ? kUnderBackupKey : kUnderFileKey;
                    object.exported =
                        replication::exportObject(member, s, h, locked ? backupKey.handle : fileKey,
                                                  replication::kTransportWrap);
                }
                keys += !object.exported.wrapped.empty();
                viewRecords += isViewRecord(object.exported);
                file.objects.push_back(std::move(object));
            } catch (const CkError& e) {
                ++skipped;
                auto id = readIdentity(member, s, h);
                std::cerr << "p11cluster backup: an object (label \""
                          << (id ? std::string(id->label.begin(), id->label.end()) : "?")
                          << "\") cannot be backed up: " << rvName(e.rv()) << "\n";
            }
        }
    } catch (const CkError& e) {
        member.call(&CK_FUNCTION_LIST::C_DestroyObject, s, fileKey);
        need(e.rv(), member, "wrapping the file key under the backup key");
    }
    member.call(&CK_FUNCTION_LIST::C_DestroyObject, s, fileKey);
    CK_OBJECT_HANDLE mac = makeMacKey(member, s);
    CK_RV rv = CKR_OK;
    try {
        file.macKey = replication::wrapUnder(member, s, backupKey.handle, mac);
    } catch (const CkError& e) {
        rv = e.rv();
    }
    std::vector<CK_BYTE> bytes = encodeBody(file);
    CK_BYTE tag[kMacSize];
    if (rv == CKR_OK) rv = hmac(member, s, mac, bytes, tag, false);
    member.call(&CK_FUNCTION_LIST::C_DestroyObject, s, mac);
    need(rv, member, "authenticating the backup");
    bytes.insert(bytes.end(), tag, tag + kMacSize);
    writeFile(out, bytes);
    std::cout << "backup: " << file.objects.size() - viewRecords << " objects (" << keys
              << " keys wrapped under the backup key; " << viewRecords
              << " key views) from member \"" << member.name() << "\" written to " << out << "\n"
              << "backup: cluster identity " << replication::toHex(file.clusterId)
              << ", backup key " << file.backupKey << "\n";
    if (skipped > 0)
        std::cout << "backup: INCOMPLETE: " << skipped << " objects could not be backed up\n";
    cluster->logout();
    return skipped == 0 ? 0 : 1;
}

}  // namespace p11c::tool

#include "core/repair.h"

#include <cstring>
#include <ctime>
#include <map>
#include <set>
#include <string>

#include "core/cluster.h"
#include "core/views.h"
#include "remote/wire.h"
#include "replication/replicate.h"
#include "util/error.h"
#include "util/log.h"
#include "util/rv.h"

namespace p11c::repair {
namespace {

constexpr char kApplication[] = "p11cluster";
constexpr const char* kLabel = kTombstoneLabel;
constexpr uint8_t kFormat = 1;

using Key = std::vector<CK_BYTE>;  // an encoded identity

// A tombstone outlives the repair that used it by this long: a member can
// still show an object it half-wrote when it failed (SoftHSM finds such a
// file only on a later scan of its directory), and the tombstone must be
// there when it does.
constexpr int64_t kTombstoneLifetime = 24 * 3600;

int64_t now() {
    return static_cast<int64_t>(std::time(nullptr));
}

// A tombstone's CKA_VALUE: when it was written (u64, seconds) and the
// encoded identity.
std::vector<CK_BYTE> tombValue(const Key& key) {
    remote::Writer w;
    w.u64(static_cast<uint64_t>(now()));
    w.raw(key.data(), key.size());
    return std::move(w.buffer());
}

struct Tomb {
    CK_OBJECT_HANDLE handle;
    int64_t written;
};

// Every tombstone on one member: encoded identity -> handle and age.
std::map<Key, Tomb> tombstonesOn(Member& member, CK_SESSION_HANDLE session) {
    CK_OBJECT_CLASS data = CKO_DATA;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE templ[] = {{CKA_CLASS, &data, sizeof data},
                            {CKA_TOKEN, &yes, sizeof yes},
                            {CKA_LABEL, const_cast<char*>(kLabel), std::strlen(kLabel)}};
    std::map<Key, Tomb> out;
    static constexpr CK_ATTRIBUTE_TYPE kTypes[] = {CKA_APPLICATION, CKA_VALUE};
    for (CK_OBJECT_HANDLE h : findAll(member, session, templ, 3)) {
        auto values = readAttributes(member, session, h, kTypes);
        if (!values[0] || !values[1]) continue;
        const auto& app = *values[0];
        if (app.size() != sizeof kApplication - 1 ||
            std::memcmp(app.data(), kApplication, app.size()) != 0)
            continue;
        const auto& value = *values[1];
        if (value.size() <= sizeof(uint64_t)) continue;
        uint64_t written;
        std::memcpy(&written, value.data(), sizeof written);
        out.emplace(Key(value.begin() + sizeof written, value.end()),
                    Tomb{h, static_cast<int64_t>(written)});
    }
    return out;
}

// Token objects of the caller on one member (the cluster's own excluded):
// encoded identity -> handle. Objects the member cannot tell apart (same
// identity twice: a write that ran late next to its repair) go to `twins`
// with all their handles, not to the result: repair never guesses which.
std::map<Key, CK_OBJECT_HANDLE> objectsOn(Cluster& cluster, unsigned m, CK_SESSION_HANDLE session,
                                          std::map<Key, std::vector<CK_OBJECT_HANDLE>>& twins,
                                          std::vector<CK_OBJECT_HANDLE>& damaged) {
    Member& member = cluster.member(m);
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE templ[] = {{CKA_TOKEN, &yes, sizeof yes}};
    std::map<Key, std::vector<CK_OBJECT_HANDLE>> all;
    bool labels = false;  // the member gives its objects labels
    for (CK_OBJECT_HANDLE h : findAll(member, session, templ, 1)) {
        if (cluster.isInternal(m, session, h)) continue;
        auto identity = readIdentity(member, session, h);
        if (!identity) continue;
        if (!identity->labelled) {
            damaged.push_back(h);
            continue;
        }
        labels = true;
        all[encodeIdentity(*identity)].push_back(h);
    }
    // Objects without a label on a member that labels the others were cut
    // short by a failure while it wrote them: never copied (a token that
    // labels nothing keeps them, as its own).
    if (!labels)
        for (CK_OBJECT_HANDLE h : damaged)
            if (auto identity = readIdentity(member, session, h))
                all[encodeIdentity(*identity)].push_back(h);
    if (!labels) damaged.clear();
    std::map<Key, CK_OBJECT_HANDLE> out;
    for (auto& [key, handles] : all) {
        if (handles.size() == 1)
            out.emplace(key, handles.front());
        else
            twins.emplace(key, std::move(handles));
    }
    return out;
}

CK_RV destroyOn(Cluster& cluster, Session& session, unsigned m, CK_OBJECT_HANDLE h) {
    try {
        return cluster.member(m).call(&CK_FUNCTION_LIST::C_DestroyObject,
                                      session.memberSessionLocked(m), h);
    } catch (const CkError& e) {
        return e.rv();
    }
}

struct Survey {
    std::vector<std::map<Key, Tomb>> tombs;  // per member
    bool complete = true;                    // every member answered
};

Survey surveyTombstones(Cluster& cluster, Session& session, std::span<const unsigned> members) {
    Survey s;
    s.tombs.resize(cluster.memberCount());
    for (unsigned m : members) {
        try {
            s.tombs[m] = tombstonesOn(cluster.member(m), session.memberSessionLocked(m));
        } catch (const CkError& e) {
            log::warn("member ", cluster.member(m).name(),
                      ": reading tombstones failed: ", rvName(e.rv()));
            s.complete = false;
        }
    }
    return s;
}

// Removes the tombstones for `key` from every member holding one.
void dropTombstones(Cluster& cluster, Session& session, const Survey& survey, const Key& key,
                    std::span<const unsigned> members) {
    for (unsigned m : members)
        if (auto it = survey.tombs[m].find(key); it != survey.tombs[m].end())
            destroyOn(cluster, session, m, it->second.handle);
}

}  // namespace

// --- identity encoding ------------------------------------------------------

std::vector<CK_BYTE> encodeIdentity(const Identity& identity) {
    remote::Writer w;
    w.u8(kFormat);
    w.u64(identity.cls);
    w.u8(identity.token);
    w.u64(identity.subtype);
    w.bytes(identity.id.data(), identity.id.size());
    w.bytes(identity.label.data(), identity.label.size());
    w.u8(identity.hasMaterial);
    w.raw(identity.material.data(), identity.material.size());
    return std::move(w.buffer());
}

std::optional<Identity> decodeIdentity(std::span<const CK_BYTE> bytes) {
    remote::Reader r(bytes.data(), bytes.size());
    if (r.u8() != kFormat) return std::nullopt;
    Identity identity;
    identity.cls = r.u64();
    identity.token = r.u8();
    identity.subtype = r.u64();
    identity.id = r.bytes(4096);
    identity.label = r.bytes(4096);
    identity.hasMaterial = r.u8() != 0;
    r.raw(identity.material.data(), identity.material.size());
    if (!r.ok() || !r.atEnd()) return std::nullopt;
    return identity;
}

// --- tombstones ---------------------------------------------------------------

CK_RV writeRecord(Member& member, CK_SESSION_HANDLE session, std::string_view label,
                  std::span<const CK_BYTE> value) {
    CK_OBJECT_CLASS data = CKO_DATA;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE templ[] = {
        {CKA_CLASS, &data, sizeof data},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_LABEL, const_cast<char*>(label.data()), label.size()},
        {CKA_APPLICATION, const_cast<char*>(kApplication), sizeof kApplication - 1},
        {CKA_VALUE, const_cast<CK_BYTE*>(value.data()), value.size()}};
    CK_OBJECT_HANDLE made;
    return member.call(&CK_FUNCTION_LIST::C_CreateObject, session, templ, CK_ULONG{6}, &made);
}

void tombstone(Cluster& cluster, Session& session, const Identity& identity,
               std::span<const unsigned> members) {
    Key key = encodeIdentity(identity);
    std::vector<CK_BYTE> value = tombValue(key);
    for (unsigned m : members) {
        Member& member = cluster.member(m);
        CK_RV rv;
        try {
            CK_SESSION_HANDLE s = session.memberSessionLocked(m);
            if (tombstonesOn(member, s).count(key)) continue;
            rv = writeRecord(member, s, kLabel, value);
        } catch (const CkError& e) {
            rv = e.rv();
        }
        if (rv != CKR_OK)
            log::error("member ", member.name(), ": writing a tombstone failed: ", rvName(rv));
        else
            log::info("member ", member.name(), ": tombstone written for id ",
                      std::string(identity.id.begin(), identity.id.end()));
    }
}

Report sweep(Cluster& cluster, Session& session, std::span<const unsigned> members) {
    Report report;
    Survey survey = surveyTombstones(cluster, session, members);
    std::set<Key> keys;
    for (unsigned m : members)
        for (const auto& [key, handle] : survey.tombs[m]) keys.insert(key);
    for (const Key& key : keys) {
        auto identity = decodeIdentity(key);
        if (!identity) continue;
        // Where the object is found on a member that holds the tombstone
        // too, it was made again after the destroy: reconcile decides.
        std::vector<std::pair<unsigned, CK_OBJECT_HANDLE>> found;
        bool remade = false;
        for (unsigned m : members) {
            try {
                bool ambiguous = false;
                CK_OBJECT_HANDLE h = findByIdentity(
                    cluster.member(m), session.memberSessionLocked(m), *identity, &ambiguous);
                if (h == CK_INVALID_HANDLE) continue;
                if (survey.tombs[m].count(key)) remade = true;
                found.emplace_back(m, h);
            } catch (const CkError&) {
                ++report.failed;
            }
        }
        if (remade) continue;
        for (auto [m, h] : found) {
            CK_RV rv = destroyOn(cluster, session, m, h);
            if (rv == CKR_OK) {
                ++report.removed;
                log::warn("member ", cluster.member(m).name(),
                          ": removed an object destroyed while it was out of service");
            } else {
                ++report.failed;
            }
        }
    }
    return report;
}

// --- reconcile ------------------------------------------------------------------

Report reconcile(Cluster& cluster, Session& session, std::span<const unsigned> members) {
    Report report;
    Survey survey = surveyTombstones(cluster, session, members);
    std::vector<std::map<Key, CK_OBJECT_HANDLE>> objects(cluster.memberCount());
    std::vector<std::map<Key, std::vector<CK_OBJECT_HANDLE>>> twins(cluster.memberCount());
    std::vector<views::Records> records(cluster.memberCount());
    std::vector<unsigned> listed;
    for (unsigned m : members) {
        try {
            // View records first: a record seen then has its key listed below.
            records[m] = views::recordsOn(cluster.member(m), session.memberSessionLocked(m));
            std::vector<CK_OBJECT_HANDLE> damaged;
            objects[m] = objectsOn(cluster, m, session.memberSessionLocked(m), twins[m], damaged);
            listed.push_back(m);
            for (CK_OBJECT_HANDLE h : damaged)
                if (destroyOn(cluster, session, m, h) == CKR_OK) {
                    ++report.removed;
                    log::warn("member ", cluster.member(m).name(),
                              ": removed an object a failure cut short while it was written "
                              "(it had no label)");
                }
        } catch (const CkError& e) {
            log::warn("member ", cluster.member(m).name(),
                      ": listing objects for repair failed: ", rvName(e.rv()));
            ++report.failed;
        }
    }
    // A member holding identical objects where another member holds exactly
    // one: they go, and the copy below replaces them from that member. (Where
    // no member holds one alone, nobody can say which is right: left alone.)
    for (unsigned m : listed)
        for (const auto& [key, handles] : twins[m]) {
            bool single = false;
            for (unsigned other : listed) single = single || objects[other].count(key) != 0;
            if (!single) {
                log::warn("member ", cluster.member(m).name(),
                          ": holds identical objects no other member can vouch for; left alone");
                continue;
            }
            for (CK_OBJECT_HANDLE h : handles)
                if (destroyOn(cluster, session, m, h) == CKR_OK) ++report.removed;
            log::warn("member ", cluster.member(m).name(), ": held ", handles.size(),
                      " identical copies of an object; replaced by a copy from another member");
        }
    // What each member holds once this repair is done (for the view records).
    std::vector<std::set<Key>> present(cluster.memberCount());
    for (unsigned m : listed)
        for (const auto& [key, handle] : objects[m]) present[m].insert(key);
    std::set<Key> all;
    for (unsigned m : listed)
        for (const auto& [key, handle] : objects[m]) all.insert(key);
    for (const auto& tombs : survey.tombs)
        for (const auto& [key, handle] : tombs) all.insert(key);

    for (const Key& key : all) {
        std::vector<unsigned> holders, lacking, tombed;
        for (unsigned m : listed) {
            (objects[m].count(key) ? holders : lacking).push_back(m);
            if (survey.tombs[m].count(key)) tombed.push_back(m);
        }
        bool remade = false;
        for (unsigned m : holders) remade |= survey.tombs[m].count(key) != 0;
        if (!tombed.empty() && !remade) {
            // Destroyed while some members were away: remove what remains.
            for (unsigned m : holders) {
                if (destroyOn(cluster, session, m, objects[m][key]) == CKR_OK) {
                    ++report.removed;
                    present[m].erase(key);
                    log::warn("member ", cluster.member(m).name(),
                              ": removed an object destroyed while it was out of service");
                } else {
                    ++report.failed;
                }
            }
            bool old = true;
            for (unsigned m : tombed)
                old = old && now() - survey.tombs[m][key].written > kTombstoneLifetime;
            if (old && survey.complete && listed.size() == cluster.memberCount())
                dropTombstones(cluster, session, survey, key, listed);
            continue;
        }
        if (remade) dropTombstones(cluster, session, survey, key, listed);
        if (holders.empty() || lacking.empty()) continue;
        // A synchronous holder first: an asynchronous one may be behind.
        unsigned source = holders.front();
        for (unsigned h : holders)
            if (!cluster.member(h).async()) {
                source = h;
                break;
            }
        auto copied = replication::copyKey(cluster, session, source, objects[source][key], lacking);
        report.copied += static_cast<unsigned>(copied.made.size());
        report.failed += static_cast<unsigned>(copied.missed.size());
        for (const Placement& p : copied.made) {
            present[p.member].insert(key);
            log::info("member ", cluster.member(p.member).name(), ": repaired a missing object");
        }
        if (!copied.faulted.empty())
            if (auto identity = decodeIdentity(key))
                for (unsigned m : copied.faulted) cluster.inDoubt(m, *identity);
    }
    std::map<std::string, std::vector<unsigned>> keyHolders;
    for (unsigned m : listed)
        for (const Key& key : present[m])
            if (auto identity = decodeIdentity(key); identity && views::recorded(*identity))
                keyHolders[views::labelFor(*identity)].push_back(m);
    std::set<std::string> tombstoned;
    for (const auto& tombs : survey.tombs)
        for (const auto& [key, tomb] : tombs)
            if (auto identity = decodeIdentity(key); identity && views::recorded(*identity))
                tombstoned.insert(views::labelFor(*identity));
    const bool complete = survey.complete && listed.size() == cluster.memberCount();
    auto mended =
        views::reconcile(cluster, session, listed, records, keyHolders, tombstoned, complete);
    report.copied += mended.copied;
    report.removed += mended.removed;
    report.failed += mended.failed;
    return report;
}

}  // namespace p11c::repair

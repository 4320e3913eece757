#include "replication/cluster_id.h"

#include <map>

#include "core/cluster.h"
#include "core/identity.h"
#include "replication/handover.h"
#include "replication/records.h"
#include "util/error.h"
#include "util/rv.h"

namespace p11c::replication {
bool holdsCallerObjects(Cluster& cluster) {
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE token{CKA_TOKEN, &yes, sizeof yes};
    for (unsigned m = 0; m < cluster.memberCount(); ++m) {
        if (!cluster.member(m).serving()) continue;
        CK_SESSION_HANDLE s = cluster.anchorSession(m);
        for (CK_OBJECT_HANDLE h : findAll(cluster.member(m), s, &token, 1))
            if (!cluster.isInternal(m, s, h)) return true;
    }
    return false;
}

bool markedRebuilt(Cluster& cluster) {
    for (unsigned m = 0; m < cluster.memberCount(); ++m)
        if (cluster.member(m).serving() &&
            readRecord(cluster.member(m), cluster.anchorSession(m), kRebuiltRecord))
            return true;
    return false;
}

void clearRebuilt(Cluster& cluster) {
    for (unsigned m = 0; m < cluster.memberCount(); ++m)
        if (cluster.member(m).serving())
            removeRecords(cluster.member(m), cluster.anchorSession(m), kRebuiltRecord);
}

std::optional<std::vector<CK_BYTE>> clusterIdOf(Member& member, CK_SESSION_HANDLE session) {
    auto value = readRecord(member, session, kIdentityRecord);
    if (value && value->size() != kIdentitySize) return std::nullopt;
    return value;
}

std::vector<CK_BYTE> clusterId(Cluster& cluster) {
    std::optional<std::vector<CK_BYTE>> found;
    for (unsigned m = 0; m < cluster.memberCount(); ++m) {
        Member& member = cluster.member(m);
        if (!member.serving()) continue;
        std::optional<std::vector<CK_BYTE>> id;
        try {
            id = clusterIdOf(member, cluster.anchorSession(m));
        } catch (const CkError& e) {
            need(e.rv(), member, "reading the cluster identity");
        }
        if (!id) continue;
        if (found && *found != *id)
            throw TransportError("the members hold different cluster identities (" + toHex(*found) +
                                 ", and " + toHex(*id) + " on member \"" + member.name() +
                                 "\"): run `p11cluster init --cluster-id HEX`");
        found = id;
    }
    if (!found)
        throw TransportError(
            "no reachable member holds the cluster identity: run `p11cluster init` (this release "
            "gives every cluster one)");
    return *found;
}

std::vector<CK_BYTE> establishClusterId(Cluster& cluster,
                                        const std::optional<std::vector<CK_BYTE>>& wanted,
                                        std::ostream& out) {
    std::map<std::vector<CK_BYTE>, std::vector<std::string>> held;
    std::vector<unsigned> lacking;
    for (unsigned m = 0; m < cluster.memberCount(); ++m) {
        Member& member = cluster.member(m);
        if (!member.serving()) continue;
        std::optional<std::vector<CK_BYTE>> id;
        try {
            id = clusterIdOf(member, cluster.anchorSession(m));
        } catch (const CkError& e) {
            need(e.rv(), member, "reading the cluster identity");
        }
        if (id)
            held[*id].push_back(member.name());
        else
            lacking.push_back(m);
    }
    if (held.size() > 1 && !wanted) {
        std::string list;
        for (const auto& [id, names] : held) list += " " + toHex(id) + " (" + names.front() + ")";
        throw TransportError("the members hold different cluster identities:" + list +
                             "; name the cluster's with --cluster-id HEX");
    }
    std::vector<CK_BYTE> id;
    if (wanted) {
        id = *wanted;
        const bool other = held.size() > 1 || (held.size() == 1 && held.begin()->first != id);
        if (other && holdsCallerObjects(cluster))
            throw TransportError(
                "this cluster holds keys and has its own identity (" + toHex(held.begin()->first) +
                "): --cluster-id gives a rebuilt, empty cluster the identity of the one it "
                "replaces, never a working cluster another's");
        if (other) lacking.clear();  // every reachable member gets it
        if (other)
            for (unsigned m = 0; m < cluster.memberCount(); ++m)
                if (cluster.member(m).serving()) lacking.push_back(m);
    } else if (!held.empty()) {
        id = held.begin()->first;
    } else {
        id = randomBytes(kIdentitySize);
        out << "cluster identity " << toHex(id) << " made\n";
    }
    for (unsigned m : lacking) {
        replaceRecord(cluster.member(m), cluster.anchorSession(m), kIdentityRecord, id);
        if (wanted) replaceRecord(cluster.member(m), cluster.anchorSession(m), kRebuiltRecord, id);
    }
    if (wanted && !lacking.empty())
        out << "the cluster takes the identity of the one it replaces: restore its backups\n";
    out << "cluster identity " << toHex(id) << " on every reachable member\n";
    return id;
}

}  // namespace p11c::replication

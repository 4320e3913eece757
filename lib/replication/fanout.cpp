#include "replication/fanout.h"

#include "core/cluster.h"
#include "util/error.h"
#include "util/log.h"
#include "util/rv.h"

namespace p11c::replication {

unsigned requiredFor(const Cluster& cluster) {
    return cluster.config().cluster.writeQuorum.required(cluster.quorumBase());
}

Outcome write(Cluster& cluster, std::span<const unsigned> targets, unsigned required,
              const std::function<CK_RV(unsigned, CK_OBJECT_HANDLE*)>& apply,
              const std::function<void(unsigned, CK_OBJECT_HANDLE)>& undo, const char* what,
              bool token) {
    Outcome outcome;
    bool decided = false;
    for (unsigned m : targets) {
        Member& member = cluster.member(m);
        if (!cluster.writesTo(m)) {
            outcome.missed.push_back(m);
            continue;
        }
        CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
        CK_RV rv = apply(m, &handle);
        if (rv == CKR_OK) {
            decided = true;
            outcome.done.push_back({m, handle});
            continue;
        }
        RvClass cls = classify(rv);
        if (cls == RvClass::MemberFault || cls == RvClass::SessionLost) {
            cluster.memberFault(m, rv, what);
            outcome.missed.push_back(m);
            outcome.faulted.push_back(m);
            continue;
        }
        if (!decided) {
            outcome.rv = rv;  // the deciding member's answer, unchanged
            return outcome;
        }
        log::error("member ", member.name(), ": ", what, " failed with ", rvName(rv),
                   " where other members succeeded; it misses this write");
        outcome.missed.push_back(m);
    }
    if (outcome.done.size() < required) {
        log::error(what, ": only ", outcome.done.size(), " of the ", required,
                   " members the write quorum requires took the write; rolling it back");
        if (undo)
            for (const Placement& p : outcome.done) undo(p.member, p.handle);
        outcome.done.clear();
        outcome.rv = CKR_DEVICE_ERROR;
    }
    if (token && outcome.rv == CKR_OK && !outcome.done.empty()) cluster.noteWrite();
    return outcome;
}

}  // namespace p11c::replication

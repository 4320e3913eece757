// Running one member call with failover: the routing policy picks a member
// among the candidates; a member fault marks it and moves to the next one.
// Application results go back unchanged.
#pragma once

#include <pkcs11.h>

#include <vector>

#include "core/cluster.h"
#include "util/error.h"
#include "util/rv.h"

namespace p11c {

// fn(member) makes the call; CkError thrown by it counts as its result.
// CKR_DEVICE_ERROR when no candidate is left.
template <class Fn>
CK_RV onAnyMember(Cluster& cluster, std::vector<unsigned> candidates, const char* what, Fn&& fn) {
    while (!candidates.empty()) {
        unsigned m = cluster.pick(candidates);
        CK_RV rv;
        try {
            rv = fn(m);
        } catch (const CkError& e) {
            rv = e.rv();
        }
        if (!cluster.lostMember(rv)) return rv;
        cluster.memberFault(m, rv, what);
        std::erase(candidates, m);
    }
    return CKR_DEVICE_ERROR;
}

}  // namespace p11c

// Write fan-out: apply one write to every member, with a quorum.
//
// The first member that answers decides for the caller: an application error
// from it (bad template, read-only session, ...) is returned unchanged and
// nothing is written anywhere else. Member faults are routed around; a member
// that disagrees with the deciding member, or faults, misses the write and is
// recorded as such. The write succeeds when `required` members took it;
// otherwise it is undone where it was taken and fails with CKR_DEVICE_ERROR.
//
// Thread-safety: runs in the caller's thread; the caller holds its session's
// lock; no cluster-wide lock is held.
#pragma once

#include <pkcs11.h>

#include <functional>
#include <span>
#include <vector>

#include "core/object_index.h"

namespace p11c {
class Cluster;
}

namespace p11c::replication {

struct Outcome {
    CK_RV rv = CKR_OK;
    std::vector<Placement> done;   // members that took the write (and the handle made, if any)
    std::vector<unsigned> missed;  // members that did not
    // Members whose call failed with a member fault: the write may still
    // have happened there (a call that missed its deadline), so the object
    // is in doubt on them (Cluster::inDoubt).
    std::vector<unsigned> faulted;
};

// apply(member, &handle) performs the write on one member; handle may be left
// CK_INVALID_HANDLE for writes that make no object. undo(member, handle)
// reverts it (may be empty for writes that cannot be undone).
// `token`: whether the write is to a token object (false only when known to
// be a session object): asynchronous members catch up on token writes.
Outcome write(Cluster& cluster, std::span<const unsigned> targets, unsigned required,
              const std::function<CK_RV(unsigned, CK_OBJECT_HANDLE*)>& apply,
              const std::function<void(unsigned, CK_OBJECT_HANDLE)>& undo, const char* what,
              bool token = true);

// How many members the configuration requires to hold a write.
unsigned requiredFor(const Cluster& cluster);

}  // namespace p11c::replication

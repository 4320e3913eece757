// p11cluster-bench's operations: what one op is for each --op, and the token
// keys it needs (found by label, or generated once as token objects:
// CKA_TOKEN, private, sensitive).
//
// Threading: setup() runs once, on the main thread, before any worker.
// once() is then called by every worker at once, each with its own session
// and its own Worker; it takes no lock and allocates nothing.
#pragma once

#include <pkcs11.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace p11c::bench {

// What failed: the call's name and its CK_RV (rv == CKR_OK: nothing failed).
struct Outcome {
    CK_RV rv = CKR_OK;
    const char* call = nullptr;
};

// One worker's own buffers and counters.
struct Worker {
    unsigned index = 0;
    uint64_t count = 0;  // ops started so far (fresh GCM IVs are made from it)
    std::vector<CK_BYTE> in, out;
};

class Workload {
  public:
    virtual ~Workload() = default;
    // What one op is (printed once on stderr).
    virtual std::string describe() const = 0;
    // Finds or makes the keys labelled `label` (in an R/W, logged-in session).
    virtual Outcome setup(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                          const std::string& label) = 0;
    // Sizes a worker's buffers.
    virtual void prepare(Worker& worker) const = 0;
    // One op.
    virtual Outcome once(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE session,
                         Worker& worker) const = 0;
};

// The workload for an --op name; null when there is none.
std::unique_ptr<Workload> makeWorkload(const std::string& op);

}  // namespace p11c::bench

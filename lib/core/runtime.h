// Runtime: the process-wide state between C_Initialize and C_Finalize.
//
// cluster() is on every call's path: an atomic load and a fork-generation
// compare, no lock. C_Initialize / C_Finalize are serialised by a mutex.
// After fork() the child must call C_Initialize again (PKCS#11 5.4); until
// then every call reports CKR_CRYPTOKI_NOT_INITIALIZED, and the parent's
// member sessions and threads are never used in the child.
#pragma once

#include <pkcs11.h>

#include "core/cluster.h"

namespace p11c::runtime {

// Throws CkError(CKR_CRYPTOKI_NOT_INITIALIZED).
Cluster& cluster();

CK_RV initialize(CK_VOID_PTR initArgs);
CK_RV finalize(CK_VOID_PTR reserved);

}  // namespace p11c::runtime

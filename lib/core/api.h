// The implementation of every Cryptoki function, one per C_* name, called by
// the exported entry points in module/ (which add the exception guard).
// Functions may throw CkError; anything else thrown is a bug reported as
// CKR_GENERAL_ERROR by the guard.
#pragma once

#include <pkcs11.h>
#include <pkcs11_functions.h>

namespace p11c::api {

#define P11C_DECLARE(name, params, args) CK_RV name params;
P11_FUNCTIONS_3_0(P11C_DECLARE)
#undef P11C_DECLARE

}  // namespace p11c::api

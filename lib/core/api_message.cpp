// PKCS#11 3.0 message-based functions (chapter 5.15-5.18 of 3.0).
//
// The members we drive are 2.40 tokens without message functions; the
// virtual token does not advertise CKF_MESSAGE_* mechanisms either. Each
// function, generated from the function table, validates its session and
// reports that it is not supported.
#include "core/api.h"
#include "core/runtime.h"

// Only the session handle matters to these functions.
#pragma GCC diagnostic ignored "-Wunused-parameter"

namespace p11c::api {
namespace {

CK_RV unsupported(CK_SESSION_HANDLE hSession) {
    runtime::cluster().sessions().get(hSession);
    return CKR_FUNCTION_NOT_SUPPORTED;
}

}  // namespace

#define P11C_MESSAGE_UNSUPPORTED(name, params, args) \
    CK_RV name params {                              \
        return unsupported(hSession);                \
    }
P11_FUNCTIONS_3_0_MESSAGE(P11C_MESSAGE_UNSUPPORTED)
#undef P11C_MESSAGE_UNSUPPORTED

}  // namespace p11c::api

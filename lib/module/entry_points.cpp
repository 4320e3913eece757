// The exported C ABI: one entry point per Cryptoki function, generated from
// the function table (pkcs11/pkcs11_functions.h). Each is a guard around the
// implementation in p11c::api; no cluster logic lives here.
#include <pkcs11.h>
#include <pkcs11_functions.h>

#include "core/api.h"
#include "module/guard.h"
#include "module/interfaces.h"

#define P11C_EXPORT extern "C" __attribute__((visibility("default")))

#define P11C_ENTRY(name, params, args)                                                      \
    P11C_EXPORT CK_RV name params {                                                         \
        return p11c::module::guard(#name, [&]() -> CK_RV { return p11c::api::name args; }); \
    }
P11_FUNCTIONS_3_0(P11C_ENTRY)
#undef P11C_ENTRY

namespace p11c::module {

#define P11C_POINTER(name, params, args) name,

CK_FUNCTION_LIST functionList240 = {{2, 40}, P11_FUNCTIONS_2_40(P11C_POINTER)};
CK_FUNCTION_LIST_3_0 functionList30 = {{3, 0}, P11_FUNCTIONS_3_0(P11C_POINTER)};

#undef P11C_POINTER

}  // namespace p11c::module

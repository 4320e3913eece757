// The function tables handed to callers: the 2.40 list (C_GetFunctionList)
// and the 3.0 interface (C_GetInterface / C_GetInterfaceList).
#pragma once

#include <pkcs11.h>

namespace p11c::module {

extern CK_FUNCTION_LIST functionList240;
extern CK_FUNCTION_LIST_3_0 functionList30;

}  // namespace p11c::module

// C_GetFunctionList, C_GetInterfaceList, C_GetInterface: valid before
// C_Initialize, as the specification requires.
#include "module/interfaces.h"

#include <cstring>

#include "core/api.h"

namespace p11c::api {
namespace {

CK_CHAR kInterfaceName[] = "PKCS 11";

CK_INTERFACE* interfaces() {
    static CK_INTERFACE table[] = {
        {kInterfaceName, &module::functionList30, 0},
        {kInterfaceName, &module::functionList240, 0},
    };
    return table;
}
constexpr CK_ULONG kInterfaceCount = 2;

}  // namespace

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList) {
    if (ppFunctionList == nullptr) return CKR_ARGUMENTS_BAD;
    *ppFunctionList = &module::functionList240;
    return CKR_OK;
}

CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount) {
    if (pulCount == nullptr) return CKR_ARGUMENTS_BAD;
    if (pInterfacesList == nullptr) {
        *pulCount = kInterfaceCount;
        return CKR_OK;
    }
    if (*pulCount < kInterfaceCount) {
        *pulCount = kInterfaceCount;
        return CKR_BUFFER_TOO_SMALL;
    }
    std::memcpy(pInterfacesList, interfaces(), sizeof(CK_INTERFACE) * kInterfaceCount);
    *pulCount = kInterfaceCount;
    return CKR_OK;
}

CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                     CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags) {
    if (ppInterface == nullptr) return CKR_ARGUMENTS_BAD;
    for (CK_ULONG i = 0; i < kInterfaceCount; ++i) {
        CK_INTERFACE& candidate = interfaces()[i];
        if (pInterfaceName != nullptr &&
            std::strcmp(reinterpret_cast<const char*>(pInterfaceName),
                        reinterpret_cast<const char*>(candidate.pInterfaceName)) != 0)
            continue;
        const auto* version = static_cast<const CK_VERSION*>(candidate.pFunctionList);
        if (pVersion != nullptr &&
            (pVersion->major != version->major || pVersion->minor != version->minor))
            continue;
        if ((candidate.flags & flags) != flags) continue;
        *ppInterface = &candidate;
        return CKR_OK;
    }
    return CKR_ARGUMENTS_BAD;
}

}  // namespace p11c::api

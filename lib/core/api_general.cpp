// Chapter 5.4-5.5 of the specification: general purpose, slot and token.
#include <cstring>

#include "core/api.h"
#include "core/runtime.h"
#include "util/error.h"

namespace p11c::api {
namespace {

void padded(CK_UTF8CHAR* field, size_t size, const char* text) {
    std::memset(field, ' ', size);
    std::memcpy(field, text, std::min(size, std::strlen(text)));
}

// The two-call convention for lists: NULL asks the length.
template <class T>
CK_RV fillList(const std::vector<T>& items, T* out, CK_ULONG_PTR count) {
    if (count == nullptr) return CKR_ARGUMENTS_BAD;
    if (out == nullptr) {
        *count = items.size();
        return CKR_OK;
    }
    if (*count < items.size()) {
        *count = items.size();
        return CKR_BUFFER_TOO_SMALL;
    }
    std::copy(items.begin(), items.end(), out);
    *count = items.size();
    return CKR_OK;
}

}  // namespace

CK_RV C_Initialize(CK_VOID_PTR pInitArgs) {
    return runtime::initialize(pInitArgs);
}

CK_RV C_Finalize(CK_VOID_PTR pReserved) {
    return runtime::finalize(pReserved);
}

CK_RV C_GetInfo(CK_INFO_PTR pInfo) {
    runtime::cluster();
    if (pInfo == nullptr) return CKR_ARGUMENTS_BAD;
    std::memset(pInfo, 0, sizeof *pInfo);
    pInfo->cryptokiVersion = {3, 0};
    padded(pInfo->manufacturerID, sizeof pInfo->manufacturerID, "p11cluster");
    padded(pInfo->libraryDescription, sizeof pInfo->libraryDescription,
           "p11cluster: one token over many");
    pInfo->libraryVersion = {0, 1};
    return CKR_OK;
}

CK_RV C_GetSlotList(CK_BBOOL, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount) {
    Cluster& cluster = runtime::cluster();
    return fillList(std::vector<CK_SLOT_ID>{cluster.slotId()}, pSlotList, pulCount);
}

CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo) {
    Cluster& cluster = runtime::cluster();
    if (pInfo == nullptr) return CKR_ARGUMENTS_BAD;
    cluster.checkSlot(slotID);
    cluster.slotInfo(*pInfo);
    return CKR_OK;
}

CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo) {
    Cluster& cluster = runtime::cluster();
    if (pInfo == nullptr) return CKR_ARGUMENTS_BAD;
    cluster.checkSlot(slotID);
    cluster.tokenInfo(*pInfo);
    return CKR_OK;
}

CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList,
                         CK_ULONG_PTR pulCount) {
    Cluster& cluster = runtime::cluster();
    if (pulCount == nullptr) return CKR_ARGUMENTS_BAD;
    cluster.checkSlot(slotID);
    return fillList(cluster.mechanismList(), pMechanismList, pulCount);
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo) {
    Cluster& cluster = runtime::cluster();
    if (pInfo == nullptr) return CKR_ARGUMENTS_BAD;
    cluster.checkSlot(slotID);
    cluster.mechanismInfo(type, *pInfo);
    return CKR_OK;
}

CK_RV C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR, CK_ULONG, CK_UTF8CHAR_PTR) {
    // Members are initialised one by one (softhsm2-util, the HSM's own tools)
    // and joined by configuration; re-initialising all of them through the
    // cluster would destroy every key at once.
    runtime::cluster().checkSlot(slotID);
    return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved) {
    runtime::cluster();
    if (pSlot == nullptr || pReserved != nullptr) return CKR_ARGUMENTS_BAD;
    // The virtual token is never removed: there is no event to wait for.
    if (flags & CKF_DONT_BLOCK) return CKR_NO_EVENT;
    return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE hSession) {
    runtime::cluster().sessions().get(hSession);
    return CKR_FUNCTION_NOT_PARALLEL;
}

CK_RV C_CancelFunction(CK_SESSION_HANDLE hSession) {
    runtime::cluster().sessions().get(hSession);
    return CKR_FUNCTION_NOT_PARALLEL;
}

}  // namespace p11c::api

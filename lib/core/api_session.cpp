// Chapter 5.6 of the specification: sessions and login.
#include "core/api.h"
#include "core/runtime.h"
#include "util/error.h"
#include "util/log.h"

namespace p11c::api {
namespace {

void closeSession(Cluster& cluster, std::shared_ptr<Session> session) {
    cluster.objects().removeOwnedBy(session->handle());
    session.reset();  // the last reference closes its member sessions
    if (cluster.sessions().count() == 0) cluster.lastSessionClosed();
}

}  // namespace

CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR, CK_NOTIFY,
                    CK_SESSION_HANDLE_PTR phSession) {
    Cluster& cluster = runtime::cluster();
    if (phSession == nullptr) return CKR_ARGUMENTS_BAD;
    cluster.checkSlot(slotID);
    if (!(flags & CKF_SERIAL_SESSION)) return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
    if (!(flags & CKF_RW_SESSION) && cluster.loginState() == CKU_SO)
        return CKR_SESSION_READ_WRITE_SO_EXISTS;
    auto session = cluster.sessions().open(cluster, flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION),
                                           cluster.memberCount());
    *phSession = session->handle();
    return CKR_OK;
}

CK_RV C_CloseSession(CK_SESSION_HANDLE hSession) {
    Cluster& cluster = runtime::cluster();
    closeSession(cluster, cluster.sessions().remove(hSession));
    return CKR_OK;
}

CK_RV C_CloseAllSessions(CK_SLOT_ID slotID) {
    Cluster& cluster = runtime::cluster();
    cluster.checkSlot(slotID);
    for (auto& session : cluster.sessions().removeAll()) closeSession(cluster, std::move(session));
    cluster.lastSessionClosed();
    return CKR_OK;
}

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (pInfo == nullptr) return CKR_ARGUMENTS_BAD;
    pInfo->slotID = cluster.slotId();
    pInfo->flags = session->flags();
    pInfo->ulDeviceError = 0;
    const bool rw = session->readWrite();
    switch (cluster.loginState()) {
        case CKU_SO:
            pInfo->state = CKS_RW_SO_FUNCTIONS;
            break;
        case CKU_USER:
            pInfo->state = rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
            break;
        default:
            pInfo->state = rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
            break;
    }
    return CKR_OK;
}

// Operation state names one member's internal state; it cannot be restored
// on another member, so the cluster does not offer it.
CK_RV C_GetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR, CK_ULONG_PTR) {
    runtime::cluster().sessions().get(hSession);
    return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_SetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR, CK_ULONG, CK_OBJECT_HANDLE,
                          CK_OBJECT_HANDLE) {
    runtime::cluster().sessions().get(hSession);
    return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
              CK_ULONG ulPinLen) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (pPin == nullptr && ulPinLen != 0) return CKR_ARGUMENTS_BAD;
    cluster.login(*session, userType, pPin, ulPinLen);
    if (userType == CKU_USER) {
        try {
            cluster.afterLogin();  // the login stands even if this cleanup cannot finish
        } catch (const CkError& e) {
            log::warn("after login: removing tombstoned objects failed: ", rvName(e.rv()));
        }
    }
    return CKR_OK;
}

CK_RV C_LoginUser(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
                  CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pUsername, CK_ULONG ulUsernameLen) {
    // Members are single-user tokens (no usernames); an empty username is
    // the ordinary login.
    if (pUsername != nullptr && ulUsernameLen != 0) {
        runtime::cluster().sessions().get(hSession);
        return CKR_FUNCTION_NOT_SUPPORTED;
    }
    return C_Login(hSession, userType, pPin, ulPinLen);
}

CK_RV C_Logout(CK_SESSION_HANDLE hSession) {
    Cluster& cluster = runtime::cluster();
    cluster.sessions().get(hSession);
    cluster.logout();
    return CKR_OK;
}

CK_RV C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (pPin == nullptr && ulPinLen != 0) return CKR_ARGUMENTS_BAD;
    cluster.initPin(*session, pPin, ulPinLen);
    return CKR_OK;
}

CK_RV C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
               CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if ((pOldPin == nullptr && ulOldLen != 0) || (pNewPin == nullptr && ulNewLen != 0))
        return CKR_ARGUMENTS_BAD;
    cluster.setPin(*session, pOldPin, ulOldLen, pNewPin, ulNewLen);
    return CKR_OK;
}

CK_RV C_SessionCancel(CK_SESSION_HANDLE hSession, CK_FLAGS flags) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    std::lock_guard lock(session->mutex);
    // Only operations the members can cancel could be cancelled here; the
    // 2.40 members we drive have no C_SessionCancel.
    (void)flags;
    return CKR_FUNCTION_NOT_SUPPORTED;
}

}  // namespace p11c::api

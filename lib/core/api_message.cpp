// PKCS#11 3.0 message-based functions (chapter 5.15-5.18 of 3.0).
//
// The members we drive are 2.40 tokens without message functions; the
// virtual token does not advertise CKF_MESSAGE_* mechanisms either. Each
// function validates its session and reports that it is not supported.
#include "core/api.h"
#include "core/runtime.h"

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

P11C_MESSAGE_UNSUPPORTED(C_MessageEncryptInit,
                         (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR, CK_OBJECT_HANDLE), )
P11C_MESSAGE_UNSUPPORTED(C_EncryptMessage,
                         (CK_SESSION_HANDLE hSession, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG,
                          CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR), )
P11C_MESSAGE_UNSUPPORTED(C_EncryptMessageBegin,
                         (CK_SESSION_HANDLE hSession, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR,
                          CK_ULONG), )
P11C_MESSAGE_UNSUPPORTED(C_EncryptMessageNext,
                         (CK_SESSION_HANDLE hSession, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG,
                          CK_BYTE_PTR, CK_ULONG_PTR, CK_FLAGS), )
P11C_MESSAGE_UNSUPPORTED(C_MessageEncryptFinal, (CK_SESSION_HANDLE hSession), )
P11C_MESSAGE_UNSUPPORTED(C_MessageDecryptInit,
                         (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR, CK_OBJECT_HANDLE), )
P11C_MESSAGE_UNSUPPORTED(C_DecryptMessage,
                         (CK_SESSION_HANDLE hSession, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG,
                          CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR), )
P11C_MESSAGE_UNSUPPORTED(C_DecryptMessageBegin,
                         (CK_SESSION_HANDLE hSession, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR,
                          CK_ULONG), )
P11C_MESSAGE_UNSUPPORTED(C_DecryptMessageNext,
                         (CK_SESSION_HANDLE hSession, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG,
                          CK_BYTE_PTR, CK_ULONG_PTR, CK_FLAGS), )
P11C_MESSAGE_UNSUPPORTED(C_MessageDecryptFinal, (CK_SESSION_HANDLE hSession), )
P11C_MESSAGE_UNSUPPORTED(C_MessageSignInit,
                         (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR, CK_OBJECT_HANDLE), )
P11C_MESSAGE_UNSUPPORTED(C_SignMessage,
                         (CK_SESSION_HANDLE hSession, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG,
                          CK_BYTE_PTR, CK_ULONG_PTR), )
P11C_MESSAGE_UNSUPPORTED(C_SignMessageBegin, (CK_SESSION_HANDLE hSession, CK_VOID_PTR, CK_ULONG), )
P11C_MESSAGE_UNSUPPORTED(C_SignMessageNext,
                         (CK_SESSION_HANDLE hSession, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG,
                          CK_BYTE_PTR, CK_ULONG_PTR), )
P11C_MESSAGE_UNSUPPORTED(C_MessageSignFinal, (CK_SESSION_HANDLE hSession), )
P11C_MESSAGE_UNSUPPORTED(C_MessageVerifyInit,
                         (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR, CK_OBJECT_HANDLE), )
P11C_MESSAGE_UNSUPPORTED(C_VerifyMessage,
                         (CK_SESSION_HANDLE hSession, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG,
                          CK_BYTE_PTR, CK_ULONG), )
P11C_MESSAGE_UNSUPPORTED(C_VerifyMessageBegin,
                         (CK_SESSION_HANDLE hSession, CK_VOID_PTR, CK_ULONG), )
P11C_MESSAGE_UNSUPPORTED(C_VerifyMessageNext,
                         (CK_SESSION_HANDLE hSession, CK_VOID_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG,
                          CK_BYTE_PTR, CK_ULONG), )
P11C_MESSAGE_UNSUPPORTED(C_MessageVerifyFinal, (CK_SESSION_HANDLE hSession), )

}  // namespace p11c::api

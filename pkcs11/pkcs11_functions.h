/*
 * p11cluster - PKCS#11 function table.
 *
 * Written for the p11cluster project from the OASIS PKCS #11 Cryptographic
 * Token Interface Base Specification, Version 3.0.
 *
 * This file is the single source of truth for the list of Cryptoki
 * functions, their order in the function-list structures, and their
 * parameters.  It only defines X-macros; it declares nothing by itself.
 * Include <pkcs11/pkcs11.h> (which includes this file after it has defined
 * every type the tables mention) rather than this file directly, unless all
 * of the Cryptoki types are already in scope.
 *
 * Every entry has the form
 *
 *     X(name, (parameter list), (argument list))
 *
 * where "name" is the Cryptoki function name (C_xxx), the parameter list is
 * the parenthesised, comma-separated list of typed parameters as the
 * specification gives them, and the argument list is the parenthesised list
 * of the same parameter names without their types, in the same order, so
 * that a forwarding wrapper can be generated:
 *
 *     #define FORWARD(name, params, args) \
 *         CK_RV my_##name params { return target->name args; }
 *     P11_FUNCTIONS_3_0(FORWARD)
 *
 * The entries are listed in exactly the order in which the function pointers
 * appear in CK_FUNCTION_LIST (P11_FUNCTIONS_2_40) and, with the 3.0
 * additions appended, in CK_FUNCTION_LIST_3_0 (P11_FUNCTIONS_3_0).
 */

#ifndef P11CLUSTER_PKCS11_FUNCTIONS_H
#define P11CLUSTER_PKCS11_FUNCTIONS_H

/* clang-format off */

/* X(name, parameter-list-in-parentheses, argument-list-in-parentheses) */

/* The 68 functions of PKCS #11 v2.40, in CK_FUNCTION_LIST order. */
#define P11_FUNCTIONS_2_40(X) \
    X(C_Initialize, \
      (CK_VOID_PTR pInitArgs), \
      (pInitArgs)) \
    X(C_Finalize, \
      (CK_VOID_PTR pReserved), \
      (pReserved)) \
    X(C_GetInfo, \
      (CK_INFO_PTR pInfo), \
      (pInfo)) \
    X(C_GetFunctionList, \
      (CK_FUNCTION_LIST_PTR_PTR ppFunctionList), \
      (ppFunctionList)) \
    X(C_GetSlotList, \
      (CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, \
       CK_ULONG_PTR pulCount), \
      (tokenPresent, pSlotList, pulCount)) \
    X(C_GetSlotInfo, \
      (CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo), \
      (slotID, pInfo)) \
    X(C_GetTokenInfo, \
      (CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo), \
      (slotID, pInfo)) \
    X(C_GetMechanismList, \
      (CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList, \
       CK_ULONG_PTR pulCount), \
      (slotID, pMechanismList, pulCount)) \
    X(C_GetMechanismInfo, \
      (CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, \
       CK_MECHANISM_INFO_PTR pInfo), \
      (slotID, type, pInfo)) \
    X(C_InitToken, \
      (CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen, \
       CK_UTF8CHAR_PTR pLabel), \
      (slotID, pPin, ulPinLen, pLabel)) \
    X(C_InitPIN, \
      (CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, \
       CK_ULONG ulPinLen), \
      (hSession, pPin, ulPinLen)) \
    X(C_SetPIN, \
      (CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, \
       CK_ULONG ulOldLen, CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen), \
      (hSession, pOldPin, ulOldLen, pNewPin, ulNewLen)) \
    X(C_OpenSession, \
      (CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, \
       CK_NOTIFY Notify, CK_SESSION_HANDLE_PTR phSession), \
      (slotID, flags, pApplication, Notify, phSession)) \
    X(C_CloseSession, \
      (CK_SESSION_HANDLE hSession), \
      (hSession)) \
    X(C_CloseAllSessions, \
      (CK_SLOT_ID slotID), \
      (slotID)) \
    X(C_GetSessionInfo, \
      (CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo), \
      (hSession, pInfo)) \
    X(C_GetOperationState, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState, \
       CK_ULONG_PTR pulOperationStateLen), \
      (hSession, pOperationState, pulOperationStateLen)) \
    X(C_SetOperationState, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState, \
       CK_ULONG ulOperationStateLen, CK_OBJECT_HANDLE hEncryptionKey, \
       CK_OBJECT_HANDLE hAuthenticationKey), \
      (hSession, pOperationState, ulOperationStateLen, hEncryptionKey, \
       hAuthenticationKey)) \
    X(C_Login, \
      (CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, \
       CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen), \
      (hSession, userType, pPin, ulPinLen)) \
    X(C_Logout, \
      (CK_SESSION_HANDLE hSession), \
      (hSession)) \
    X(C_CreateObject, \
      (CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, \
       CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phObject), \
      (hSession, pTemplate, ulCount, phObject)) \
    X(C_CopyObject, \
      (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, \
       CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, \
       CK_OBJECT_HANDLE_PTR phNewObject), \
      (hSession, hObject, pTemplate, ulCount, phNewObject)) \
    X(C_DestroyObject, \
      (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject), \
      (hSession, hObject)) \
    X(C_GetObjectSize, \
      (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, \
       CK_ULONG_PTR pulSize), \
      (hSession, hObject, pulSize)) \
    X(C_GetAttributeValue, \
      (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, \
       CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount), \
      (hSession, hObject, pTemplate, ulCount)) \
    X(C_SetAttributeValue, \
      (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, \
       CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount), \
      (hSession, hObject, pTemplate, ulCount)) \
    X(C_FindObjectsInit, \
      (CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, \
       CK_ULONG ulCount), \
      (hSession, pTemplate, ulCount)) \
    X(C_FindObjects, \
      (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject, \
       CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount), \
      (hSession, phObject, ulMaxObjectCount, pulObjectCount)) \
    X(C_FindObjectsFinal, \
      (CK_SESSION_HANDLE hSession), \
      (hSession)) \
    X(C_EncryptInit, \
      (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, \
       CK_OBJECT_HANDLE hKey), \
      (hSession, pMechanism, hKey)) \
    X(C_Encrypt, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, \
       CK_BYTE_PTR pEncryptedData, CK_ULONG_PTR pulEncryptedDataLen), \
      (hSession, pData, ulDataLen, pEncryptedData, pulEncryptedDataLen)) \
    X(C_EncryptUpdate, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen, \
       CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen), \
      (hSession, pPart, ulPartLen, pEncryptedPart, pulEncryptedPartLen)) \
    X(C_EncryptFinal, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastEncryptedPart, \
       CK_ULONG_PTR pulLastEncryptedPartLen), \
      (hSession, pLastEncryptedPart, pulLastEncryptedPartLen)) \
    X(C_DecryptInit, \
      (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, \
       CK_OBJECT_HANDLE hKey), \
      (hSession, pMechanism, hKey)) \
    X(C_Decrypt, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData, \
       CK_ULONG ulEncryptedDataLen, CK_BYTE_PTR pData, \
       CK_ULONG_PTR pulDataLen), \
      (hSession, pEncryptedData, ulEncryptedDataLen, pData, pulDataLen)) \
    X(C_DecryptUpdate, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart, \
       CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, \
       CK_ULONG_PTR pulPartLen), \
      (hSession, pEncryptedPart, ulEncryptedPartLen, pPart, pulPartLen)) \
    X(C_DecryptFinal, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart, \
       CK_ULONG_PTR pulLastPartLen), \
      (hSession, pLastPart, pulLastPartLen)) \
    X(C_DigestInit, \
      (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism), \
      (hSession, pMechanism)) \
    X(C_Digest, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, \
       CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen), \
      (hSession, pData, ulDataLen, pDigest, pulDigestLen)) \
    X(C_DigestUpdate, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen), \
      (hSession, pPart, ulPartLen)) \
    X(C_DigestKey, \
      (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey), \
      (hSession, hKey)) \
    X(C_DigestFinal, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest, \
       CK_ULONG_PTR pulDigestLen), \
      (hSession, pDigest, pulDigestLen)) \
    X(C_SignInit, \
      (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, \
       CK_OBJECT_HANDLE hKey), \
      (hSession, pMechanism, hKey)) \
    X(C_Sign, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, \
       CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen), \
      (hSession, pData, ulDataLen, pSignature, pulSignatureLen)) \
    X(C_SignUpdate, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen), \
      (hSession, pPart, ulPartLen)) \
    X(C_SignFinal, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, \
       CK_ULONG_PTR pulSignatureLen), \
      (hSession, pSignature, pulSignatureLen)) \
    X(C_SignRecoverInit, \
      (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, \
       CK_OBJECT_HANDLE hKey), \
      (hSession, pMechanism, hKey)) \
    X(C_SignRecover, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, \
       CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen), \
      (hSession, pData, ulDataLen, pSignature, pulSignatureLen)) \
    X(C_VerifyInit, \
      (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, \
       CK_OBJECT_HANDLE hKey), \
      (hSession, pMechanism, hKey)) \
    X(C_Verify, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, \
       CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen), \
      (hSession, pData, ulDataLen, pSignature, ulSignatureLen)) \
    X(C_VerifyUpdate, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen), \
      (hSession, pPart, ulPartLen)) \
    X(C_VerifyFinal, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, \
       CK_ULONG ulSignatureLen), \
      (hSession, pSignature, ulSignatureLen)) \
    X(C_VerifyRecoverInit, \
      (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, \
       CK_OBJECT_HANDLE hKey), \
      (hSession, pMechanism, hKey)) \
    X(C_VerifyRecover, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, \
       CK_ULONG ulSignatureLen, CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen), \
      (hSession, pSignature, ulSignatureLen, pData, pulDataLen)) \
    X(C_DigestEncryptUpdate, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen, \
       CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen), \
      (hSession, pPart, ulPartLen, pEncryptedPart, pulEncryptedPartLen)) \
    X(C_DecryptDigestUpdate, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart, \
       CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, \
       CK_ULONG_PTR pulPartLen), \
      (hSession, pEncryptedPart, ulEncryptedPartLen, pPart, pulPartLen)) \
    X(C_SignEncryptUpdate, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen, \
       CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen), \
      (hSession, pPart, ulPartLen, pEncryptedPart, pulEncryptedPartLen)) \
    X(C_DecryptVerifyUpdate, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart, \
       CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, \
       CK_ULONG_PTR pulPartLen), \
      (hSession, pEncryptedPart, ulEncryptedPartLen, pPart, pulPartLen)) \
    X(C_GenerateKey, \
      (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, \
       CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount, \
       CK_OBJECT_HANDLE_PTR phKey), \
      (hSession, pMechanism, pTemplate, ulCount, phKey)) \
    X(C_GenerateKeyPair, \
      (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, \
       CK_ATTRIBUTE_PTR pPublicKeyTemplate, \
       CK_ULONG ulPublicKeyAttributeCount, \
       CK_ATTRIBUTE_PTR pPrivateKeyTemplate, \
       CK_ULONG ulPrivateKeyAttributeCount, \
       CK_OBJECT_HANDLE_PTR phPublicKey, \
       CK_OBJECT_HANDLE_PTR phPrivateKey), \
      (hSession, pMechanism, pPublicKeyTemplate, ulPublicKeyAttributeCount, \
       pPrivateKeyTemplate, ulPrivateKeyAttributeCount, phPublicKey, \
       phPrivateKey)) \
    X(C_WrapKey, \
      (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, \
       CK_OBJECT_HANDLE hWrappingKey, CK_OBJECT_HANDLE hKey, \
       CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen), \
      (hSession, pMechanism, hWrappingKey, hKey, pWrappedKey, \
       pulWrappedKeyLen)) \
    X(C_UnwrapKey, \
      (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, \
       CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey, \
       CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate, \
       CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey), \
      (hSession, pMechanism, hUnwrappingKey, pWrappedKey, ulWrappedKeyLen, \
       pTemplate, ulAttributeCount, phKey)) \
    X(C_DeriveKey, \
      (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, \
       CK_OBJECT_HANDLE hBaseKey, CK_ATTRIBUTE_PTR pTemplate, \
       CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey), \
      (hSession, pMechanism, hBaseKey, pTemplate, ulAttributeCount, phKey)) \
    X(C_SeedRandom, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen), \
      (hSession, pSeed, ulSeedLen)) \
    X(C_GenerateRandom, \
      (CK_SESSION_HANDLE hSession, CK_BYTE_PTR pRandomData, \
       CK_ULONG ulRandomLen), \
      (hSession, pRandomData, ulRandomLen)) \
    X(C_GetFunctionStatus, \
      (CK_SESSION_HANDLE hSession), \
      (hSession)) \
    X(C_CancelFunction, \
      (CK_SESSION_HANDLE hSession), \
      (hSession)) \
    X(C_WaitForSlotEvent, \
      (CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved), \
      (flags, pSlot, pReserved))

/* The 24 functions added by PKCS #11 v3.0, in CK_FUNCTION_LIST_3_0 order. */
#define P11_FUNCTIONS_3_0_ADDED(X) \
    X(C_GetInterfaceList, \
      (CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount), \
      (pInterfacesList, pulCount)) \
    X(C_GetInterface, \
      (CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion, \
       CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags), \
      (pInterfaceName, pVersion, ppInterface, flags)) \
    X(C_LoginUser, \
      (CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, \
       CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pUsername, \
       CK_ULONG ulUsernameLen), \
      (hSession, userType, pPin, ulPinLen, pUsername, ulUsernameLen)) \
    X(C_SessionCancel, \
      (CK_SESSION_HANDLE hSession, CK_FLAGS flags), \
      (hSession, flags)) \
    P11_FUNCTIONS_3_0_MESSAGE(X)

/* The 20 message-based functions of PKCS #11 v3.0 (the tail of
 * P11_FUNCTIONS_3_0_ADDED), in CK_FUNCTION_LIST_3_0 order. */
#define P11_FUNCTIONS_3_0_MESSAGE(X) \
    X(C_MessageEncryptInit, \
      (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, \
       CK_OBJECT_HANDLE hKey), \
      (hSession, pMechanism, hKey)) \
    X(C_EncryptMessage, \
      (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, \
       CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData, \
       CK_ULONG ulAssociatedDataLen, CK_BYTE_PTR pPlaintext, \
       CK_ULONG ulPlaintextLen, CK_BYTE_PTR pCiphertext, \
       CK_ULONG_PTR pulCiphertextLen), \
      (hSession, pParameter, ulParameterLen, pAssociatedData, \
       ulAssociatedDataLen, pPlaintext, ulPlaintextLen, pCiphertext, \
       pulCiphertextLen)) \
    X(C_EncryptMessageBegin, \
      (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, \
       CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData, \
       CK_ULONG ulAssociatedDataLen), \
      (hSession, pParameter, ulParameterLen, pAssociatedData, \
       ulAssociatedDataLen)) \
    X(C_EncryptMessageNext, \
      (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, \
       CK_ULONG ulParameterLen, CK_BYTE_PTR pPlaintextPart, \
       CK_ULONG ulPlaintextPartLen, CK_BYTE_PTR pCiphertextPart, \
       CK_ULONG_PTR pulCiphertextPartLen, CK_FLAGS flags), \
      (hSession, pParameter, ulParameterLen, pPlaintextPart, \
       ulPlaintextPartLen, pCiphertextPart, pulCiphertextPartLen, flags)) \
    X(C_MessageEncryptFinal, \
      (CK_SESSION_HANDLE hSession), \
      (hSession)) \
    X(C_MessageDecryptInit, \
      (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, \
       CK_OBJECT_HANDLE hKey), \
      (hSession, pMechanism, hKey)) \
    X(C_DecryptMessage, \
      (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, \
       CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData, \
       CK_ULONG ulAssociatedDataLen, CK_BYTE_PTR pCiphertext, \
       CK_ULONG ulCiphertextLen, CK_BYTE_PTR pPlaintext, \
       CK_ULONG_PTR pulPlaintextLen), \
      (hSession, pParameter, ulParameterLen, pAssociatedData, \
       ulAssociatedDataLen, pCiphertext, ulCiphertextLen, pPlaintext, \
       pulPlaintextLen)) \
    X(C_DecryptMessageBegin, \
      (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, \
       CK_ULONG ulParameterLen, CK_BYTE_PTR pAssociatedData, \
       CK_ULONG ulAssociatedDataLen), \
      (hSession, pParameter, ulParameterLen, pAssociatedData, \
       ulAssociatedDataLen)) \
    X(C_DecryptMessageNext, \
      (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, \
       CK_ULONG ulParameterLen, CK_BYTE_PTR pCiphertextPart, \
       CK_ULONG ulCiphertextPartLen, CK_BYTE_PTR pPlaintextPart, \
       CK_ULONG_PTR pulPlaintextPartLen, CK_FLAGS flags), \
      (hSession, pParameter, ulParameterLen, pCiphertextPart, \
       ulCiphertextPartLen, pPlaintextPart, pulPlaintextPartLen, flags)) \
    X(C_MessageDecryptFinal, \
      (CK_SESSION_HANDLE hSession), \
      (hSession)) \
    X(C_MessageSignInit, \
      (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, \
       CK_OBJECT_HANDLE hKey), \
      (hSession, pMechanism, hKey)) \
    X(C_SignMessage, \
      (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, \
       CK_ULONG ulParameterLen, CK_BYTE_PTR pData, CK_ULONG ulDataLen, \
       CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen), \
      (hSession, pParameter, ulParameterLen, pData, ulDataLen, pSignature, \
       pulSignatureLen)) \
    X(C_SignMessageBegin, \
      (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, \
       CK_ULONG ulParameterLen), \
      (hSession, pParameter, ulParameterLen)) \
    X(C_SignMessageNext, \
      (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, \
       CK_ULONG ulParameterLen, CK_BYTE_PTR pData, CK_ULONG ulDataLen, \
       CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen), \
      (hSession, pParameter, ulParameterLen, pData, ulDataLen, pSignature, \
       pulSignatureLen)) \
    X(C_MessageSignFinal, \
      (CK_SESSION_HANDLE hSession), \
      (hSession)) \
    X(C_MessageVerifyInit, \
      (CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, \
       CK_OBJECT_HANDLE hKey), \
      (hSession, pMechanism, hKey)) \
    X(C_VerifyMessage, \
      (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, \
       CK_ULONG ulParameterLen, CK_BYTE_PTR pData, CK_ULONG ulDataLen, \
       CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen), \
      (hSession, pParameter, ulParameterLen, pData, ulDataLen, pSignature, \
       ulSignatureLen)) \
    X(C_VerifyMessageBegin, \
      (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, \
       CK_ULONG ulParameterLen), \
      (hSession, pParameter, ulParameterLen)) \
    X(C_VerifyMessageNext, \
      (CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, \
       CK_ULONG ulParameterLen, CK_BYTE_PTR pData, CK_ULONG ulDataLen, \
       CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen), \
      (hSession, pParameter, ulParameterLen, pData, ulDataLen, pSignature, \
       ulSignatureLen)) \
    X(C_MessageVerifyFinal, \
      (CK_SESSION_HANDLE hSession), \
      (hSession))

/* All 92 functions of PKCS #11 v3.0, in CK_FUNCTION_LIST_3_0 order. */
#define P11_FUNCTIONS_3_0(X) P11_FUNCTIONS_2_40(X) P11_FUNCTIONS_3_0_ADDED(X)

/* clang-format on */

#endif /* P11CLUSTER_PKCS11_FUNCTIONS_H */

// Chapters 5.8-5.13 of the specification: encryption, decryption, digests,
// signatures and their verification, dual-function operations, random.
#include "core/api.h"
#include "core/failover.h"
#include "core/operations.h"
#include "core/runtime.h"
#include "core/secrecy.h"

namespace p11c::api {
namespace {

using ops::Ending;

bool badInput(CK_BYTE_PTR data, CK_ULONG len) {
    return data == nullptr && len != 0;
}

// *Init with a key: the member's function is `fn`.
CK_RV initWithKey(CK_SESSION_HANDLE hSession, OpKind kind, CK_MECHANISM_PTR mechanism,
                  CK_OBJECT_HANDLE key,
                  CK_RV (*CK_FUNCTION_LIST::*fn)(CK_SESSION_HANDLE, CK_MECHANISM_PTR,
                                                 CK_OBJECT_HANDLE),
                  const char* what) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (mechanism == nullptr) return CKR_ARGUMENTS_BAD;
    return ops::begin(cluster, *session, kind, mechanism, key, what,
                      [&](Member& m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k) {
                          return m.call(fn, s, mechanism, k);
                      });
}

// What an update adds to its operation's replay record: its input (the
// first two arguments of the member call).
template <class... Args>
ops::Update updateOf(Ending ending, Args... args) {
    ops::Update update;
    if constexpr (sizeof...(Args) == 2) {
        if (ending == Ending::Update) {
            auto parts = std::make_tuple(args...);
            update.input = std::get<0>(parts);
            update.inputLen = std::get<1>(parts);
        }
    }
    return update;
}

// Single-part calls and Finals that return output by the two-call convention.
template <class Fn, class... Args>
CK_RV outputStep(CK_SESSION_HANDLE hSession, OpKind kind, Ending ending, CK_BYTE_PTR out,
                 CK_ULONG_PTR outLen, Fn fn, Args... args) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (outLen == nullptr) return CKR_ARGUMENTS_BAD;
    // Updates that produce output record it (failover checks a replay by it).
    ops::Update update = updateOf(ending, args...);
    if (ending == Ending::Update) update.output = out, update.outputLen = outLen;
    return ops::step(
        *session, cluster, kind, ending, out == nullptr,
        [&](Member& m, CK_SESSION_HANDLE s) { return m.call(fn, s, args..., out, outLen); },
        update);
}

// Updates and verifications that return no output.
template <class Fn, class... Args>
CK_RV inputStep(CK_SESSION_HANDLE hSession, OpKind kind, Ending ending, Fn fn, Args... args) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    ops::Update update = updateOf(ending, args...);
    return ops::step(
        *session, cluster, kind, ending, false,
        [&](Member& m, CK_SESSION_HANDLE s) { return m.call(fn, s, args...); }, update);
}

template <class Fn>
CK_RV dualStep(CK_SESSION_HANDLE hSession, OpKind a, OpKind b, Fn fn, CK_BYTE_PTR in,
               CK_ULONG inLen, CK_BYTE_PTR out, CK_ULONG_PTR outLen) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (badInput(in, inLen) || outLen == nullptr) return CKR_ARGUMENTS_BAD;
    return ops::dual(*session, cluster, a, b, [&](Member& m, CK_SESSION_HANDLE s) {
        return m.call(fn, s, in, inLen, out, outLen);
    });
}

}  // namespace

// --- encryption -----------------------------------------------------------

CK_RV C_EncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                    CK_OBJECT_HANDLE hKey) {
    return initWithKey(hSession, OpKind::Encrypt, pMechanism, hKey,
                       &CK_FUNCTION_LIST::C_EncryptInit, "C_EncryptInit");
}

CK_RV C_Encrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                CK_BYTE_PTR pEncryptedData, CK_ULONG_PTR pulEncryptedDataLen) {
    if (badInput(pData, ulDataLen)) return CKR_ARGUMENTS_BAD;
    return outputStep(hSession, OpKind::Encrypt, Ending::Final, pEncryptedData, pulEncryptedDataLen,
                      &CK_FUNCTION_LIST::C_Encrypt, pData, ulDataLen);
}

CK_RV C_EncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                      CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen) {
    if (badInput(pPart, ulPartLen)) return CKR_ARGUMENTS_BAD;
    return outputStep(hSession, OpKind::Encrypt, Ending::Update, pEncryptedPart,
                      pulEncryptedPartLen, &CK_FUNCTION_LIST::C_EncryptUpdate, pPart, ulPartLen);
}

CK_RV C_EncryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastEncryptedPart,
                     CK_ULONG_PTR pulLastEncryptedPartLen) {
    return outputStep(hSession, OpKind::Encrypt, Ending::Final, pLastEncryptedPart,
                      pulLastEncryptedPartLen, &CK_FUNCTION_LIST::C_EncryptFinal);
}

// --- decryption -----------------------------------------------------------

CK_RV C_DecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                    CK_OBJECT_HANDLE hKey) {
    return initWithKey(hSession, OpKind::Decrypt, pMechanism, hKey,
                       &CK_FUNCTION_LIST::C_DecryptInit, "C_DecryptInit");
}

CK_RV C_Decrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData, CK_ULONG ulEncryptedDataLen,
                CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen) {
    if (badInput(pEncryptedData, ulEncryptedDataLen)) return CKR_ARGUMENTS_BAD;
    return outputStep(hSession, OpKind::Decrypt, Ending::Final, pData, pulDataLen,
                      &CK_FUNCTION_LIST::C_Decrypt, pEncryptedData, ulEncryptedDataLen);
}

CK_RV C_DecryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                      CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen) {
    if (badInput(pEncryptedPart, ulEncryptedPartLen)) return CKR_ARGUMENTS_BAD;
    return outputStep(hSession, OpKind::Decrypt, Ending::Update, pPart, pulPartLen,
                      &CK_FUNCTION_LIST::C_DecryptUpdate, pEncryptedPart, ulEncryptedPartLen);
}

CK_RV C_DecryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart,
                     CK_ULONG_PTR pulLastPartLen) {
    return outputStep(hSession, OpKind::Decrypt, Ending::Final, pLastPart, pulLastPartLen,
                      &CK_FUNCTION_LIST::C_DecryptFinal);
}

// --- digests --------------------------------------------------------------

CK_RV C_DigestInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (pMechanism == nullptr) return CKR_ARGUMENTS_BAD;
    return ops::begin(cluster, *session, OpKind::Digest, pMechanism, CK_INVALID_HANDLE,
                      "C_DigestInit", [&](Member& m, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE) {
                          return m.call(&CK_FUNCTION_LIST::C_DigestInit, s, pMechanism);
                      });
}

CK_RV C_Digest(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
               CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen) {
    if (badInput(pData, ulDataLen)) return CKR_ARGUMENTS_BAD;
    return outputStep(hSession, OpKind::Digest, Ending::Final, pDigest, pulDigestLen,
                      &CK_FUNCTION_LIST::C_Digest, pData, ulDataLen);
}

CK_RV C_DigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen) {
    if (badInput(pPart, ulPartLen)) return CKR_ARGUMENTS_BAD;
    return inputStep(hSession, OpKind::Digest, Ending::Update, &CK_FUNCTION_LIST::C_DigestUpdate,
                     pPart, ulPartLen);
}

CK_RV C_DigestKey(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    Session& s = *session;
    return ops::step(
        s, cluster, OpKind::Digest, Ending::Update, false,
        [&](Member& m, CK_SESSION_HANDLE ms) {
            // Nothing of a key the caller keeps secret (core/secrecy.h). The
            // refusal ends the operation, on the member too.
            if (CK_RV rv = secrecy::digestible(cluster, s, hKey); rv != CKR_OK) {
                CK_BYTE sink[128];
                CK_ULONG length = sizeof sink;
                m.call(&CK_FUNCTION_LIST::C_DigestFinal, ms, sink, &length);
                return rv;
            }
            CK_OBJECT_HANDLE key = objects::resolveLocked(cluster, s, hKey, m.index());
            if (key == CK_INVALID_HANDLE) return CKR_KEY_HANDLE_INVALID;
            return m.call(&CK_FUNCTION_LIST::C_DigestKey, ms, key);
        },
        ops::Update{nullptr, 0, hKey, nullptr, nullptr});
}

CK_RV C_DigestFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen) {
    return outputStep(hSession, OpKind::Digest, Ending::Final, pDigest, pulDigestLen,
                      &CK_FUNCTION_LIST::C_DigestFinal);
}

// --- signatures -----------------------------------------------------------

CK_RV C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) {
    return initWithKey(hSession, OpKind::Sign, pMechanism, hKey, &CK_FUNCTION_LIST::C_SignInit,
                       "C_SignInit");
}

CK_RV C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
             CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen) {
    if (badInput(pData, ulDataLen)) return CKR_ARGUMENTS_BAD;
    return outputStep(hSession, OpKind::Sign, Ending::Final, pSignature, pulSignatureLen,
                      &CK_FUNCTION_LIST::C_Sign, pData, ulDataLen);
}

CK_RV C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen) {
    if (badInput(pPart, ulPartLen)) return CKR_ARGUMENTS_BAD;
    return inputStep(hSession, OpKind::Sign, Ending::Update, &CK_FUNCTION_LIST::C_SignUpdate, pPart,
                     ulPartLen);
}

CK_RV C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
                  CK_ULONG_PTR pulSignatureLen) {
    return outputStep(hSession, OpKind::Sign, Ending::Final, pSignature, pulSignatureLen,
                      &CK_FUNCTION_LIST::C_SignFinal);
}

CK_RV C_SignRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                        CK_OBJECT_HANDLE hKey) {
    return initWithKey(hSession, OpKind::SignRecover, pMechanism, hKey,
                       &CK_FUNCTION_LIST::C_SignRecoverInit, "C_SignRecoverInit");
}

CK_RV C_SignRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                    CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen) {
    if (badInput(pData, ulDataLen)) return CKR_ARGUMENTS_BAD;
    return outputStep(hSession, OpKind::SignRecover, Ending::Final, pSignature, pulSignatureLen,
                      &CK_FUNCTION_LIST::C_SignRecover, pData, ulDataLen);
}

// --- verification -----------------------------------------------------------

CK_RV C_VerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) {
    return initWithKey(hSession, OpKind::Verify, pMechanism, hKey, &CK_FUNCTION_LIST::C_VerifyInit,
                       "C_VerifyInit");
}

CK_RV C_Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
               CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen) {
    if (badInput(pData, ulDataLen) || badInput(pSignature, ulSignatureLen))
        return CKR_ARGUMENTS_BAD;
    return inputStep(hSession, OpKind::Verify, Ending::Always, &CK_FUNCTION_LIST::C_Verify, pData,
                     ulDataLen, pSignature, ulSignatureLen);
}

CK_RV C_VerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen) {
    if (badInput(pPart, ulPartLen)) return CKR_ARGUMENTS_BAD;
    return inputStep(hSession, OpKind::Verify, Ending::Update, &CK_FUNCTION_LIST::C_VerifyUpdate,
                     pPart, ulPartLen);
}

CK_RV C_VerifyFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen) {
    if (badInput(pSignature, ulSignatureLen)) return CKR_ARGUMENTS_BAD;
    return inputStep(hSession, OpKind::Verify, Ending::Always, &CK_FUNCTION_LIST::C_VerifyFinal,
                     pSignature, ulSignatureLen);
}

CK_RV C_VerifyRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                          CK_OBJECT_HANDLE hKey) {
    return initWithKey(hSession, OpKind::VerifyRecover, pMechanism, hKey,
                       &CK_FUNCTION_LIST::C_VerifyRecoverInit, "C_VerifyRecoverInit");
}

CK_RV C_VerifyRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen,
                      CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen) {
    if (badInput(pSignature, ulSignatureLen)) return CKR_ARGUMENTS_BAD;
    return outputStep(hSession, OpKind::VerifyRecover, Ending::Final, pData, pulDataLen,
                      &CK_FUNCTION_LIST::C_VerifyRecover, pSignature, ulSignatureLen);
}

// --- dual-function operations ----------------------------------------------

CK_RV C_DigestEncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                            CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen) {
    return dualStep(hSession, OpKind::Digest, OpKind::Encrypt,
                    &CK_FUNCTION_LIST::C_DigestEncryptUpdate, pPart, ulPartLen, pEncryptedPart,
                    pulEncryptedPartLen);
}

CK_RV C_DecryptDigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                            CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart,
                            CK_ULONG_PTR pulPartLen) {
    return dualStep(hSession, OpKind::Decrypt, OpKind::Digest,
                    &CK_FUNCTION_LIST::C_DecryptDigestUpdate, pEncryptedPart, ulEncryptedPartLen,
                    pPart, pulPartLen);
}

CK_RV C_SignEncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                          CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen) {
    return dualStep(hSession, OpKind::Sign, OpKind::Encrypt, &CK_FUNCTION_LIST::C_SignEncryptUpdate,
                    pPart, ulPartLen, pEncryptedPart, pulEncryptedPartLen);
}

CK_RV C_DecryptVerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart,
                            CK_ULONG ulEncryptedPartLen, CK_BYTE_PTR pPart,
                            CK_ULONG_PTR pulPartLen) {
    return dualStep(hSession, OpKind::Decrypt, OpKind::Verify,
                    &CK_FUNCTION_LIST::C_DecryptVerifyUpdate, pEncryptedPart, ulEncryptedPartLen,
                    pPart, pulPartLen);
}

// --- random -----------------------------------------------------------------

CK_RV C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (badInput(pSeed, ulSeedLen)) return CKR_ARGUMENTS_BAD;
    std::lock_guard lock(session->mutex);
    // Every member's generator gets the seed; the first answer is the caller's.
    CK_RV first = CKR_DEVICE_ERROR;
    bool answered = false;
    for (unsigned m : cluster.servingMembers()) {
        CK_RV rv = cluster.member(m).call(&CK_FUNCTION_LIST::C_SeedRandom,
                                          session->memberSessionLocked(m), pSeed, ulSeedLen);
        if (classify(rv) == RvClass::MemberFault) {
            cluster.memberFault(m, rv, "C_SeedRandom");
            continue;
        }
        if (!answered) first = rv;
        answered = true;
    }
    return first;
}

CK_RV C_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pRandomData, CK_ULONG ulRandomLen) {
    Cluster& cluster = runtime::cluster();
    auto session = cluster.sessions().get(hSession);
    if (badInput(pRandomData, ulRandomLen)) return CKR_ARGUMENTS_BAD;
    std::lock_guard lock(session->mutex);
    return onAnyMember(cluster, cluster.usableMembers(), "C_GenerateRandom", [&](unsigned m) {
        return cluster.member(m).call(&CK_FUNCTION_LIST::C_GenerateRandom,
                                      session->memberSessionLocked(m), pRandomData, ulRandomLen);
    });
}

}  // namespace p11c::api

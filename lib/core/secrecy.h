// Secrecy: what the caller may read of a key, and do with it, given the
// view the caller made it with (core/views.h) — whatever the members hold.
//
// The members hold a key the caller made non-extractable extractable under
// trusted keys, and sensitive (so that the transport key can carry it and no
// member-user session reads it; docs/security.md). The caller must still see
// what it asked for and no more:
//   - the secret attributes of a private or secret key the caller made
//     non-extractable or sensitive are CKR_ATTRIBUTE_SENSITIVE (PKCS#11 3.0,
//     4.9: "sensitive or non-extractable");
//   - CKA_SENSITIVE reads as the caller made it; setting it follows the
//     specification (may become true, never false again);
//   - C_DigestKey digests no key the caller sees as sensitive or
//     non-extractable (CKR_KEY_INDIGESTIBLE; SoftHSM would digest such a key
//     with SHA-1/SHA-2, and refuses it with other digests: the cluster takes
//     the safer side for every digest);
//   - C_WrapKey wraps no key the caller made non-extractable, and a key the
//     caller made wrap-with-trusted only under a trusted key;
//   - a key derived from one with a view reports CKA_NEVER_EXTRACTABLE and
//     CKA_ALWAYS_SENSITIVE from its base's view (PKCS#11 3.0, 4.8), not from
//     the member's copy of the base.
//
// Every function here expects the caller to hold `session.mutex`.
#pragma once

#include <pkcs11.h>

#include <memory>
#include <vector>

#include "core/object_index.h"

namespace p11c {
class Cluster;
class Session;
}  // namespace p11c

namespace p11c::secrecy {

// Attributes that hold a private or secret key's secret material.
bool secretAttribute(CK_ATTRIBUTE_TYPE type);
bool anySecretAttribute(const CK_ATTRIBUTE* templ, CK_ULONG count);

// Whether the members hold keys of this view sensitive, and extractable
// only under trusted keys, whatever the caller asked.
bool lockedOnMembers(const CallerView& view);

// After the members answered C_GetAttributeValue for `object` (with `rv`):
// CKA_SENSITIVE as the caller made it, and the secret attributes hidden
// where the view says so. Returns the call's result.
CK_RV applyView(Cluster& cluster, Session& session, CK_OBJECT_HANDLE object, const CallerView& view,
                CK_ATTRIBUTE_PTR templ, CK_ULONG count, CK_RV rv);

// A C_SetAttributeValue / C_CopyObject attribute that changes the view
// rather than the members: CKA_SENSITIVE where the view keeps it. Returns
// whether it was taken into `view`; throws CkError(CKR_ATTRIBUTE_READ_ONLY)
// for a sensitive key made non-sensitive.
bool changeView(CallerView& view, const CK_ATTRIBUTE& attribute);

// After a C_SetAttributeValue or C_CopyObject template changed the view of
// `object` from `before` to `next`: a key the caller has just made
// non-extractable is made non-extractable and sensitive on the members too
// (SoftHSM cannot make an existing key trusted-only): CKA_EXTRACTABLE false
// and CKA_SENSITIVE true go into `kept` (the members' template), the
// caller's CKA_SENSITIVE into `next`.
void lockIfNowFixed(Cluster& cluster, Session& session, CK_OBJECT_HANDLE object,
                    const CallerView& before, CallerView& next, std::vector<CK_ATTRIBUTE>& kept);

// C_WrapKey: CKR_OK when the caller's view lets `key` be wrapped under
// `wrappingKey`: CKR_KEY_UNEXTRACTABLE for a key the caller made
// non-extractable, CKR_KEY_NOT_WRAPPABLE for a key the caller made
// wrap-with-trusted and an untrusted wrapping key.
CK_RV wrappable(Cluster& cluster, Session& session, CK_OBJECT_HANDLE key,
                CK_OBJECT_HANDLE wrappingKey);

// CKR_OK when the caller may digest `key` (C_DigestKey), else
// CKR_KEY_INDIGESTIBLE (or the CK_RV reading its attributes gave).
CK_RV digestible(Cluster& cluster, Session& session, CK_OBJECT_HANDLE key);

// After C_DeriveKey made `derived` from `base`: its view, when the base has
// one (and, for a token key, its view record on the members holding it).
void noteDerived(Cluster& cluster, Session& session, CK_OBJECT_HANDLE base,
                 CK_OBJECT_HANDLE derived);

}  // namespace p11c::secrecy

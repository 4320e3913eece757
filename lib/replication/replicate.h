// Copying a key that one member made (C_GenerateKey, C_GenerateKeyPair) to
// the other members; repair copies any object (certificates and data
// objects travel as their attributes, like public keys) the same way.
//
// Private and secret keys travel wrapped under the cluster transport key
// (C_WrapKey on the source, C_UnwrapKey on each target) with every attribute
// the source has; public keys carry no secret and are created from their
// attributes. Runs with the caller's session lock held.
//
// The transport key, like every cluster key, forces what it unwraps
// sensitive and extractable only under trusted keys (replication/handover.h).
// A key the members hold that way travels under it directly; a key the
// members hold extractable (the caller asked for it) travels under a
// *carrier*: a fresh AES key made for the one copy, which itself travels
// under the transport key. Cluster keys are private: copying needs the
// user logged in on the members.
#pragma once

#include <pkcs11.h>

#include <span>
#include <utility>
#include <vector>

#include "core/object_index.h"

namespace p11c {
class Cluster;
class Member;
class Session;
}  // namespace p11c

namespace p11c::replication {

struct CopyResult {
    std::vector<Placement> made;    // members that now hold the key, with their handles
    std::vector<unsigned> missed;   // members that could not take it
    std::vector<unsigned> faulted;  // ...of which these with a member fault (in doubt)
    bool notWrappable = false;      // the source refuses to wrap this kind of key
    bool needsLogin = false;        // no transport key visible: the user is not logged in
};

// An object as it travels: its attributes (the template of the copy) and,
// for private and secret keys, its material wrapped under some key. The
// wrapped bytes are wiped when it goes.
struct Exported {
    CK_OBJECT_CLASS cls = 0;
    std::vector<std::pair<CK_ATTRIBUTE_TYPE, std::vector<CK_BYTE>>> attributes;
    std::vector<CK_BYTE> wrapped;  // empty for objects without secrets

    Exported() = default;
    Exported(Exported&&) = default;
    Exported& operator=(Exported&&) = default;
    ~Exported();
};

// Whether objects of the class travel wrapped (private and secret keys).
bool carriesSecret(CK_OBJECT_CLASS cls);

// Reads what a copy of `object` needs; wraps private and secret keys under
// `wrappingKey` with `mechanism`. Throws CkError with the member's CK_RV.
Exported exportObject(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
                      CK_OBJECT_HANDLE wrappingKey, CK_MECHANISM_TYPE mechanism);

// Makes the object on `member`: C_CreateObject, or C_UnwrapKey under
// `unwrappingKey`. `locked`: the copy is made sensitive and extractable only
// under trusted keys whatever the object says (the unwrap template of a
// cluster key demands it). Returns the member's CK_RV (throws CkError on a
// fault).
CK_RV importObject(Member& member, CK_SESSION_HANDLE session, const Exported& object,
                   CK_OBJECT_HANDLE unwrappingKey, CK_MECHANISM_TYPE mechanism,
                   CK_OBJECT_HANDLE* made, bool locked = false);

// Whether the member holds `key` extractable only under trusted keys (so it
// travels under a cluster key directly). Throws CkError.
bool heldLocked(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key);

// A carrier: a fresh AES-256 session key, sensitive, for key wrap only, that
// may itself travel only under trusted keys. Throws CkError.
CK_OBJECT_HANDLE makeCarrier(Member& member, CK_SESSION_HANDLE session);
// A carrier that arrives wrapped under a cluster key: unwraps it on `member`.
CK_RV receiveCarrier(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE clusterKey,
                     const std::vector<CK_BYTE>& blob, CK_OBJECT_HANDLE* made);
// Wraps `key` under `wrappingKey` with the cluster keys' mechanism. Throws CkError.
std::vector<CK_BYTE> wrapUnder(Member& member, CK_SESSION_HANDLE session,
                               CK_OBJECT_HANDLE wrappingKey, CK_OBJECT_HANDLE key);

CopyResult copyKey(Cluster& cluster, Session& session, unsigned source, CK_OBJECT_HANDLE key,
                   std::span<const unsigned> targets);

}  // namespace p11c::replication

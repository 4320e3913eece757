// Copying a key that one member made (C_GenerateKey, C_GenerateKeyPair) to
// the other members; repair copies any object (certificates and data
// objects travel as their attributes, like public keys) the same way.
//
// Private and secret keys travel wrapped under the cluster transport key
// (C_WrapKey on the source, C_UnwrapKey on each target) with every attribute
// the source has; public keys carry no secret and are created from their
// attributes. Runs with the caller's session lock held.
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
// `unwrappingKey`. Returns the member's CK_RV (throws CkError on a fault).
CK_RV importObject(Member& member, CK_SESSION_HANDLE session, const Exported& object,
                   CK_OBJECT_HANDLE unwrappingKey, CK_MECHANISM_TYPE mechanism,
                   CK_OBJECT_HANDLE* made);

CopyResult copyKey(Cluster& cluster, Session& session, unsigned source, CK_OBJECT_HANDLE key,
                   std::span<const unsigned> targets);

}  // namespace p11c::replication

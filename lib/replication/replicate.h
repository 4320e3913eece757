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
#include <vector>

#include "core/object_index.h"

namespace p11c {
class Cluster;
class Session;
}  // namespace p11c

namespace p11c::replication {

struct CopyResult {
    std::vector<Placement> made;    // members that now hold the key, with their handles
    std::vector<unsigned> missed;   // members that could not take it
    std::vector<unsigned> faulted;  // ...of which these with a member fault (in doubt)
    bool notWrappable = false;      // the source refuses to wrap this kind of key
};

CopyResult copyKey(Cluster& cluster, Session& session, unsigned source, CK_OBJECT_HANDLE key,
                   std::span<const unsigned> targets);

}  // namespace p11c::replication

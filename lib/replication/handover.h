// Cluster keys and how they travel between tokens.
//
// A cluster key (the transport key, a backup key) is an AES-256 key that
// only the members and the recovery token hold. On every member it is
// (docs/security.md):
//   - a private token object (so no session without the user's login can use
//     it, and SoftHSM stores its value encrypted under the user PIN),
//   - trusted (CKA_TRUSTED: so it may wrap the keys the members hold
//     extractable only under trusted keys),
//   - sensitive, not extractable, not modifiable, usable only with
//     CKM_AES_KEY_WRAP_PAD (CKA_ALLOWED_MECHANISMS), never to encrypt,
//     decrypt, sign or derive,
//   - with an unwrap template (CKA_UNWRAP_TEMPLATE) that forces whatever it
//     unwraps sensitive and extractable only under trusted keys.
//
// PKCS#11 lets only the security officer set CKA_TRUSTED, and the security
// officer cannot create private objects. So a cluster key is made in two
// steps: with the SO logged in, as a public *session* object (never
// written to the token's storage) carrying CKA_TRUSTED; then, with the user
// logged in, copied into a private token object (C_CopyObject keeps
// CKA_TRUSTED and the templates, and may make a copy private and
// unmodifiable). The session object goes at once.
//
// A key travels from one token to another in a HandOver: both tokens make a
// fresh P-256 key pair inside, the host passes each the other's public
// point, both derive the same AES-256 key-encryption key (CKM_ECDH1_DERIVE,
// trusted, itself restricted to CKM_AES_KEY_WRAP and with the same unwrap
// template); the source wraps, the target unwraps. The host sees only public
// points and the wrapped blob.
//
// Not thread-safe: the admin command runs these in one thread.
#pragma once

#include <pkcs11.h>

#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace p11c {
class Member;
}

namespace p11c::replication {

inline constexpr CK_MECHANISM_TYPE kTransportWrap = CKM_AES_KEY_WRAP_PAD;

class TransportError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Throws TransportError naming the member and what failed when rv != CKR_OK.
void need(CK_RV rv, const Member& member, const std::string& what);

// The attributes of a cluster key as one token makes it.
class ClusterKeyTemplate {
  public:
    enum class Stage {
        Source,    // made by C_GenerateKey on a member, SO logged in: a
                   // trusted session object that may still be handed over
        Received,  // made by C_UnwrapKey on a member, SO logged in: a trusted
                   // session object, not extractable
        Recovery,  // the recovery token's own backup key, user logged in: a
                   // private token object that only a hand-over can use
    };
    ClusterKeyTemplate(Stage stage, const std::string& id, const std::string& label);
    ClusterKeyTemplate(const ClusterKeyTemplate&) = delete;
    ClusterKeyTemplate& operator=(const ClusterKeyTemplate&) = delete;
    CK_ATTRIBUTE* data() { return attrs_.data(); }
    CK_ULONG size() const { return static_cast<CK_ULONG>(attrs_.size()); }

  private:
    CK_OBJECT_CLASS cls_ = CKO_SECRET_KEY;
    CK_KEY_TYPE type_ = CKK_AES;
    CK_ULONG length_ = 32;
    CK_BBOOL yes_ = CK_TRUE, no_ = CK_FALSE;
    CK_MECHANISM_TYPE allowed_ = kTransportWrap;
    CK_ATTRIBUTE unwrapTemplate_[2];
    std::string id_, label_;
    std::vector<CK_ATTRIBUTE> attrs_;
};

// The unwrap template of every cluster key: what a C_UnwrapKey under it must
// ask for (SoftHSM refuses any other template with CKR_TEMPLATE_INCONSISTENT).
struct ForcedUnwrap {
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE attrs[2] = {{CKA_SENSITIVE, &yes, sizeof yes},
                             {CKA_WRAP_WITH_TRUSTED, &yes, sizeof yes}};
};

// Copies a staged cluster key (a session object, made with its final id
// and label) into a private, unmodifiable token object; the user must be
// logged in. Returns the copy. The staged object is left to the caller.
CK_OBJECT_HANDLE keepPrivately(Member& member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE staged);

// Secret keys with CKA_ID `id` that the session can see.
std::vector<CK_OBJECT_HANDLE> keysWithId(Member& member, CK_SESSION_HANDLE session,
                                         const std::string& id);

class HandOver {
  public:
    // Makes the key-encryption key on both tokens; the security officer must
    // be logged in on both. Throws TransportError.
    HandOver(Member& from, CK_SESSION_HANDLE fromSession, Member& to, CK_SESSION_HANDLE toSession);
    ~HandOver();
    HandOver(const HandOver&) = delete;
    HandOver& operator=(const HandOver&) = delete;

    // Wraps `key` on the source (any login that can see the key).
    std::vector<CK_BYTE> wrap(CK_OBJECT_HANDLE key);
    // Unwraps on the target, which gets `templ`; the blob is wiped.
    CK_OBJECT_HANDLE unwrap(std::vector<CK_BYTE>& blob, CK_ATTRIBUTE_PTR templ, CK_ULONG count);

  private:
    void destroyMade();

    Member& from_;
    Member& to_;
    CK_SESSION_HANDLE fromSession_, toSession_;
    std::vector<std::pair<bool, CK_OBJECT_HANDLE>> made_;  // (on the source?, handle)
    CK_OBJECT_HANDLE fromKek_ = CK_INVALID_HANDLE, toKek_ = CK_INVALID_HANDLE;
};

}  // namespace p11c::replication

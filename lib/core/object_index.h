// ObjectIndex: virtual object handle <-> member handles of the same object.
//
// Each virtual handle names one cluster object; for each member the index
// knows the member's handle (Present), that the member lacks it (Absent), or
// nothing yet (Unknown: to be resolved by identity, see core/identity.h).
// Virtual handles come from a counter and are never reused.
//
// Thread-safety: internally locked (one shared_mutex); never held across a
// call into a member.
#pragma once

#include <pkcs11.h>

#include <atomic>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

namespace p11c {

struct Identity;

enum class Presence : uint8_t { Unknown, Present, Absent };

// What the caller sees of a key where the members hold something else: a
// generated key is made extractable-only-under-trusted-keys so that it can
// be copied, and its copies are not "local". The view restores the
// attributes as one token would report them.
struct CallerView {
    CK_BBOOL extractable = CK_FALSE;
    CK_BBOOL neverExtractable = CK_TRUE;
    CK_BBOOL alwaysSensitive = CK_TRUE;
    CK_BBOOL local = CK_TRUE;
    CK_BBOOL wrapWithTrusted = CK_FALSE;
    // CKA_SENSITIVE as the caller made it, where the members hold the key
    // sensitive whatever the caller asked (lib/core/secrecy.h); nullopt: as
    // the members hold it.
    std::optional<CK_BBOOL> sensitive;
    CK_MECHANISM_TYPE keyGenMechanism = CK_UNAVAILABLE_INFORMATION;
    // Secret keys: as the generating member reports them (members that
    // received a copy may not know them).
    CK_ULONG valueLen = CK_UNAVAILABLE_INFORMATION;
    std::vector<CK_BYTE> checkValue;

    bool operator==(const CallerView&) const = default;
};

struct Placement {
    unsigned member;
    CK_OBJECT_HANDLE handle;
};

class ObjectIndex {
  public:
    void reset(unsigned members);

    // A new object written through the cluster: present on `placed`, and
    // `others` (Absent or Unknown) on every other member.
    CK_OBJECT_HANDLE add(bool token, CK_SESSION_HANDLE owner, std::span<const Placement> placed,
                         Presence others);
    // The virtual handle for an object a member reported (from a find);
    // a new one, Unknown elsewhere, when the index has not seen it.
    CK_OBJECT_HANDLE adopt(unsigned member, CK_OBJECT_HANDLE memberHandle, bool token);
    // Like adopt, but only looks: 0 when unknown.
    CK_OBJECT_HANDLE lookup(unsigned member, CK_OBJECT_HANDLE memberHandle) const;

    // Throws CkError(CKR_OBJECT_HANDLE_INVALID) for an unknown virtual handle.
    Presence presence(CK_OBJECT_HANDLE object, unsigned member, CK_OBJECT_HANDLE* handle) const;
    bool isToken(CK_OBJECT_HANDLE object) const;
    // Members where the object is not known to be absent.
    std::vector<unsigned> candidates(CK_OBJECT_HANDLE object, std::span<const unsigned> of) const;
    // Members where the object is Present, with their handles.
    std::vector<Placement> placements(CK_OBJECT_HANDLE object) const;
    void place(CK_OBJECT_HANDLE object, unsigned member, Presence presence,
               CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE);

    std::shared_ptr<const Identity> identity(CK_OBJECT_HANDLE object) const;
    void setIdentity(CK_OBJECT_HANDLE object, std::shared_ptr<const Identity> identity);

    std::shared_ptr<const CallerView> view(CK_OBJECT_HANDLE object) const;
    void setView(CK_OBJECT_HANDLE object, std::shared_ptr<const CallerView> view);

    void remove(CK_OBJECT_HANDLE object);
    // The member's handles are void (it restarted): everything there is
    // Unknown again, to be resolved by identity.
    void forgetMember(unsigned member);
    // Repair copied objects to the member: what was known Absent there is
    // Unknown again (resolved by identity on next use).
    void forgetAbsence(unsigned member);
    // Session objects die with their session on every member.
    void removeOwnedBy(CK_SESSION_HANDLE owner);
    // How many objects are known to be missing from `member`.
    unsigned long absentOn(unsigned member) const;
    size_t size() const;

  private:
    struct Record {
        bool token = false;
        CK_SESSION_HANDLE owner = CK_INVALID_HANDLE;
        std::vector<CK_OBJECT_HANDLE> handles;
        std::vector<Presence> presence;
        std::shared_ptr<const Identity> identity;
        std::shared_ptr<const CallerView> view;
    };
    struct KeyHash {
        size_t operator()(const std::pair<unsigned, CK_OBJECT_HANDLE>& k) const noexcept {
            return std::hash<CK_OBJECT_HANDLE>()(k.second) * 31u + k.first;
        }
    };
    const Record& recordLocked(CK_OBJECT_HANDLE object) const;
    Record& recordLocked(CK_OBJECT_HANDLE object);
    void setLocked(CK_OBJECT_HANDLE object, Record& r, unsigned member, Presence p,
                   CK_OBJECT_HANDLE handle);
    void eraseLocked(CK_OBJECT_HANDLE object);

    mutable std::shared_mutex mutex_;
    unsigned members_ = 0;
    CK_OBJECT_HANDLE next_ = 1;
    std::unordered_map<CK_OBJECT_HANDLE, Record> records_;
    std::unordered_map<std::pair<unsigned, CK_OBJECT_HANDLE>, CK_OBJECT_HANDLE, KeyHash> byMember_;
    std::vector<unsigned long> absent_;
};

}  // namespace p11c

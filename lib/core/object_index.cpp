#include "core/object_index.h"

#include <mutex>

#include "util/error.h"

namespace p11c {

void ObjectIndex::reset(unsigned members) {
    std::unique_lock lock(mutex_);
    members_ = members;
    records_.clear();
    byMember_.clear();
    absent_.assign(members, 0);
}

const ObjectIndex::Record& ObjectIndex::recordLocked(CK_OBJECT_HANDLE object) const {
    auto it = records_.find(object);
    if (it == records_.end()) throw CkError(CKR_OBJECT_HANDLE_INVALID);
    return it->second;
}

ObjectIndex::Record& ObjectIndex::recordLocked(CK_OBJECT_HANDLE object) {
    auto it = records_.find(object);
    if (it == records_.end()) throw CkError(CKR_OBJECT_HANDLE_INVALID);
    return it->second;
}

void ObjectIndex::setLocked(CK_OBJECT_HANDLE object, Record& r, unsigned member, Presence p,
                            CK_OBJECT_HANDLE handle) {
    if (r.presence[member] == Presence::Present) byMember_.erase({member, r.handles[member]});
    if (r.presence[member] == Presence::Absent) --absent_[member];
    r.presence[member] = p;
    r.handles[member] = p == Presence::Present ? handle : CK_INVALID_HANDLE;
    if (p == Presence::Present) byMember_[{member, handle}] = object;
    if (p == Presence::Absent) ++absent_[member];
}

CK_OBJECT_HANDLE ObjectIndex::add(bool token, CK_SESSION_HANDLE owner,
                                  std::span<const Placement> placed, Presence others) {
    std::unique_lock lock(mutex_);
    CK_OBJECT_HANDLE object = next_++;
    Record& r = records_[object];
    r.token = token;
    r.owner = owner;
    r.handles.assign(members_, CK_INVALID_HANDLE);
    r.presence.assign(members_, Presence::Unknown);
    for (unsigned m = 0; m < members_; ++m) setLocked(object, r, m, others, CK_INVALID_HANDLE);
    for (const Placement& p : placed) setLocked(object, r, p.member, Presence::Present, p.handle);
    return object;
}

CK_OBJECT_HANDLE ObjectIndex::lookup(unsigned member, CK_OBJECT_HANDLE memberHandle) const {
    std::shared_lock lock(mutex_);
    auto it = byMember_.find({member, memberHandle});
    return it == byMember_.end() ? 0 : it->second;
}

CK_OBJECT_HANDLE ObjectIndex::adopt(unsigned member, CK_OBJECT_HANDLE memberHandle, bool token) {
    if (CK_OBJECT_HANDLE known = lookup(member, memberHandle)) return known;
    // Look again and insert under one lock: two finds racing on a new object
    // must give it one virtual handle.
    std::unique_lock lock(mutex_);
    if (auto it = byMember_.find({member, memberHandle}); it != byMember_.end()) return it->second;
    CK_OBJECT_HANDLE object = next_++;
    Record& r = records_[object];
    r.token = token;
    r.handles.assign(members_, CK_INVALID_HANDLE);
    r.presence.assign(members_, Presence::Unknown);
    setLocked(object, r, member, Presence::Present, memberHandle);
    return object;
}

Presence ObjectIndex::presence(CK_OBJECT_HANDLE object, unsigned member,
                               CK_OBJECT_HANDLE* handle) const {
    std::shared_lock lock(mutex_);
    const Record& r = recordLocked(object);
    if (handle != nullptr) *handle = r.handles[member];
    return r.presence[member];
}

bool ObjectIndex::isToken(CK_OBJECT_HANDLE object) const {
    std::shared_lock lock(mutex_);
    return recordLocked(object).token;
}

std::vector<unsigned> ObjectIndex::candidates(CK_OBJECT_HANDLE object,
                                              std::span<const unsigned> of) const {
    std::shared_lock lock(mutex_);
    const Record& r = recordLocked(object);
    std::vector<unsigned> out;
    out.reserve(of.size());
    for (unsigned m : of)
        if (r.presence[m] != Presence::Absent) out.push_back(m);
    return out;
}

std::vector<Placement> ObjectIndex::placements(CK_OBJECT_HANDLE object) const {
    std::shared_lock lock(mutex_);
    const Record& r = recordLocked(object);
    std::vector<Placement> out;
    for (unsigned m = 0; m < members_; ++m)
        if (r.presence[m] == Presence::Present) out.push_back({m, r.handles[m]});
    return out;
}

void ObjectIndex::place(CK_OBJECT_HANDLE object, unsigned member, Presence presence,
                        CK_OBJECT_HANDLE handle) {
    std::unique_lock lock(mutex_);
    auto it = records_.find(object);
    if (it == records_.end()) return;  // destroyed meanwhile
    setLocked(object, it->second, member, presence, handle);
}

std::shared_ptr<const Identity> ObjectIndex::identity(CK_OBJECT_HANDLE object) const {
    std::shared_lock lock(mutex_);
    return recordLocked(object).identity;
}

void ObjectIndex::setIdentity(CK_OBJECT_HANDLE object, std::shared_ptr<const Identity> identity) {
    std::unique_lock lock(mutex_);
    auto it = records_.find(object);
    if (it != records_.end()) it->second.identity = std::move(identity);
}

std::shared_ptr<const CallerView> ObjectIndex::view(CK_OBJECT_HANDLE object) const {
    std::shared_lock lock(mutex_);
    return recordLocked(object).view;
}

void ObjectIndex::setView(CK_OBJECT_HANDLE object, std::shared_ptr<const CallerView> view) {
    std::unique_lock lock(mutex_);
    auto it = records_.find(object);
    if (it != records_.end()) it->second.view = std::move(view);
}

void ObjectIndex::eraseLocked(CK_OBJECT_HANDLE object) {
    auto it = records_.find(object);
    if (it == records_.end()) return;
    for (unsigned m = 0; m < members_; ++m)
        setLocked(object, it->second, m, Presence::Unknown, CK_INVALID_HANDLE);
    records_.erase(it);
}

void ObjectIndex::forgetMember(unsigned member) {
    std::unique_lock lock(mutex_);
    for (auto& [object, r] : records_) {
        if (r.presence[member] == Presence::Present) byMember_.erase({member, r.handles[member]});
        r.presence[member] = Presence::Unknown;
        r.handles[member] = CK_INVALID_HANDLE;
    }
    absent_[member] = 0;
}

void ObjectIndex::forgetAbsence(unsigned member) {
    std::unique_lock lock(mutex_);
    for (auto& [object, r] : records_)
        if (r.presence[member] == Presence::Absent) r.presence[member] = Presence::Unknown;
    absent_[member] = 0;
}

void ObjectIndex::remove(CK_OBJECT_HANDLE object) {
    std::unique_lock lock(mutex_);
    eraseLocked(object);
}

void ObjectIndex::removeOwnedBy(CK_SESSION_HANDLE owner) {
    std::unique_lock lock(mutex_);
    std::vector<CK_OBJECT_HANDLE> doomed;
    for (const auto& [object, r] : records_)
        if (!r.token && r.owner == owner) doomed.push_back(object);
    for (CK_OBJECT_HANDLE object : doomed) eraseLocked(object);
}

unsigned long ObjectIndex::absentOn(unsigned member) const {
    std::shared_lock lock(mutex_);
    return absent_[member];
}

size_t ObjectIndex::size() const {
    std::shared_lock lock(mutex_);
    return records_.size();
}

}  // namespace p11c

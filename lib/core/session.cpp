#include "core/session.h"

#include "core/cluster.h"
#include "util/error.h"
#include "util/log.h"
#include "util/rv.h"

namespace p11c {

Session::Session(Cluster& cluster, CK_SESSION_HANDLE handle, CK_FLAGS flags, unsigned members)
    : cluster_(cluster), handle_(handle), flags_(flags), memberSessions_(members) {}

Session::~Session() {
    for (unsigned m = 0; m < memberSessions_.size(); ++m) {
        const MemberSession& ms = memberSessions_[m];
        if (ms.handle == CK_INVALID_HANDLE) continue;
        Member& member = cluster_.member(m);
        if (ms.generation != member.generation()) continue;  // void already
        member.call(&CK_FUNCTION_LIST::C_CloseSession, ms.handle);
    }
}

CK_SESSION_HANDLE Session::memberSessionLocked(unsigned member) {
    MemberSession& ms = memberSessions_[member];
    Member& m = cluster_.member(member);
    const uint64_t generation = m.generation(), epoch = m.sessionEpoch();
    if (ms.handle != CK_INVALID_HANDLE && ms.generation == generation) {
        if (ms.epoch == epoch) return ms.handle;
        m.call(&CK_FUNCTION_LIST::C_CloseSession, ms.handle);  // retired: may hold stale work
    }
    CK_SESSION_HANDLE& handle = ms.handle;
    ms.generation = generation;
    ms.epoch = epoch;
    CK_RV rv =
        m.call(&CK_FUNCTION_LIST::C_OpenSession, m.slot(), flags_, nullptr, nullptr, &handle);
    if (rv != CKR_OK) {
        handle = CK_INVALID_HANDLE;
        log::warn("member ", m.name(), ": C_OpenSession failed: ", rvName(rv));
        throw CkError(rv);
    }
    return handle;
}

int Session::activeMemberLocked() const noexcept {
    for (const Operation& op : ops_)
        if (op.active) return static_cast<int>(op.member);
    return -1;
}

std::shared_ptr<Session> SessionTable::open(Cluster& cluster, CK_FLAGS flags, unsigned members) {
    CK_SESSION_HANDLE handle = next_.fetch_add(1, std::memory_order_relaxed);
    auto session = std::make_shared<Session>(cluster, handle, flags, members);
    Shard& s = shard(handle);
    {
        std::lock_guard lock(s.mutex);
        s.sessions.emplace(handle, session);
    }
    count_.fetch_add(1, std::memory_order_relaxed);
    if (session->readWrite()) rwCount_.fetch_add(1, std::memory_order_relaxed);
    return session;
}

std::shared_ptr<Session> SessionTable::get(CK_SESSION_HANDLE handle) const {
    Shard& s = shard(handle);
    std::lock_guard lock(s.mutex);
    auto it = s.sessions.find(handle);
    if (it == s.sessions.end()) throw CkError(CKR_SESSION_HANDLE_INVALID);
    return it->second;
}

void SessionTable::forget(const Session& session) noexcept {
    count_.fetch_sub(1, std::memory_order_relaxed);
    if (session.readWrite()) rwCount_.fetch_sub(1, std::memory_order_relaxed);
}

std::shared_ptr<Session> SessionTable::remove(CK_SESSION_HANDLE handle) {
    Shard& s = shard(handle);
    std::shared_ptr<Session> session;
    {
        std::lock_guard lock(s.mutex);
        auto it = s.sessions.find(handle);
        if (it == s.sessions.end()) throw CkError(CKR_SESSION_HANDLE_INVALID);
        session = std::move(it->second);
        s.sessions.erase(it);
    }
    forget(*session);
    return session;
}

std::vector<std::shared_ptr<Session>> SessionTable::removeAll() {
    std::vector<std::shared_ptr<Session>> all;
    for (Shard& s : shards_) {
        std::lock_guard lock(s.mutex);
        for (auto& [handle, session] : s.sessions) all.push_back(std::move(session));
        s.sessions.clear();
    }
    for (const auto& session : all) forget(*session);
    return all;
}

}  // namespace p11c

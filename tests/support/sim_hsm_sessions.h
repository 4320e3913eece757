// The simulated HSM's session table: which slot (and so which service
// queue) each SoftHSM session handle was opened on.
//
// Read on every timed call, written on open and close: the table is split
// into shards by handle, each behind its own reader-writer lock, so lookups
// on different sessions never contend and lookups on one session only share
// a read lock. Threading: every member function may be called from any
// thread at once. The gates it points to belong to the module.
#pragma once

#include <pkcs11.h>

#include <array>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "support/sim_hsm_gate.h"

namespace p11c::simhsm {

struct SessionInfo {
    CK_SLOT_ID slot = 0;
    ServiceGate* gate = nullptr;  // null: the token is untimed
};

class SessionTable {
  public:
    void add(CK_SESSION_HANDLE handle, SessionInfo info) {
        Shard& s = shard(handle);
        std::unique_lock lock(s.mutex);
        s.sessions[handle] = info;
    }
    void remove(CK_SESSION_HANDLE handle) {
        Shard& s = shard(handle);
        std::unique_lock lock(s.mutex);
        s.sessions.erase(handle);
    }
    void removeSlot(CK_SLOT_ID slot) {
        for (Shard& s : shards_) {
            std::unique_lock lock(s.mutex);
            std::erase_if(s.sessions, [&](const auto& entry) { return entry.second.slot == slot; });
        }
    }
    void clear() {
        for (Shard& s : shards_) {
            std::unique_lock lock(s.mutex);
            s.sessions.clear();
        }
    }
    // The gate of the session's token; null when untimed or not known.
    ServiceGate* gateOf(CK_SESSION_HANDLE handle) const {
        const Shard& s = shard(handle);
        std::shared_lock lock(s.mutex);
        auto it = s.sessions.find(handle);
        return it == s.sessions.end() ? nullptr : it->second.gate;
    }

  private:
    static constexpr size_t kShards = 32;
    struct alignas(64) Shard {
        mutable std::shared_mutex mutex;
        std::unordered_map<CK_SESSION_HANDLE, SessionInfo> sessions;
    };
    Shard& shard(CK_SESSION_HANDLE h) { return shards_[h % kShards]; }
    const Shard& shard(CK_SESSION_HANDLE h) const { return shards_[h % kShards]; }

    std::array<Shard, kShards> shards_;
};

}  // namespace p11c::simhsm

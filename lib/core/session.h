// Session: one virtual session, and SessionTable, the handle -> session map.
//
// A virtual session owns one session on each member it has used (opened
// lazily), so operations in different virtual sessions never share a member
// session. Each cryptographic operation kind records the member it runs on,
// chosen once at *Init.
//
// Thread-safety: a Session's mutable state is guarded by its own mutex
// (`mutex`), never by a cluster-wide lock. SessionTable is sharded so that
// threads working on different sessions do not contend.
#pragma once

#include <pkcs11.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "routing/policy.h"

namespace p11c {

class Cluster;

enum class OpKind : unsigned { Encrypt, Decrypt, Digest, Sign, Verify, SignRecover, VerifyRecover };
inline constexpr unsigned kOpKinds = 7;

class Session {
  public:
    Session(Cluster& cluster, CK_SESSION_HANDLE handle, CK_FLAGS flags, unsigned members);
    ~Session();  // closes the member sessions
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    CK_SESSION_HANDLE handle() const noexcept { return handle_; }
    CK_FLAGS flags() const noexcept { return flags_; }
    bool readWrite() const noexcept { return (flags_ & CKF_RW_SESSION) != 0; }

    std::mutex mutex;  // guards everything below

    // The session on `member` belonging to this virtual session; opened on
    // first use. Throws CkError with the member's CK_RV when it cannot open.
    CK_SESSION_HANDLE memberSessionLocked(unsigned member);

    struct Operation {
        bool active = false;
        unsigned member = 0;
        CK_SESSION_HANDLE memberSession = CK_INVALID_HANDLE;  // where it started
        // What failover needs to start it again on another member
        // (core/operations.h): the mechanism (encoded), the key, and the
        // update inputs so far, while they stay within the replay bound.
        std::vector<uint8_t> mechanism;
        CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
        struct Part {
            uint32_t size;               // bytes of `input`, or
            CK_OBJECT_HANDLE digestKey;  // a C_DigestKey (size 0)
        };
        std::vector<uint8_t> input;
        std::vector<Part> parts;
        uint64_t output = 0;  // update output delivered to the caller so far
        bool replayable = false;
        routing::Assignment assigned;  // counts the operation on its member
        void end() noexcept {
            active = false;
            assigned.release();
        }
    };
    Operation& op(OpKind kind) noexcept { return ops_[static_cast<unsigned>(kind)]; }
    // The member of any active operation, or -1: new operations in the same
    // session join it so that dual-function calls reach one member session.
    int activeMemberLocked() const noexcept;

    struct Find {
        bool active = false;
        std::vector<CK_OBJECT_HANDLE> results;
        size_t next = 0;
    };
    Find find;

  private:
    Cluster& cluster_;
    const CK_SESSION_HANDLE handle_;
    const CK_FLAGS flags_;
    struct MemberSession {
        CK_SESSION_HANDLE handle = CK_INVALID_HANDLE;
        uint64_t generation = 0;  // the member's generation when opened
        uint64_t epoch = 0;       // and its session epoch
    };
    std::vector<MemberSession> memberSessions_;
    std::array<Operation, kOpKinds> ops_{};
};

class SessionTable {
  public:
    std::shared_ptr<Session> open(Cluster& cluster, CK_FLAGS flags, unsigned members);
    // Throws CkError(CKR_SESSION_HANDLE_INVALID).
    std::shared_ptr<Session> get(CK_SESSION_HANDLE handle) const;
    // Removes and returns the session (throws if unknown); the caller closes
    // it by dropping the last reference.
    std::shared_ptr<Session> remove(CK_SESSION_HANDLE handle);
    std::vector<std::shared_ptr<Session>> removeAll();
    unsigned long count() const noexcept { return count_.load(std::memory_order_relaxed); }
    unsigned long readWriteCount() const noexcept {
        return rwCount_.load(std::memory_order_relaxed);
    }

  private:
    static constexpr unsigned kShards = 16;
    // One cache line (or more) each: threads on sessions of different
    // shards never write the same line.
    struct alignas(64) Shard {
        mutable std::mutex mutex;
        std::unordered_map<CK_SESSION_HANDLE, std::shared_ptr<Session>> sessions;
    };
    Shard& shard(CK_SESSION_HANDLE h) const noexcept { return shards_[h % kShards]; }
    void forget(const Session& session) noexcept;

    mutable std::array<Shard, kShards> shards_;
    std::atomic<CK_SESSION_HANDLE> next_{1};
    std::atomic<unsigned long> count_{0};
    std::atomic<unsigned long> rwCount_{0};
};

}  // namespace p11c

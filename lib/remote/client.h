// RemoteClient: a member token served by a member host process
// (`p11cluster serve`, remote/host.h), seen through a CK_FUNCTION_LIST of
// its own so that the rest of the cluster treats it like any loaded module.
// Many clients live in one process, each with its own function list (up to
// kMaxClients), which p11-kit's client module cannot offer.
//
// Calls run concurrently over a pool of connections (one call per
// connection at a time). Every call has a deadline; a host that does not
// answer in time costs the caller one deadline and a member fault
// (CKR_DEVICE_ERROR). A host that restarted has lost every session and
// login: the client notices (its control connection closes, or the host
// answers with a new instance id) and answers CKR_DEVICE_REMOVED until it
// is finalized and initialized again, which the cluster's prober does
// before the member serves again. In a forked child the parent's
// connections are never used.
#pragma once

#include <pkcs11.h>
#include <pkcs11_functions.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "remote/calls.h"

namespace p11c::remote {

inline constexpr unsigned kMaxClients = 64;

class RemoteClient {
  public:
    // `address` is "unix:/path/to/socket" (or a plain path). Throws
    // std::runtime_error when all kMaxClients are in use.
    static std::unique_ptr<RemoteClient> create(const std::string& address,
                                                std::chrono::milliseconds callTimeout);
    ~RemoteClient();
    RemoteClient(const RemoteClient&) = delete;
    RemoteClient& operator=(const RemoteClient&) = delete;

    CK_FUNCTION_LIST* functions() const noexcept;
    const std::string& address() const noexcept { return address_; }

#define P11C_REMOTE_DECL(name, params, args) CK_RV name params;
    P11_FUNCTIONS_2_40(P11C_REMOTE_DECL)
#undef P11C_REMOTE_DECL

    // Returns once every call made earlier has finished on the host, those
    // that missed their deadline included: after it, nothing from before
    // can still change the token.
    CK_RV fence();
    // Takes the host out of service for `seconds` (0: back in service).
    CK_RV pause(CK_ULONG seconds);

    // For the fork handler: drop every inherited connection.
    void abandonAfterFork() noexcept;
    // Whether this client came from the parent of a fork (never usable here).
    bool forkedAway() const noexcept {
        return forked_.load();
    }

  private:
    RemoteClient(std::string address, std::chrono::milliseconds callTimeout, unsigned slot);

    template <class... Kinds>
    CK_RV call(Fn fn, Kinds&&... kinds);
    // Sends one request and waits for its reply; nullopt on a broken
    // connection or a missed deadline (the connection is then dropped).
    std::optional<std::vector<uint8_t>> transact(Fn fn, std::vector<uint8_t>& request,
                                                 CK_RV& failure);
    int connect(Role role, CK_RV& failure);  // -1 on failure
    bool hostLost() noexcept;
    void closeAll() noexcept;
    std::chrono::milliseconds deadlineFor(Fn fn) const noexcept;

    const std::string address_;
    const std::chrono::milliseconds callTimeout_;
    const unsigned slot_;
    // High 32 bits: this client, for ever; low 32 bits: which C_Initialize
    // (connections of an older incarnation never go back to the pool).
    // The host closes an incarnation's sessions when its control
    // connection ends, and fences by the high bits.
    const uint64_t clientBase_;
    std::atomic<uint32_t> incarnation_{0};
    uint64_t clientId() const noexcept {
        return clientBase_ | incarnation_.load();
    }
    // Counts calls that may be left running on the host (a missed
    // deadline, a lost connection). Every request carries it; fence()
    // makes the host refuse requests of an older count.
    std::atomic<uint64_t> callEpoch_{1};

    std::mutex mutex_;
    bool initialized_ = false;
    int control_ = -1;
    std::vector<int> idle_;
    uint64_t hostInstance_ = 0;
    std::atomic<bool> stale_{false};  // the host lost our sessions: refuse until re-initialized
    std::atomic<bool> forked_{false};
};

}  // namespace p11c::remote

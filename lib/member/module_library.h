// ModuleLibrary: one loaded PKCS#11 module (a member's .so), shared by every
// member that lives in it (several SoftHSM slots are several members of one
// module). Loaded once per process per module; C_Initialize is called with
// CKF_OS_LOCKING_OK. C_Finalize is called on destruction only if this
// process's p11cluster was the one that initialised it.
// Thread-safety: open() is safe to call concurrently; the function list is
// immutable once loaded.
#pragma once

#include <pkcs11.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

namespace p11c {
namespace remote {
class RemoteClient;
}

class ModuleLoadError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class ModuleLibrary {
  public:
    // Loads and initialises the module at `path`, or returns the one already
    // loaded from the same file. Throws ModuleLoadError with a clear message.
    static std::shared_ptr<ModuleLibrary> open(const std::string& path);
    // The tokens a member host serves at `address` ("unix:SOCKET"), reached
    // through a RemoteClient (remote/client.h); one per address per process.
    static std::shared_ptr<ModuleLibrary> openRemote(const std::string& address,
                                                     std::chrono::milliseconds callTimeout);

    ~ModuleLibrary();
    ModuleLibrary(const ModuleLibrary&) = delete;
    ModuleLibrary& operator=(const ModuleLibrary&) = delete;

    const std::string& path() const noexcept { return path_; }
    CK_FUNCTION_LIST* functions() const noexcept { return functions_; }
    // The 3.0 function list where the module offers one, else nullptr.
    CK_FUNCTION_LIST_3_0* functions30() const noexcept { return functions30_; }
    bool remote() const noexcept { return remote_ != nullptr; }
    // False for a member host that could not be reached yet.
    bool ready() const noexcept { return initialisedByUs_ || !remote_; }

    // Starts over with a member host that lost our sessions (it restarted):
    // C_Finalize and C_Initialize on the client. Every session and object
    // handle from before is void afterwards, which generation() tells.
    // A loaded module is left alone (its sessions survive its faults).
    CK_RV reconnect();
    // Remote: waits until calls that missed their deadline have finished on
    // the member host (RemoteClient::fence). Loaded modules: nothing to wait for.
    CK_RV fence();
    // Member hosts: out of service for `seconds` (0: back), see remote::Fn::Pause.
    // Loaded modules cannot be: CKR_FUNCTION_NOT_SUPPORTED.
    CK_RV pause(CK_ULONG seconds);
    uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }

  private:
    ModuleLibrary() = default;

    std::string path_;
    void* handle_ = nullptr;
    std::unique_ptr<remote::RemoteClient> remote_;
    CK_FUNCTION_LIST* functions_ = nullptr;
    CK_FUNCTION_LIST_3_0* functions30_ = nullptr;
    std::atomic<bool> initialisedByUs_{false};
    std::mutex reconnectMutex_;
    std::atomic<uint64_t> generation_{0};
};

}  // namespace p11c

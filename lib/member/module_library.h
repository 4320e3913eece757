// ModuleLibrary: one loaded PKCS#11 module (a member's .so), shared by every
// member that lives in it (several SoftHSM slots are several members of one
// module). Loaded once per process per module; C_Initialize is called with
// CKF_OS_LOCKING_OK. C_Finalize is called on destruction only if this
// process's p11cluster was the one that initialised it.
// Thread-safety: open() is safe to call concurrently; the function list is
// immutable once loaded.
#pragma once

#include <pkcs11.h>

#include <chrono>
#include <memory>
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

  private:
    ModuleLibrary() = default;

    std::string path_;
    void* handle_ = nullptr;
    std::unique_ptr<remote::RemoteClient> remote_;
    CK_FUNCTION_LIST* functions_ = nullptr;
    CK_FUNCTION_LIST_3_0* functions30_ = nullptr;
    bool initialisedByUs_ = false;
};

}  // namespace p11c

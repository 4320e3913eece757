#include "member/module_library.h"

#include <dlfcn.h>

#include <cstring>
#include <map>
#include <mutex>

#include "remote/client.h"
#include "util/error.h"
#include "util/log.h"

namespace p11c {
namespace {

std::recursive_mutex
    registryMutex;  // recursive: a failed open() destroys its module under the lock
// Keyed by dlopen handle: the same file reached by two paths is one module.
std::map<void*, std::weak_ptr<ModuleLibrary>>& registry() {
    static std::map<void*, std::weak_ptr<ModuleLibrary>> map;
    return map;
}

std::map<std::string, std::weak_ptr<ModuleLibrary>>& remoteRegistry() {
    static std::map<std::string, std::weak_ptr<ModuleLibrary>> map;
    return map;
}

}  // namespace

std::shared_ptr<ModuleLibrary> ModuleLibrary::openRemote(const std::string& address,
                                                         std::chrono::milliseconds callTimeout) {
    std::lock_guard lock(registryMutex);
    // A client inherited from the parent of a fork is never used here: the
    // child gets its own connections (PKCS#11 5.4, and issue 7's nginx).
    if (auto it = remoteRegistry().find(address); it != remoteRegistry().end())
        if (auto existing = it->second.lock(); existing && !existing->remote_->forkedAway())
            return existing;
    std::shared_ptr<ModuleLibrary> module(new ModuleLibrary());
    module->path_ = address;
    try {
        module->remote_ = remote::RemoteClient::create(address, callTimeout);
    } catch (const std::runtime_error& e) {
        throw ModuleLoadError(std::string("remote ") + address + ": " + e.what());
    }
    module->functions_ = module->remote_->functions();
    // A member host that is down now is no reason to refuse the cluster:
    // the member starts out of service and the prober brings it in.
    CK_RV rv = module->functions_->C_Initialize(nullptr);
    module->initialisedByUs_ = rv == CKR_OK;
    if (rv != CKR_OK) log::warn("member host ", address, " cannot be reached now");
    remoteRegistry()[address] = module;
    log::debug("connected to member host ", address);
    return module;
}

std::shared_ptr<ModuleLibrary> ModuleLibrary::open(const std::string& path) {
    std::lock_guard lock(registryMutex);
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const char* why = ::dlerror();
        throw ModuleLoadError("cannot load module " + path + ": " + (why ? why : "unknown error"));
    }
    if (auto it = registry().find(handle); it != registry().end()) {
        if (auto existing = it->second.lock()) {
            ::dlclose(handle);  // drop the extra reference this dlopen took
            return existing;
        }
    }

    std::shared_ptr<ModuleLibrary> module(new ModuleLibrary());
    module->path_ = path;
    module->handle_ = handle;

    auto getInterface = reinterpret_cast<CK_C_GetInterface>(::dlsym(handle, "C_GetInterface"));
    if (getInterface != nullptr) {
        CK_INTERFACE* iface = nullptr;
        CK_VERSION v30{3, 0};
        if (getInterface(reinterpret_cast<CK_UTF8CHAR_PTR>(const_cast<char*>("PKCS 11")), &v30,
                         &iface, 0) == CKR_OK &&
            iface != nullptr && iface->pFunctionList != nullptr) {
            module->functions30_ = static_cast<CK_FUNCTION_LIST_3_0*>(iface->pFunctionList);
            module->functions_ = static_cast<CK_FUNCTION_LIST*>(iface->pFunctionList);
        }
    }
    if (module->functions_ == nullptr) {
        auto getList = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(handle, "C_GetFunctionList"));
        if (getList == nullptr) {
            throw ModuleLoadError("module " + path +
                                  " is not a PKCS#11 module (no C_GetFunctionList)");
        }
        CK_RV rv = getList(&module->functions_);
        if (rv != CKR_OK || module->functions_ == nullptr)
            throw ModuleLoadError("module " + path + ": C_GetFunctionList failed: " + rvName(rv));
    }

    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    CK_RV rv = module->functions_->C_Initialize(&args);
    if (rv == CKR_OK) {
        module->initialisedByUs_ = true;
    } else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        throw ModuleLoadError("module " + path + ": C_Initialize failed: " + rvName(rv));
    }
    registry()[handle] = module;
    log::debug("loaded member module ", path);
    return module;
}

CK_RV ModuleLibrary::reconnect() {
    if (!remote_) return CKR_OK;
    std::lock_guard lock(reconnectMutex_);
    functions_->C_Finalize(nullptr);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    CK_RV rv = functions_->C_Initialize(nullptr);
    initialisedByUs_ = rv == CKR_OK;
    return rv;
}

CK_RV ModuleLibrary::fence() {
    return remote_ ? remote_->fence() : CKR_OK;
}

CK_RV ModuleLibrary::pause(CK_ULONG seconds) {
    return remote_ ? remote_->pause(seconds) : CKR_FUNCTION_NOT_SUPPORTED;
}

ModuleLibrary::~ModuleLibrary() {
    std::lock_guard lock(registryMutex);
    if (functions_ != nullptr && initialisedByUs_) functions_->C_Finalize(nullptr);
    if (remote_) {
        if (auto it = remoteRegistry().find(path_);
            it != remoteRegistry().end() && it->second.expired())
            remoteRegistry().erase(it);
        return;
    }
    registry().erase(handle_);
    if (handle_ != nullptr) ::dlclose(handle_);
}

}  // namespace p11c

#include "core/runtime.h"

#include <pthread.h>

#include <atomic>
#include <mutex>

#include "config/config.h"
#include "util/error.h"
#include "util/log.h"

namespace p11c::runtime {
namespace {

std::mutex initMutex;
std::atomic<Cluster*> current{nullptr};
std::atomic<unsigned> forkGeneration{0};
unsigned initGeneration = 0;  // guarded by initMutex

void onForkChild() {
    forkGeneration.fetch_add(1, std::memory_order_relaxed);
}

void installForkHandler() {
    static std::once_flag once;
    std::call_once(once, [] { ::pthread_atfork(nullptr, nullptr, onForkChild); });
}

CK_RV checkInitArgs(CK_C_INITIALIZE_ARGS* args) {
    if (args == nullptr) return CKR_OK;
    const bool some =
        args->CreateMutex || args->DestroyMutex || args->LockMutex || args->UnlockMutex;
    const bool all =
        args->CreateMutex && args->DestroyMutex && args->LockMutex && args->UnlockMutex;
    if (some && !all) return CKR_ARGUMENTS_BAD;
    // We always use OS locking; callers that supply their own mutex functions
    // without allowing OS locking are not supported.
    if (all && !(args->flags & CKF_OS_LOCKING_OK)) return CKR_CANT_LOCK;
    return CKR_OK;
}

}  // namespace

Cluster& cluster() {
    Cluster* c = current.load(std::memory_order_acquire);
    if (c == nullptr || forkGeneration.load(std::memory_order_relaxed) != initGeneration)
        throw CkError(CKR_CRYPTOKI_NOT_INITIALIZED);
    if (c->probeInline()) c->probeDue();  // no lock is held here
    return *c;
}

CK_RV initialize(CK_VOID_PTR initArgs) {
    auto* args = static_cast<CK_C_INITIALIZE_ARGS*>(initArgs);
    if (CK_RV rv = checkInitArgs(args); rv != CKR_OK) return rv;
    installForkHandler();
    std::lock_guard lock(initMutex);
    unsigned generation = forkGeneration.load(std::memory_order_relaxed);
    std::string inherited;
    if (Cluster* parent = current.load(); parent != nullptr) {
        if (generation == initGeneration) return CKR_CRYPTOKI_ALREADY_INITIALIZED;
        // A forked child: the parent's cluster (its member sessions, its
        // login) belongs to the parent. Leave it untouched and start anew,
        // from the parent's file if the child's environment no longer names
        // it (nginx clears its workers' environment).
        inherited = parent->config().path;
        current.store(nullptr);
    }
    const char* reserved = args != nullptr ? static_cast<const char*>(args->pReserved) : nullptr;
    std::string path = config::locate(reserved, inherited);
    try {
        config::Config config = config::loadFile(path);
        std::unique_ptr<Cluster> cluster = Cluster::start(std::move(config));
        // An application that forbids threads gets its probes run in its
        // own calls instead of a background thread.
        const bool threads = args == nullptr || !(args->flags & CKF_LIBRARY_CANT_CREATE_OS_THREADS);
        cluster->startProber(threads);
        initGeneration = generation;
        current.store(cluster.release(), std::memory_order_release);
        return CKR_OK;
    } catch (const config::ConfigError& e) {
        log::error(e.what());
    } catch (const ModuleLoadError& e) {
        log::error(path, ": ", e.what());
    }
    return CKR_GENERAL_ERROR;
}

CK_RV finalize(CK_VOID_PTR reserved) {
    if (reserved != nullptr) return CKR_ARGUMENTS_BAD;
    std::lock_guard lock(initMutex);
    Cluster* c = current.load();
    if (c == nullptr || forkGeneration.load() != initGeneration)
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    current.store(nullptr, std::memory_order_release);
    delete c;
    return CKR_OK;
}

}  // namespace p11c::runtime

#include "remote/client.h"

#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <new>
#include <random>
#include <stdexcept>
#include <utility>

#include "util/log.h"
#include "util/rv.h"

namespace p11c::remote {
namespace {

using Clock = std::chrono::steady_clock;

// --- one function list per client slot ---------------------------------------
// A CK_FUNCTION_LIST carries no context, so each slot gets its own set of
// entry points that find their client here.
std::array<std::atomic<RemoteClient*>, kMaxClients> gClients{};
std::mutex gSlotsMutex;
std::array<bool, kMaxClients> gSlotUsed{};

template <unsigned N>
struct Entry {
#define P11C_TRAMPOLINE(name, params, args)                                 \
    static CK_RV name params {                                              \
        RemoteClient* client = gClients[N].load(std::memory_order_acquire); \
        if (client == nullptr) return CKR_CRYPTOKI_NOT_INITIALIZED;         \
        try {                                                               \
            return client->name args;                                       \
        } catch (const std::bad_alloc&) {                                   \
            return CKR_HOST_MEMORY;                                         \
        } catch (...) {                                                     \
            return CKR_GENERAL_ERROR;                                       \
        }                                                                   \
    }
    P11_FUNCTIONS_2_40(P11C_TRAMPOLINE)
#undef P11C_TRAMPOLINE
#define P11C_POINTER(name, params, args) &Entry<N>::name,
    static inline CK_FUNCTION_LIST list = {{2, 40}, P11_FUNCTIONS_2_40(P11C_POINTER)};
#undef P11C_POINTER
};

template <size_t... I>
std::array<CK_FUNCTION_LIST*, kMaxClients> makeLists(std::index_sequence<I...>) {
    return {&Entry<I>::list...};
}
const std::array<CK_FUNCTION_LIST*, kMaxClients> gLists =
    makeLists(std::make_index_sequence<kMaxClients>());

void afterForkInChild() {
    for (auto& slot : gClients)
        if (RemoteClient* client = slot.load(std::memory_order_acquire)) client->abandonAfterFork();
}

uint64_t randomId() {
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) ^ device();
}

std::string socketPath(const std::string& address) {
    static constexpr char kScheme[] = "unix:";
    if (address.rfind(kScheme, 0) == 0) return address.substr(sizeof kScheme - 1);
    return address;
}

bool sendAll(int fd, const uint8_t* data, size_t n) {
    while (n > 0) {
        ssize_t sent = ::send(fd, data, n, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR) continue;
        if (sent <= 0) return false;
        data += sent;
        n -= static_cast<size_t>(sent);
    }
    return true;
}

// Reads exactly n bytes before the deadline; false on EOF, error or timeout
// (`timedOut` tells which).
bool recvAll(int fd, uint8_t* data, size_t n, Clock::time_point deadline, bool& timedOut) {
    timedOut = false;
    while (n > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            timedOut = true;
            return false;
        }
        pollfd p{fd, POLLIN, 0};
        int ready = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1 << 30)));
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) return false;
        if (ready == 0) continue;  // the loop re-checks the deadline
        ssize_t got = ::recv(fd, data, n, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        data += got;
        n -= static_cast<size_t>(got);
    }
    return true;
}

const char* fnName(Fn fn) {
    static const char* const kNames[] = {
#define P11C_NAME(name, params, args) #name,
        P11_FUNCTIONS_2_40(P11C_NAME)
#undef P11C_NAME
    };
    if (fn == Fn::Fence) return "fence";
    auto i = static_cast<size_t>(fn);
    return i < std::size(kNames) ? kNames[i] : "?";
}

}  // namespace

// ------------------------------------------------------------------ lifecycle

std::unique_ptr<RemoteClient> RemoteClient::create(const std::string& address,
                                                   std::chrono::milliseconds callTimeout) {
    static const bool forkHandler = [] {
        ::pthread_atfork(nullptr, nullptr, afterForkInChild);
        return true;
    }();
    (void)forkHandler;
    std::lock_guard lock(gSlotsMutex);
    for (unsigned i = 0; i < kMaxClients; ++i) {
        if (gSlotUsed[i]) continue;
        gSlotUsed[i] = true;
        std::unique_ptr<RemoteClient> client(new RemoteClient(address, callTimeout, i));
        gClients[i].store(client.get(), std::memory_order_release);
        return client;
    }
    throw std::runtime_error("too many remote members in one process (at most " +
                             std::to_string(kMaxClients) + ")");
}

RemoteClient::RemoteClient(std::string address, std::chrono::milliseconds callTimeout,
                           unsigned slot)
    : address_(std::move(address)),
      callTimeout_(callTimeout),
      slot_(slot),
      clientBase_(randomId() << 32) {}

RemoteClient::~RemoteClient() {
    std::lock_guard lock(gSlotsMutex);
    gClients[slot_].store(nullptr, std::memory_order_release);
    gSlotUsed[slot_] = false;
    if (!forked_.load()) closeAll();
}

CK_FUNCTION_LIST* RemoteClient::functions() const noexcept {
    return gLists[slot_];
}

void RemoteClient::abandonAfterFork() noexcept {
    // Single-threaded in the child: no lock (a parent thread may have held it).
    forked_.store(true);
    if (control_ >= 0) ::close(control_);
    for (int fd : idle_) ::close(fd);
    control_ = -1;
    idle_.clear();
}

void RemoteClient::closeAll() noexcept {
    std::lock_guard lock(mutex_);
    for (int fd : idle_) ::close(fd);
    idle_.clear();
    if (control_ >= 0) ::close(control_);
    control_ = -1;
    initialized_ = false;
}

std::chrono::milliseconds RemoteClient::deadlineFor(Fn fn) const noexcept {
    switch (fn) {
        case Fn::C_GenerateKeyPair:
        case Fn::C_GenerateKey:
        case Fn::C_InitToken:
        case Fn::Fence:
            return callTimeout_ * 10;  // slow by nature on every token
        case Fn::C_CreateObject:
        case Fn::C_CopyObject:
        case Fn::C_DestroyObject:
        case Fn::C_SetAttributeValue:
        case Fn::C_UnwrapKey:
        case Fn::C_DeriveKey:
            // Token objects are written to the token's storage: a loaded
            // machine or a busy HSM takes longer for them than for crypto.
            return callTimeout_ * 3;
        default:
            return callTimeout_;
    }
}

// ---------------------------------------------------------------- connections

int RemoteClient::connect(Role role, CK_RV& failure) {
    failure = CKR_DEVICE_ERROR;
    const std::string path = socketPath(address_);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        log::error("remote member ", address_, ": socket path too long");
        return -1;
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        log::debug("remote member ", address_, ": cannot connect: ", std::strerror(errno));
        ::close(fd);
        return -1;
    }
    Writer hello;
    hello.raw(kMagic, sizeof kMagic);
    hello.u64(clientId());
    hello.u8(static_cast<uint8_t>(role));
    uint8_t answer[sizeof kMagic + 8];
    bool timedOut = false;
    if (!sendAll(fd, hello.buffer().data(), hello.buffer().size()) ||
        !recvAll(fd, answer, sizeof answer, Clock::now() + callTimeout_, timedOut) ||
        std::memcmp(answer, kMagic, sizeof kMagic) != 0) {
        log::warn("remote member ", address_, ": ",
                  timedOut ? "no answer to the greeting in time" : "greeting refused");
        ::close(fd);
        return -1;
    }
    uint64_t instance;
    std::memcpy(&instance, answer + sizeof kMagic, sizeof instance);
    std::lock_guard lock(mutex_);
    if (role == Role::Control) {
        hostInstance_ = instance;
    } else if (instance != hostInstance_) {
        // A new host process: our sessions and login there are gone.
        if (!stale_.exchange(true))
            log::warn("remote member ", address_, ": the member host restarted");
        failure = CKR_DEVICE_REMOVED;
        ::close(fd);
        return -1;
    }
    return fd;
}

bool RemoteClient::hostLost() noexcept {
    if (stale_.load(std::memory_order_acquire)) return true;
    // The host never writes on the control connection: anything readable
    // there is its end of file.
    pollfd p{control_, POLLIN, 0};
    if (control_ >= 0 && ::poll(&p, 1, 0) > 0) {
        if (!stale_.exchange(true))
            log::warn("remote member ", address_, ": the connection to the member host was lost");
        return true;
    }
    return false;
}

std::optional<std::vector<uint8_t>> RemoteClient::transact(Fn fn, std::vector<uint8_t>& request,
                                                           CK_RV& failure) {
    int fd = -1;
    const uint32_t incarnation = incarnation_.load();
    {
        std::lock_guard lock(mutex_);
        if (!idle_.empty()) {
            fd = idle_.back();
            idle_.pop_back();
        }
    }
    if (fd < 0 && (fd = connect(Role::Calls, failure)) < 0) return std::nullopt;
    failure = CKR_DEVICE_ERROR;

    uint32_t length = static_cast<uint32_t>(request.size() - sizeof(uint32_t));
    std::memcpy(request.data(), &length, sizeof length);
    auto deadline = Clock::now() + deadlineFor(fn);
    bool timedOut = false;
    uint32_t replyLength = 0;
    std::vector<uint8_t> reply;
    bool ok = sendAll(fd, request.data(), request.size()) &&
              recvAll(fd, reinterpret_cast<uint8_t*>(&replyLength), sizeof replyLength, deadline,
                      timedOut) &&
              replyLength <= kMaxMessage;
    if (ok) {
        reply.resize(replyLength);
        ok = recvAll(fd, reply.data(), replyLength, deadline, timedOut);
    }
    if (!ok) {
        ::close(fd);
        callEpoch_.fetch_add(1);  // this call may still run on the host: fence() refuses it
        if (timedOut)
            log::warn("remote member ", address_, ": no answer to ", fnName(fn), " within ",
                      deadlineFor(fn).count(), " ms");
        else
            log::debug("remote member ", address_, ": connection lost during ", fnName(fn));
        return std::nullopt;
    }
    std::lock_guard lock(mutex_);
    if (incarnation == incarnation_.load() && initialized_)
        idle_.push_back(fd);
    else
        ::close(fd);  // finalized or started over meanwhile
    return reply;
}

template <class... Kinds>
CK_RV RemoteClient::call(Fn fn, Kinds&&... kinds) {
    if (forked_.load(std::memory_order_relaxed)) return CKR_CRYPTOKI_NOT_INITIALIZED;
    {
        std::lock_guard lock(mutex_);
        if (!initialized_) return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    if (hostLost()) return CKR_DEVICE_REMOVED;
    Writer w;
    w.u32(0);  // the length, filled in by transact()
    w.u32(static_cast<uint32_t>(fn));
    w.u64(callEpoch_.load());
    CK_RV bad = CKR_OK;
    ((bad == CKR_OK ? (bad = kinds.request(w)) : bad), ...);
    if (bad != CKR_OK) return bad;
    CK_RV failure = CKR_DEVICE_ERROR;
    auto reply = transact(fn, w.buffer(), failure);
    if (!reply) return failure;
    Reader r(reply->data(), reply->size());
    CK_RV rv = r.u64();
    if (rv != CKR_OK && r.atEnd()) return rv;  // the host refused the request itself
    (kinds.reply(r, rv), ...);
    if (!r.ok() || !r.atEnd()) {
        log::warn("remote member ", address_, ": malformed answer to ", fnName(fn));
        return CKR_DEVICE_ERROR;
    }
    return rv;
}

// ------------------------------------------------------------------ functions

CK_RV RemoteClient::C_Initialize(CK_VOID_PTR) {
    if (forked_.load()) return CKR_CRYPTOKI_NOT_INITIALIZED;
    {
        std::lock_guard lock(mutex_);
        if (initialized_) return CKR_CRYPTOKI_ALREADY_INITIALIZED;
    }
    CK_RV failure;
    incarnation_.fetch_add(1);  // a new incarnation: its own sessions on the host
    int fd = connect(Role::Control, failure);
    if (fd < 0) return CKR_DEVICE_ERROR;
    std::lock_guard lock(mutex_);
    control_ = fd;
    stale_.store(false);
    initialized_ = true;
    return CKR_OK;
}

CK_RV RemoteClient::C_Finalize(CK_VOID_PTR reserved) {
    if (reserved != nullptr) return CKR_ARGUMENTS_BAD;
    {
        std::lock_guard lock(mutex_);
        if (!initialized_) return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    closeAll();
    return CKR_OK;
}

CK_RV RemoteClient::C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
    if (list == nullptr) return CKR_ARGUMENTS_BAD;
    *list = functions();
    return CKR_OK;
}

CK_RV RemoteClient::C_GetInfo(CK_INFO_PTR info) {
    return call(Fn::C_GetInfo, OutValue<CK_INFO>{info});
}
CK_RV RemoteClient::C_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count) {
    return call(Fn::C_GetSlotList, Ulong{present}, Out<CK_ULONG>{list, count});
}
CK_RV RemoteClient::C_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info) {
    return call(Fn::C_GetSlotInfo, Ulong{slot}, OutValue<CK_SLOT_INFO>{info});
}
CK_RV RemoteClient::C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info) {
    return call(Fn::C_GetTokenInfo, Ulong{slot}, OutValue<CK_TOKEN_INFO>{info});
}
CK_RV RemoteClient::C_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list,
                                       CK_ULONG_PTR count) {
    return call(Fn::C_GetMechanismList, Ulong{slot}, Out<CK_ULONG>{list, count});
}
CK_RV RemoteClient::C_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
                                       CK_MECHANISM_INFO_PTR info) {
    return call(Fn::C_GetMechanismInfo, Ulong{slot}, Ulong{type},
                OutValue<CK_MECHANISM_INFO>{info});
}
CK_RV RemoteClient::C_InitToken(CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG pinLen,
                                CK_UTF8CHAR_PTR label) {
    return call(Fn::C_InitToken, Ulong{slot}, In{pin, pinLen}, In{label, label ? 32ul : 0ul});
}
CK_RV RemoteClient::C_InitPIN(CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR pin, CK_ULONG pinLen) {
    return call(Fn::C_InitPIN, Ulong{s}, In{pin, pinLen});
}
CK_RV RemoteClient::C_SetPIN(CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR oldPin, CK_ULONG oldLen,
                             CK_UTF8CHAR_PTR newPin, CK_ULONG newLen) {
    return call(Fn::C_SetPIN, Ulong{s}, In{oldPin, oldLen}, In{newPin, newLen});
}
CK_RV RemoteClient::C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR, CK_NOTIFY,
                                  CK_SESSION_HANDLE_PTR session) {
    // Notification callbacks do not cross processes; the cluster never asks for them.
    return call(Fn::C_OpenSession, Ulong{slot}, Ulong{flags}, OutValue<CK_ULONG>{session});
}
CK_RV RemoteClient::C_CloseSession(CK_SESSION_HANDLE s) {
    return call(Fn::C_CloseSession, Ulong{s});
}
CK_RV RemoteClient::C_CloseAllSessions(CK_SLOT_ID slot) {
    return call(Fn::C_CloseAllSessions, Ulong{slot});
}
CK_RV RemoteClient::C_GetSessionInfo(CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR info) {
    return call(Fn::C_GetSessionInfo, Ulong{s}, OutValue<CK_SESSION_INFO>{info});
}
CK_RV RemoteClient::C_GetOperationState(CK_SESSION_HANDLE s, CK_BYTE_PTR state, CK_ULONG_PTR len) {
    return call(Fn::C_GetOperationState, Ulong{s}, Out<CK_BYTE>{state, len});
}
CK_RV RemoteClient::C_SetOperationState(CK_SESSION_HANDLE s, CK_BYTE_PTR state, CK_ULONG len,
                                        CK_OBJECT_HANDLE enc, CK_OBJECT_HANDLE auth) {
    return call(Fn::C_SetOperationState, Ulong{s}, In{state, len}, Ulong{enc}, Ulong{auth});
}
CK_RV RemoteClient::C_Login(CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin,
                            CK_ULONG pinLen) {
    return call(Fn::C_Login, Ulong{s}, Ulong{user}, In{pin, pinLen});
}
CK_RV RemoteClient::C_Logout(CK_SESSION_HANDLE s) {
    return call(Fn::C_Logout, Ulong{s});
}
CK_RV RemoteClient::C_CreateObject(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                                   CK_OBJECT_HANDLE_PTR object) {
    return call(Fn::C_CreateObject, Ulong{s}, Template{t, n}, OutValue<CK_ULONG>{object});
}
CK_RV RemoteClient::C_CopyObject(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,
                                 CK_ULONG n, CK_OBJECT_HANDLE_PTR object) {
    return call(Fn::C_CopyObject, Ulong{s}, Ulong{o}, Template{t, n}, OutValue<CK_ULONG>{object});
}
CK_RV RemoteClient::C_DestroyObject(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o) {
    return call(Fn::C_DestroyObject, Ulong{s}, Ulong{o});
}
CK_RV RemoteClient::C_GetObjectSize(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ULONG_PTR size) {
    return call(Fn::C_GetObjectSize, Ulong{s}, Ulong{o}, OutValue<CK_ULONG>{size});
}
CK_RV RemoteClient::C_GetAttributeValue(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,
                                        CK_ULONG n) {
    return call(Fn::C_GetAttributeValue, Ulong{s}, Ulong{o}, Query{t, n});
}
CK_RV RemoteClient::C_SetAttributeValue(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,
                                        CK_ULONG n) {
    return call(Fn::C_SetAttributeValue, Ulong{s}, Ulong{o}, Template{t, n});
}
CK_RV RemoteClient::C_FindObjectsInit(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n) {
    return call(Fn::C_FindObjectsInit, Ulong{s}, Template{t, n});
}
CK_RV RemoteClient::C_FindObjects(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR out, CK_ULONG max,
                                  CK_ULONG_PTR count) {
    return call(Fn::C_FindObjects, Ulong{s}, Found{out, max, count});
}
CK_RV RemoteClient::C_FindObjectsFinal(CK_SESSION_HANDLE s) {
    return call(Fn::C_FindObjectsFinal, Ulong{s});
}

// Init(session, mechanism, key), one-shot and update(session, in, out),
// final(session, out): the shape most crypto functions share.
#define P11C_INIT(fn)                                                                     \
    CK_RV RemoteClient::fn(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k) { \
        return call(Fn::fn, Ulong{s}, Mech{m}, Ulong{k});                                 \
    }
#define P11C_IN_OUT(fn)                                                                          \
    CK_RV RemoteClient::fn(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG inLen, CK_BYTE_PTR out, \
                           CK_ULONG_PTR outLen) {                                                \
        return call(Fn::fn, Ulong{s}, In{in, inLen}, Out<CK_BYTE>{out, outLen});                 \
    }
#define P11C_IN(fn)                                                               \
    CK_RV RemoteClient::fn(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG inLen) { \
        return call(Fn::fn, Ulong{s}, In{in, inLen});                             \
    }
#define P11C_OUT(fn)                                                                    \
    CK_RV RemoteClient::fn(CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG_PTR outLen) { \
        return call(Fn::fn, Ulong{s}, Out<CK_BYTE>{out, outLen});                       \
    }

P11C_INIT(C_EncryptInit)
P11C_IN_OUT(C_Encrypt)
P11C_IN_OUT(C_EncryptUpdate)
P11C_OUT(C_EncryptFinal)
P11C_INIT(C_DecryptInit)
P11C_IN_OUT(C_Decrypt)
P11C_IN_OUT(C_DecryptUpdate)
P11C_OUT(C_DecryptFinal)
P11C_IN_OUT(C_Digest)
P11C_IN(C_DigestUpdate)
P11C_OUT(C_DigestFinal)
P11C_INIT(C_SignInit)
P11C_IN_OUT(C_Sign)
P11C_IN(C_SignUpdate)
P11C_OUT(C_SignFinal)
P11C_INIT(C_SignRecoverInit)
P11C_IN_OUT(C_SignRecover)
P11C_INIT(C_VerifyInit)
P11C_IN(C_VerifyUpdate)
P11C_IN(C_VerifyFinal)
P11C_INIT(C_VerifyRecoverInit)
P11C_IN_OUT(C_VerifyRecover)
P11C_IN_OUT(C_DigestEncryptUpdate)
P11C_IN_OUT(C_DecryptDigestUpdate)
P11C_IN_OUT(C_SignEncryptUpdate)
P11C_IN_OUT(C_DecryptVerifyUpdate)
P11C_IN(C_SeedRandom)

#undef P11C_INIT
#undef P11C_IN_OUT
#undef P11C_IN
#undef P11C_OUT

CK_RV RemoteClient::C_DigestInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m) {
    return call(Fn::C_DigestInit, Ulong{s}, Mech{m});
}
CK_RV RemoteClient::C_DigestKey(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE k) {
    return call(Fn::C_DigestKey, Ulong{s}, Ulong{k});
}
CK_RV RemoteClient::C_Verify(CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
                             CK_ULONG sigLen) {
    return call(Fn::C_Verify, Ulong{s}, In{data, len}, In{sig, sigLen});
}
CK_RV RemoteClient::C_GenerateKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t,
                                  CK_ULONG n, CK_OBJECT_HANDLE_PTR key) {
    return call(Fn::C_GenerateKey, Ulong{s}, Mech{m}, Template{t, n}, OutValue<CK_ULONG>{key});
}
CK_RV RemoteClient::C_GenerateKeyPair(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pub,
                                      CK_ULONG pubN, CK_ATTRIBUTE_PTR priv, CK_ULONG privN,
                                      CK_OBJECT_HANDLE_PTR pubKey, CK_OBJECT_HANDLE_PTR privKey) {
    return call(Fn::C_GenerateKeyPair, Ulong{s}, Mech{m}, Template{pub, pubN},
                Template{priv, privN}, OutValue<CK_ULONG>{pubKey}, OutValue<CK_ULONG>{privKey});
}
CK_RV RemoteClient::C_WrapKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE wrapping,
                              CK_OBJECT_HANDLE key, CK_BYTE_PTR out, CK_ULONG_PTR outLen) {
    return call(Fn::C_WrapKey, Ulong{s}, Mech{m}, Ulong{wrapping}, Ulong{key},
                Out<CK_BYTE>{out, outLen});
}
CK_RV RemoteClient::C_UnwrapKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
                                CK_OBJECT_HANDLE unwrapping, CK_BYTE_PTR wrapped, CK_ULONG len,
                                CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR key) {
    return call(Fn::C_UnwrapKey, Ulong{s}, Mech{m}, Ulong{unwrapping}, In{wrapped, len},
                Template{t, n}, OutValue<CK_ULONG>{key});
}
CK_RV RemoteClient::C_DeriveKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE base,
                                CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR key) {
    return call(Fn::C_DeriveKey, Ulong{s}, Mech{m}, Ulong{base}, Template{t, n},
                OutValue<CK_ULONG>{key});
}
CK_RV RemoteClient::C_GenerateRandom(CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG len) {
    return call(Fn::C_GenerateRandom, Ulong{s}, OutFixed{out, len});
}
CK_RV RemoteClient::fence() {
    return call(Fn::Fence);
}

CK_RV RemoteClient::pause(CK_ULONG seconds) {
    return call(Fn::Pause, Ulong{seconds});
}

CK_RV RemoteClient::C_GetFunctionStatus(CK_SESSION_HANDLE) {
    return CKR_FUNCTION_NOT_PARALLEL;
}
CK_RV RemoteClient::C_CancelFunction(CK_SESSION_HANDLE) {
    return CKR_FUNCTION_NOT_PARALLEL;
}
CK_RV RemoteClient::C_WaitForSlotEvent(CK_FLAGS, CK_SLOT_ID_PTR, CK_VOID_PTR) {
    return CKR_FUNCTION_NOT_SUPPORTED;
}

}  // namespace p11c::remote

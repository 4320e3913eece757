#include "remote/host.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "member/module_library.h"
#include "remote/calls.h"
#include "util/log.h"
#include "util/rv.h"

namespace p11c::remote {
namespace {

int gWake[2] = {-1, -1};

void onSignal(int) {
    char c = 1;
    [[maybe_unused]] ssize_t n = ::write(gWake[1], &c, 1);
}

bool readExactly(int fd, void* data, size_t n) {
    auto p = static_cast<uint8_t*>(data);
    while (n > 0) {
        ssize_t got = ::recv(fd, p, n, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        p += got;
        n -= static_cast<size_t>(got);
    }
    return true;
}

bool writeExactly(int fd, const void* data, size_t n) {
    auto p = static_cast<const uint8_t*>(data);
    while (n > 0) {
        ssize_t sent = ::send(fd, p, n, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR) continue;
        if (sent <= 0) return false;
        p += sent;
        n -= static_cast<size_t>(sent);
    }
    return true;
}

// Decodes the arguments, makes the call, encodes the reply. nullopt when
// the request is malformed (the connection is then dropped).
template <class... Kinds, class F>
std::optional<CK_RV> serveCall(Reader& r, Writer& w, F&& f) {
    std::tuple<Kinds...> kinds;
    bool ok = std::apply([&](auto&... k) { return (k.read(r) && ... && true); }, kinds);
    if (!ok || !r.ok() || !r.atEnd()) return std::nullopt;
    CK_RV rv =
        std::apply([&](auto&... k) { return std::apply(f, std::tuple_cat(k.args()...)); }, kinds);
    w.u64(rv);
    std::apply([&](auto&... k) { (k.reply(w, rv), ...); }, kinds);
    return rv;
}

class Host {
  public:
    explicit Host(CK_FUNCTION_LIST* fl) : fl_(fl) {
        std::random_device device;
        instance_ = (static_cast<uint64_t>(device()) << 32) ^ device();
        if (RAND_bytes(salt_, sizeof salt_) != 1)
            for (auto& b : salt_) b = static_cast<unsigned char>(device());
    }

    void connection(int fd);
    void stop();
    bool waitIdle(std::chrono::seconds limit);

  private:
    struct Client {
        unsigned controls = 0;
        unsigned running = 0;  // calls being executed now
        std::set<CK_SESSION_HANDLE> sessions;
        std::map<CK_SESSION_HANDLE, CK_SLOT_ID> slots;
        bool user = false;  // logged in as CKU_USER through this client
    };

    bool peerAllowed(int fd);
    void calls(uint64_t client, int fd);
    void control(uint64_t client, int fd);
    std::optional<CK_RV> dispatch(uint64_t client, Fn fn, Reader& r, Writer& w);
    // Whether a call of `epoch` may run (not fenced off); if so it counts as
    // running from now, under the same lock as fence() (no call slips by).
    bool admit(uint64_t client, uint64_t epoch) {
        std::lock_guard lock(mutex_);
        if (epoch < fences_[client >> 32]) return false;
        ++clients_[client].running;
        return true;
    }
    // Runs one admitted call.
    template <class F>
    auto running(uint64_t client, F&& f) {
        auto result = f();
        std::lock_guard lock(mutex_);
        Client& c = clients_[client];
        --c.running;
        if (c.running == 0 && c.controls == 0 && c.sessions.empty()) clients_.erase(client);
        idle_.notify_all();
        return result;
    }
    void fence(uint64_t client, uint64_t epoch);
    std::map<uint64_t, uint64_t> fences_;  // client base -> lowest epoch still admitted

    // Out of service until then (Fn::Pause), in steady-clock nanoseconds.
    static int64_t nowNs() {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::steady_clock::now().time_since_epoch())
            .count();
    }
    void pause(uint64_t seconds) {
        pausedUntil_.store(nowNs() + static_cast<int64_t>(seconds) * 1'000'000'000);
        if (seconds > 0)
            log::warn("member host: out of service for ", seconds, " s (asked by a client)");
        else
            log::warn("member host: back in service");
    }
    bool paused() const { return nowNs() < pausedUntil_.load(std::memory_order_relaxed); }
    std::atomic<int64_t> pausedUntil_{0};

    // The login is the token's, shared by every client (PKCS#11 logs in an
    // application, and the host is one): a client whose C_Login finds the
    // token logged in already must still know the PIN. The host keeps a
    // salted SHA-256 of the PIN that logged each user in, per slot, never
    // the PIN.
    using PinDigest = std::array<unsigned char, 32>;
    PinDigest pinDigest(const CK_BYTE* pin, CK_ULONG len) const;
    CK_RV login(uint64_t client, CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_BYTE* pin,
                CK_ULONG len);
    // Session objects, by handle: the client and session that made them.
    // The token sees every client as one application, which would show each
    // client the others' session objects: C_FindObjects leaves them out.
    struct Owner {
        uint64_t client;
        CK_SESSION_HANDLE session;
    };
    std::map<CK_OBJECT_HANDLE, Owner> sessionObjects_;
    // After a call that made an object: notes it if it is a session object.
    CK_RV made(uint64_t client, CK_SESSION_HANDLE s, CK_RV rv, const CK_ULONG* handle) {
        if (rv != CKR_OK) return rv;
        CK_BBOOL token = CK_TRUE;
        CK_ATTRIBUTE attr{CKA_TOKEN, &token, sizeof token};
        if (fl_->C_GetAttributeValue(s, *handle, &attr, 1) == CKR_OK && token == CK_FALSE) {
            std::lock_guard lock(mutex_);
            sessionObjects_[*handle] = {client, s};
        }
        return rv;
    }
    // A session's objects end with it (mutex_ held).
    void sessionClosedLocked(CK_SESSION_HANDLE s) {
        std::erase_if(sessionObjects_,
                      [&](const auto& entry) { return entry.second.session == s; });
    }
    unsigned char salt_[16]{};
    std::mutex loginMutex_;  // taken before mutex_, never the other way
    std::map<std::pair<CK_SLOT_ID, CK_USER_TYPE>, PinDigest> logins_;
    void forget(uint64_t client);

    CK_FUNCTION_LIST* fl_;
    uint64_t instance_;
    std::mutex mutex_;
    std::condition_variable idle_;
    std::map<uint64_t, Client> clients_;
    std::set<int> open_;
    bool stopping_ = false;
};

Host::PinDigest Host::pinDigest(const CK_BYTE* pin, CK_ULONG len) const {
    PinDigest digest{};
    unsigned int size = 0;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    if (ctx == nullptr || EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) != 1 ||
        EVP_DigestUpdate(ctx, salt_, sizeof salt_) != 1 ||
        (len > 0 && EVP_DigestUpdate(ctx, pin, len) != 1) ||
        EVP_DigestFinal_ex(ctx, digest.data(), &size) != 1)
        RAND_bytes(digest.data(), static_cast<int>(digest.size()));  // matches nothing
    EVP_MD_CTX_free(ctx);
    return digest;
}

CK_RV Host::login(uint64_t client, CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_BYTE* pin,
                  CK_ULONG len) {
    // One login at a time: a login racing another must find its digest.
    std::lock_guard serial(loginMutex_);
    CK_RV rv = fl_->C_Login(s, user, pin, len);
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) return rv;
    const PinDigest digest = pinDigest(pin, len);
    std::lock_guard lock(mutex_);
    Client& me = clients_[client];
    auto slot = me.slots.find(s);
    if (slot == me.slots.end()) return CKR_SESSION_HANDLE_INVALID;
    const auto key = std::make_pair(slot->second, user);
    if (rv == CKR_OK) {
        logins_[key] = digest;  // the token checked this PIN
    } else {
        // Logged in by another client: only with the same PIN.
        auto known = logins_.find(key);
        if (known == logins_.end() ||
            CRYPTO_memcmp(known->second.data(), digest.data(), digest.size()) != 0)
            return CKR_PIN_INCORRECT;
    }
    if (user == CKU_USER) me.user = true;
    return rv;
}

bool Host::peerAllowed(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
    if (cred.uid == ::geteuid() || cred.uid == 0) return true;
    log::warn("member host: refused a connection from uid ", cred.uid, " (pid ", cred.pid, ")");
    return false;
}

void Host::connection(int fd) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            ::close(fd);
            return;
        }
        open_.insert(fd);
    }
    // A greeting must come quickly; after it, calls may be far apart.
    timeval greetingTimeout{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &greetingTimeout, sizeof greetingTimeout);
    uint8_t hello[sizeof kMagic + 8 + 1];
    if (peerAllowed(fd) && readExactly(fd, hello, sizeof hello) &&
        std::memcmp(hello, kMagic, sizeof kMagic) == 0) {
        uint64_t client;
        std::memcpy(&client, hello + sizeof kMagic, sizeof client);
        Writer answer;
        answer.raw(kMagic, sizeof kMagic);
        answer.u64(instance_);
        timeval none{0, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
        if (writeExactly(fd, answer.buffer().data(), answer.buffer().size())) {
            if (hello[sizeof hello - 1] == static_cast<uint8_t>(Role::Control))
                control(client, fd);
            else
                calls(client, fd);
        }
    }
    std::lock_guard lock(mutex_);
    open_.erase(fd);
    ::close(fd);
    idle_.notify_all();
}

void Host::control(uint64_t client, int fd) {
    {
        std::lock_guard lock(mutex_);
        ++clients_[client].controls;
    }
    log::debug("member host: client ", client, " connected");
    char byte;
    while (::recv(fd, &byte, 1, 0) > 0) {
        // clients never write here; the read ends when the client goes away
    }
    bool last = false;
    {
        std::lock_guard lock(mutex_);
        last = --clients_[client].controls == 0;
    }
    if (last) forget(client);
}

void Host::forget(uint64_t client) {
    Client gone;
    {
        std::unique_lock lock(mutex_);
        // Calls of this client that still run (it gave up on them) use its
        // sessions: closing a session under a running call is not safe.
        idle_.wait_for(lock, std::chrono::seconds(60), [&] {
            auto it = clients_.find(client);
            return it == clients_.end() || it->second.running == 0;
        });
        auto it = clients_.find(client);
        if (it == clients_.end()) return;
        gone.sessions = std::move(it->second.sessions);
        for (CK_SESSION_HANDLE s : gone.sessions) sessionClosedLocked(s);
        it->second.sessions.clear();
        it->second.slots.clear();
        it->second.user = false;
        // Calls still running keep the entry (fence() counts them).
        if (it->second.running == 0) clients_.erase(it);
    }
    for (CK_SESSION_HANDLE s : gone.sessions) fl_->C_CloseSession(s);
    log::debug("member host: client ", client, " left; closed ", gone.sessions.size(), " sessions");
}

void Host::calls(uint64_t client, int fd) {
    std::vector<uint8_t> request;
    Writer reply;
    for (;;) {
        uint32_t length = 0;
        if (!readExactly(fd, &length, sizeof length) || length > kMaxMessage ||
            length < sizeof(uint32_t))
            return;
        request.resize(length);
        if (!readExactly(fd, request.data(), length)) return;
        Reader r(request.data(), request.size());
        auto fn = static_cast<Fn>(r.u32());
        const uint64_t epoch = r.u64();
        reply.buffer().clear();
        reply.u32(0);
        // A client that gave up on this call (its deadline passed, it closed
        // the connection) must not have it run late, after it moved on.
        char probe;
        if (::recv(fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT) == 0) return;
        if (fn == Fn::Pause) {
            const uint64_t seconds = r.u64();
            if (!r.ok() || !r.atEnd() || seconds > 3600) {
                reply.u64(CKR_ARGUMENTS_BAD);
            } else {
                pause(seconds);
                reply.u64(CKR_OK);
            }
        } else if (paused()) {
            reply.u64(CKR_DEVICE_REMOVED);  // out of service (a drill)
        } else if (fn == Fn::Fence) {
            fence(client, epoch);
            reply.u64(CKR_OK);
        } else if (!admit(client, epoch)) {
            reply.u64(CKR_DEVICE_ERROR);  // fenced off: the client gave up on it
        } else if (!running(client, [&] { return dispatch(client, fn, r, reply); })) {
            // The framing is intact: answer this call alone with an error.
            log::warn("member host: malformed request from client ", client);
            reply.buffer().resize(sizeof(uint32_t));
            reply.u64(CKR_ARGUMENTS_BAD);
        }
        uint32_t replyLength = static_cast<uint32_t>(reply.buffer().size() - sizeof(uint32_t));
        std::memcpy(reply.buffer().data(), &replyLength, sizeof replyLength);
        if (!writeExactly(fd, reply.buffer().data(), reply.buffer().size())) return;
    }
}

std::optional<CK_RV> Host::dispatch(uint64_t client, Fn fn, Reader& r, Writer& w) {
    CK_FUNCTION_LIST* f = fl_;
    using Bytes = HOut<CK_BYTE>;
    switch (fn) {
        case Fn::C_GetInfo:
            return serveCall<HOutValue<CK_INFO>>(r, w, f->C_GetInfo);
        case Fn::C_GetSlotList:
            return serveCall<HUlong, HOut<CK_ULONG>>(r, w, f->C_GetSlotList);
        case Fn::C_GetSlotInfo:
            return serveCall<HUlong, HOutValue<CK_SLOT_INFO>>(r, w, f->C_GetSlotInfo);
        case Fn::C_GetTokenInfo:
            return serveCall<HUlong, HOutValue<CK_TOKEN_INFO>>(r, w, f->C_GetTokenInfo);
        case Fn::C_GetMechanismList:
            return serveCall<HUlong, HOut<CK_ULONG>>(r, w, f->C_GetMechanismList);
        case Fn::C_GetMechanismInfo:
            return serveCall<HUlong, HUlong, HOutValue<CK_MECHANISM_INFO>>(r, w,
                                                                           f->C_GetMechanismInfo);
        case Fn::C_InitToken:
            return serveCall<HUlong, HIn, HInFixed<32>>(r, w, f->C_InitToken);
        case Fn::C_InitPIN:
            return serveCall<HUlong, HIn>(r, w, f->C_InitPIN);
        case Fn::C_SetPIN:
            return serveCall<HUlong, HIn, HIn>(r, w, f->C_SetPIN);
        case Fn::C_OpenSession:
            return serveCall<HUlong, HUlong, HOutValue<CK_ULONG>>(
                r, w, [&](CK_SLOT_ID slot, CK_FLAGS flags, CK_SESSION_HANDLE* session) {
                    CK_RV rv = f->C_OpenSession(slot, flags, nullptr, nullptr, session);
                    if (rv == CKR_OK) {
                        std::lock_guard lock(mutex_);
                        clients_[client].sessions.insert(*session);
                        clients_[client].slots[*session] = slot;
                    }
                    return rv;
                });
        case Fn::C_CloseSession:
            return serveCall<HUlong>(r, w, [&](CK_SESSION_HANDLE session) {
                CK_RV rv = f->C_CloseSession(session);
                std::lock_guard lock(mutex_);
                clients_[client].sessions.erase(session);
                sessionClosedLocked(session);
                clients_[client].slots.erase(session);
                return rv;
            });
        case Fn::C_CloseAllSessions:
            // Only this client's sessions: the others belong to other processes.
            return serveCall<HUlong>(r, w, [&](CK_SLOT_ID slot) {
                std::vector<CK_SESSION_HANDLE> mine;
                {
                    std::lock_guard lock(mutex_);
                    Client& c = clients_[client];
                    for (auto [session, onSlot] : c.slots)
                        if (onSlot == slot) mine.push_back(session);
                    for (CK_SESSION_HANDLE s : mine) {
                        c.sessions.erase(s);
                        sessionClosedLocked(s);
                        c.slots.erase(s);
                    }
                }
                for (CK_SESSION_HANDLE s : mine) f->C_CloseSession(s);
                return CKR_OK;
            });
        case Fn::C_GetSessionInfo:
            return serveCall<HUlong, HOutValue<CK_SESSION_INFO>>(r, w, f->C_GetSessionInfo);
        case Fn::C_GetOperationState:
            return serveCall<HUlong, Bytes>(r, w, f->C_GetOperationState);
        case Fn::C_SetOperationState:
            return serveCall<HUlong, HIn, HUlong, HUlong>(r, w, f->C_SetOperationState);
        case Fn::C_Login:
            return serveCall<HUlong, HUlong, HIn>(
                r, w, [&](CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_BYTE* pin, CK_ULONG len) {
                    return login(client, s, user, pin, len);
                });
        case Fn::C_Logout:
            return serveCall<HUlong>(r, w, [&](CK_SESSION_HANDLE s) {
                std::lock_guard serial(loginMutex_);  // no login between the two
                {
                    std::lock_guard lock(mutex_);
                    Client& me = clients_[client];
                    bool others = false;
                    for (auto& [id, c] : clients_) others |= id != client && c.user;
                    if (me.user && others) {
                        me.user = false;  // the token stays logged in for the others
                        return CKR_OK;
                    }
                    me.user = false;
                    if (auto slot = me.slots.find(s); slot != me.slots.end())
                        for (CK_USER_TYPE user : {CKU_USER, CKU_SO})
                            logins_.erase({slot->second, user});
                }
                return f->C_Logout(s);
            });
        case Fn::C_CreateObject:
            return serveCall<HUlong, HTemplate, HOutValue<CK_ULONG>>(
                r, w, [&](CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_ULONG* h) {
                    return made(client, s, f->C_CreateObject(s, t, n, h), h);
                });
        case Fn::C_CopyObject:
            return serveCall<HUlong, HUlong, HTemplate, HOutValue<CK_ULONG>>(
                r, w,
                [&](CK_SESSION_HANDLE s, CK_ULONG o, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_ULONG* h) {
                    return made(client, s, f->C_CopyObject(s, o, t, n, h), h);
                });
        case Fn::C_DestroyObject:
            return serveCall<HUlong, HUlong>(r, w, [&](CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o) {
                CK_RV rv = f->C_DestroyObject(s, o);
                if (rv == CKR_OK) {
                    std::lock_guard lock(mutex_);
                    sessionObjects_.erase(o);
                }
                return rv;
            });
        case Fn::C_GetObjectSize:
            return serveCall<HUlong, HUlong, HOutValue<CK_ULONG>>(r, w, f->C_GetObjectSize);
        case Fn::C_GetAttributeValue:
            return serveCall<HUlong, HUlong, HQuery>(r, w, f->C_GetAttributeValue);
        case Fn::C_SetAttributeValue:
            return serveCall<HUlong, HUlong, HTemplate>(r, w, f->C_SetAttributeValue);
        case Fn::C_FindObjectsInit:
            return serveCall<HUlong, HTemplate>(r, w, f->C_FindObjectsInit);
        case Fn::C_FindObjects:
            // Other clients' session objects are theirs: not found here.
            return serveCall<HUlong, HFound>(
                r, w,
                [&](CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG* n) {
                    for (;;) {
                        CK_RV rv = f->C_FindObjects(s, out, max, n);
                        if (rv != CKR_OK || *n == 0) return rv;
                        CK_ULONG kept = 0;
                        {
                            std::lock_guard lock(mutex_);
                            for (CK_ULONG i = 0; i < *n; ++i) {
                                auto it = sessionObjects_.find(out[i]);
                                if (it == sessionObjects_.end() || it->second.client == client)
                                    out[kept++] = out[i];
                            }
                        }
                        if (kept > 0) {
                            *n = kept;
                            return rv;
                        }
                    }
                });
        case Fn::C_FindObjectsFinal:
            return serveCall<HUlong>(r, w, f->C_FindObjectsFinal);
        case Fn::C_EncryptInit:
            return serveCall<HUlong, HMech, HUlong>(r, w, f->C_EncryptInit);
        case Fn::C_Encrypt:
            return serveCall<HUlong, HIn, Bytes>(r, w, f->C_Encrypt);
        case Fn::C_EncryptUpdate:
            return serveCall<HUlong, HIn, Bytes>(r, w, f->C_EncryptUpdate);
        case Fn::C_EncryptFinal:
            return serveCall<HUlong, Bytes>(r, w, f->C_EncryptFinal);
        case Fn::C_DecryptInit:
            return serveCall<HUlong, HMech, HUlong>(r, w, f->C_DecryptInit);
        case Fn::C_Decrypt:
            return serveCall<HUlong, HIn, Bytes>(r, w, f->C_Decrypt);
        case Fn::C_DecryptUpdate:
            return serveCall<HUlong, HIn, Bytes>(r, w, f->C_DecryptUpdate);
        case Fn::C_DecryptFinal:
            return serveCall<HUlong, Bytes>(r, w, f->C_DecryptFinal);
        case Fn::C_DigestInit:
            return serveCall<HUlong, HMech>(r, w, f->C_DigestInit);
        case Fn::C_Digest:
            return serveCall<HUlong, HIn, Bytes>(r, w, f->C_Digest);
        case Fn::C_DigestUpdate:
            return serveCall<HUlong, HIn>(r, w, f->C_DigestUpdate);
        case Fn::C_DigestKey:
            return serveCall<HUlong, HUlong>(r, w, f->C_DigestKey);
        case Fn::C_DigestFinal:
            return serveCall<HUlong, Bytes>(r, w, f->C_DigestFinal);
        case Fn::C_SignInit:
            return serveCall<HUlong, HMech, HUlong>(r, w, f->C_SignInit);
        case Fn::C_Sign:
            return serveCall<HUlong, HIn, Bytes>(r, w, f->C_Sign);
        case Fn::C_SignUpdate:
            return serveCall<HUlong, HIn>(r, w, f->C_SignUpdate);
        case Fn::C_SignFinal:
            return serveCall<HUlong, Bytes>(r, w, f->C_SignFinal);
        case Fn::C_SignRecoverInit:
            return serveCall<HUlong, HMech, HUlong>(r, w, f->C_SignRecoverInit);
        case Fn::C_SignRecover:
            return serveCall<HUlong, HIn, Bytes>(r, w, f->C_SignRecover);
        case Fn::C_VerifyInit:
            return serveCall<HUlong, HMech, HUlong>(r, w, f->C_VerifyInit);
        case Fn::C_Verify:
            return serveCall<HUlong, HIn, HIn>(r, w, f->C_Verify);
        case Fn::C_VerifyUpdate:
            return serveCall<HUlong, HIn>(r, w, f->C_VerifyUpdate);
        case Fn::C_VerifyFinal:
            return serveCall<HUlong, HIn>(r, w, f->C_VerifyFinal);
        case Fn::C_VerifyRecoverInit:
            return serveCall<HUlong, HMech, HUlong>(r, w, f->C_VerifyRecoverInit);
        case Fn::C_VerifyRecover:
            return serveCall<HUlong, HIn, Bytes>(r, w, f->C_VerifyRecover);
        case Fn::C_DigestEncryptUpdate:
            return serveCall<HUlong, HIn, Bytes>(r, w, f->C_DigestEncryptUpdate);
        case Fn::C_DecryptDigestUpdate:
            return serveCall<HUlong, HIn, Bytes>(r, w, f->C_DecryptDigestUpdate);
        case Fn::C_SignEncryptUpdate:
            return serveCall<HUlong, HIn, Bytes>(r, w, f->C_SignEncryptUpdate);
        case Fn::C_DecryptVerifyUpdate:
            return serveCall<HUlong, HIn, Bytes>(r, w, f->C_DecryptVerifyUpdate);
        case Fn::C_GenerateKey:
            return serveCall<HUlong, HMech, HTemplate, HOutValue<CK_ULONG>>(
                r, w,
                [&](CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t, CK_ULONG n,
                    CK_ULONG* h) { return made(client, s, f->C_GenerateKey(s, m, t, n, h), h); });
        case Fn::C_GenerateKeyPair:
            return serveCall<HUlong, HMech, HTemplate, HTemplate, HOutValue<CK_ULONG>,
                             HOutValue<CK_ULONG>>(
                r, w,
                [&](CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pt, CK_ULONG pn,
                    CK_ATTRIBUTE_PTR vt, CK_ULONG vn, CK_ULONG* pub, CK_ULONG* priv) {
                    CK_RV rv = f->C_GenerateKeyPair(s, m, pt, pn, vt, vn, pub, priv);
                    made(client, s, rv, pub);
                    return made(client, s, rv, priv);
                });
        case Fn::C_WrapKey:
            return serveCall<HUlong, HMech, HUlong, HUlong, Bytes>(r, w, f->C_WrapKey);
        case Fn::C_UnwrapKey:
            return serveCall<HUlong, HMech, HUlong, HIn, HTemplate, HOutValue<CK_ULONG>>(
                r, w,
                [&](CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k, CK_BYTE_PTR in,
                    CK_ULONG inLen, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_ULONG* h) {
                    return made(client, s, f->C_UnwrapKey(s, m, k, in, inLen, t, n, h), h);
                });
        case Fn::C_DeriveKey:
            return serveCall<HUlong, HMech, HUlong, HTemplate, HOutValue<CK_ULONG>>(
                r, w,
                [&](CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k, CK_ATTRIBUTE_PTR t,
                    CK_ULONG n,
                    CK_ULONG* h) { return made(client, s, f->C_DeriveKey(s, m, k, t, n, h), h); });
        case Fn::C_SeedRandom:
            return serveCall<HUlong, HIn>(r, w, f->C_SeedRandom);
        case Fn::C_GenerateRandom:
            return serveCall<HUlong, HOutFixed>(r, w, f->C_GenerateRandom);
        default:
            // Initialize, Finalize, GetFunctionList, GetFunctionStatus,
            // CancelFunction, WaitForSlotEvent are the client's own.
            if (!r.atEnd()) return std::nullopt;
            w.u64(CKR_FUNCTION_NOT_SUPPORTED);
            return CKR_FUNCTION_NOT_SUPPORTED;
    }
}

void Host::fence(uint64_t client, uint64_t epoch) {
    const uint64_t base = client >> 32;
    std::unique_lock lock(mutex_);
    fences_[base] = std::max(fences_[base], epoch);
    // Every incarnation of this client: calls admitted before the fence end first.
    idle_.wait_for(lock, std::chrono::seconds(30), [&] {
        for (const auto& [id, c] : clients_)
            if ((id >> 32) == base && c.running > 0) return false;
        return true;
    });
}

void Host::stop() {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
}

bool Host::waitIdle(std::chrono::seconds limit) {
    std::unique_lock lock(mutex_);
    return idle_.wait_for(lock, limit, [&] { return open_.empty(); });
}

// Binds the listening socket, mode 0600. Refuses a path where another host
// is already listening; removes a stale socket left by one that died.
int listenOn(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path) {
        std::cerr << "p11cluster serve: --socket " << path << ": path too long\n";
        return -1;
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            std::cerr << "p11cluster serve: --socket " << path << ": exists and is not a socket\n";
            return -1;
        }
        int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool live = ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(probe);
        if (live) {
            std::cerr << "p11cluster serve: --socket " << path
                      << ": another member host is listening there\n";
            return -1;
        }
        ::unlink(path.c_str());
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    mode_t old = ::umask(077);
    int bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::umask(old);
    if (bound != 0 || ::chmod(path.c_str(), 0600) != 0 || ::listen(fd, 128) != 0) {
        std::cerr << "p11cluster serve: --socket " << path << ": " << std::strerror(errno) << "\n";
        ::close(fd);
        return -1;
    }
    return fd;
}

}  // namespace

int serve(const HostOptions& options) {
    std::shared_ptr<ModuleLibrary> module;
    try {
        module = ModuleLibrary::open(options.module);
    } catch (const ModuleLoadError& e) {
        std::cerr << "p11cluster serve: --module: " << e.what() << "\n";
        return 1;
    }
    int listener = listenOn(options.socket);
    if (listener < 0) return 1;
    if (::pipe2(gWake, O_CLOEXEC) != 0) return 1;
    struct sigaction action {};
    action.sa_handler = onSignal;
    ::sigaction(SIGTERM, &action, nullptr);
    ::sigaction(SIGINT, &action, nullptr);
    ::signal(SIGPIPE, SIG_IGN);

    Host host(module->functions());
    log::info("member host: serving ", options.module, " on ", options.socket);
    for (;;) {
        pollfd fds[2] = {{listener, POLLIN, 0}, {gWake[0], POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[1].revents) break;
        if (fds[0].revents & POLLIN) {
            int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            std::thread([&host, fd] { host.connection(fd); }).detach();
        }
    }
    ::close(listener);
    ::unlink(options.socket.c_str());
    host.stop();
    if (!host.waitIdle(std::chrono::seconds(5))) {
        // A call is stuck inside the module: finalizing it now is unsafe.
        log::warn("member host: calls still running; exiting without C_Finalize");
        std::_Exit(0);
    }
    log::info("member host: stopped");
    return 0;
}

}  // namespace p11c::remote

#include "core/cluster.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include "core/identity.h"
#include "replication/transport.h"
#include "util/error.h"
#include "util/log.h"
#include "util/rv.h"

namespace p11c {
namespace {

void pad(CK_UTF8CHAR* field, size_t size, const std::string& value) {
    std::memset(field, ' ', size);
    std::memcpy(field, value.data(), std::min(size, value.size()));
}

// A stable serial number: from the configuration, else derived from the
// cluster label (FNV-1a, 64 bits, as 16 hex digits).
std::string serialFor(const config::Cluster& cluster) {
    if (cluster.serial) return *cluster.serial;
    uint64_t hash = 1469598103934665603ull;
    for (unsigned char c : cluster.label) {
        hash ^= c;
        hash *= 1099511628211ull;
    }
    static const char digits[] = "0123456789abcdef";
    std::string serial(16, '0');
    for (int i = 15; i >= 0; --i, hash >>= 4) serial[i] = digits[hash & 0xf];
    return serial;
}

}  // namespace

Cluster::Cluster(config::Config config) : config_(std::move(config)) {}

std::unique_ptr<Cluster> Cluster::start(config::Config config) {
    std::unique_ptr<Cluster> cluster(new Cluster(std::move(config)));
    const auto& members = cluster->config_.members;
    for (unsigned i = 0; i < members.size(); ++i)
        cluster->members_.push_back(Member::connect(
            i, members[i], std::chrono::milliseconds(cluster->config_.cluster.callTimeoutMs)));
    bool anyone = false;
    for (auto& m : cluster->members_) anyone = anyone || m->located();
    if (!anyone) throw ModuleLoadError("no member can be reached; the cluster cannot start");
    for (unsigned i = 0; i < members.size(); ++i)
        for (unsigned j = 0; j < i; ++j)
            if (cluster->members_[i]->located() && cluster->members_[j]->located() &&
                &cluster->members_[i]->module() == &cluster->members_[j]->module() &&
                cluster->members_[i]->slot() == cluster->members_[j]->slot())
                throw ModuleLoadError("member \"" + members[i].name +
                                      "\": its token is the same as member \"" + members[j].name +
                                      "\"'s");
    cluster->anchors_ = std::vector<std::atomic<CK_SESSION_HANDLE>>(members.size());
    cluster->probes_ = std::make_unique<ProbeState[]>(members.size());
    cluster->doubts_.resize(members.size());
    for (unsigned i = 0; i < members.size(); ++i) {
        Member& m = *cluster->members_[i];
        if (!m.located()) {
            log::warn("member ", m.name(), ": out of service from the start (unreachable)");
            continue;
        }
        CK_SESSION_HANDLE anchor = CK_INVALID_HANDLE;
        CK_RV rv = m.call(&CK_FUNCTION_LIST::C_OpenSession, m.slot(),
                          CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &anchor);
        cluster->anchors_[i].store(anchor);
        if (rv != CKR_OK)
            throw ModuleLoadError("member \"" + m.name() +
                                  "\": C_OpenSession failed: " + rvName(rv));
    }
    std::vector<const routing::MemberStats*> stats;
    for (auto& m : cluster->members_) stats.push_back(&m->stats());
    const config::Cluster& settings = cluster->config_.cluster;
    cluster->router_ = std::make_unique<routing::Router>(
        routing::RouterSettings{settings.policy, settings.localZone, settings.spillInFlight},
        routing::PolicyContext{std::move(stats)});
    cluster->objects_.reset(cluster->memberCount());
    cluster->transport_.assign(cluster->memberCount(), 0);
    cluster->internal_.resize(cluster->memberCount());
    cluster->computeMechanisms();
    log::info("cluster \"", cluster->config_.cluster.label, "\" started with ",
              cluster->memberCount(), " members, policy ", cluster->router_->policyName());
    return cluster;
}

Cluster::~Cluster() {
    {
        std::lock_guard lock(proberMutex_);
        proberStop_ = true;
    }
    proberWake_.notify_all();
    if (prober_.joinable()) prober_.join();
    sessions_.removeAll();  // closes member sessions
    for (unsigned i = 0; i < anchors_.size(); ++i) {
        CK_SESSION_HANDLE anchor = anchors_[i].load();
        if (anchor == CK_INVALID_HANDLE || members_[i]->health() == Health::Down) continue;
        if (loginState() != kNotLoggedIn) members_[i]->call(&CK_FUNCTION_LIST::C_Logout, anchor);
        members_[i]->call(&CK_FUNCTION_LIST::C_CloseSession, anchor);
    }
}

void Cluster::checkSlot(CK_SLOT_ID slot) const {
    if (slot != slotId()) throw CkError(CKR_SLOT_ID_INVALID);
}

void Cluster::slotInfo(CK_SLOT_INFO& info) const {
    std::memset(&info, 0, sizeof info);
    pad(info.slotDescription, sizeof info.slotDescription,
        "p11cluster virtual slot (" + std::to_string(members_.size()) + " members)");
    pad(info.manufacturerID, sizeof info.manufacturerID, "p11cluster");
    info.flags = CKF_TOKEN_PRESENT | CKF_HW_SLOT;
    info.hardwareVersion = {0, 1};
    info.firmwareVersion = {0, 1};
}

void Cluster::tokenInfo(CK_TOKEN_INFO& info) {
    std::memset(&info, 0, sizeof info);
    pad(info.label, sizeof info.label, config_.cluster.label);
    pad(info.manufacturerID, sizeof info.manufacturerID, "p11cluster");
    pad(info.model, sizeof info.model, "virtual cluster");
    pad(info.serialNumber, sizeof info.serialNumber, serialFor(config_.cluster));

    // Flags every member must have for the cluster to have them, and PIN
    // warnings any member raises.
    const CK_FLAGS kAll = CKF_RNG | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED |
                          CKF_TOKEN_INITIALIZED | CKF_DUAL_CRYPTO_OPERATIONS;
    const CK_FLAGS kAny = CKF_WRITE_PROTECTED | CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY |
                          CKF_USER_PIN_LOCKED | CKF_USER_PIN_TO_BE_CHANGED | CKF_SO_PIN_COUNT_LOW |
                          CKF_SO_PIN_FINAL_TRY | CKF_SO_PIN_LOCKED | CKF_SO_PIN_TO_BE_CHANGED;
    CK_FLAGS all = kAll, any = 0;
    CK_ULONG maxSessions = CK_EFFECTIVELY_INFINITE, maxRw = CK_EFFECTIVELY_INFINITE;
    CK_ULONG minPin = 0, maxPin = ~0ul;
    CK_ULONG totalPublic = CK_UNAVAILABLE_INFORMATION, freePublic = CK_UNAVAILABLE_INFORMATION;
    CK_ULONG totalPrivate = CK_UNAVAILABLE_INFORMATION, freePrivate = CK_UNAVAILABLE_INFORMATION;
    auto narrowest = [](CK_ULONG& acc, CK_ULONG value) {
        if (value == CK_UNAVAILABLE_INFORMATION) return;
        if (acc == CK_UNAVAILABLE_INFORMATION || value < acc) acc = value;
    };
    auto sessionLimit = [](CK_ULONG& acc, CK_ULONG value) {
        if (value == CK_UNAVAILABLE_INFORMATION || value == CK_EFFECTIVELY_INFINITE) return;
        if (acc == CK_EFFECTIVELY_INFINITE || value < acc) acc = value;
    };
    unsigned answered = 0;
    for (unsigned m : servingMembers()) {
        CK_TOKEN_INFO member{};
        Member& mem = *members_[m];
        CK_RV rv = mem.call(&CK_FUNCTION_LIST::C_GetTokenInfo, mem.slot(), &member);
        if (rv != CKR_OK) {
            if (classify(rv) == RvClass::MemberFault) memberFault(m, rv, "C_GetTokenInfo");
            continue;
        }
        ++answered;
        all &= member.flags;
        any |= member.flags & kAny;
        sessionLimit(maxSessions, member.ulMaxSessionCount);
        sessionLimit(maxRw, member.ulMaxRwSessionCount);
        minPin = std::max(minPin, member.ulMinPinLen);
        maxPin = std::min(maxPin, member.ulMaxPinLen);
        narrowest(totalPublic, member.ulTotalPublicMemory);
        narrowest(freePublic, member.ulFreePublicMemory);
        narrowest(totalPrivate, member.ulTotalPrivateMemory);
        narrowest(freePrivate, member.ulFreePrivateMemory);
    }
    if (answered == 0) all = CKF_TOKEN_INITIALIZED | CKF_LOGIN_REQUIRED | CKF_USER_PIN_INITIALIZED;
    info.flags = (all & kAll) | any;
    info.ulMaxSessionCount = maxSessions;
    info.ulSessionCount = sessions_.count();
    info.ulMaxRwSessionCount = maxRw;
    info.ulRwSessionCount = sessions_.readWriteCount();
    info.ulMinPinLen = minPin;
    info.ulMaxPinLen = maxPin == ~0ul ? 255 : maxPin;
    info.ulTotalPublicMemory = totalPublic;
    info.ulFreePublicMemory = freePublic;
    info.ulTotalPrivateMemory = totalPrivate;
    info.ulFreePrivateMemory = freePrivate;
    info.hardwareVersion = {0, 1};
    info.firmwareVersion = {0, 1};
}

void Cluster::computeMechanisms() {
    bool first = true;
    for (auto& member : members_) {
        if (member->standby() || !member->located()) continue;
        CK_ULONG count = 0;
        CK_RV rv =
            member->call(&CK_FUNCTION_LIST::C_GetMechanismList, member->slot(), nullptr, &count);
        std::vector<CK_MECHANISM_TYPE> types(count);
        if (rv == CKR_OK && count > 0)
            rv = member->call(&CK_FUNCTION_LIST::C_GetMechanismList, member->slot(), types.data(),
                              &count);
        if (rv != CKR_OK)
            throw ModuleLoadError("member \"" + member->name() +
                                  "\": C_GetMechanismList failed: " + rvName(rv));
        types.resize(count);
        std::map<CK_MECHANISM_TYPE, CK_MECHANISM_INFO> infos;
        for (CK_MECHANISM_TYPE type : types) {
            CK_MECHANISM_INFO info{};
            if (member->call(&CK_FUNCTION_LIST::C_GetMechanismInfo, member->slot(), type, &info) ==
                CKR_OK)
                infos[type] = info;
        }
        if (first) {
            mechInfo_ = std::move(infos);
            first = false;
            continue;
        }
        for (auto it = mechInfo_.begin(); it != mechInfo_.end();) {
            auto other = infos.find(it->first);
            if (other == infos.end()) {
                it = mechInfo_.erase(it);
                continue;
            }
            CK_MECHANISM_INFO& mine = it->second;
            mine.ulMinKeySize = std::max(mine.ulMinKeySize, other->second.ulMinKeySize);
            mine.ulMaxKeySize = std::min(mine.ulMaxKeySize, other->second.ulMaxKeySize);
            mine.flags &= other->second.flags;
            ++it;
        }
    }
    mechTypes_.clear();
    for (const auto& [type, info] : mechInfo_) mechTypes_.push_back(type);
}

void Cluster::mechanismInfo(CK_MECHANISM_TYPE type, CK_MECHANISM_INFO& info) const {
    auto it = mechInfo_.find(type);
    if (it == mechInfo_.end()) throw CkError(CKR_MECHANISM_INVALID);
    info = it->second;
}

std::vector<unsigned> Cluster::servingMembers() const {
    std::vector<unsigned> out;
    out.reserve(members_.size());
    for (const auto& m : members_)
        if (m->serving()) out.push_back(m->index());
    return out;
}

std::vector<unsigned> Cluster::usableMembers() const {
    std::vector<unsigned> out = servingMembers();
    if (!out.empty()) return out;
    for (const auto& m : members_)
        if (m->health() == Health::Suspect) out.push_back(m->index());
    return out;
}

std::vector<unsigned> Cluster::allMembers() const {
    std::vector<unsigned> out(members_.size());
    for (unsigned i = 0; i < out.size(); ++i) out[i] = i;
    return out;
}

unsigned Cluster::pick(std::span<const unsigned> candidates) {
    if (candidates.empty()) throw CkError(CKR_DEVICE_ERROR);
    if (candidates.size() == 1) return candidates[0];  // nothing to choose
    return router_->pick(candidates);
}

void Cluster::memberFault(unsigned member, CK_RV rv, const char* during) {
    Member& m = *members_[member];
    Health h = m.health();
    if (h == Health::Up || h == Health::Syncing) {
        log::warn("member ", m.name(), ": ", during, " failed with ", rvName(rv),
                  "; routing around it");
        m.setHealth(Health::Suspect, rvName(rv));
    }
    wakeProber();
}

void Cluster::lastSessionClosed() {
    std::lock_guard lock(loginMutex_);
    if (loginState() == kNotLoggedIn) return;
    for (unsigned i = 0; i < members_.size(); ++i)
        if (members_[i]->health() != Health::Down)
            members_[i]->call(&CK_FUNCTION_LIST::C_Logout, anchorSession(i));
    loginState_.store(kNotLoggedIn, std::memory_order_release);
    userPin_ = Secret();
    forgetTransportKeys();
}

CK_OBJECT_HANDLE Cluster::transportKey(unsigned member) {
    {
        std::lock_guard lock(internalMutex_);
        if (transport_[member] != 0) return transport_[member];
    }
    CK_OBJECT_HANDLE found = CK_INVALID_HANDLE;
    try {
        found = replication::findTransportKey(*members_[member], anchorSession(member));
    } catch (const CkError& e) {
        log::warn("member ", members_[member]->name(),
                  ": looking for the transport key failed: ", rvName(e.rv()));
        return CK_INVALID_HANDLE;
    }
    std::lock_guard lock(internalMutex_);
    if (found != CK_INVALID_HANDLE) {
        transport_[member] = found;
        internal_[member][found] = true;
    }
    return found;
}

void Cluster::forgetTransportKeys() {
    std::lock_guard lock(internalMutex_);
    std::fill(transport_.begin(), transport_.end(), 0);
    for (auto& known : internal_) known.clear();
}

bool Cluster::isInternal(unsigned member, CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object) {
    {
        std::lock_guard lock(internalMutex_);
        auto it = internal_[member].find(object);
        if (it != internal_[member].end()) return it->second;
    }
    // Keys: CKA_ID "p11cluster-..."; data objects (which have no CKA_ID):
    // CKA_APPLICATION "p11cluster".
    static constexpr char kPrefix[] = "p11cluster-";
    static constexpr char kApplication[] = "p11cluster";
    static constexpr CK_ATTRIBUTE_TYPE kTypes[] = {CKA_ID, CKA_APPLICATION};
    bool internal = false;
    try {
        auto values = readAttributes(*members_[member], session, object, kTypes);
        const auto& id = values[0];
        const auto& app = values[1];
        internal = (id && id->size() >= sizeof kPrefix - 1 &&
                    std::memcmp(id->data(), kPrefix, sizeof kPrefix - 1) == 0) ||
                   (app && app->size() == sizeof kApplication - 1 &&
                    std::memcmp(app->data(), kApplication, sizeof kApplication - 1) == 0);
    } catch (const CkError&) {
        // unreadable: not one of ours
    }
    std::lock_guard lock(internalMutex_);
    internal_[member][object] = internal;
    return internal;
}

}  // namespace p11c

#include "member/member.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "member/token_selector.h"
#include "util/error.h"
#include "util/log.h"
#include "util/rv.h"
#include "util/secret.h"

namespace p11c {

Member::Member(unsigned index, config::Member config, std::shared_ptr<ModuleLibrary> module,
               CK_SLOT_ID slot)
    : index_(index), config_(std::move(config)), module_(std::move(module)), slot_(slot) {
    stats_.weight = config_.weight;
    stats_.zone = config_.zone;
    stats_.standby = config_.role == config::Role::Standby;
}

std::unique_ptr<Member> Member::connect(unsigned index, const config::Member& config,
                                        std::chrono::milliseconds callTimeout) {
    const std::string who = "member \"" + config.name + "\"";
    try {
        TokenSelector::parse(config.token);
    } catch (const std::invalid_argument& e) {
        throw ModuleLoadError(who + ": token: " + e.what());
    }
    std::shared_ptr<ModuleLibrary> module;
    try {
        module = config.remote ? ModuleLibrary::openRemote(*config.remote, callTimeout)
                               : ModuleLibrary::open(config.module);
    } catch (const ModuleLoadError& e) {
        throw ModuleLoadError(who + ": " + e.what());
    }
    std::unique_ptr<Member> member(new Member(index, config, std::move(module), 0));
    if (!member->module_->ready()) {
        member->health_.store(Health::Down);
        return member;
    }
    member->locate();
    return member;
}

void Member::locate() {
    const std::string who = "member \"" + config_.name + "\"";
    TokenSelector selector = TokenSelector::parse(config_.token);
    CK_FUNCTION_LIST* fn = module_->functions();
    CK_ULONG count = 0;
    CK_RV rv = fn->C_GetSlotList(CK_TRUE, nullptr, &count);
    std::vector<CK_SLOT_ID> slots(count);
    if (rv == CKR_OK && count > 0) rv = fn->C_GetSlotList(CK_TRUE, slots.data(), &count);
    if (rv != CKR_OK)
        throw ModuleLoadError(who + ": C_GetSlotList failed: " + std::string(rvName(rv)));
    slots.resize(count);

    std::vector<CK_SLOT_ID> found;
    for (CK_SLOT_ID slot : slots) {
        CK_SLOT_INFO slotInfo{};
        CK_TOKEN_INFO tokenInfo{};
        if (fn->C_GetSlotInfo(slot, &slotInfo) != CKR_OK) continue;
        if (fn->C_GetTokenInfo(slot, &tokenInfo) != CKR_OK) continue;
        if (!(tokenInfo.flags & CKF_TOKEN_INITIALIZED)) continue;
        if (selector.matches(&slotInfo, &tokenInfo, slot)) found.push_back(slot);
    }
    if (found.empty())
        throw ModuleLoadError(
            who + ": token \"" + config_.token + "\" not found in " +
            (config_.remote ? "member host " + *config_.remote : "module " + config_.module));
    if (found.size() > 1)
        throw ModuleLoadError(who + ": token \"" + config_.token + "\" matches " +
                              std::to_string(found.size()) +
                              " tokens; add serial= to the URI to choose one");
    slot_.store(found.front(), std::memory_order_release);
    located_.store(true, std::memory_order_release);
}

void Member::setHealth(Health next, const char* why) {
    Health previous = health_.exchange(next, std::memory_order_acq_rel);
    if (previous == Health::Up && (next == Health::Suspect || next == Health::Down))
        failovers_.fetch_add(1, std::memory_order_relaxed);
    if (previous == Health::Syncing && next == Health::Up)
        returns_.fetch_add(1, std::memory_order_relaxed);
    if (previous != next)
        log::warn("member ", name(), ": ", healthName(previous), " -> ", healthName(next), " (",
                  why, ")");
}

void Member::noteResult(CK_RV rv) noexcept {
    if (classify(rv) == RvClass::MemberFault) {
        stats_.errors.fetch_add(1, std::memory_order_relaxed);
        log::debug("member ", name(), ": fault ", rvName(rv));
    }
}

Secret Member::readOwnPin() const {
    if (config_.pinEnv) {
        const char* value = std::getenv(config_.pinEnv->c_str());
        if (value == nullptr) {
            log::error("member ", name(), ": environment variable ", *config_.pinEnv,
                       " (pin_env) is not set");
            throw CkError(CKR_PIN_INCORRECT);
        }
        return Secret(value, std::strlen(value));
    }
    Secret pin = Secret::readFile(*config_.pinFile);
    if (pin.empty()) {
        log::error("member ", name(), ": cannot read PIN file ", *config_.pinFile);
        throw CkError(CKR_PIN_INCORRECT);
    }
    return pin;
}

}  // namespace p11c

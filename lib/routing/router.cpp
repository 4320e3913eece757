// The Router: tiers (local zone, other zones, standby) over a policy.
#include <algorithm>
#include <iterator>

#include "routing/policy.h"

namespace p11c::routing {

Router::Router(const RouterSettings& settings, PolicyContext context)
    : settings_(settings), members_(context.members) {
    policy_ = makePolicy(settings_.policy, std::move(context));
}

unsigned Router::pick(std::span<const unsigned> candidates) noexcept {
    unsigned local[64], other[64], standby[64];
    size_t nLocal = 0, nOther = 0, nStandby = 0;
    const bool zoned = !settings_.localZone.empty();
    bool saturated = true;  // every local candidate has spillInFlight calls in flight
    for (unsigned m : candidates) {
        if (m >= members_.size()) continue;
        const MemberStats& s = *members_[m];
        if (s.standby) {
            if (nStandby < std::size(standby)) standby[nStandby++] = m;
        } else if (!zoned || s.zone == settings_.localZone) {
            if (nLocal < std::size(local)) local[nLocal++] = m;
            saturated = saturated && s.load() >= settings_.spillInFlight;
        } else if (nOther < std::size(other)) {
            other[nOther++] = m;
        }
    }
    if (nLocal > 0 && nOther > 0 && saturated) {
        const size_t room = std::min(nOther, std::size(local) - nLocal);
        std::copy_n(other, room, local + nLocal);
        nLocal += room;
    }
    if (nLocal > 0) return policy_->pick(std::span<const unsigned>(local, nLocal));
    if (nOther > 0) return policy_->pick(std::span<const unsigned>(other, nOther));
    if (nStandby > 0) return policy_->pick(std::span<const unsigned>(standby, nStandby));
    return candidates[0];
}

}  // namespace p11c::routing

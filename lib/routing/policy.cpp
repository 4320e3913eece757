#include "routing/policy.h"

#include <stdexcept>

namespace p11c::routing {

std::unique_ptr<Policy> makeRoundRobin();

namespace {
const char* const kPolicies[] = {"round-robin"};
}

bool policyExists(const std::string& name) {
    for (const char* known : kPolicies)
        if (name == known) return true;
    return false;
}

std::string policyNames() {
    std::string names;
    for (const char* known : kPolicies) names += (names.empty() ? "" : ", ") + std::string(known);
    return names;
}

std::unique_ptr<Policy> makePolicy(const std::string& name,
                                   std::vector<const MemberStats*> /*members*/) {
    if (name == "round-robin") return makeRoundRobin();
    throw std::invalid_argument("unknown routing policy: " + name);
}

}  // namespace p11c::routing

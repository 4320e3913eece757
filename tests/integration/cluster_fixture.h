// The cluster under test over fresh SoftHSM members, and a direct view of
// the member tokens (SoftHSM itself, opened after the cluster is finalised).
#pragma once

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "support/softhsm_env.h"

namespace p11c::test {

#define CHECK_RV(expr, expected) CHECK(rvText(expr) == rvText(expected))
#define REQUIRE_RV(expr, expected) REQUIRE(rvText(expr) == rvText(expected))
#define REQUIRE_OK(expr) REQUIRE_RV(expr, CKR_OK)

inline CK_UTF8CHAR_PTR pin(const char* text) {
    return reinterpret_cast<CK_UTF8CHAR_PTR>(const_cast<char*>(text));
}
inline CK_ULONG pinLen(const char* text) {
    return std::char_traits<char>::length(text);
}

// Loads libp11cluster.so over `members` fresh SoftHSM tokens.
class ClusterFixture {
  public:
    explicit ClusterFixture(unsigned members = 3) : env(members), module(clusterModulePath()) {}
    ~ClusterFixture() { finalize(); }

    // C_Initialize + an R/W session (+ user login).
    void start(bool loginUser = true) {
        REQUIRE_OK(p11()->C_Initialize(nullptr));
        initialized_ = true;
        REQUIRE_OK(p11()->C_OpenSession(slot(), CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr,
                                        nullptr, &session));
        if (loginUser)
            REQUIRE_OK(p11()->C_Login(session, CKU_USER, pin(kUserPin), pinLen(kUserPin)));
    }
    void finalize() {
        if (initialized_) p11()->C_Finalize(nullptr);
        initialized_ = false;
    }
    CK_SLOT_ID slot() {
        CK_SLOT_ID slots[4];
        CK_ULONG count = 4;
        REQUIRE_OK(p11()->C_GetSlotList(CK_TRUE, slots, &count));
        REQUIRE(count == 1);
        return slots[0];
    }
    CK_FUNCTION_LIST* p11() const { return module.fn(); }

    SoftHsmEnv env;
    Module module;
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;

  private:
    bool initialized_ = false;
};

// SoftHSM opened directly, logged in to every member token. Open it only
// while the cluster is finalised (one SoftHSM instance per process).
class DirectMembers {
  public:
    // Logs in to every member with `userPin`.
    explicit DirectMembers(const SoftHsmEnv& env, const char* userPin = kUserPin)
        : DirectMembers(env, std::vector<std::string>(env.members(), userPin)) {}
    // Logs in to member i with userPins[i].
    DirectMembers(const SoftHsmEnv& env, const std::vector<std::string>& userPins)
        : module(softhsmPath()) {
        REQUIRE_OK(module->C_Initialize(nullptr));
        for (unsigned i = 0; i < env.members(); ++i) {
            CK_SLOT_ID slot = slotByLabel(module.fn(), env.memberLabel(i));
            CK_SESSION_HANDLE s;
            REQUIRE_OK(module->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr,
                                             nullptr, &s));
            const char* p = userPins.at(i).c_str();
            CK_RV rv = module->C_Login(s, CKU_USER, pin(p), pinLen(p));
            INFO("direct login to " << env.memberLabel(i));
            REQUIRE((rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN));
            sessions.push_back(s);
        }
    }
    ~DirectMembers() { module->C_Finalize(nullptr); }
    CK_FUNCTION_LIST* p11() const { return module.fn(); }

    Module module;
    std::vector<CK_SESSION_HANDLE> sessions;
};

// What C_Login(user, pinText) answers on each member token when SoftHSM is
// opened directly (logging out again after a success). Open it only while
// the cluster is finalised.
inline std::vector<CK_RV> directLoginResults(const SoftHsmEnv& env, const char* pinText,
                                             CK_USER_TYPE user = CKU_USER) {
    Module module(softhsmPath());
    REQUIRE_OK(module->C_Initialize(nullptr));
    std::vector<CK_RV> results;
    for (unsigned i = 0; i < env.members(); ++i) {
        CK_SLOT_ID slot = slotByLabel(module.fn(), env.memberLabel(i));
        CK_SESSION_HANDLE s;
        REQUIRE_OK(
            module->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s));
        CK_RV rv = module->C_Login(s, user, pin(pinText), pinLen(pinText));
        if (rv == CKR_OK) module->C_Logout(s);
        module->C_CloseSession(s);
        results.push_back(rv);
    }
    module->C_Finalize(nullptr);
    return results;
}

}  // namespace p11c::test

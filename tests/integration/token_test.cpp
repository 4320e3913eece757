// The virtual slot and token: one slot, the configured label, a stable
// serial, and the mechanisms every member offers.
#include "integration/cluster_fixture.h"

#include <cstring>

using namespace p11c::test;

namespace {
std::string field(const CK_UTF8CHAR* data, size_t size) {
    std::string s(reinterpret_cast<const char*>(data), size);
    s.erase(s.find_last_not_of(' ') + 1);
    return s;
}
}  // namespace

TEST_CASE("the cluster shows one slot with one token labelled from the configuration") {
    ClusterFixture f;
    f.start(false);
    CK_ULONG count = 0;
    REQUIRE_OK(f.p11()->C_GetSlotList(CK_FALSE, nullptr, &count));
    CHECK(count == 1);
    CK_TOKEN_INFO info{};
    REQUIRE_OK(f.p11()->C_GetTokenInfo(f.slot(), &info));
    CHECK(field(info.label, sizeof info.label) == "test-cluster");
    CHECK((info.flags & CKF_TOKEN_INITIALIZED));
    CHECK((info.flags & CKF_LOGIN_REQUIRED));
    CHECK((info.flags & CKF_USER_PIN_INITIALIZED));
    CHECK((info.flags & CKF_RNG));
    CHECK(info.ulSessionCount == 1);
    CHECK(info.ulRwSessionCount == 1);
    const std::string serial = field(info.serialNumber, sizeof info.serialNumber);
    CHECK(serial.size() == 16);

    // The serial is the same in a new process life of the module.
    f.finalize();
    REQUIRE_OK(f.p11()->C_Initialize(nullptr));
    CK_TOKEN_INFO again{};
    REQUIRE_OK(f.p11()->C_GetTokenInfo(f.slot(), &again));
    CHECK(field(again.serialNumber, sizeof again.serialNumber) == serial);
    REQUIRE_OK(f.p11()->C_Finalize(nullptr));
}

TEST_CASE("mechanisms are those every member offers, with the narrowest key sizes") {
    ClusterFixture f;
    f.start(false);
    CK_ULONG count = 0;
    REQUIRE_OK(f.p11()->C_GetMechanismList(f.slot(), nullptr, &count));
    REQUIRE(count > 10);
    std::vector<CK_MECHANISM_TYPE> types(count);
    CK_ULONG small = 1;
    CHECK_RV(f.p11()->C_GetMechanismList(f.slot(), types.data(), &small), CKR_BUFFER_TOO_SMALL);
    CHECK(small == count);
    REQUIRE_OK(f.p11()->C_GetMechanismList(f.slot(), types.data(), &count));
    CHECK(std::find(types.begin(), types.end(), CKM_ECDSA) != types.end());
    CHECK(std::find(types.begin(), types.end(), CKM_RSA_PKCS) != types.end());
    CK_MECHANISM_INFO info{};
    REQUIRE_OK(f.p11()->C_GetMechanismInfo(f.slot(), CKM_RSA_PKCS_KEY_PAIR_GEN, &info));
    CHECK((info.flags & CKF_GENERATE_KEY_PAIR));
    CHECK_RV(f.p11()->C_GetMechanismInfo(f.slot(), CKM_VENDOR_DEFINED + 77, &info),
             CKR_MECHANISM_INVALID);
    CHECK_RV(f.p11()->C_GetMechanismInfo(f.slot() + 1, CKM_ECDSA, &info), CKR_SLOT_ID_INVALID);
}

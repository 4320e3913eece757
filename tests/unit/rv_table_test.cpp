// The CK_RV classification table: every value is classified, member faults
// and caller errors never mix, and a wrong PIN is never a member fault.
#include <catch2/catch.hpp>

#include <set>

#include "util/error.h"
#include "util/rv.h"

using namespace p11c;

TEST_CASE("every CK_RV of the specification is in the table exactly once") {
    std::set<CK_RV> seen;
    unsigned count = 0;
    forEachKnownRv([&](CK_RV rv, const char* name, RvClass) {
        CHECK(seen.insert(rv).second);
        CHECK(std::string(rvName(rv)) == name);
        ++count;
    });
    CHECK(count >= 95);
}

TEST_CASE("member faults are the failures of the member, not of the caller") {
    for (CK_RV rv : {CKR_DEVICE_ERROR, CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT, CKR_DEVICE_MEMORY,
                     CKR_CRYPTOKI_NOT_INITIALIZED})
        CHECK(classify(rv) == RvClass::MemberFault);
    for (CK_RV rv : {CKR_SESSION_HANDLE_INVALID, CKR_SESSION_CLOSED, CKR_USER_NOT_LOGGED_IN})
        CHECK(classify(rv) == RvClass::SessionLost);
    for (CK_RV rv : {CKR_PIN_INCORRECT, CKR_PIN_LOCKED, CKR_PIN_LEN_RANGE})
        CHECK(classify(rv) == RvClass::Auth);
    for (CK_RV rv : {CKR_ARGUMENTS_BAD, CKR_MECHANISM_INVALID, CKR_KEY_HANDLE_INVALID,
                     CKR_TEMPLATE_INCOMPLETE, CKR_OPERATION_NOT_INITIALIZED})
        CHECK(classify(rv) == RvClass::Caller);
    CHECK(classify(CKR_SIGNATURE_INVALID) == RvClass::Result);
    CHECK(classify(CKR_GENERAL_ERROR) == RvClass::Result);  // SoftHSM's answer to bad ciphertext
    CHECK(classify(CKR_BUFFER_TOO_SMALL) == RvClass::Result);
    CHECK(classify(CKR_OK) == RvClass::Ok);
    CHECK(classify(CKR_VENDOR_DEFINED | 5) == RvClass::MemberFault);
}

TEST_CASE("unknown values get a readable name") {
    CHECK(std::string(rvName(CKR_VENDOR_DEFINED | 5)) == "CKR_0x80000005");
}

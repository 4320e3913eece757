// Sessions and login on the virtual token: session states, one login shared
// by every session of the application, PIN errors reported exactly, and PIN
// changes applied to every member (checked on the members themselves).
#include "integration/cluster_fixture.h"
#include "integration/crypto_helpers.h"

using namespace p11c::test;

namespace {

constexpr CK_FLAGS kRO = CKF_SERIAL_SESSION;
constexpr CK_FLAGS kRW = CKF_SERIAL_SESSION | CKF_RW_SESSION;

CK_SESSION_HANDLE openSession(ClusterFixture& f, CK_FLAGS flags) {
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    REQUIRE_OK(f.p11()->C_OpenSession(f.slot(), flags, nullptr, nullptr, &s));
    return s;
}

CK_STATE stateOf(ClusterFixture& f, CK_SESSION_HANDLE s) {
    CK_SESSION_INFO info{};
    REQUIRE_OK(f.p11()->C_GetSessionInfo(s, &info));
    return info.state;
}

CK_RV login(ClusterFixture& f, CK_SESSION_HANDLE s, CK_USER_TYPE user, const char* text) {
    return f.p11()->C_Login(s, user, pin(text), pinLen(text));
}

// How many private data objects labelled "secret-note" a session can see.
size_t visiblePrivateNotes(ClusterFixture& f, CK_SESSION_HANDLE s) {
    return findByLabel(f.p11(), s, CKO_DATA, "secret-note").size();
}

void createPrivateNote(ClusterFixture& f, CK_SESSION_HANDLE s) {
    Template t =
        dataTemplate("sessions-test", "secret-note", bytesOf("only for the user"), true, true);
    createObject(f.p11(), s, t);
}

}  // namespace

TEST_CASE("sessions open read-only or read/write and report their state") {
    ClusterFixture f;
    f.start(false);
    CK_SESSION_HANDLE ro = openSession(f, kRO);
    CK_SESSION_INFO info{};
    REQUIRE_OK(f.p11()->C_GetSessionInfo(ro, &info));
    CHECK(info.slotID == f.slot());
    CHECK(info.state == CKS_RO_PUBLIC_SESSION);
    CHECK(info.flags == CKF_SERIAL_SESSION);
    REQUIRE_OK(f.p11()->C_GetSessionInfo(f.session, &info));
    CHECK(info.state == CKS_RW_PUBLIC_SESSION);
    CHECK(info.flags == (CKF_SERIAL_SESSION | CKF_RW_SESSION));

    CK_TOKEN_INFO token{};
    REQUIRE_OK(f.p11()->C_GetTokenInfo(f.slot(), &token));
    CHECK(token.ulSessionCount == 2);
    CHECK(token.ulRwSessionCount == 1);

    CK_SESSION_HANDLE none;
    CHECK_RV(f.p11()->C_OpenSession(f.slot(), CKF_RW_SESSION, nullptr, nullptr, &none),
             CKR_SESSION_PARALLEL_NOT_SUPPORTED);

    REQUIRE_OK(f.p11()->C_CloseSession(ro));
    CHECK_RV(f.p11()->C_GetSessionInfo(ro, &info), CKR_SESSION_HANDLE_INVALID);
    CHECK_RV(f.p11()->C_CloseSession(ro), CKR_SESSION_HANDLE_INVALID);
    REQUIRE_OK(f.p11()->C_GetTokenInfo(f.slot(), &token));
    CHECK(token.ulSessionCount == 1);
}

TEST_CASE("C_CloseAllSessions closes every session of the slot") {
    ClusterFixture f;
    f.start(false);
    CK_SESSION_HANDLE a = openSession(f, kRO), b = openSession(f, kRW);
    REQUIRE_OK(f.p11()->C_CloseAllSessions(f.slot()));
    CK_SESSION_INFO info{};
    for (CK_SESSION_HANDLE s : {f.session, a, b})
        CHECK_RV(f.p11()->C_GetSessionInfo(s, &info), CKR_SESSION_HANDLE_INVALID);
    CK_TOKEN_INFO token{};
    REQUIRE_OK(f.p11()->C_GetTokenInfo(f.slot(), &token));
    CHECK(token.ulSessionCount == 0);
    CHECK(token.ulRwSessionCount == 0);
    // New sessions still open afterwards, with fresh handles.
    CK_SESSION_HANDLE again = openSession(f, kRW);
    CHECK(stateOf(f, again) == CKS_RW_PUBLIC_SESSION);
}

TEST_CASE("a login in one session puts every session in the user state") {
    ClusterFixture f;
    f.start(false);
    CK_SESSION_HANDLE ro = openSession(f, kRO);
    REQUIRE_OK(login(f, ro, CKU_USER, kUserPin));  // login through the read-only one
    CHECK(stateOf(f, ro) == CKS_RO_USER_FUNCTIONS);
    CHECK(stateOf(f, f.session) == CKS_RW_USER_FUNCTIONS);
    CK_SESSION_HANDLE later = openSession(f, kRO);
    CHECK(stateOf(f, later) == CKS_RO_USER_FUNCTIONS);

    // The login is real on every session: a private object made in one is
    // seen from the others.
    createPrivateNote(f, f.session);
    CHECK(visiblePrivateNotes(f, ro) == 1);
    CHECK(visiblePrivateNotes(f, later) == 1);
}

TEST_CASE("a logout in one session logs every session out") {
    ClusterFixture f;
    f.start(true);
    createPrivateNote(f, f.session);
    CK_SESSION_HANDLE other = openSession(f, kRO);
    REQUIRE(visiblePrivateNotes(f, other) == 1);

    REQUIRE_OK(f.p11()->C_Logout(other));
    CHECK(stateOf(f, other) == CKS_RO_PUBLIC_SESSION);
    CHECK(stateOf(f, f.session) == CKS_RW_PUBLIC_SESSION);
    CHECK(visiblePrivateNotes(f, other) == 0);
    CHECK(visiblePrivateNotes(f, f.session) == 0);

    // Logging in again in the other session brings it back everywhere.
    REQUIRE_OK(login(f, other, CKU_USER, kUserPin));
    CHECK(visiblePrivateNotes(f, f.session) == 1);
}

TEST_CASE("closing the last session ends the login") {
    ClusterFixture f;
    f.start(true);
    createPrivateNote(f, f.session);
    REQUIRE_OK(f.p11()->C_CloseSession(f.session));

    CK_SESSION_HANDLE fresh = openSession(f, kRW);
    CHECK(stateOf(f, fresh) == CKS_RW_PUBLIC_SESSION);
    CHECK(visiblePrivateNotes(f, fresh) == 0);
    CHECK_RV(f.p11()->C_Logout(fresh), CKR_USER_NOT_LOGGED_IN);
    REQUIRE_OK(login(f, fresh, CKU_USER, kUserPin));
    CHECK(visiblePrivateNotes(f, fresh) == 1);
}

TEST_CASE("C_CloseAllSessions ends the login") {
    ClusterFixture f;
    f.start(true);
    openSession(f, kRO);
    REQUIRE_OK(f.p11()->C_CloseAllSessions(f.slot()));
    CK_SESSION_HANDLE fresh = openSession(f, kRO);
    CHECK(stateOf(f, fresh) == CKS_RO_PUBLIC_SESSION);
    CHECK_RV(login(f, fresh, CKU_USER, kUserPin), CKR_OK);
}

TEST_CASE("logging in twice gives CKR_USER_ALREADY_LOGGED_IN, another user type is refused") {
    ClusterFixture f;
    f.start(true);
    CK_SESSION_HANDLE other = openSession(f, kRW);
    CHECK_RV(login(f, other, CKU_USER, kUserPin), CKR_USER_ALREADY_LOGGED_IN);
    CHECK_RV(login(f, f.session, CKU_SO, kSoPin), CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
    CHECK_RV(login(f, f.session, 77, kUserPin), CKR_USER_TYPE_INVALID);
    CHECK(stateOf(f, other) == CKS_RW_USER_FUNCTIONS);
}

TEST_CASE("C_Logout without a login gives CKR_USER_NOT_LOGGED_IN") {
    ClusterFixture f;
    f.start(false);
    CHECK_RV(f.p11()->C_Logout(f.session), CKR_USER_NOT_LOGGED_IN);
    REQUIRE_OK(login(f, f.session, CKU_USER, kUserPin));
    REQUIRE_OK(f.p11()->C_Logout(f.session));
    CHECK_RV(f.p11()->C_Logout(f.session), CKR_USER_NOT_LOGGED_IN);
}

TEST_CASE("a wrong PIN gives exactly CKR_PIN_INCORRECT and leaves the sessions public") {
    ClusterFixture f;
    f.start(false);
    CHECK_RV(login(f, f.session, CKU_USER, "9999"), CKR_PIN_INCORRECT);
    CHECK(stateOf(f, f.session) == CKS_RW_PUBLIC_SESSION);
    CHECK_RV(login(f, f.session, CKU_SO, "0000"), CKR_PIN_INCORRECT);
    CHECK(stateOf(f, f.session) == CKS_RW_PUBLIC_SESSION);
    // Every member still serves: the right PIN logs in, and a private
    // object written afterwards reaches all of them.
    REQUIRE_OK(login(f, f.session, CKU_USER, kUserPin));
    createPrivateNote(f, f.session);
    f.finalize();
    DirectMembers direct(f.env);
    for (unsigned m = 0; m < f.env.members(); ++m) {
        INFO("member " << f.env.memberLabel(m));
        CHECK(findByLabel(direct.p11(), direct.sessions[m], CKO_DATA, "secret-note").size() == 1);
    }
}

TEST_CASE("an SO login with a read-only session open gives CKR_SESSION_READ_ONLY_EXISTS") {
    ClusterFixture f;
    f.start(false);
    CK_SESSION_HANDLE ro = openSession(f, kRO);
    CHECK_RV(login(f, f.session, CKU_SO, kSoPin), CKR_SESSION_READ_ONLY_EXISTS);
    CHECK(stateOf(f, f.session) == CKS_RW_PUBLIC_SESSION);

    REQUIRE_OK(f.p11()->C_CloseSession(ro));
    REQUIRE_OK(login(f, f.session, CKU_SO, kSoPin));
    CHECK(stateOf(f, f.session) == CKS_RW_SO_FUNCTIONS);
    CK_SESSION_HANDLE refused;
    CHECK_RV(f.p11()->C_OpenSession(f.slot(), kRO, nullptr, nullptr, &refused),
             CKR_SESSION_READ_WRITE_SO_EXISTS);
    CK_SESSION_HANDLE rw = openSession(f, kRW);
    CHECK(stateOf(f, rw) == CKS_RW_SO_FUNCTIONS);
    CHECK_RV(login(f, rw, CKU_USER, kUserPin), CKR_USER_ANOTHER_ALREADY_LOGGED_IN);
}

TEST_CASE("C_InitPIN needs the SO") {
    ClusterFixture f;
    f.start(true);
    CHECK_RV(f.p11()->C_InitPIN(f.session, pin("111111"), 6), CKR_USER_NOT_LOGGED_IN);
    REQUIRE_OK(f.p11()->C_Logout(f.session));
    CHECK_RV(f.p11()->C_InitPIN(f.session, pin("111111"), 6), CKR_USER_NOT_LOGGED_IN);
    f.finalize();
    for (CK_RV rv : directLoginResults(f.env, kUserPin)) CHECK(rvText(rv) == rvText(CKR_OK));
}

TEST_CASE("C_InitPIN by the SO sets the user PIN on every member") {
    const char* kNewPin = "initpin-777";
    ClusterFixture f;
    f.start(false);
    REQUIRE_OK(login(f, f.session, CKU_SO, kSoPin));
    REQUIRE_OK(f.p11()->C_InitPIN(f.session, pin(kNewPin), pinLen(kNewPin)));
    REQUIRE_OK(f.p11()->C_Logout(f.session));

    CHECK_RV(login(f, f.session, CKU_USER, kUserPin), CKR_PIN_INCORRECT);
    REQUIRE_OK(login(f, f.session, CKU_USER, kNewPin));
    createPrivateNote(f, f.session);  // needs the login on every member
    f.finalize();

    for (CK_RV rv : directLoginResults(f.env, kUserPin))
        CHECK(rvText(rv) == rvText(CKR_PIN_INCORRECT));
    DirectMembers direct(f.env, kNewPin);
    for (unsigned m = 0; m < f.env.members(); ++m) {
        INFO("member " << f.env.memberLabel(m));
        CHECK(findByLabel(direct.p11(), direct.sessions[m], CKO_DATA, "secret-note").size() == 1);
    }
}

TEST_CASE("C_SetPIN changes the user PIN on every member") {
    const char* kNewPin = "setpin-2468";
    ClusterFixture f;
    f.start(true);
    REQUIRE_OK(f.p11()->C_SetPIN(f.session, pin(kUserPin), pinLen(kUserPin), pin(kNewPin),
                                 pinLen(kNewPin)));
    REQUIRE_OK(f.p11()->C_Logout(f.session));
    CHECK_RV(login(f, f.session, CKU_USER, kUserPin), CKR_PIN_INCORRECT);
    REQUIRE_OK(login(f, f.session, CKU_USER, kNewPin));
    f.finalize();

    for (CK_RV rv : directLoginResults(f.env, kUserPin))
        CHECK(rvText(rv) == rvText(CKR_PIN_INCORRECT));
    for (CK_RV rv : directLoginResults(f.env, kNewPin)) CHECK(rvText(rv) == rvText(CKR_OK));
}

TEST_CASE("C_SetPIN with a wrong old PIN changes nothing anywhere") {
    ClusterFixture f;
    f.start(true);
    CHECK_RV(f.p11()->C_SetPIN(f.session, pin("0000"), 4, pin("abcdef"), 6), CKR_PIN_INCORRECT);
    CK_SESSION_HANDLE ro = openSession(f, kRO);
    CHECK_RV(f.p11()->C_SetPIN(ro, pin(kUserPin), pinLen(kUserPin), pin("abcdef"), 6),
             CKR_SESSION_READ_ONLY);
    f.finalize();
    for (CK_RV rv : directLoginResults(f.env, kUserPin)) CHECK(rvText(rv) == rvText(CKR_OK));
    for (CK_RV rv : directLoginResults(f.env, "abcdef"))
        CHECK(rvText(rv) == rvText(CKR_PIN_INCORRECT));
}

TEST_CASE("C_SetPIN by the SO changes the SO PIN on every member") {
    const char* kNewSoPin = "new-so-pin-13579";
    ClusterFixture f;
    f.start(false);
    REQUIRE_OK(login(f, f.session, CKU_SO, kSoPin));
    REQUIRE_OK(f.p11()->C_SetPIN(f.session, pin(kSoPin), pinLen(kSoPin), pin(kNewSoPin),
                                 pinLen(kNewSoPin)));
    REQUIRE_OK(f.p11()->C_Logout(f.session));
    CHECK_RV(login(f, f.session, CKU_SO, kSoPin), CKR_PIN_INCORRECT);
    REQUIRE_OK(login(f, f.session, CKU_SO, kNewSoPin));
    f.finalize();

    for (CK_RV rv : directLoginResults(f.env, kNewSoPin, CKU_SO))
        CHECK(rvText(rv) == rvText(CKR_OK));
    for (CK_RV rv : directLoginResults(f.env, kSoPin, CKU_SO))
        CHECK(rvText(rv) == rvText(CKR_PIN_INCORRECT));
    for (CK_RV rv : directLoginResults(f.env, kUserPin)) CHECK(rvText(rv) == rvText(CKR_OK));
}

TEST_CASE("closing the last session ends an SO login too") {
    ClusterFixture f;
    f.start(false);
    REQUIRE_OK(login(f, f.session, CKU_SO, kSoPin));
    REQUIRE_OK(f.p11()->C_CloseSession(f.session));
    // A read-only session is allowed again, and the SO must log in anew.
    CK_SESSION_HANDLE ro = openSession(f, kRO);
    CHECK(stateOf(f, ro) == CKS_RO_PUBLIC_SESSION);
    REQUIRE_OK(f.p11()->C_CloseSession(ro));
    CK_SESSION_HANDLE rw = openSession(f, kRW);
    CHECK(stateOf(f, rw) == CKS_RW_PUBLIC_SESSION);
    CHECK_RV(f.p11()->C_InitPIN(rw, pin("whatever"), 8), CKR_USER_NOT_LOGGED_IN);
    REQUIRE_OK(login(f, rw, CKU_SO, kSoPin));
}

// Zones over member processes: an asynchronous member of a remote zone is
// caught up in the background with a bounded lag; the remote zone down,
// reads and writes go on; the local zone down, reads go on from the remote
// zone and writes follow writes_without_sync (refuse, or accept on the
// remote zone).
#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <chrono>
#include <thread>

#include "cluster_fixture.h"
#include "crypto_helpers.h"
#include "support/member_host.h"

using namespace p11c::test;
using namespace std::chrono_literals;

namespace {

// Two members (a, b) in zone z1, synchronous; c in zone z2, asynchronous.
struct TwoZones {
    explicit TwoZones(const std::string& cluster = "", const std::string& quorum = "\"majority\"")
        : f(3), hosts(f.env, true), statusDir(f.env.dir() + "/status") {
        ::mkdir(statusDir.c_str(), 0700);
        std::string members = withMemberLines(hosts.memberTables(), "a", "zone = \"z1\"\n");
        members = withMemberLines(members, "b", "zone = \"z1\"\n");
        members = withMemberLines(members, "c", "zone = \"z2\"\nsync = \"async\"\n");
        f.env.writeConfig("label = \"zones\"\nlocal_zone = \"z1\"\nwrite_quorum = " + quorum +
                              "\nstatus_dir = \"" + statusDir + "\"\n" + cluster,
                          members);
        REQUIRE(f.env.initTransportKey() == 0);
        f.start();
    }
    // Member c's lag as this process publishes it.
    struct Lag {
        int64_t writes = -1;
        double seconds = -1, worst = -1;
    };
    Lag lagOfC() const {
        const std::string path = statusDir + "/zones-" + std::to_string(::getpid()) + ".toml";
        toml::table status = toml::parse_file(path);
        for (const auto& node : *status["member"].as_array()) {
            const toml::table& m = *node.as_table();
            if (m["name"].value_or(std::string()) == "c")
                return {m["lag_writes"].value_or(int64_t{-1}), m["lag_seconds"].value_or(-1.0),
                        m["lag_worst_seconds"].value_or(-1.0)};
        }
        return {};
    }
    KeyPair generate(const std::string& id, CK_RV expected = CKR_OK) {
        CK_RV rv;
        KeyPair key = generateEcPair(f.p11(), f.session, id, &rv);
        CHECK_RV(rv, expected);
        return key;
    }

    ClusterFixture f;
    MemberHosts hosts;
    std::string statusDir;
};

// The object count of a `p11cluster verify` report ("3 members, 42 objects, ...").
long objectsIn(const std::string& report) {
    const size_t at = report.find(" objects");
    if (at == std::string::npos) return -1;
    size_t start = report.rfind(' ', at - 1);
    return std::stol(report.substr(start + 1, at - start - 1));
}

}  // namespace

TEST_CASE("zones: an asynchronous member is caught up in the background with a bounded lag") {
    TwoZones z;
    // Steady writes for 3 s: a key pair every 50 ms. The module measures
    // each catch-up (from the oldest write c lacks to the repair that
    // applied it) and publishes the worst.
    std::vector<KeyPair> keys;
    const auto end = std::chrono::steady_clock::now() + 3s;
    int i = 0;
    while (std::chrono::steady_clock::now() < end) {
        keys.push_back(z.generate("async-" + std::to_string(i++)));
        std::this_thread::sleep_for(50ms);
    }
    // After the writes stop, c holds every key: verify compares c with a and b.
    std::string report;
    const bool clean = z.f.env.verifiesWithin(10, &report);
    INFO(report);
    CHECK(clean);
    TwoZones::Lag lag;
    for (int wait = 0; wait < 40 && (lag = z.lagOfC()).writes != 0; ++wait)
        std::this_thread::sleep_for(100ms);
    std::printf(
        "zones: %zu key pairs in 3 s; the asynchronous member's longest catch-up: "
        "%.3f s\n",
        keys.size(), lag.worst);
    CHECK(lag.writes == 0);
    CHECK(lag.seconds == 0.0);
    CHECK(lag.worst > 0.0);  // it was behind, and caught up
    CHECK(lag.worst < 1.0);  // within the 1 s target
}

TEST_CASE(
    "zones: the remote zone down, reads and writes go on, and it catches up when it returns") {
    TwoZones z;
    KeyPair before = z.generate("before");
    z.hosts[2].kill();
    KeyPair during = z.generate("during");  // quorum 2 of the synchronous a and b
    CHECK_RV(ecdsaSignAndVerify(z.f.p11(), z.f.session, before), CKR_OK);
    CHECK_RV(ecdsaSignAndVerify(z.f.p11(), z.f.session, during), CKR_OK);
    z.hosts[2].start();
    REQUIRE(waitForHealth(z.statusDir, "zones", "c", "up"));
    std::string report;
    const bool clean = z.f.env.verifiesWithin(10, &report);
    INFO(report);
    CHECK(clean);
}

TEST_CASE("zones: the local zone down, reads go on from the remote zone and writes are refused") {
    // A quorum of 1: c alone could hold the write, so only the rule refuses it.
    TwoZones z("", "1");
    KeyPair key = z.generate("local-down");
    std::string before;
    REQUIRE(z.f.env.verifiesWithin(10, &before));  // c caught up
    z.hosts[0].kill();
    z.hosts[1].kill();
    for (int i = 0; i < 5; ++i) CHECK_RV(ecdsaSignAndVerify(z.f.p11(), z.f.session, key), CKR_OK);
    z.generate("refused", CKR_DEVICE_ERROR);  // writes_without_sync = "refuse" (the default)
    z.f.finalize();
    z.hosts[0].start();
    z.hosts[1].start();
    // Nothing of the refused write anywhere: c holds exactly what it held.
    std::string report;
    const bool clean = z.f.env.verifiesWithin(10, &report);
    INFO(report);
    CHECK(clean);
    CHECK(objectsIn(report) == objectsIn(before));
}

TEST_CASE("zones: the local zone down, writes accepted on the remote zone when configured") {
    TwoZones z("writes_without_sync = \"accept\"\n", "1");
    KeyPair key = z.generate("before");
    REQUIRE(z.f.env.verifiesWithin(10));
    z.hosts[0].kill();
    z.hosts[1].kill();
    CHECK_RV(ecdsaSignAndVerify(z.f.p11(), z.f.session, key), CKR_OK);
    KeyPair made = z.generate("accepted");  // c alone is the quorum now
    CHECK_RV(ecdsaSignAndVerify(z.f.p11(), z.f.session, made), CKR_OK);
    // The local zone returns and is repaired from c: every member agrees.
    z.hosts[0].start();
    z.hosts[1].start();
    REQUIRE(waitForHealth(z.statusDir, "zones", "a", "up"));
    REQUIRE(waitForHealth(z.statusDir, "zones", "b", "up"));
    std::string report;
    const bool clean = z.f.env.verifiesWithin(15, &report);
    INFO(report);
    CHECK(clean);
}

TEST_CASE("zones: an attribute change reaches the asynchronous member at once") {
    TwoZones z("writes_without_sync = \"accept\"\n", "1");
    KeyPair key = z.generate("changed");
    REQUIRE(z.f.env.verifiesWithin(10));  // c holds the key
    CK_BBOOL no = CK_FALSE;
    CK_ATTRIBUTE change = {CKA_DERIVE, &no, sizeof no};
    REQUIRE_OK(z.f.p11()->C_SetAttributeValue(z.f.session, key.privateKey, &change, 1));
    // Only c is left: what the cluster reads now, c holds.
    z.hosts[0].kill();
    z.hosts[1].kill();
    CK_BBOOL derive = CK_TRUE;
    CK_ATTRIBUTE read = {CKA_DERIVE, &derive, sizeof derive};
    REQUIRE_OK(z.f.p11()->C_GetAttributeValue(z.f.session, key.privateKey, &read, 1));
    CHECK(derive == CK_FALSE);
}

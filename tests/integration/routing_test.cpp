// Routing over real members: which members the cluster's calls reach, read
// from the figures each process publishes (status_dir): the local zone
// first, the other zone when the local members' processes are killed, and
// weights.
#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <chrono>
#include <map>
#include <thread>

#include "cluster_fixture.h"
#include "crypto_helpers.h"
#include "support/member_host.h"

using namespace p11c::test;

namespace {

// Calls made on each member so far, as this process last published them.
std::map<std::string, int64_t> publishedOperations(const std::string& statusDir,
                                                   const std::string& label) {
    // The module publishes about once a second: wait for a fresh file.
    std::this_thread::sleep_for(std::chrono::milliseconds(1300));
    const std::string path = statusDir + "/" + label + "-" + std::to_string(::getpid()) + ".toml";
    std::map<std::string, int64_t> out;
    toml::table status = toml::parse_file(path);
    for (const auto& node : *status["member"].as_array()) {
        const toml::table& m = *node.as_table();
        out[m["name"].value_or(std::string())] = m["operations"].value_or(int64_t{0});
    }
    return out;
}

// Calls made per member between two readings.
std::map<std::string, int64_t> delta(std::map<std::string, int64_t> after,
                                     const std::map<std::string, int64_t>& before) {
    for (auto& [name, n] : after) n -= before.at(name);
    return after;
}

void signTimes(ClusterFixture& f, const KeyPair& key, int times) {
    for (int i = 0; i < times; ++i) REQUIRE_OK(ecdsaSignAndVerify(f.p11(), f.session, key));
}

}  // namespace

TEST_CASE("routing: crypto stays in the local zone, and moves to the other zone while it is down") {
    ClusterFixture f(3);
    MemberHosts hosts(f.env);
    const std::string statusDir = f.env.dir() + "/status";
    ::mkdir(statusDir.c_str(), 0700);
    std::string members = withMemberLines(hosts.memberTables(), "a", "zone = \"z1\"\n");
    members = withMemberLines(members, "b", "zone = \"z2\"\n");
    members = withMemberLines(members, "c", "zone = \"z2\"\n");
    f.env.writeConfig(
        "label = \"zones\"\npolicy = \"least-outstanding\"\nlocal_zone = \"z1\"\n"
        "write_quorum = \"majority\"\nstatus_dir = \"" +
            statusDir + "\"\n",
        members);
    REQUIRE(f.env.initTransportKey() == 0);
    f.start();
    CK_RV rv;
    KeyPair key = generateEcPair(f.p11(), f.session, "zone-key", &rv);
    REQUIRE_OK(rv);

    auto before = publishedOperations(statusDir, "zones");
    signTimes(f, key, 40);
    auto used = delta(publishedOperations(statusDir, "zones"), before);
    CHECK(used["a"] >= 160);  // per signature: sign init + sign, verify init + verify
    // The other zone gets none of them: at most the prober's periodic
    // comparison of object counts (a find, a few calls a member).
    CHECK(used["b"] + used["c"] < 20);

    hosts[0].kill();  // the whole local zone
    before = publishedOperations(statusDir, "zones");
    signTimes(f, key, 40);
    used = delta(publishedOperations(statusDir, "zones"), before);
    CHECK(used["b"] + used["c"] >= 160);

    hosts[0].start();
    REQUIRE(waitForHealth(statusDir, "zones", "a", "up"));
    before = publishedOperations(statusDir, "zones");
    signTimes(f, key, 40);
    used = delta(publishedOperations(statusDir, "zones"), before);
    CHECK(used["a"] >= 160);
    CHECK(used["b"] + used["c"] < 20);  // at most the prober's own checks
}

TEST_CASE("routing: the weighted policy shares the calls by the members' weights") {
    ClusterFixture f(2);
    const std::string statusDir = f.env.dir() + "/status";
    ::mkdir(statusDir.c_str(), 0700);
    std::string members = withMemberLines(f.env.memberTables(), "a", "weight = 3\n");
    f.env.writeConfig(
        "label = \"weights\"\npolicy = \"weighted\"\nstatus_dir = \"" + statusDir + "\"\n",
        members);
    REQUIRE(f.env.initTransportKey() == 0);
    f.start();
    CK_RV rv;
    KeyPair key = generateEcPair(f.p11(), f.session, "weighted-key", &rv);
    REQUIRE_OK(rv);
    auto before = publishedOperations(statusDir, "weights");
    signTimes(f, key, 200);
    auto used = delta(publishedOperations(statusDir, "weights"), before);
    INFO("a: " << used["a"] << ", b: " << used["b"]);
    // 800 calls (and the prober's few): 3 of every 4 operations on a.
    CHECK(used["a"] + used["b"] >= 800);
    CHECK(used["a"] + used["b"] < 830);
    CHECK(used["a"] == Approx(600).margin(30));
}

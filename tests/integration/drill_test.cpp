// p11cluster drill: a failover game day on a live cluster of member hosts.
// It passes on a healthy cluster (each member, then each zone, out of
// service under load with no caller error, back and verified) and fails when
// a member is broken before it starts.
#include <fstream>
#include <sstream>

#include "integration/cluster_fixture.h"
#include "support/member_host.h"

using namespace p11c::test;

namespace {

struct DrillCluster {
    explicit DrillCluster(const std::string& extra = "") : env(3), hosts(env) {
        env.writeConfig("label = \"drill\"\nwrite_quorum = \"majority\"\ncall_timeout_ms = 1000\n",
                        hosts.memberTables(extra));
        REQUIRE(env.initTransportKey() == 0);
    }
    int drill(const std::string& args) {
        return env.tool("drill --module " + std::string(clusterModulePath()) +
                            " --user-pin-env P11C_TEST_USER_PIN " + args,
                        &output);
    }
    SoftHsmEnv env;
    MemberHosts hosts;
    std::string output;
};

}  // namespace

TEST_CASE("p11cluster drill passes on a healthy cluster, member by member", "[drill]") {
    DrillCluster c;
    CHECK(c.drill("--dry-run") == 0);
    CHECK(c.output.find("dry run: nothing was taken out of service") != std::string::npos);

    int status = c.drill("--out-seconds 1 --return-seconds 30");
    INFO(c.output);
    REQUIRE(status == 0);
    CHECK(c.output.find("drill: passed (3 steps)") != std::string::npos);
    for (const char* name : {"member a", "member b", "member c"}) {
        auto line = c.output.rfind(name);  // the row of the table, after the plan
        REQUIRE(line != std::string::npos);
        // noticed, some operations, zero errors, back, verify clean
        std::istringstream row(c.output.substr(line + std::string(name).size()));
        std::string noticed, errors;
        long ops = 0;
        row >> noticed >> ops >> errors;
        CHECK(noticed == "yes");
        CHECK(ops > 0);
        CHECK(errors == "0");
    }
}

TEST_CASE("p11cluster drill takes each zone out too, when there are several", "[drill]") {
    DrillCluster c;
    // a and b in z1, c in z2
    std::string config;
    {
        std::ifstream in(c.env.configPath());
        std::ostringstream text;
        text << in.rdbuf();
        config = text.str();
    }
    size_t at = 0;
    for (const char* zone : {"z1", "z1", "z2"}) {
        at = config.find("[[member]]", at);
        REQUIRE(at != std::string::npos);
        at += 10;
        config.insert(at, std::string("\nzone = \"") + zone + "\"");
    }
    c.env.writeRawConfig(config);
    int status = c.drill("--out-seconds 1 --return-seconds 30");
    INFO(c.output);
    REQUIRE(status == 0);
    CHECK(c.output.find("zone z1") != std::string::npos);
    CHECK(c.output.find("zone z2") != std::string::npos);
    CHECK(c.output.find("drill: passed (5 steps)") != std::string::npos);
}

TEST_CASE("p11cluster drill fails when a member is broken before it starts", "[drill]") {
    DrillCluster c;
    c.hosts[1].kill();
    int status = c.drill("--out-seconds 1 --return-seconds 10");
    INFO(c.output);
    CHECK(status == 1);
    CHECK(c.output.find("member \"b\" cannot be reached") != std::string::npos);
    CHECK(c.drill("--dry-run") == 1);
}

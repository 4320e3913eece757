// The configuration loader: good files parse, bad ones are refused with a
// message naming the file, the key and the problem.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdio>
#include <fstream>

#include "config/config.h"

using p11c::config::ConfigError;
using p11c::config::parse;

namespace {

const char* kMember = R"(
[[member]]
name = "a"
module = "/usr/lib/softhsm/libsofthsm2.so"
token = "pkcs11:token=member-a"
)";

std::string errorOf(const std::string& text) {
    try {
        parse(text, "/etc/test.toml");
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "no error";
}

}  // namespace

TEST_CASE("a complete configuration parses with every key") {
    auto config = parse(R"(
[cluster]
label = "demo-cluster"
write_quorum = "majority"
policy = "round-robin"
call_timeout_ms = 1500
slot_id = 7
local_zone = "z1"

[[member]]
name = "a"
module = "/usr/lib/softhsm/libsofthsm2.so"
token = "pkcs11:token=member-a"
zone = "z1"
weight = 3
role = "standby"
pin_env = "A_PIN"
)",
                        "x.toml");
    CHECK(config.cluster.label == "demo-cluster");
    CHECK(config.cluster.writeQuorum.kind == p11c::config::QuorumKind::Majority);
    CHECK(config.cluster.writeQuorum.required(3) == 2);
    CHECK(config.cluster.writeQuorum.required(4) == 3);
    CHECK(config.cluster.callTimeoutMs == 1500);
    CHECK(config.cluster.slotId == 7);
    CHECK(config.cluster.localZone == "z1");
    REQUIRE(config.members.size() == 1);
    CHECK(config.members[0].weight == 3);
    CHECK(config.members[0].role == p11c::config::Role::Standby);
    CHECK(config.members[0].pinEnv == std::optional<std::string>("A_PIN"));
}

TEST_CASE("defaults apply where keys are left out") {
    auto config = parse(std::string("[cluster]\n") + kMember, "x.toml");
    CHECK(config.cluster.writeQuorum.required(3) == 3);
    CHECK(config.cluster.policy == "round-robin");
    CHECK(config.cluster.callTimeoutMs == 2000);
    CHECK(config.members[0].role == p11c::config::Role::Active);
    CHECK(config.members[0].weight == 1);
}

TEST_CASE("a numeric write quorum counts members and may not exceed them") {
    auto config = parse(std::string("[cluster]\nwrite_quorum = 1\n") + kMember, "x.toml");
    CHECK(config.cluster.writeQuorum.required(1) == 1);
    CHECK_THAT(errorOf(std::string("[cluster]\nwrite_quorum = 2\n") + kMember),
               Catch::Contains("cluster.write_quorum") && Catch::Contains("only 1"));
}

TEST_CASE("routing settings: the policy, the local zone and the spill threshold") {
    auto config = p11c::config::parse(std::string("[cluster]\npolicy = \"latency-aware\"\n"
                                                  "local_zone = \"z1\"\nspill_in_flight = 3\n") +
                                          kMember + "zone = \"z1\"\n",
                                      "/etc/test.toml");
    CHECK(config.cluster.policy == "latency-aware");
    CHECK(config.cluster.localZone == "z1");
    CHECK(config.cluster.spillInFlight == 3);
    for (const char* policy : {"round-robin", "random", "weighted", "least-outstanding"})
        CHECK_NOTHROW(p11c::config::parse(
            std::string("[cluster]\npolicy = \"") + policy + "\"\n" + kMember, "/etc/test.toml"));
}

TEST_CASE("asynchronous members and the rule for writes without a synchronous member") {
    auto config = p11c::config::parse(
        std::string("[cluster]\nwrites_without_sync = \"accept\"\n") + kMember +
            "[[member]]\nname = \"b\"\nmodule = \"/m.so\"\ntoken = \"t\"\nsync = \"async\"\n",
        "/etc/test.toml");
    CHECK(config.cluster.acceptWritesOnAsync);
    CHECK_FALSE(config.members[0].async);
    CHECK(config.members[1].async);
}

TEST_CASE("bad configurations name the file, the key and the problem") {
    using Catch::Contains;
    CHECK_THAT(errorOf("[cluster\n"), Contains("/etc/test.toml:1:") && Contains("syntax error"));
    CHECK_THAT(errorOf(std::string("[cluster]\ncolour = \"red\"\n") + kMember),
               Contains("/etc/test.toml: cluster.colour: unknown key"));
    CHECK_THAT(errorOf(std::string("[cluster]\ncall_timeout_ms = \"fast\"\n") + kMember),
               Contains("cluster.call_timeout_ms: expected an integer, got a string"));
    CHECK_THAT(errorOf(std::string("[cluster]\nwrite_quorum = \"most\"\n") + kMember),
               Contains("cluster.write_quorum"));
    CHECK_THAT(errorOf(std::string("[cluster]\npolicy = \"fastest\"\n") + kMember),
               Contains("cluster.policy: unknown policy \"fastest\""));
    CHECK_THAT(
        errorOf(std::string("[cluster]\nlocal_zone = \"z9\"\n") + kMember + "zone = \"z1\"\n"),
        Contains("cluster.local_zone: no member is in zone \"z9\""));
    CHECK_THAT(errorOf(std::string("[cluster]\n") + kMember + "sync = \"later\"\n"),
               Contains("member[0].sync: expected \"sync\" or \"async\", got \"later\""));
    CHECK_THAT(errorOf(std::string("[cluster]\n") + kMember + "sync = \"async\"\n"),
               Contains("every member is sync = \"async\""));
    CHECK_THAT(errorOf(std::string("[cluster]\nwrites_without_sync = \"maybe\"\n") + kMember),
               Contains("cluster.writes_without_sync: expected \"refuse\" or \"accept\""));
    CHECK_THAT(errorOf(std::string("[cluster]\nwrite_quorum = 2\n") + kMember +
                       "[[member]]\nname = \"b\"\nmodule = \"/m.so\"\ntoken = \"t\"\n"
                       "sync = \"async\"\n"),
               Contains("cluster.write_quorum: asks for 2 members but only 1 are synchronous"));
    CHECK_THAT(errorOf(std::string("[cluster]\nspill_in_flight = 0\n") + kMember),
               Contains("cluster.spill_in_flight: must be between 1 and"));
    CHECK_THAT(errorOf("[cluster]\n"), Contains("member: no [[member]] entries"));
    CHECK_THAT(errorOf(std::string("[cluster]\n") + kMember + kMember),
               Contains("member[1].name: duplicate member name \"a\""));
    CHECK_THAT(errorOf("[cluster]\n[[member]]\nname = \"a\"\ntoken = \"x\"\n"),
               Contains("member[0].module: missing"));
    CHECK_THAT(errorOf(std::string("[cluster]\n") + kMember + "weight = 0\n"),
               Contains("member[0].weight: must be between 1 and 1000"));
    CHECK_THAT(errorOf(std::string("[cluster]\n") + kMember + "role = \"spare\"\n"),
               Contains("member[0].role"));
    CHECK_THAT(errorOf(std::string("[cluster]\n") + kMember + "pin = \"1234\"\n"),
               Contains("member[0].pin: unknown key"));
    CHECK_THAT(errorOf("[cluster]\nlabel = \"" + std::string(40, 'x') + "\"\n" + kMember),
               Contains("cluster.label: must be 1 to 32 characters"));
}

TEST_CASE("a PIN file that others can read is refused") {
    char path[] = "/tmp/p11cluster-pin-XXXXXX";
    int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::write(fd, "1234\n", 5);
    ::close(fd);
    std::string text = std::string("[cluster]\n") + kMember + "pin_file = \"" + path + "\"\n";
    ::chmod(path, 0600);
    CHECK_NOTHROW(parse(text, "x.toml"));
    ::chmod(path, 0644);
    CHECK_THAT(errorOf(text), Catch::Contains("member[0].pin_file") &&
                                  Catch::Contains("accessible by group or others"));
    ::unlink(path);
    CHECK_THAT(errorOf(text), Catch::Contains("cannot read PIN file"));
}

TEST_CASE("a missing configuration file is named") {
    CHECK_THROWS_WITH(p11c::config::loadFile("/nonexistent/p11cluster.toml"),
                      Catch::Contains("/nonexistent/p11cluster.toml: cannot open"));
}

TEST_CASE("the configuration is found by environment, then init argument, then default") {
    ::unsetenv("P11CLUSTER_CONF");
    CHECK(p11c::config::locate(nullptr) == p11c::config::kDefaultPath);
    CHECK(p11c::config::locate("/from/init.toml") == "/from/init.toml");
    ::setenv("P11CLUSTER_CONF", "/from/env.toml", 1);
    CHECK(p11c::config::locate("/from/init.toml") == "/from/env.toml");
    ::unsetenv("P11CLUSTER_CONF");
}

TEST_CASE("a forked child without the environment finds its parent's configuration") {
    ::unsetenv("P11CLUSTER_CONF");
    CHECK(p11c::config::locate(nullptr, "/parent.toml") == "/parent.toml");
    CHECK(p11c::config::locate("/from/init.toml", "/parent.toml") == "/from/init.toml");
    ::setenv("P11CLUSTER_CONF", "/from/env.toml", 1);
    CHECK(p11c::config::locate(nullptr, "/parent.toml") == "/from/env.toml");
    ::unsetenv("P11CLUSTER_CONF");
}

// The simulated HSM's configuration (P11C_SIMHSM, tests/support/sim_hsm_config.h):
// what parses, what each rule means, and which part a refusal names.
#include <catch2/catch.hpp>

#include "support/sim_hsm_config.h"

using namespace p11c::simhsm;
using std::chrono::microseconds;

TEST_CASE("sim hsm config: named tokens, the default and untimed tokens") {
    Config config;
    std::string error;
    REQUIRE(parseConfig("member-a=1000us/2,member-b=5ms/3,*=2000us/1", config, error));
    REQUIRE(config.rules.size() == 2);
    const Rule* a = config.find("member-a");
    REQUIRE(a != nullptr);
    CHECK(a->service == microseconds(1000));
    CHECK(a->concurrency == 2);
    CHECK(config.find("member-b")->service == microseconds(5000));
    CHECK(config.find("member-b")->concurrency == 3);
    const Rule* other = config.find("member-c");
    REQUIRE(other != nullptr);
    CHECK(other->label == "*");
    CHECK(other->service == microseconds(2000));

    Config named;
    REQUIRE(parseConfig("member-a=0us/1", named, error));
    CHECK(named.find("member-a")->service == microseconds(0));
    CHECK(named.find("member-b") == nullptr);  // not named, no `*`: untimed

    Config empty;
    REQUIRE(parseConfig("", empty, error));
    CHECK(empty.find("member-a") == nullptr);
}

TEST_CASE("sim hsm config: a malformed value is refused and the bad entry named") {
    struct Case {
        const char* text;
        const char* named;
    };
    for (Case c :
         {Case{"member-a=10xs/1", "bad entry \"member-a=10xs/1\""},
          Case{"member-a=10us/1,member-b=10us", "bad entry \"member-b=10us\""},
          Case{"member-a=us/1", "service time"}, Case{"member-a=10us/", "concurrency"},
          Case{"member-a=10us/5000", "concurrency"}, Case{"member-a=10 us/1", "\"10 us\""},
          Case{",member-a=10us/1", "empty entry"}, Case{"=1us/1", "label"},
          Case{"abcdefghijklmnopqrstuvwxyz0123456=1us/1", "label"},
          Case{"member-a=61000000us/1", "over 60 s"}, Case{"a=1us/1,a=1us/1", "named twice"}}) {
        Config config;
        std::string error;
        INFO(c.text);
        CHECK_FALSE(parseConfig(c.text, config, error));
        INFO(error);
        CHECK(error.find(c.named) != std::string::npos);
    }
}

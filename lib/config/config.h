// The cluster configuration: what the TOML file says, validated.
// Loading never touches a token; it checks the file itself (syntax, keys,
// types, values, PIN-file permissions). Errors name the file, the key and
// the problem, e.g.
//   /etc/p11cluster/p11cluster.toml: member[1].weight: expected an integer, got a string
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace p11c::config {

class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

enum class QuorumKind { All, Majority, Count };

struct WriteQuorum {
    QuorumKind kind = QuorumKind::All;
    unsigned count = 0;  // for QuorumKind::Count

    // How many members must hold a write, out of `members` (at least 1).
    unsigned required(unsigned members) const;
};

enum class Role { Active, Standby };

struct Member {
    std::string name;
    std::string module;                 // path to the member's PKCS#11 module, or
    std::optional<std::string> remote;  // "unix:SOCKET" of a member host (p11cluster serve)
    std::string token;                  // a PKCS#11 URI ("pkcs11:token=...") or a plain token label
    std::string zone;
    unsigned weight = 1;
    Role role = Role::Active;
    // Asynchronous (sync = "async"): caller writes do not wait for it; it
    // is caught up by repair in the background (a member of a remote zone).
    bool async = false;
    std::optional<std::string> pinFile;  // per-member user PIN from a file
    std::optional<std::string> pinEnv;   // ... or from an environment variable
};

struct Cluster {
    std::string label = "p11cluster";
    std::optional<std::string> serial;  // default: derived from the label
    unsigned long slotId = 0;           // the virtual slot's id, stable across restarts
    WriteQuorum writeQuorum;
    std::string policy = "round-robin";
    std::string localZone;
    // The local zone counts as saturated, and other zones share its work,
    // when each of its members has this many calls in flight.
    unsigned spillInFlight = 8;
    // When no synchronous member takes writes (the local zone is down):
    // refuse writes, or accept them on the asynchronous members, which then
    // make the write quorum.
    bool acceptWritesOnAsync = false;
    unsigned callTimeoutMs = 2000;
    // How much of a multi-part operation's input is kept to replay it on
    // another member if its member fails mid-way (0: never replayed).
    unsigned long replayLimitBytes = 1 << 20;
    // Where each process using the module publishes its view of the members
    // (for `p11cluster status`); empty: not published.
    std::string statusDir;
};

struct Config {
    std::string path;  // the file it came from
    Cluster cluster;
    std::vector<Member> members;
};

// Parses and validates a configuration file. Throws ConfigError.
Config loadFile(const std::string& path);

// Parses configuration text; `path` is used in messages only. Throws ConfigError.
Config parse(const std::string& text, const std::string& path);

// Where the configuration comes from: $P11CLUSTER_CONF, else the string given
// in C_Initialize's pReserved (may be null), else `inherited` (the file a
// forked child's parent was initialised with: nginx clears its workers'
// environment), else the system default.
std::string locate(const char* initReserved, const std::string& inherited = {});

inline constexpr const char* kDefaultPath = "/etc/p11cluster/p11cluster.toml";

// Policies known to the routing layer, for validation.
bool isKnownPolicy(const std::string& name);

}  // namespace p11c::config

// Test support: a member token served by its own process
// (`p11cluster serve`), which tests kill (SIGKILL), freeze (SIGSTOP),
// thaw and restart for real. Each host serves the SoftHSM module of a
// SoftHsmEnv; the cluster reaches member i through host i's socket.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "support/softhsm_env.h"

namespace p11c::test {

class MemberHost {
  public:
    // Starts the host; its socket and log live in the env's directory.
    // With `ownToken` (a token label), the token moves to a directory of
    // the host's own, as a network HSM partition is its own: a SoftHSM that
    // starts reads every token in its directory, and would slow the other
    // hosts' SoftHSMs meanwhile. The env's own SoftHSM no longer sees it.
    MemberHost(const SoftHsmEnv& env, const std::string& name, const std::string& ownToken = "");
    ~MemberHost();  // kills the process if it still runs
    MemberHost(const MemberHost&) = delete;
    MemberHost& operator=(const MemberHost&) = delete;

    void start();   // waits until the socket accepts connections
    void kill();    // SIGKILL and reap: a crashed HSM client or host
    void freeze();  // SIGSTOP: a hung HSM
    void thaw();    // SIGCONT
    void restart() { kill(), start(); }
    bool running() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }

    std::string address() const { return "unix:" + socket_; }
    const std::string& logPath() const { return log_; }

  private:
    std::string socket_;
    std::string log_;
    std::string softhsmConf_;  // the host's own SoftHSM configuration, if any
    pid_t pid_ = -1;
    bool frozen_ = false;
};

// One host per member of `env`, and the [[member]] tables that reach the
// tokens through them (remote = ...), for SoftHsmEnv::writeConfig.
struct MemberHosts {
    // ownTokens: each token in a directory of its host's own (see MemberHost).
    explicit MemberHosts(const SoftHsmEnv& env, bool ownTokens = false);
    std::string memberTables(const std::string& extra = "") const;
    MemberHost& operator[](unsigned i) { return *hosts[i]; }

    const SoftHsmEnv& env;
    std::vector<std::unique_ptr<MemberHost>> hosts;
};

}  // namespace p11c::test

namespace p11c::test {

// A member's health in this process's view, as the module publishes it in
// `statusDir` (<label>-<pid>.toml); empty when not published (yet).
std::string publishedHealth(const std::string& statusDir, const std::string& label,
                            const std::string& member);
// Polls publishedHealth until it is `wanted`; false after `seconds`.
bool waitForHealth(const std::string& statusDir, const std::string& label,
                   const std::string& member, const std::string& wanted, int seconds = 20);

}  // namespace p11c::test

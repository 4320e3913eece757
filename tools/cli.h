// Shared pieces of the p11cluster command: options, the cluster it works on,
// reading the security officer's PIN.
#pragma once

#include <map>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/cluster.h"
#include "util/secret.h"

namespace p11c::tool {

class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct Options {
    std::string command;
    std::map<std::string, std::string> values;  // --name value
    std::vector<std::string> flags;             // --name
    bool has(const std::string& flag) const;
    std::string get(const std::string& name, const std::string& fallback = "") const;
};

// Parses argv; `valued` names the options that take a value.
Options parse(int argc, char** argv, const std::vector<std::string>& valued);

// Loads the configuration (--config, else $P11CLUSTER_CONF, else the default)
// and connects every member.
std::unique_ptr<Cluster> connect(const Options& options);

// A PIN from --NAME-pin-env VAR or --NAME-pin-file FILE (mode 0600), else
// read from the terminal without echo. `who` is "so" or "user".
Secret readPin(const Options& options, const std::string& who);

// Logs in on every member through the cluster (CKU_SO or CKU_USER).
void loginAll(Cluster& cluster, CK_USER_TYPE user, Secret& pin);

int initCommand(const Options& options);
int verifyCommand(const Options& options);
// verify, writing its report to `out`; 0 when the members agree.
int verifyMembers(const Options& options, std::ostream& out);
int drillCommand(const Options& options);
int statusCommand(const Options& options);
int repairCommand(const Options& options);
int backupKeyCommand(const Options& options);
int backupCommand(const Options& options);
int restoreCommand(const Options& options);

}  // namespace p11c::tool

// Status: each process using the module publishes its view of the members
// (health, zone, role, in-flight calls, operations, errors, latency, what it
// still has to repair) as a small TOML file in `status_dir`, named
// <label>-<pid>.toml and replaced atomically about once a second by the
// prober. `p11cluster status` reads them (docs/failover.md).
#pragma once

#include <string>

#include <toml++/toml.h>

namespace p11c {
class Cluster;
}

namespace p11c::status {

// This process's view.
toml::table snapshot(Cluster& cluster);
// Writes the snapshot to the status directory (if configured); errors are
// logged once, never thrown.
void publish(Cluster& cluster);
// Removes this process's file (at C_Finalize).
void withdraw(const Cluster& cluster);
// The file this process publishes to; empty when status is not published.
std::string filePath(const Cluster& cluster);

}  // namespace p11c::status

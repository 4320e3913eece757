#include "core/status.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <fstream>

#include "core/cluster.h"
#include "util/log.h"

namespace p11c::status {

std::string filePath(const Cluster& cluster) {
    const auto& c = cluster.config().cluster;
    if (c.statusDir.empty()) return {};
    return c.statusDir + "/" + c.label + "-" + std::to_string(::getpid()) + ".toml";
}

toml::table snapshot(Cluster& cluster) {
    toml::table out;
    out.insert("pid", static_cast<int64_t>(::getpid()));
    out.insert("cluster", cluster.config().cluster.label);
    out.insert("updated", static_cast<int64_t>(std::time(nullptr)));
    out.insert("logged_in", cluster.loginState() == CKU_USER);
    toml::array members;
    for (unsigned m = 0; m < cluster.memberCount(); ++m) {
        Member& member = cluster.member(m);
        auto& stats = member.stats();
        toml::table t;
        t.insert("name", member.name());
        t.insert("health", healthName(member.health()));
        t.insert("zone", member.config().zone);
        t.insert("role", member.standby() ? "standby" : "active");
        t.insert("in_flight", static_cast<int64_t>(stats.inFlight.load()));
        t.insert("operations", static_cast<int64_t>(stats.operations.load()));
        t.insert("errors", static_cast<int64_t>(stats.errors.load()));
        t.insert("latency_us", static_cast<double>(stats.latencyNs.load()) / 1000.0);
        t.insert("needs_sync", cluster.needsSync(m));
        t.insert("sync", member.async() ? "async" : "sync");
        const Cluster::Lag lag = cluster.lag(m);
        t.insert("lag_writes", static_cast<int64_t>(lag.writes));
        t.insert("lag_seconds", lag.seconds);
        t.insert("lag_worst_seconds", lag.worstSeconds);
        t.insert("missing_objects", static_cast<int64_t>(cluster.objects().absentOn(m)));
        t.insert("failovers", static_cast<int64_t>(member.failovers()));
        t.insert("returns", static_cast<int64_t>(member.returns()));
        const auto latency = member.latency().snapshot();
        t.insert("latency_p50_us", static_cast<int64_t>(latency.quantileUs(0.50)));
        t.insert("latency_p99_us", static_cast<int64_t>(latency.quantileUs(0.99)));
        toml::array buckets;  // per bucket of LatencyHistogram::kBoundsUs, then +Inf
        for (uint64_t n : latency.counts) buckets.push_back(static_cast<int64_t>(n));
        t.insert("latency_buckets", std::move(buckets));
        t.insert("latency_sum_us", static_cast<int64_t>(latency.sumNs / 1000));
        members.push_back(std::move(t));
    }
    out.insert("member", std::move(members));
    return out;
}

void publish(Cluster& cluster) {
    const std::string path = filePath(cluster);
    if (path.empty()) return;
    const std::string temp = path + ".tmp";
    {
        std::ofstream file(temp, std::ios::trunc);
        file << snapshot(cluster) << "\n";
        if (!file) {
            static bool told = false;
            if (!told)
                log::warn("status: cannot write ", temp, " (status_dir ",
                          cluster.config().cluster.statusDir, ")");
            told = true;
            return;
        }
    }
    std::rename(temp.c_str(), path.c_str());
}

void withdraw(const Cluster& cluster) {
    const std::string path = filePath(cluster);
    if (!path.empty()) ::unlink(path.c_str());
}

}  // namespace p11c::status

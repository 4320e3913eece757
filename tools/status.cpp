// p11cluster status: every member as this command reaches it (reachable,
// latency, token), and every process's view of the members as it publishes
// it in status_dir (health, in-flight work, operations, errors, latency,
// repair still to do). Human form, or JSON with --json.
#include <dirent.h>
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <toml++/toml.h>

#include "config/config.h"
#include "member/latency.h"
#include "member/member.h"
#include "tools/cli.h"
#include "util/error.h"

namespace p11c::tool {
namespace {

std::string trimmed(const CK_UTF8CHAR* field, size_t size) {
    std::string s(reinterpret_cast<const char*>(field), size);
    while (!s.empty() && s.back() == ' ') s.pop_back();
    return s;
}

// One member as this command reaches it.
toml::table probeMember(unsigned index, const config::Member& config, unsigned timeoutMs) {
    toml::table t;
    t.insert("name", config.name);
    t.insert("zone", config.zone);
    t.insert("role", config.role == config::Role::Standby ? "standby" : "active");
    t.insert("address", config.remote ? *config.remote : config.module);
    try {
        auto member = Member::connect(index, config, std::chrono::milliseconds(timeoutMs));
        if (!member->located()) {
            t.insert("reachable", false);
            t.insert("problem", "member host does not answer");
            return t;
        }
        CK_TOKEN_INFO info{};
        CK_RV rv = CKR_OK;
        auto start = std::chrono::steady_clock::now();
        constexpr int kRounds = 5;
        for (int i = 0; i < kRounds && rv == CKR_OK; ++i)
            rv = member->call(&CK_FUNCTION_LIST::C_GetTokenInfo, member->slot(), &info);
        double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count() /
            kRounds;
        t.insert("reachable", rv == CKR_OK);
        if (rv != CKR_OK) {
            t.insert("problem", std::string("C_GetTokenInfo: ") + rvName(rv));
            return t;
        }
        t.insert("latency_ms", ms);
        t.insert("token", trimmed(info.label, sizeof info.label));
        t.insert("serial", trimmed(info.serialNumber, sizeof info.serialNumber));
    } catch (const std::exception& e) {
        t.insert("reachable", false);
        t.insert("problem", e.what());
    }
    return t;
}

// The views published by live processes of this cluster.
toml::array processViews(const config::Config& config) {
    toml::array out;
    const std::string& dir = config.cluster.statusDir;
    if (dir.empty()) return out;
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return out;
    const std::string prefix = config.cluster.label + "-";
    while (dirent* entry = ::readdir(d)) {
        std::string name = entry->d_name;
        if (name.rfind(prefix, 0) != 0 || name.size() < 5 ||
            name.compare(name.size() - 5, 5, ".toml") != 0)
            continue;
        try {
            toml::table view = toml::parse_file(dir + "/" + name);
            auto pid = view["pid"].value<int64_t>();
            // A file left by a process that is gone is not a view.
            if (!pid || (::kill(static_cast<pid_t>(*pid), 0) != 0 && errno == ESRCH)) continue;
            if (auto updated = view["updated"].value<int64_t>())
                view.insert_or_assign("age_s", static_cast<int64_t>(std::time(nullptr)) - *updated);
            out.push_back(std::move(view));
        } catch (const toml::parse_error&) {
            continue;  // being replaced right now
        }
    }
    ::closedir(d);
    return out;
}

std::string text(const toml::node_view<const toml::node>& v) {
    if (v.is_string()) return *v.value<std::string>();
    if (v.is_boolean()) return *v.value<bool>() ? "yes" : "no";
    if (v.is_integer()) return std::to_string(*v.value<int64_t>());
    if (v.is_floating_point()) {
        std::ostringstream out;
        out << std::fixed << std::setprecision(2) << *v.value<double>();
        return out.str();
    }
    return "-";
}

void printHuman(const toml::table& report) {
    std::cout << "cluster \"" << text(report["cluster"]) << "\"\n\n";
    std::cout << std::left << std::setw(12) << "member" << std::setw(12) << "reachable"
              << std::setw(10) << "zone" << std::setw(9) << "role" << std::setw(13) << "latency ms"
              << "token / problem\n";
    for (const auto& node : *report["members"].as_array()) {
        const toml::table& m = *node.as_table();
        bool ok = m["reachable"].value_or(false);
        std::cout << std::setw(12) << text(m["name"]) << std::setw(12) << (ok ? "yes" : "NO")
                  << std::setw(10) << text(m["zone"]) << std::setw(9) << text(m["role"])
                  << std::setw(13) << (ok ? text(m["latency_ms"]) : "-")
                  << (ok ? text(m["token"]) : text(m["problem"])) << "\n";
    }
    for (const auto& node : *report["processes"].as_array()) {
        const toml::table& p = *node.as_table();
        std::cout << "\nprocess " << text(p["pid"]) << " (updated " << text(p["age_s"])
                  << " s ago, " << (p["logged_in"].value_or(false) ? "logged in" : "not logged in")
                  << ")\n";
        std::cout << "  " << std::setw(12) << "member" << std::setw(10) << "health" << std::setw(11)
                  << "in-flight" << std::setw(12) << "operations" << std::setw(8) << "errors"
                  << std::setw(13) << "latency us" << std::setw(12) << "needs-sync" << std::setw(9)
                  << "missing"
                  << "lag (writes, s)\n";
        for (const auto& mnode : *p["member"].as_array()) {
            const toml::table& m = *mnode.as_table();
            std::cout << "  " << std::setw(12) << text(m["name"]) << std::setw(10)
                      << text(m["health"]) << std::setw(11) << text(m["in_flight"]) << std::setw(12)
                      << text(m["operations"]) << std::setw(8) << text(m["errors"]) << std::setw(13)
                      << text(m["latency_us"]) << std::setw(12) << text(m["needs_sync"])
                      << std::setw(9) << text(m["missing_objects"])
                      << (m["sync"].value_or(std::string("sync")) == "async"
                              ? text(m["lag_writes"]) + ", " + text(m["lag_seconds"])
                              : std::string("-"))
                      << "\n";
        }
    }
    if (report["processes"].as_array()->empty())
        std::cout << "\n(no process using the module publishes its view now; status_dir in "
                     "[cluster] turns it on)\n";
}

// Prometheus text exposition of every live process's view (one series per
// process and member), and of this command's own reach of each member.
void printPrometheus(const toml::table& report) {
    const std::string cluster = text(report["cluster"]);
    auto escaped = [](std::string s) {
        std::string out;
        for (char c : s) {
            if (c == '\\' || c == '"') out.push_back('\\');
            if (c == '\n') {
                out += "\\n";
                continue;
            }
            out.push_back(c);
        }
        return out;
    };
    struct Family {
        const char* name;
        const char* type;
        const char* help;
    };
    const Family families[] = {
        {"p11cluster_member_reachable", "gauge",
         "Whether p11cluster status reached the member just now (1) or not (0)."},
        {"p11cluster_member_up", "gauge",
         "Whether the member serves (1) in the process's view; 0 when suspect, down or syncing."},
        {"p11cluster_member_health", "gauge",
         "The member's health in the process's view: 1 for its state, 0 for the others."},
        {"p11cluster_member_in_flight", "gauge", "Calls to the member running now."},
        {"p11cluster_member_operations_total", "counter", "Calls made to the member."},
        {"p11cluster_member_errors_total", "counter",
         "Calls to the member that ended in a member fault."},
        {"p11cluster_member_failovers_total", "counter",
         "Times the member was taken out of service (work routed around it)."},
        {"p11cluster_member_repairs_total", "counter",
         "Times the member came back in sync after repair (syncing -> up)."},
        {"p11cluster_member_needs_sync", "gauge",
         "Whether the member has writes to catch up on (1) or not (0)."},
        {"p11cluster_member_missing_objects", "gauge",
         "Objects the process knows the member lacks (repair will copy them)."},
        {"p11cluster_member_replication_lag_writes", "gauge",
         "Caller writes an asynchronous member has not applied yet (0 for synchronous members)."},
        {"p11cluster_member_replication_lag_seconds", "gauge",
         "Age of the oldest write an asynchronous member has not applied yet."},
        {"p11cluster_member_replication_lag_worst_seconds", "gauge",
         "The longest an asynchronous member took to apply a write, since the process started."},
        {"p11cluster_member_call_duration_seconds", "histogram",
         "Duration of calls to the member, as the process measured them."},
    };
    for (const Family& f : families) {
        std::cout << "# HELP " << f.name << " " << f.help << "\n# TYPE " << f.name << " " << f.type
                  << "\n";
        const std::string name = f.name;
        if (name == "p11cluster_member_reachable") {
            for (const auto& node : *report["members"].as_array()) {
                const toml::table& m = *node.as_table();
                std::cout << name << "{cluster=\"" << escaped(cluster) << "\",member=\""
                          << escaped(text(m["name"])) << "\",zone=\"" << escaped(text(m["zone"]))
                          << "\",role=\"" << text(m["role"]) << "\"} "
                          << (m["reachable"].value_or(false) ? 1 : 0) << "\n";
            }
            continue;
        }
        for (const auto& pnode : *report["processes"].as_array()) {
            const toml::table& p = *pnode.as_table();
            for (const auto& mnode : *p["member"].as_array()) {
                const toml::table& m = *mnode.as_table();
                const std::string labels = "cluster=\"" + escaped(cluster) + "\",member=\"" +
                                           escaped(text(m["name"])) + "\",zone=\"" +
                                           escaped(text(m["zone"])) + "\",role=\"" +
                                           text(m["role"]) + "\",pid=\"" + text(p["pid"]) + "\"";
                const std::string health = text(m["health"]);
                auto integer = [&](const char* key) { return m[key].value_or(int64_t{0}); };
                if (name == "p11cluster_member_up") {
                    std::cout << name << "{" << labels << "} " << (health == "up" ? 1 : 0) << "\n";
                } else if (name == "p11cluster_member_health") {
                    for (const char* state : {"up", "suspect", "down", "syncing"})
                        std::cout << name << "{" << labels << ",state=\"" << state << "\"} "
                                  << (health == state ? 1 : 0) << "\n";
                } else if (name == "p11cluster_member_in_flight") {
                    std::cout << name << "{" << labels << "} " << integer("in_flight") << "\n";
                } else if (name == "p11cluster_member_operations_total") {
                    std::cout << name << "{" << labels << "} " << integer("operations") << "\n";
                } else if (name == "p11cluster_member_errors_total") {
                    std::cout << name << "{" << labels << "} " << integer("errors") << "\n";
                } else if (name == "p11cluster_member_failovers_total") {
                    std::cout << name << "{" << labels << "} " << integer("failovers") << "\n";
                } else if (name == "p11cluster_member_repairs_total") {
                    std::cout << name << "{" << labels << "} " << integer("returns") << "\n";
                } else if (name == "p11cluster_member_needs_sync") {
                    std::cout << name << "{" << labels << "} "
                              << (m["needs_sync"].value_or(false) ? 1 : 0) << "\n";
                } else if (name == "p11cluster_member_missing_objects") {
                    std::cout << name << "{" << labels << "} " << integer("missing_objects")
                              << "\n";
                } else if (name == "p11cluster_member_replication_lag_writes") {
                    std::cout << name << "{" << labels << "} " << integer("lag_writes") << "\n";
                } else if (name == "p11cluster_member_replication_lag_seconds") {
                    std::cout << name << "{" << labels << "} " << m["lag_seconds"].value_or(0.0)
                              << "\n";
                } else if (name == "p11cluster_member_replication_lag_worst_seconds") {
                    std::cout << name << "{" << labels << "} "
                              << m["lag_worst_seconds"].value_or(0.0) << "\n";
                } else if (const auto* buckets = m["latency_buckets"].as_array()) {
                    uint64_t cumulative = 0;
                    for (size_t i = 0; i < buckets->size(); ++i) {
                        cumulative += static_cast<uint64_t>((*buckets)[i].value_or(int64_t{0}));
                        std::ostringstream le;
                        if (i < LatencyHistogram::kBoundsUs.size())
                            le << static_cast<double>(LatencyHistogram::kBoundsUs[i]) / 1e6;
                        else
                            le << "+Inf";
                        std::cout << name << "_bucket{" << labels << ",le=\"" << le.str() << "\"} "
                                  << cumulative << "\n";
                    }
                    std::cout << name << "_sum{" << labels << "} "
                              << static_cast<double>(integer("latency_sum_us")) / 1e6 << "\n";
                    std::cout << name << "_count{" << labels << "} " << cumulative << "\n";
                }
            }
        }
    }
}

}  // namespace

int statusCommand(const Options& options) {
    std::string path = options.get("config");
    if (path.empty()) path = config::locate(nullptr);
    config::Config config = config::loadFile(path);
    toml::table report;
    report.insert("cluster", config.cluster.label);
    toml::array members;
    bool allReachable = true;
    for (unsigned i = 0; i < config.members.size(); ++i) {
        toml::table m = probeMember(i, config.members[i], config.cluster.callTimeoutMs);
        allReachable = allReachable && m["reachable"].value_or(false);
        members.push_back(std::move(m));
    }
    report.insert("members", std::move(members));
    report.insert("processes", processViews(config));
    if (options.has("json"))
        std::cout << toml::json_formatter{report} << "\n";
    else if (options.has("prometheus"))
        printPrometheus(report);
    else
        printHuman(report);
    return allReachable ? 0 : 1;
}

}  // namespace p11c::tool

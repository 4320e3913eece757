// p11cluster drill: a failover game day on a live cluster (docs/drill.md).
//
// It loads the cluster module in this process as an application would and
// keeps it signing and verifying (ECDSA P-256, a session key) in a thread.
// Meanwhile it takes each member out of service in turn through its member
// host (then each zone, when there are several), for --out-seconds: the host
// answers every call with CKR_DEVICE_REMOVED, as a member that failed. It
// checks that the workload saw the member go, that no call failed, that the
// member came back (repaired) within --return-seconds, and that `verify` is
// clean afterwards. It prints what it did and saw, and exits 1 if anything
// failed. --dry-run checks the cluster and prints the plan only.
#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <toml++/toml.h>

#include "config/config.h"
#include "member/member.h"
#include "tools/cli.h"
#include "util/error.h"
#include "util/rv.h"

namespace p11c::tool {
namespace {

using Clock = std::chrono::steady_clock;

struct Step {
    std::string name;  // "member a", "zone z1"
    std::vector<unsigned> members;
};

// The module, loaded as an application loads it, signing in a thread.
class Workload {
  public:
    Workload(const std::string& modulePath, const std::string& configPath, Secret& pin) {
        handle_ = ::dlopen(modulePath.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (handle_ == nullptr)
            throw std::runtime_error("cannot load the module " + modulePath + ": " + ::dlerror());
        auto get = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(handle_, "C_GetFunctionList"));
        if (get == nullptr || get(&f_) != CKR_OK)
            throw std::runtime_error(modulePath + " is not a PKCS#11 module");
        ::setenv("P11CLUSTER_CONF", configPath.c_str(), 1);
        ::setenv("P11CLUSTER_LOG", "error", 0);  // the member faults are the drill's doing
        need(f_->C_Initialize(nullptr), "C_Initialize");
        CK_SLOT_ID slot;
        CK_ULONG count = 1;
        need(f_->C_GetSlotList(CK_TRUE, &slot, &count), "C_GetSlotList");
        need(f_->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                               &session_),
             "C_OpenSession");
        CK_RV rv = f_->C_Login(session_, CKU_USER, reinterpret_cast<CK_UTF8CHAR_PTR>(pin.data()),
                               static_cast<CK_ULONG>(pin.size()));
        if (rv != CKR_USER_ALREADY_LOGGED_IN) need(rv, "C_Login");
        static const CK_BYTE kP256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
        CK_BBOOL yes = CK_TRUE;
        CK_MECHANISM gen{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
        // A token key, as services use: repair carries it to a member that
        // returns. It is destroyed when the drill ends.
        const std::string id = "p11cluster drill " + std::to_string(::getpid());
        CK_ATTRIBUTE pub[] = {{CKA_TOKEN, &yes, 1},
                              {CKA_EC_PARAMS, const_cast<CK_BYTE*>(kP256), sizeof kP256},
                              {CKA_VERIFY, &yes, 1},
                              {CKA_ID, const_cast<char*>(id.data()), id.size()}};
        CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &yes, 1},
                               {CKA_PRIVATE, &yes, 1},
                               {CKA_SIGN, &yes, 1},
                               {CKA_SENSITIVE, &yes, 1},
                               {CKA_ID, const_cast<char*>(id.data()), id.size()}};
        need(f_->C_GenerateKeyPair(session_, &gen, pub, 4, priv, 5, &public_, &private_),
             "generating the drill's key");
        thread_ = std::thread([this] { run(); });
    }
    ~Workload() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
        if (f_ != nullptr) {
            f_->C_DestroyObject(session_, private_);
            f_->C_DestroyObject(session_, public_);
            f_->C_Finalize(nullptr);
        }
        // The module stays loaded: its threads are gone, unloading gains nothing.
    }

    struct Counts {
        long ok = 0, errors = 0;
        double maxMs = 0;
        std::map<CK_RV, long> byRv;
    };
    // What the workload saw since the last call (and starts counting anew).
    Counts take() {
        std::lock_guard lock(mutex_);
        Counts out = counts_;
        counts_ = {};
        return out;
    }

  private:
    void need(CK_RV rv, const char* what) {
        if (rv != CKR_OK)
            throw std::runtime_error(std::string("the drill's workload: ") + what +
                                     " failed: " + rvName(rv));
    }
    CK_RV once() {
        CK_MECHANISM ecdsa{CKM_ECDSA, nullptr, 0};
        CK_BYTE digest[32] = {0x5a};
        CK_BYTE sig[128];
        CK_ULONG sigLen = sizeof sig;
        CK_RV rv = f_->C_SignInit(session_, &ecdsa, private_);
        if (rv == CKR_OK) rv = f_->C_Sign(session_, digest, sizeof digest, sig, &sigLen);
        if (rv == CKR_OK) rv = f_->C_VerifyInit(session_, &ecdsa, public_);
        if (rv == CKR_OK) rv = f_->C_Verify(session_, digest, sizeof digest, sig, sigLen);
        return rv;
    }
    void run() {
        while (!stop_) {
            auto start = Clock::now();
            CK_RV rv = once();
            double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
            std::lock_guard lock(mutex_);
            counts_.maxMs = std::max(counts_.maxMs, ms);
            if (rv == CKR_OK) {
                ++counts_.ok;
            } else {
                ++counts_.errors;
                ++counts_.byRv[rv];
            }
        }
    }

    void* handle_ = nullptr;
    CK_FUNCTION_LIST* f_ = nullptr;
    CK_SESSION_HANDLE session_ = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE public_ = CK_INVALID_HANDLE, private_ = CK_INVALID_HANDLE;
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    Counts counts_;
    std::thread thread_;
};

// Each member's health as the workload's module publishes it.
std::map<std::string, std::string> publishedHealth(const std::string& file) {
    std::map<std::string, std::string> out;
    try {
        toml::table status = toml::parse_file(file);
        if (auto* members = status["member"].as_array())
            for (auto& node : *members)
                if (auto* t = node.as_table())
                    out[(*t)["name"].value_or(std::string())] =
                        (*t)["health"].value_or(std::string());
    } catch (const toml::parse_error&) {
        // being rewritten: the next look reads it
    }
    return out;
}

bool allHealth(const std::string& file, const Cluster& cluster, const std::vector<unsigned>& ms,
               const std::string& wanted) {
    auto health = publishedHealth(file);
    for (unsigned m : ms)
        if (health[cluster.config().members[m].name] != wanted) return false;
    return true;
}

std::string seconds(double s) {
    std::ostringstream out;
    out << std::fixed << std::setprecision(1) << s << " s";
    return out.str();
}

}  // namespace

int drillCommand(const Options& options) {
    const bool dryRun = options.has("dry-run");
    const double outSeconds = std::stod(options.get("out-seconds", "3"));
    const double returnSeconds = std::stod(options.get("return-seconds", "60"));
    if (outSeconds <= 0 || outSeconds > 600 || returnSeconds <= 0)
        throw UsageError("--out-seconds must be in (0, 600] and --return-seconds above 0");
    std::string configPath = options.get("config");
    if (configPath.empty()) configPath = config::locate(nullptr);
    const std::string modulePath = options.get("module");
    if (modulePath.empty() && !dryRun)
        throw UsageError("drill needs --module PATH (libp11cluster.so, as applications load it)");

    auto cluster = connect(options);
    const auto& members = cluster->config().members;
    std::cout << "drill: cluster \"" << cluster->config().cluster.label << "\", " << members.size()
              << " members\n";

    // Before: every member reachable, every member behind a member host.
    unsigned problems = 0;
    for (unsigned m = 0; m < members.size(); ++m) {
        Member& member = cluster->member(m);
        CK_TOKEN_INFO info{};
        bool reachable = member.located() && member.call(&CK_FUNCTION_LIST::C_GetTokenInfo,
                                                         member.slot(), &info) == CKR_OK;
        if (!reachable) {
            ++problems;
            std::cout << "drill: FAILED before it began: member \"" << member.name()
                      << "\" cannot be reached\n";
        } else if (!members[m].remote) {
            ++problems;
            std::cout << "drill: FAILED before it began: member \"" << member.name()
                      << "\" is loaded in this process (module =); a drill takes members out "
                         "of service through their member hosts (remote =)\n";
        }
    }
    std::vector<Step> steps;
    std::map<std::string, std::vector<unsigned>> zones;
    for (unsigned m = 0; m < members.size(); ++m) {
        steps.push_back({"member " + members[m].name, {m}});
        if (!members[m].zone.empty()) zones[members[m].zone].push_back(m);
    }
    if (zones.size() > 1)
        for (auto& [zone, ms] : zones) steps.push_back({"zone " + zone, ms});
    std::cout << "drill: plan (each step: out of service for " << seconds(outSeconds)
              << " under load, back, repaired, verified):\n";
    for (const Step& step : steps) std::cout << "  - " << step.name << "\n";
    if (dryRun) {
        std::cout << "drill: dry run: nothing was taken out of service\n";
        return problems == 0 ? 0 : 1;
    }
    if (problems > 0) return 1;

    // The workload's own configuration: the same, publishing its view of
    // the members where this command can read it.
    const std::string dir = (std::filesystem::temp_directory_path() /
                             ("p11cluster-drill-" + std::to_string(::getpid())))
                                .string();
    std::filesystem::create_directories(dir);
    std::filesystem::permissions(dir, std::filesystem::perms::owner_all);
    toml::table copy = toml::parse_file(configPath);
    if (copy["cluster"].as_table() == nullptr) copy.insert_or_assign("cluster", toml::table{});
    copy["cluster"].as_table()->insert_or_assign("status_dir", dir);
    const std::string workloadConfig = dir + "/p11cluster.toml";
    std::ofstream(workloadConfig) << copy << "\n";
    const std::string statusFile =
        dir + "/" + cluster->config().cluster.label + "-" + std::to_string(::getpid()) + ".toml";

    Secret pin = readPin(options, "user");
    unsigned failed = 0;
    {
        Workload workload(modulePath, workloadConfig, pin);
        std::this_thread::sleep_for(std::chrono::seconds(1));
        auto warmup = workload.take();
        std::cout << "drill: workload ECDSA P-256 sign+verify through " << modulePath << ": "
                  << warmup.ok << " in the first second, " << warmup.errors << " errors\n";
        if (warmup.errors > 0 || warmup.ok == 0) ++failed;
        std::cout << std::left << std::setw(16) << "step" << std::setw(10) << "noticed"
                  << std::setw(10) << "ops" << std::setw(8) << "errors" << std::setw(10) << "max ms"
                  << std::setw(10) << "back in"
                  << "verify\n";
        for (const Step& step : steps) {
            workload.take();
            for (unsigned m : step.members) {
                CK_RV rv = cluster->member(m).pause(
                    static_cast<CK_ULONG>(outSeconds + returnSeconds + 10));
                if (rv != CKR_OK)
                    throw std::runtime_error("member \"" + members[m].name +
                                             "\": cannot take it out of service: " + rvName(rv));
            }
            bool noticed = false;
            auto end = Clock::now() + std::chrono::duration<double>(outSeconds);
            while (Clock::now() < end) {
                noticed = noticed || !allHealth(statusFile, *cluster, step.members, "up");
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            for (unsigned m : step.members) cluster->member(m).pause(0);
            auto back = Clock::now();
            bool returned = false;
            while (Clock::now() - back < std::chrono::duration<double>(returnSeconds)) {
                if (allHealth(statusFile, *cluster, step.members, "up")) {
                    returned = true;
                    break;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            double backIn = std::chrono::duration<double>(Clock::now() - back).count();
            auto seen = workload.take();
            std::ostringstream report;
            bool clean = verifyMembers(options, report) == 0;
            bool ok = noticed && returned && clean && seen.errors == 0 && seen.ok > 0;
            failed += !ok;
            std::cout << std::left << std::setw(16) << step.name << std::setw(10)
                      << (noticed ? "yes" : "NO") << std::setw(10) << seen.ok << std::setw(8)
                      << seen.errors << std::setw(10) << std::fixed << std::setprecision(1)
                      << seen.maxMs << std::setw(10) << (returned ? seconds(backIn) : "NOT BACK")
                      << (clean ? "clean" : "DIFFERENCES") << "\n";
            for (auto [rv, n] : seen.byRv)
                std::cout << "    error " << rvName(rv) << " x" << n << "\n";
            if (!clean) std::cout << report.str();
        }
    }
    std::filesystem::remove_all(dir);
    if (failed == 0)
        std::cout << "drill: passed (" << steps.size() << " steps)\n";
    else
        std::cout << "drill: FAILED (" << failed << " of " << steps.size() + 1
                  << " checks failed)\n";
    return failed == 0 ? 0 : 1;
}

}  // namespace p11c::tool

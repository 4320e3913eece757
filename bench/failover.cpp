// Failover figure: the worst latency a caller sees when a member is killed
// or frozen under load, and how long until the returning member serves
// again. Not a timed test: run it by hand (bench/README.md).
//
//   p11cluster-bench-failover [--threads N] [--timeout-ms MS] [--seconds S]
//
// Three SoftHSM members, each behind its own member host; N threads sign
// with ECDSA P-256 through the cluster for the whole run. Phases: steady
// (S s), member a killed (S s), a restarted (until it serves), member b
// frozen (S s), b thawed (until it serves). Latencies are per signature
// (C_SignInit + C_Sign); "serves again" is read from the module's status.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/member_host.h"
#include "support/softhsm_env.h"

using namespace p11c::test;
using Clock = std::chrono::steady_clock;

namespace {

CK_BBOOL yes = CK_TRUE;
const CK_BYTE kP256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

struct Sample {
    double at;  // seconds since start
    double ms;  // latency
    bool ok;
};

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1)))];
}

}  // namespace

int main(int argc, char** argv) {
    unsigned threads = 4, timeoutMs = 500, seconds = 3;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--threads")) threads = std::stoul(argv[i + 1]);
        if (!std::strcmp(argv[i], "--timeout-ms")) timeoutMs = std::stoul(argv[i + 1]);
        if (!std::strcmp(argv[i], "--seconds")) seconds = std::stoul(argv[i + 1]);
    }
    SoftHsmEnv env(3);
    MemberHosts hosts(env);
    std::string statusDir = env.dir() + "/status";
    ::mkdir(statusDir.c_str(), 0700);
    env.writeConfig("label = \"bench\"\nwrite_quorum = \"majority\"\ncall_timeout_ms = " +
                        std::to_string(timeoutMs) + "\nstatus_dir = \"" + statusDir + "\"\n",
                    hosts.memberTables());
    if (env.initTransportKey() != 0) return std::fprintf(stderr, "init failed\n"), 1;

    Module module(clusterModulePath());
    CK_FUNCTION_LIST* p11 = module.fn();
    CK_SLOT_ID slot;
    CK_ULONG n = 1;
    CK_SESSION_HANDLE setup;
    if (p11->C_Initialize(nullptr) != CKR_OK || p11->C_GetSlotList(CK_TRUE, &slot, &n) != CKR_OK ||
        p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &setup) !=
            CKR_OK ||
        p11->C_Login(setup, CKU_USER,
                     reinterpret_cast<CK_UTF8CHAR_PTR>(const_cast<char*>(kUserPin)),
                     std::strlen(kUserPin)) != CKR_OK)
        return std::fprintf(stderr, "cluster did not start\n"), 1;
    CK_MECHANISM gen{CKM_EC_KEY_PAIR_GEN, nullptr, 0};
    CK_ATTRIBUTE pub[] = {{CKA_TOKEN, &yes, 1},
                          {CKA_EC_PARAMS, const_cast<CK_BYTE*>(kP256), sizeof kP256}};
    CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &yes, 1}, {CKA_PRIVATE, &yes, 1}, {CKA_SIGN, &yes, 1}};
    CK_OBJECT_HANDLE pubKey, privKey;
    if (p11->C_GenerateKeyPair(setup, &gen, pub, 2, priv, 3, &pubKey, &privKey) != CKR_OK)
        return std::fprintf(stderr, "key generation failed\n"), 1;

    const auto start = Clock::now();
    auto since = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
    std::mutex mutex;
    std::vector<Sample> samples;
    std::atomic<bool> stop{false};
    std::vector<std::thread> workers;
    for (unsigned t = 0; t < threads; ++t)
        workers.emplace_back([&] {
            CK_SESSION_HANDLE s;
            p11->C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &s);
            CK_MECHANISM ecdsa{CKM_ECDSA, nullptr, 0};
            CK_BYTE digest[32] = {1}, sig[128];
            std::vector<Sample> mine;
            while (!stop) {
                double at = since();
                auto t0 = Clock::now();
                CK_ULONG len = sizeof sig;
                bool ok = p11->C_SignInit(s, &ecdsa, privKey) == CKR_OK &&
                          p11->C_Sign(s, digest, sizeof digest, sig, &len) == CKR_OK;
                mine.push_back(
                    {at, std::chrono::duration<double, std::milli>(Clock::now() - t0).count(), ok});
            }
            std::lock_guard lock(mutex);
            samples.insert(samples.end(), mine.begin(), mine.end());
        });

    auto sleepFor = [](double s) { std::this_thread::sleep_for(std::chrono::duration<double>(s)); };
    auto waitUp = [&](const std::string& member) {
        double t0 = since();
        while (publishedHealth(statusDir, "bench", member) != "up" && since() - t0 < 60)
            sleepFor(0.01);
        return since() - t0;
    };
    auto waitNotUp = [&](const std::string& member) {
        double t0 = since();
        while (publishedHealth(statusDir, "bench", member) == "up" && since() - t0 < 60)
            sleepFor(0.01);
    };
    sleepFor(seconds);
    const double killAt = since();
    hosts[0].kill();
    waitNotUp("a");
    sleepFor(seconds);
    const double restartAt = since();
    hosts[0].start();
    const double killBack = waitUp("a");
    sleepFor(1);
    const double freezeAt = since();
    hosts[1].freeze();
    waitNotUp("b");
    sleepFor(seconds);
    const double thawAt = since();
    hosts[1].thaw();
    const double freezeBack = waitUp("b");
    sleepFor(1);
    stop = true;
    for (auto& w : workers) w.join();
    p11->C_Finalize(nullptr);

    auto window = [&](double from, double to, std::vector<double>& ms, unsigned& errors) {
        for (const Sample& s : samples)
            if (s.at >= from && s.at < to) {
                ms.push_back(s.ms);
                errors += !s.ok;
            }
    };
    std::vector<double> steady, killed, frozen;
    unsigned steadyErrors = 0, killErrors = 0, freezeErrors = 0;
    window(0.5, killAt, steady, steadyErrors);
    window(killAt, freezeAt, killed, killErrors);
    window(freezeAt, since(), frozen, freezeErrors);
    std::printf(
        "p11cluster failover figure: 3 members (SoftHSM behind member hosts), %u threads "
        "signing ECDSA P-256, call_timeout_ms = %u\n\n",
        threads, timeoutMs);
    std::printf("| phase | signatures | errors | p50 ms | p99 ms | max ms |\n");
    std::printf("|---|---|---|---|---|---|\n");
    auto row = [](const char* name, std::vector<double>& v, unsigned errors) {
        std::printf("| %s | %zu | %u | %.2f | %.2f | %.2f |\n", name, v.size(), errors,
                    percentile(v, 0.5), percentile(v, 0.99), percentile(v, 1.0));
    };
    row("steady", steady, steadyErrors);
    row("member killed (SIGKILL), then restarted", killed, killErrors);
    row("member frozen (SIGSTOP), then thawed", frozen, freezeErrors);
    std::printf("\nkilled member serves again %.2f s after its host restarted (t=%.1f s)\n",
                killBack, restartAt);
    std::printf("frozen member serves again %.2f s after it was thawed (t=%.1f s)\n", freezeBack,
                thawAt);
    return killErrors + freezeErrors + steadyErrors == 0 ? 0 : 1;
}

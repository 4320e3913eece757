// p11cluster-bench: drives any PKCS#11 module with one operation from T
// threads for S seconds and prints one line of figures (bench/README.md).
//
//   p11cluster-bench --module PATH --op OP --threads T --seconds S [options]
//
// One login (user PIN) on a setup session; each worker opens its own
// session. After a warm-up, every op that completes inside the timed window
// is counted and its latency recorded in the worker's own pre-reserved
// vector (no lock in the loop). A failed call stops the run with a message
// naming the call and its CK_RV (unless --keep-going: then it is counted
// in `errors`).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "options.h"
#include "support/softhsm_env.h"
#include "workloads.h"

using namespace p11c::bench;
using Clock = std::chrono::steady_clock;

namespace {

struct Figures {
    uint64_t ops = 0, errors = 0;
    double p50 = 0, p99 = 0, max = 0;  // microseconds
};

struct Failure {
    std::mutex mutex;
    Outcome first;  // guarded by mutex
    std::atomic<bool> stop{false};
    void record(const Outcome& o) {
        std::lock_guard lock(mutex);
        if (first.rv == CKR_OK) first = o;
        stop = true;
    }
};

const char* rvName(CK_RV rv) {
    switch (rv) {
        case CKR_GENERAL_ERROR:
            return "CKR_GENERAL_ERROR";
        case CKR_HOST_MEMORY:
            return "CKR_HOST_MEMORY";
        case CKR_ARGUMENTS_BAD:
            return "CKR_ARGUMENTS_BAD";
        case CKR_DEVICE_ERROR:
            return "CKR_DEVICE_ERROR";
        case CKR_DEVICE_MEMORY:
            return "CKR_DEVICE_MEMORY";
        case CKR_FUNCTION_FAILED:
            return "CKR_FUNCTION_FAILED";
        case CKR_KEY_HANDLE_INVALID:
            return "CKR_KEY_HANDLE_INVALID";
        case CKR_MECHANISM_INVALID:
            return "CKR_MECHANISM_INVALID";
        case CKR_MECHANISM_PARAM_INVALID:
            return "CKR_MECHANISM_PARAM_INVALID";
        case CKR_OPERATION_ACTIVE:
            return "CKR_OPERATION_ACTIVE";
        case CKR_PIN_INCORRECT:
            return "CKR_PIN_INCORRECT";
        case CKR_SESSION_HANDLE_INVALID:
            return "CKR_SESSION_HANDLE_INVALID";
        case CKR_TEMPLATE_INCONSISTENT:
            return "CKR_TEMPLATE_INCONSISTENT";
        case CKR_TOKEN_NOT_PRESENT:
            return "CKR_TOKEN_NOT_PRESENT";
        case CKR_USER_NOT_LOGGED_IN:
            return "CKR_USER_NOT_LOGGED_IN";
        case CKR_BUFFER_TOO_SMALL:
            return "CKR_BUFFER_TOO_SMALL";
        case CKR_CRYPTOKI_NOT_INITIALIZED:
            return "CKR_CRYPTOKI_NOT_INITIALIZED";
        case CKR_SLOT_ID_INVALID:
            return "CKR_SLOT_ID_INVALID";
        default:
            return "CK_RV";
    }
}

int fail(const char* what, CK_RV rv) {
    std::fprintf(stderr, "p11cluster-bench: %s failed: %s (0x%lx)\n", what, rvName(rv),
                 static_cast<unsigned long>(rv));
    return 1;
}

CK_SLOT_ID firstSlotWithToken(CK_FUNCTION_LIST* p11) {
    CK_ULONG count = 0;
    if (p11->C_GetSlotList(CK_TRUE, nullptr, &count) != CKR_OK || count == 0)
        throw std::runtime_error("no slot with a token");
    std::vector<CK_SLOT_ID> slots(count);
    if (p11->C_GetSlotList(CK_TRUE, slots.data(), &count) != CKR_OK)
        throw std::runtime_error("C_GetSlotList failed");
    return slots.at(0);
}

double at(std::vector<uint64_t>& sorted, double q) {
    if (sorted.empty()) return 0;
    size_t i = static_cast<size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
    return static_cast<double>(sorted[std::min(i, sorted.size() - 1)]) / 1000.0;
}

Figures summarise(std::vector<std::vector<uint64_t>>& perThread, std::vector<uint64_t>& errors) {
    Figures f;
    std::vector<uint64_t> all;
    for (auto& v : perThread) all.insert(all.end(), v.begin(), v.end());
    for (uint64_t e : errors) f.errors += e;
    std::sort(all.begin(), all.end());
    f.ops = all.size();
    f.p50 = at(all, 0.50);
    f.p99 = at(all, 0.99);
    f.max = all.empty() ? 0 : static_cast<double>(all.back()) / 1000.0;
    return f;
}

std::string jsonString(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) continue;
        out += c;
    }
    return out + "\"";
}

void print(const Options& o, const Figures& f) {
    double rate = static_cast<double>(f.ops) / o.seconds;
    if (o.json) {
        std::printf(
            "{\"module\":%s,\"op\":%s,\"threads\":%u,\"seconds\":%g,\"ops\":%llu,"
            "\"ops_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"errors\":%llu}\n",
            jsonString(o.name).c_str(), jsonString(o.op).c_str(), o.threads, o.seconds,
            static_cast<unsigned long long>(f.ops), rate, f.p50, f.p99, f.max,
            static_cast<unsigned long long>(f.errors));
        return;
    }
    if (o.header)
        std::printf(
            "module\top\tthreads\tseconds\tops\tops_per_s\tp50_us\tp99_us\tmax_us\terrors\n");
    std::printf("%s\t%s\t%u\t%g\t%llu\t%.1f\t%.1f\t%.1f\t%.1f\t%llu\n", o.name.c_str(),
                o.op.c_str(), o.threads, o.seconds, static_cast<unsigned long long>(f.ops), rate,
                f.p50, f.p99, f.max, static_cast<unsigned long long>(f.errors));
}

int run(const Options& o) {
    std::unique_ptr<Workload> workload = makeWorkload(o.op);
    if (!workload) {
        std::fprintf(stderr, "p11cluster-bench: unknown --op %s\n%s", o.op.c_str(), usage());
        return 2;
    }
    p11c::test::Module module(o.module.c_str());
    CK_FUNCTION_LIST* p11 = module.fn();
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    if (CK_RV rv = p11->C_Initialize(&args); rv != CKR_OK) return fail("C_Initialize", rv);
    CK_SLOT_ID slot =
        o.token.empty() ? firstSlotWithToken(p11) : p11c::test::slotByLabel(p11, o.token);
    CK_SESSION_HANDLE setup = CK_INVALID_HANDLE;
    if (CK_RV rv =
            p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &setup);
        rv != CKR_OK)
        return fail("C_OpenSession", rv);
    CK_RV rv = p11->C_Login(setup, CKU_USER,
                            reinterpret_cast<CK_UTF8CHAR_PTR>(const_cast<char*>(o.pin.data())),
                            o.pin.size());
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) return fail("C_Login", rv);
    if (Outcome s = workload->setup(p11, setup, o.keyLabel); s.rv != CKR_OK)
        return fail((std::string("setup: ") + s.call).c_str(), s.rv);
    CK_TOKEN_INFO token{};
    p11->C_GetTokenInfo(slot, &token);
    std::string label(reinterpret_cast<char*>(token.label), sizeof token.label);
    label.erase(label.find_last_not_of(' ') + 1);
    std::fprintf(stderr,
                 "p11cluster-bench: %s: %s (label %s); token \"%s\" in slot %lu, %u threads, "
                 "%gs + %gs warm-up\n",
                 o.op.c_str(), workload->describe().c_str(), o.keyLabel.c_str(), label.c_str(),
                 static_cast<unsigned long>(slot), o.threads, o.seconds, o.warmup);

    Failure failure;
    std::vector<std::vector<uint64_t>> latencies(o.threads);
    std::vector<uint64_t> errors(o.threads, 0);
    std::latch ready(o.threads + 1), go(1);
    Clock::time_point t0, t1;  // written before `go` opens, read after
    auto worker = [&](unsigned index) {
        Worker w;
        w.index = index;
        workload->prepare(w);
        auto& mine = latencies[index];
        mine.reserve(static_cast<size_t>(std::min(o.seconds * 200000.0, 5e7)));
        CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
        CK_RV opened =
            p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s);
        if (opened != CKR_OK) failure.record({opened, "C_OpenSession"});
        ready.count_down();
        go.wait();
        while (opened == CKR_OK && !failure.stop.load(std::memory_order_relaxed)) {
            auto start = Clock::now();
            Outcome out = workload->once(p11, s, w);
            auto end = Clock::now();
            ++w.count;
            bool timed = end >= t0 && end < t1;
            if (out.rv != CKR_OK) {
                if (!o.keepGoing) failure.record(out);
                if (timed) ++errors[index];
            } else if (timed) {
                mine.push_back(static_cast<uint64_t>(
                    std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count()));
            }
            if (end >= t1) break;
        }
        if (opened == CKR_OK) p11->C_CloseSession(s);
    };
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < o.threads; ++i) threads.emplace_back(worker, i);
    ready.arrive_and_wait();
    t0 = Clock::now() +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmup));
    t1 = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
    go.count_down();
    for (auto& t : threads) t.join();
    p11->C_CloseSession(setup);
    p11->C_Finalize(nullptr);
    if (failure.first.rv != CKR_OK)
        return fail((o.op + ": " + failure.first.call).c_str(), failure.first.rv);
    print(o, summarise(latencies, errors));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    std::string error;
    if (!parseOptions(argc, argv, options, error)) {
        std::fprintf(stderr, "p11cluster-bench: %s\n%s", error.c_str(), usage());
        return 2;
    }
    try {
        return run(options);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "p11cluster-bench: %s\n", e.what());
        return 1;
    }
}

// The simulated network HSM (tests/support/sim_hsm.cpp, libp11c-simhsm.so):
// a token's service time and concurrency limit cap its rate however many
// threads call it, one token's queue never slows another, a length query is
// not timed, a malformed P11C_SIMHSM fails C_Initialize, and the cluster
// runs over two simulated members. Workers only count (Catch2's assertions
// are not thread-safe); the main thread checks.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <latch>
#include <thread>

#include "integration/cluster_fixture.h"
#include "integration/crypto_helpers.h"

using namespace p11c::test;
using Clock = std::chrono::steady_clock;

namespace {

const Bytes kDigest = sha256(bytesOf("simulated HSM"));

CK_RV initialize(CK_FUNCTION_LIST* p11) {
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    return p11->C_Initialize(&args);
}

// One ECDSA signature (C_SignInit + C_Sign).
CK_RV signOnce(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key) {
    CK_MECHANISM ecdsa{CKM_ECDSA, nullptr, 0};
    if (CK_RV rv = p11->C_SignInit(s, &ecdsa, key); rv != CKR_OK) return rv;
    Bytes in = kDigest;
    CK_BYTE sig[128];
    CK_ULONG size = sizeof sig;
    return p11->C_Sign(s, in.data(), in.size(), sig, &size);
}

double millisSince(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The simulated HSM over fresh member-a and member-b, each with an EC token key.
class SimHsm {
  public:
    explicit SimHsm(const char* config) : env(2), module(simHsmPath()) {
        ::setenv("P11C_SIMHSM", config, 1);  // read by C_Initialize
        REQUIRE_OK(initialize(p11()));
        for (unsigned i = 0; i < 2; ++i) {
            slots[i] = slotByLabel(p11(), env.memberLabel(i));
            REQUIRE_OK(p11()->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr,
                                            nullptr, &sessions[i]));
            REQUIRE_OK(p11()->C_Login(sessions[i], CKU_USER, pin(kUserPin), pinLen(kUserPin)));
            CK_RV rv = CKR_OK;
            keys[i] = generateEcPair(p11(), sessions[i], "sim-" + env.memberLabel(i), &rv);
            REQUIRE_OK(rv);
        }
    }
    ~SimHsm() { p11()->C_Finalize(nullptr); }
    CK_FUNCTION_LIST* p11() const { return module.fn(); }

    // Signatures per second on each token, `threads[i]` threads signing on
    // token i, all at once, for `seconds`; -1 for a token whose signing failed.
    std::vector<double> rates(std::vector<unsigned> threads, double seconds) {
        std::vector<std::atomic<long>> done(2);
        std::vector<std::atomic<bool>> failed(2);
        unsigned total = threads[0] + threads[1];
        std::latch ready(total + 1);
        std::atomic<bool> go{false};
        Clock::time_point end;
        std::vector<std::thread> workers;
        for (unsigned token = 0; token < 2; ++token)
            for (unsigned t = 0; t < threads[token]; ++t)
                workers.emplace_back([&, token] {
                    CK_SESSION_HANDLE s;
                    CK_RV rv = p11()->C_OpenSession(slots[token], CKF_SERIAL_SESSION, nullptr,
                                                    nullptr, &s);
                    ready.count_down();
                    while (!go) std::this_thread::yield();
                    while (rv == CKR_OK) {
                        rv = signOnce(p11(), s, keys[token].privateKey);
                        if (Clock::now() >= end) break;
                        if (rv == CKR_OK) ++done[token];
                    }
                    if (rv != CKR_OK) failed[token] = true;
                    p11()->C_CloseSession(s);
                });
        ready.arrive_and_wait();
        end = Clock::now() +
              std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
        go = true;
        for (auto& w : workers) w.join();
        std::vector<double> out;
        for (unsigned token = 0; token < 2; ++token)
            out.push_back(failed[token] ? -1 : static_cast<double>(done[token]) / seconds);
        return out;
    }

    SoftHsmEnv env;
    Module module;
    CK_SLOT_ID slots[2] = {};
    CK_SESSION_HANDLE sessions[2] = {};
    KeyPair keys[2];
};

}  // namespace

TEST_CASE(
    "simulated HSM: the service time and concurrency limit cap each token's rate, and one "
    "token's queue does not slow another",
    "[sim]") {
    SimHsm sim("member-a=2000us/1,member-b=2000us/2");
    // At most 500/s on member-a (one place, 2 ms each) and 1000/s on member-b
    // (two places); 10% over is allowed, down to 60% under (loaded machines).
    double alone_a = sim.rates({4, 0}, 1.0)[0];
    double alone_b = sim.rates({0, 4}, 1.0)[1];
    INFO("alone: member-a " << alone_a << "/s, member-b " << alone_b << "/s");
    CHECK(alone_a <= 550);
    CHECK(alone_a >= 300);
    CHECK(alone_b <= 1100);
    CHECK(alone_b >= 600);
    CHECK(alone_b >= 1.5 * alone_a);

    std::vector<double> both = sim.rates({4, 4}, 1.0);
    INFO("side by side: member-a " << both[0] << "/s, member-b " << both[1] << "/s");
    CHECK(both[0] <= 550);
    CHECK(both[0] >= 300);
    CHECK(both[1] <= 1100);
    CHECK(both[1] >= 600);
    // Queues that delayed each other would bring the two rates together.
    CHECK(both[1] >= 1.5 * both[0]);
}

TEST_CASE("simulated HSM: a length query is not timed, and waits for no other caller", "[sim]") {
    SimHsm sim("member-a=300ms/1");
    CK_FUNCTION_LIST* p11 = sim.p11();
    CK_OBJECT_HANDLE key = sim.keys[0].privateKey;
    CK_INFO info{};
    REQUIRE_OK(p11->C_GetInfo(&info));
    CHECK(std::string(reinterpret_cast<char*>(info.manufacturerID), 24) ==
          "p11cluster simulated HSM");

    // Another thread holds member-a's one place for 300 ms.
    std::atomic<CK_RV> busyRv{CKR_OK};
    std::thread busy([&] {
        CK_SESSION_HANDLE s;
        busyRv = p11->C_OpenSession(sim.slots[0], CKF_SERIAL_SESSION, nullptr, nullptr, &s);
        if (busyRv == CKR_OK) busyRv = signOnce(p11, s, key);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CK_MECHANISM ecdsa{CKM_ECDSA, nullptr, 0};
    CK_SESSION_HANDLE s = sim.sessions[0];
    REQUIRE_OK(p11->C_SignInit(s, &ecdsa, key));
    Bytes in = kDigest;
    CK_ULONG size = 0;
    auto start = Clock::now();
    REQUIRE_OK(p11->C_Sign(s, in.data(), in.size(), nullptr, &size));
    double query = millisSince(start);
    CHECK(size == 64);
    CHECK(query < 100);

    // The real call waits for the place, then takes its own 300 ms.
    Bytes sig(size);
    start = Clock::now();
    REQUIRE_OK(p11->C_Sign(s, in.data(), in.size(), sig.data(), &size));
    double real = millisSince(start);
    busy.join();
    CHECK_RV(busyRv.load(), CKR_OK);
    INFO("length query " << query << " ms, signature " << real << " ms");
    CHECK(real >= 450);
}

TEST_CASE("simulated HSM: a malformed P11C_SIMHSM fails C_Initialize with CKR_ARGUMENTS_BAD",
          "[sim]") {
    SoftHsmEnv env(1);
    Module module(simHsmPath());
    struct Bad {
        const char* value;
        const char* named;  // in the message
    };
    for (Bad bad : {Bad{"member-a=2000xs/1", "\"2000xs\""}, Bad{"member-a=2000us", "no '/'"},
                    Bad{"member-a=2000us/0", "\"0\""}, Bad{"=2000us/1", "label"},
                    Bad{"member-a", "no '='"}, Bad{"member-a=1us/1,", "empty entry"},
                    Bad{"member-a=1us/1,member-a=2us/1", "named twice"},
                    Bad{"*=1us/1,*=1us/2", "named twice"}, Bad{"member-a=-1us/1", "\"-1us\""},
                    Bad{"member-a=1us/1x", "\"1x\""}}) {
        ::setenv("P11C_SIMHSM", bad.value, 1);
        CK_RV rv = CKR_OK;
        std::string err = captureStderr([&] { rv = initialize(module.fn()); });
        INFO(bad.value << ": " << err);
        CHECK_RV(rv, CKR_ARGUMENTS_BAD);
        CHECK(err.find("P11C_SIMHSM") != std::string::npos);
        CHECK(err.find(bad.named) != std::string::npos);
    }
    ::setenv("P11C_SIMHSM", "member-a=1ms/2,*=10us/1", 1);
    REQUIRE_OK(initialize(module.fn()));
    CHECK(slotByLabel(module.fn(), "member-a") != CK_SLOT_ID(-1));
    module->C_Finalize(nullptr);
}

TEST_CASE("simulated HSM: the cluster runs over two simulated members and signs through them",
          "[sim]") {
    ::setenv("P11C_SIMHSM", "member-a=10ms/1,member-b=10ms/1", 1);
    ClusterFixture f(2);
    std::string tables;
    for (unsigned i = 0; i < 2; ++i)
        tables += "[[member]]\nname = \"" + std::string(1, char('a' + i)) + "\"\nmodule = \"" +
                  simHsmPath() + "\"\ntoken = \"pkcs11:token=" + f.env.memberLabel(i) + "\"\n\n";
    f.env.writeConfig("label = \"sim-cluster\"\n", tables);
    REQUIRE(f.env.initTransportKey() == 0);
    f.start();

    CK_RV rv = CKR_OK;
    KeyPair pair = generateEcPair(f.p11(), f.session, "sim-cluster-ec", &rv);
    REQUIRE_OK(rv);
    Pkey pub = ecPublicKeyFrom(attribute(f.p11(), f.session, pair.publicKey, CKA_EC_POINT));
    REQUIRE(pub);
    for (int i = 0; i < 6; ++i) {
        auto start = Clock::now();
        Bytes sig = sign(f.p11(), f.session, {CKM_ECDSA, nullptr, 0}, pair.privateKey, kDigest);
        double ms = millisSince(start);
        INFO("signature " << i << " took " << ms << " ms");
        CHECK(ms >= 9.5);  // through a simulated member's 10 ms service time
        CHECK(opensslVerifyEcdsaRaw(pub.get(), kDigest, sig));
    }
}

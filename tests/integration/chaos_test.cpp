// The chaos test: three members in their own processes, threads signing,
// encrypting, and generating and destroying keys through the cluster, while
// the test kills, freezes and restarts one member at a time, for a bounded
// time (P11C_CHAOS_SECONDS, default 30). It asserts that callers saw no
// error while a member holding their key was up, that no key was lost, that
// no destroyed key came back, and that the members agree at the end; and it
// prints what it saw.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "integration/cluster_fixture.h"
#include "integration/crypto_helpers.h"
#include "support/member_host.h"

using namespace p11c::test;
using Clock = std::chrono::steady_clock;

namespace {

CK_BBOOL yes = CK_TRUE;

struct Counts {
    std::atomic<long> signatures{0}, encryptions{0}, generated{0}, destroyed{0};
    std::mutex mutex;
    std::map<std::string, long> errors;  // "what: CKR_..." -> how many
    void error(const std::string& what, CK_RV rv) {
        std::lock_guard lock(mutex);
        ++errors[what + ": " + rvText(rv)];
    }
    long errorTotal() {
        std::lock_guard lock(mutex);
        long n = 0;
        for (auto& [k, v] : errors) n += v;
        return n;
    }
};

class Chaos {
  public:
    // Each host has its own token directory, as each HSM has its own storage.
    Chaos() : hosts_(env_, true), module_(clusterModulePath()), statusDir_(env_.dir() + "/status") {
        ::mkdir(statusDir_.c_str(), 0700);
        env_.writeConfig(
            "label = \"chaos\"\nwrite_quorum = \"majority\"\ncall_timeout_ms = 2000\n"
            "status_dir = \"" +
                statusDir_ + "\"\n",
            hosts_.memberTables());
        REQUIRE(env_.initTransportKey() == 0);
        REQUIRE_OK(p11()->C_Initialize(nullptr));
        CK_SESSION_HANDLE s = open();
        REQUIRE_OK(p11()->C_Login(s, CKU_USER, pin(kUserPin), pinLen(kUserPin)));
    }
    ~Chaos() {
        for (auto& h : hosts_.hosts) h->thaw();
        if (initialized_) p11()->C_Finalize(nullptr);
    }

    CK_FUNCTION_LIST* p11() const { return module_.fn(); }
    CK_SLOT_ID slot() {
        CK_SLOT_ID slots[2];
        CK_ULONG n = 2;
        REQUIRE_OK(p11()->C_GetSlotList(CK_TRUE, slots, &n));
        return slots[0];
    }
    CK_SESSION_HANDLE open() {
        CK_SESSION_HANDLE s;
        REQUIRE_OK(p11()->C_OpenSession(slot(), CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr,
                                        nullptr, &s));
        return s;
    }
    // For worker threads: no Catch assertions there (Catch is not
    // thread-safe); a failure is counted by the caller.
    CK_SESSION_HANDLE openQuietly(CK_SLOT_ID slot) {
        CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
        p11()->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s);
        return s;
    }
    void finalize() {
        p11()->C_Finalize(nullptr);
        initialized_ = false;
    }

    // This process's view of a member's health (published by the module).
    std::string health(const std::string& member) const {
        return publishedHealth(statusDir_, "chaos", member);
    }
    bool allUpWithin(std::chrono::seconds limit) const {
        auto deadline = Clock::now() + limit;
        while (Clock::now() < deadline) {
            if (health("a") == "up" && health("b") == "up" && health("c") == "up") return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
    }

    SoftHsmEnv env_;
    MemberHosts hosts_;
    Module module_;
    std::string statusDir_;
    bool initialized_ = true;
};

size_t countById(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, const std::string& id) {
    CK_ATTRIBUTE templ{CKA_ID, const_cast<char*>(id.data()), id.size()};
    return findObjects(p11, s, {templ}).size();
}

}  // namespace

TEST_CASE("chaos: members killed, frozen and restarted while threads work", "[.chaos]") {
    const char* env = std::getenv("P11C_CHAOS_SECONDS");
    const auto duration = std::chrono::seconds(env ? std::atoi(env) : 30);
    Chaos chaos;
    CK_FUNCTION_LIST* p11 = chaos.p11();

    CK_SESSION_HANDLE setup = chaos.open();
    CK_RV rv;
    KeyPair signingKey = generateEcPair(p11, setup, "chaos-signing", &rv);
    REQUIRE_OK(rv);
    CK_MECHANISM aesGen{CKM_AES_KEY_GEN, nullptr, 0};
    CK_ULONG len = 32;
    CK_ATTRIBUTE aesTemplate[] = {{CKA_TOKEN, &yes, 1},
                                  {CKA_VALUE_LEN, &len, sizeof len},
                                  {CKA_ENCRYPT, &yes, 1},
                                  {CKA_DECRYPT, &yes, 1},
                                  {CKA_ID, const_cast<char*>("chaos-aes"), 9}};
    CK_OBJECT_HANDLE aes;
    REQUIRE_OK(p11->C_GenerateKey(setup, &aesGen, aesTemplate, 5, &aes));

    Counts counts;
    std::atomic<bool> stop{false};
    const CK_SLOT_ID slot = chaos.slot();
    std::vector<std::thread> workers;
    for (int t = 0; t < 2; ++t)
        workers.emplace_back([&] {
            CK_SESSION_HANDLE s = chaos.openQuietly(slot);
            while (!stop) {
                if (CK_RV r = ecdsaSignAndVerify(p11, s, signingKey); r != CKR_OK)
                    counts.error("sign", r);
                else
                    ++counts.signatures;
            }
        });
    workers.emplace_back([&] {
        CK_SESSION_HANDLE s = chaos.openQuietly(slot);
        Bytes plain = bytesOf(std::string(1024, 'p'));
        while (!stop) {
            Bytes iv = randomBytes(12), aad = bytesOf("aad");
            CK_GCM_PARAMS gcm{iv.data(), iv.size(), 96, aad.data(), aad.size(), 128};
            CK_MECHANISM mech{CKM_AES_GCM, &gcm, sizeof gcm};
            CK_BYTE cipher[1100], back[1100];
            CK_ULONG cipherLen = sizeof cipher, backLen = sizeof back;
            CK_RV r = p11->C_EncryptInit(s, &mech, aes);
            if (r == CKR_OK) r = p11->C_Encrypt(s, plain.data(), plain.size(), cipher, &cipherLen);
            if (r == CKR_OK) r = p11->C_DecryptInit(s, &mech, aes);
            if (r == CKR_OK) r = p11->C_Decrypt(s, cipher, cipherLen, back, &backLen);
            if (r == CKR_OK && Bytes(back, back + backLen) != plain) r = CKR_GENERAL_ERROR;
            if (r != CKR_OK)
                counts.error("encrypt", r);
            else
                ++counts.encryptions;
        }
    });
    std::mutex keysMutex;
    std::set<std::string> kept, gone;
    workers.emplace_back([&] {
        CK_SESSION_HANDLE s = chaos.openQuietly(slot);
        for (int n = 0; !stop; ++n) {
            std::string id = "chaos-key-" + std::to_string(n);
            CK_RV r;
            KeyPair key = generateEcPair(p11, s, id, &r);
            if (r != CKR_OK) {
                counts.error("generate", r);
                continue;
            }
            ++counts.generated;
            if (CK_RV used = ecdsaSignAndVerify(p11, s, key); used != CKR_OK)
                counts.error("use new key", used);
            if (n % 2 == 0) {  // keep every other key, destroy the rest
                std::lock_guard lock(keysMutex);
                kept.insert(id);
                continue;
            }
            r = p11->C_DestroyObject(s, key.privateKey);
            if (r == CKR_OK) r = p11->C_DestroyObject(s, key.publicKey);
            if (r != CKR_OK) {
                counts.error("destroy", r);
                std::lock_guard lock(keysMutex);
                kept.insert(id);  // still there: must not be lost either
                continue;
            }
            ++counts.destroyed;
            std::lock_guard lock(keysMutex);
            gone.insert(id);
        }
    });

    // One member at a time: kill and restart, freeze and thaw, or restart.
    std::mt19937 random(std::random_device{}());
    int kills = 0, freezes = 0, restarts = 0;
    const auto end = Clock::now() + duration;
    bool converged = true;
    while (Clock::now() < end) {
        MemberHost& victim = chaos.hosts_[random() % 3];
        auto pause = std::chrono::milliseconds(1000 + random() % 3000);
        switch (random() % 3) {
            case 0:
                victim.kill();
                ++kills;
                std::this_thread::sleep_for(pause);
                victim.start();
                break;
            case 1:
                victim.freeze();
                ++freezes;
                std::this_thread::sleep_for(pause);
                victim.thaw();
                break;
            default:
                victim.restart();
                ++restarts;
                break;
        }
        // The next fault waits until every member serves again. A call stuck
        // on a member that was frozen is noticed only at its deadline: wait
        // that long first, so that one fault is over before the next begins.
        std::this_thread::sleep_for(std::chrono::milliseconds(2500));
        if (!chaos.allUpWithin(std::chrono::seconds(30))) {
            converged = false;
            std::cout << "chaos: no convergence; health a=" << chaos.health("a")
                      << " b=" << chaos.health("b") << " c=" << chaos.health("c") << "\n";
            for (auto& h : chaos.hosts_.hosts) {
                int status = 0;
                if (::waitpid(h->pid(), &status, WNOHANG) == h->pid())
                    std::cout << "chaos: host " << h->pid()
                              << " ended: " << (WIFSIGNALED(status) ? "signal " : "exit ")
                              << (WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status))
                              << "\n";
                std::string ps = "ps -o pid,stat,nlwp,pcpu -p " + std::to_string(h->pid()) +
                                 " | tail -1; tail -3 " + h->logPath();
                std::fflush(stdout);
                [[maybe_unused]] int ignored = std::system(ps.c_str());
            }
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    stop = true;
    for (auto& w : workers) w.join();

    std::cout << "chaos: " << duration.count() << " s, " << kills << " kills, " << freezes
              << " freezes, " << restarts << " restarts; " << counts.signatures << " signatures, "
              << counts.encryptions << " encryptions, " << counts.generated << " keys generated, "
              << counts.destroyed << " destroyed; " << counts.errorTotal()
              << " caller-visible errors\n";
    for (auto& [what, n] : counts.errors) std::cout << "  error " << what << " x" << n << "\n";

    CHECK(converged);
    CHECK(counts.errorTotal() == 0);
    CHECK(counts.signatures > 0);
    CHECK(counts.generated > 0);
    // No key lost, no destroyed key back (the members were repaired first).
    REQUIRE(chaos.allUpWithin(std::chrono::seconds(30)));
    CK_SESSION_HANDLE check = chaos.open();
    long lost = 0, back = 0;
    for (const auto& id : kept)
        if (size_t n = countById(p11, check, id); n != 2) {
            ++lost;
            std::cout << "  kept key " << id << ": " << n << " objects instead of 2\n";
        }
    for (const auto& id : gone)
        if (size_t n = countById(p11, check, id); n != 0) {
            ++back;
            std::cout << "  destroyed key " << id << ": " << n << " objects back\n";
        }
    std::cout << "chaos: " << kept.size() << " kept keys checked (" << lost << " lost), "
              << gone.size() << " destroyed keys checked (" << back << " back)\n";
    CHECK(lost == 0);
    CHECK(back == 0);
    // SoftHSM's file store is not crash-atomic: a member host killed while
    // it wrote an object can leave a file that its next process finds only
    // when it scans the token again. Restart each host once, as an operator
    // would after the storm, so that every member shows what it holds; the
    // tombstones remove what was destroyed meanwhile.
    for (auto& h : chaos.hosts_.hosts) {
        h->restart();
        REQUIRE(chaos.allUpWithin(std::chrono::seconds(30)));
    }
    // The members agree once the last repair ran (polled while the cluster
    // lives: a write at the very end may have asked for one).
    std::string report;
    bool verified = chaos.env_.verifiesWithin(30, &report);
    INFO(report);
    CHECK(verified);
    chaos.finalize();
}

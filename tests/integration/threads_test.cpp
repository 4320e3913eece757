// Threads: many sessions working at once through the cluster. Worker threads
// make raw PKCS#11 calls and only record what happened (Catch2's assertions
// are not thread-safe); the main thread checks every result afterwards.
#include <atomic>
#include <latch>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "integration/cluster_fixture.h"
#include "integration/crypto_helpers.h"

using namespace p11c::test;

namespace {

// Problems seen by worker threads, checked by the main thread.
class Problems {
  public:
    void add(const std::string& what) {
        std::lock_guard lock(mutex_);
        if (list_.size() < 20) list_.push_back(what);
        ++count_;
    }
    void check(CK_RV rv, CK_RV expected, const std::string& what) {
        if (rv != expected) add(what + " gave " + rvText(rv) + ", expected " + rvText(expected));
    }
    size_t count() const { return count_; }
    std::string text() const {
        std::string out;
        for (const auto& line : list_) out += line + "\n";
        return out;
    }

  private:
    std::mutex mutex_;
    std::vector<std::string> list_;
    std::atomic<size_t> count_{0};
};

struct Signature {
    Bytes digest, value;
};

// One ECDSA signature with raw calls; records problems instead of asserting.
bool signOnce(CK_FUNCTION_LIST* p11, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, const Bytes& digest,
              Signature& out, Problems& problems) {
    CK_MECHANISM ecdsa{CKM_ECDSA, nullptr, 0};
    CK_RV rv = p11->C_SignInit(s, &ecdsa, key);
    problems.check(rv, CKR_OK, "C_SignInit");
    if (rv != CKR_OK) return false;
    Bytes in = digest, sig(64);
    CK_ULONG size = sig.size();
    rv = p11->C_Sign(s, in.data(), in.size(), sig.data(), &size);
    problems.check(rv, CKR_OK, "C_Sign");
    if (rv != CKR_OK) return false;
    sig.resize(size);
    out = {digest, sig};
    return true;
}

size_t unverified(const EVP_PKEY* key, const std::vector<Signature>& signatures) {
    size_t bad = 0;
    for (const Signature& s : signatures)
        if (!opensslVerifyEcdsaRaw(key, s.digest, s.value)) ++bad;
    return bad;
}

}  // namespace

TEST_CASE("four threads sign 100 times each in their own sessions and every signature verifies") {
    ClusterFixture f;
    f.start();
    Pkey key = generateEcP256();
    KeyPair pair = importEc(f.p11(), f.session, key.get(), "threads", "threads-ec");
    const CK_SLOT_ID slot = f.slot();
    CK_FUNCTION_LIST* p11 = f.p11();

    constexpr int kThreads = 4, kEach = 100;
    std::vector<std::vector<Signature>> made(kThreads);
    Problems problems;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            CK_SESSION_HANDLE s;
            CK_RV rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &s);
            problems.check(rv, CKR_OK, "C_OpenSession");
            if (rv != CKR_OK) return;
            for (int i = 0; i < kEach; ++i) {
                Signature sig;
                Bytes digest =
                    sha256(bytesOf("thread " + std::to_string(t) + " #" + std::to_string(i)));
                if (signOnce(p11, s, pair.privateKey, digest, sig, problems))
                    made[t].push_back(sig);
            }
            problems.check(p11->C_CloseSession(s), CKR_OK, "C_CloseSession");
        });
    }
    for (auto& thread : threads) thread.join();

    INFO(problems.text());
    CHECK(problems.count() == 0);
    for (int t = 0; t < kThreads; ++t) {
        INFO("thread " << t);
        CHECK(made[t].size() == kEach);
        CHECK(unverified(key.get(), made[t]) == 0);
    }
}

TEST_CASE("threads share one login while another thread opens and closes sessions") {
    ClusterFixture f;
    f.start();  // the login every thread relies on
    Pkey key = generateEcP256();
    KeyPair pair = importEc(f.p11(), f.session, key.get(), "shared-login", "shared-login");
    const CK_SLOT_ID slot = f.slot();
    CK_FUNCTION_LIST* p11 = f.p11();

    constexpr int kSigners = 3, kEach = 60, kChurn = 150;
    std::vector<std::vector<Signature>> made(kSigners);
    Problems problems;
    std::atomic<bool> signersDone{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kSigners; ++t) {
        threads.emplace_back([&, t] {
            CK_SESSION_HANDLE s;
            CK_RV rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &s);
            problems.check(rv, CKR_OK, "signer C_OpenSession");
            if (rv != CKR_OK) return;
            for (int i = 0; i < kEach; ++i) {
                CK_SESSION_INFO info{};
                problems.check(p11->C_GetSessionInfo(s, &info), CKR_OK, "signer C_GetSessionInfo");
                if (info.state != CKS_RO_USER_FUNCTIONS)
                    problems.add("signer saw state " + std::to_string(info.state));
                Signature sig;
                Bytes digest =
                    sha256(bytesOf("signer " + std::to_string(t) + "/" + std::to_string(i)));
                if (signOnce(p11, s, pair.privateKey, digest, sig, problems))
                    made[t].push_back(sig);
            }
            p11->C_CloseSession(s);
        });
    }
    std::thread churn([&] {
        for (int i = 0; i < kChurn || !signersDone.load(); ++i) {
            const bool rw = i % 2 == 0;
            CK_SESSION_HANDLE s;
            CK_RV rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0),
                                          nullptr, nullptr, &s);
            problems.check(rv, CKR_OK, "churn C_OpenSession");
            if (rv != CKR_OK) continue;
            CK_SESSION_INFO info{};
            problems.check(p11->C_GetSessionInfo(s, &info), CKR_OK, "churn C_GetSessionInfo");
            if (info.state != (rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS))
                problems.add("churn session saw state " + std::to_string(info.state));
            CK_BYTE random[16];
            problems.check(p11->C_GenerateRandom(s, random, sizeof random), CKR_OK,
                           "churn C_GenerateRandom");
            problems.check(p11->C_CloseSession(s), CKR_OK, "churn C_CloseSession");
        }
    });
    for (auto& thread : threads) thread.join();
    signersDone = true;
    churn.join();

    INFO(problems.text());
    CHECK(problems.count() == 0);
    for (int t = 0; t < kSigners; ++t) {
        CHECK(made[t].size() == kEach);
        CHECK(unverified(key.get(), made[t]) == 0);
    }
    CK_SESSION_INFO info{};
    REQUIRE_OK(p11->C_GetSessionInfo(f.session, &info));
    CHECK(info.state == CKS_RW_USER_FUNCTIONS);
    CK_TOKEN_INFO token{};
    REQUIRE_OK(p11->C_GetTokenInfo(slot, &token));
    CHECK(token.ulSessionCount == 1);
}

TEST_CASE("multi-part AES operations in concurrent sessions do not disturb each other") {
    ClusterFixture f;
    f.start();
    const Bytes value = randomBytes(32);
    Template t = aesTemplate(value, "threads-aes", "threads-aes");
    CK_OBJECT_HANDLE key = createObject(f.p11(), f.session, t);
    const CK_SLOT_ID slot = f.slot();
    CK_FUNCTION_LIST* p11 = f.p11();

    struct Round {
        Bytes iv, plain, cipher;
    };
    constexpr int kThreads = 4, kRounds = 25;
    std::vector<std::vector<Round>> rounds(kThreads);
    for (auto& list : rounds)
        for (int i = 0; i < kRounds; ++i)
            list.push_back({randomBytes(16), randomBytes(50 + i), {}});
    Problems problems;
    std::vector<std::thread> threads;
    for (int n = 0; n < kThreads; ++n) {
        threads.emplace_back([&, n] {
            CK_SESSION_HANDLE s;
            if (p11->C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &s) != CKR_OK) {
                problems.add("C_OpenSession failed");
                return;
            }
            for (Round& r : rounds[n]) {
                CK_MECHANISM cbc{CKM_AES_CBC_PAD, r.iv.data(), 16};
                problems.check(p11->C_EncryptInit(s, &cbc, key), CKR_OK, "C_EncryptInit");
                for (size_t at = 0; at < r.plain.size(); at += 17) {
                    CK_BYTE out[64];
                    CK_ULONG size = sizeof out;
                    CK_ULONG part = std::min<CK_ULONG>(17, r.plain.size() - at);
                    problems.check(p11->C_EncryptUpdate(s, r.plain.data() + at, part, out, &size),
                                   CKR_OK, "C_EncryptUpdate");
                    r.cipher.insert(r.cipher.end(), out, out + size);
                }
                CK_BYTE last[32];
                CK_ULONG size = sizeof last;
                problems.check(p11->C_EncryptFinal(s, last, &size), CKR_OK, "C_EncryptFinal");
                r.cipher.insert(r.cipher.end(), last, last + size);
            }
            p11->C_CloseSession(s);
        });
    }
    for (auto& thread : threads) thread.join();

    INFO(problems.text());
    CHECK(problems.count() == 0);
    size_t wrong = 0;
    for (const auto& list : rounds)
        for (const Round& r : list)
            if (r.cipher != opensslAes256CbcPad(true, value, r.iv, r.plain)) ++wrong;
    CHECK(wrong == 0);
}

TEST_CASE("objects created and destroyed from several threads end up the same on every member") {
    ClusterFixture f;
    f.start();
    const CK_SLOT_ID slot = f.slot();
    CK_FUNCTION_LIST* p11 = f.p11();
    constexpr int kThreads = 4, kEach = 10;
    Problems problems;
    std::vector<std::thread> threads;
    for (int n = 0; n < kThreads; ++n) {
        threads.emplace_back([&, n] {
            CK_SESSION_HANDLE s;
            if (p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr,
                                   &s) != CKR_OK) {
                problems.add("C_OpenSession failed");
                return;
            }
            for (int i = 0; i < kEach; ++i) {
                std::string label = "t" + std::to_string(n) + "-" + std::to_string(i);
                Template t = dataTemplate("threads-objects", label, bytesOf(label));
                CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
                CK_RV rv = p11->C_CreateObject(s, t.data(), t.size(), &h);
                problems.check(rv, CKR_OK, "C_CreateObject " + label);
                if (rv == CKR_OK && i % 2 == 1)  // keep the even ones
                    problems.check(p11->C_DestroyObject(s, h), CKR_OK, "C_DestroyObject " + label);
            }
            p11->C_CloseSession(s);
        });
    }
    for (auto& thread : threads) thread.join();
    INFO(problems.text());
    REQUIRE(problems.count() == 0);

    std::set<std::string> expected;
    for (int n = 0; n < kThreads; ++n)
        for (int i = 0; i < kEach; i += 2)
            expected.insert("t" + std::to_string(n) + "-" + std::to_string(i));
    CK_OBJECT_CLASS cls = CKO_DATA;
    auto labelsSeen = [&](CK_FUNCTION_LIST* fn, CK_SESSION_HANDLE s) {
        std::set<std::string> labels;
        for (CK_OBJECT_HANDLE h : findObjects(fn, s, {{CKA_CLASS, &cls, sizeof cls}}))
            labels.insert(textOf(attribute(fn, s, h, CKA_LABEL)));
        return labels;
    };
    CHECK(labelsSeen(p11, f.session) == expected);
    f.finalize();
    DirectMembers direct(f.env);
    for (unsigned m = 0; m < f.env.members(); ++m) {
        INFO("member " << f.env.memberLabel(m));
        CHECK(labelsSeen(direct.p11(), direct.sessions[m]) == expected);
    }
}

TEST_CASE("threads finding objects from an earlier life at once get one handle per object") {
    ClusterFixture f;
    f.start();
    constexpr int kObjects = 60, kThreads = 4;
    for (int i = 0; i < kObjects; ++i) {
        Template t = dataTemplate("earlier-life", "found-" + std::to_string(i), bytesOf("v"));
        createObject(f.p11(), f.session, t);
    }
    f.finalize();
    f.start();  // a new life: the cluster has not seen these objects yet
    const CK_SLOT_ID slot = f.slot();
    CK_FUNCTION_LIST* p11 = f.p11();

    std::vector<std::map<std::string, CK_OBJECT_HANDLE>> seen(kThreads);
    Problems problems;
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int n = 0; n < kThreads; ++n) {
        threads.emplace_back([&, n] {
            CK_SESSION_HANDLE s;
            if (p11->C_OpenSession(slot, CKF_SERIAL_SESSION, nullptr, nullptr, &s) != CKR_OK) {
                problems.add("C_OpenSession failed");
                start.count_down();
                return;
            }
            CK_OBJECT_CLASS cls = CKO_DATA;
            CK_ATTRIBUTE templ{CKA_CLASS, &cls, sizeof cls};
            start.arrive_and_wait();
            problems.check(p11->C_FindObjectsInit(s, &templ, 1), CKR_OK, "C_FindObjectsInit");
            CK_OBJECT_HANDLE found[128];
            CK_ULONG count = 0;
            problems.check(p11->C_FindObjects(s, found, 128, &count), CKR_OK, "C_FindObjects");
            p11->C_FindObjectsFinal(s);
            for (CK_ULONG i = 0; i < count; ++i) {
                char label[64];
                CK_ATTRIBUTE attr{CKA_LABEL, label, sizeof label};
                problems.check(p11->C_GetAttributeValue(s, found[i], &attr, 1), CKR_OK,
                               "C_GetAttributeValue");
                seen[n][std::string(
                    label, attr.ulValueLen == CK_UNAVAILABLE_INFORMATION ? 0 : attr.ulValueLen)] =
                    found[i];
            }
            p11->C_CloseSession(s);
        });
    }
    for (auto& thread : threads) thread.join();
    INFO(problems.text());
    CHECK(problems.count() == 0);
    size_t differing = 0;
    for (int n = 0; n < kThreads; ++n) {
        CHECK(seen[n].size() == kObjects);
        if (seen[n] != seen[0]) ++differing;
    }
    CHECK(differing == 0);
    // And a find now, from any session, gives the same handles again.
    std::map<std::string, CK_OBJECT_HANDLE> now;
    CK_OBJECT_CLASS cls = CKO_DATA;
    for (CK_OBJECT_HANDLE h : findObjects(p11, f.session, {{CKA_CLASS, &cls, sizeof cls}}))
        now[textOf(attribute(p11, f.session, h, CKA_LABEL))] = h;
    CHECK(now == seen[0]);
}

// p11cluster-bench-memory: resident memory of a process that loads a PKCS#11
// module, logs in and reads every object on the token (bench/compare.sh).
//
//   p11cluster-bench-memory --module PATH [--token LABEL] [--name NAME]
//       prints: name rss_before_kib rss_after_kib objects
//   p11cluster-bench-memory --module PATH --token LABEL --fill N
//       first puts N private token data objects on the token
//
// "After" is read once the module has been initialised, a user is logged in
// and the label of every object was read (as an application that lists its
// keys does), so the module's own records of the objects are in memory.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "support/softhsm_env.h"

using namespace p11c::test;

namespace {

long rssKib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

int fail(const char* what, CK_RV rv) {
    std::fprintf(stderr, "p11cluster-bench-memory: %s failed: %s\n", what, rvText(rv).c_str());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::string module, token, name;
    long fill = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--module"))
            module = argv[i + 1];
        else if (!std::strcmp(argv[i], "--token"))
            token = argv[i + 1];
        else if (!std::strcmp(argv[i], "--name"))
            name = argv[i + 1];
        else if (!std::strcmp(argv[i], "--fill"))
            fill = std::stol(argv[i + 1]);
        else {
            std::fprintf(stderr, "p11cluster-bench-memory: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (module.empty()) {
        std::fprintf(stderr,
                     "usage: p11cluster-bench-memory --module PATH [--token LABEL] "
                     "[--name NAME] [--fill N]\n");
        return 2;
    }
    const long before = rssKib();
    Module p11(module.c_str());
    CK_C_INITIALIZE_ARGS args{};
    args.flags = CKF_OS_LOCKING_OK;
    if (CK_RV rv = p11->C_Initialize(&args); rv != CKR_OK) return fail("C_Initialize", rv);
    CK_SLOT_ID slot = 0;
    if (!token.empty()) {
        slot = slotByLabel(p11.fn(), token);
    } else {
        CK_ULONG n = 1;
        if (CK_RV rv = p11->C_GetSlotList(CK_TRUE, &slot, &n);
            rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)
            return fail("C_GetSlotList", rv);
    }
    CK_SESSION_HANDLE s;
    if (CK_RV rv =
            p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr, nullptr, &s);
        rv != CKR_OK)
        return fail("C_OpenSession", rv);
    CK_UTF8CHAR pin[] = "1234";
    if (CK_RV rv = p11->C_Login(s, CKU_USER, pin, 4); rv != CKR_OK) return fail("C_Login", rv);
    if (fill > 0) {
        CK_OBJECT_CLASS cls = CKO_DATA;
        CK_BBOOL yes = CK_TRUE;
        CK_BYTE value[32] = {};
        for (long i = 0; i < fill; ++i) {
            std::string label = "bench-fill-" + std::to_string(i);
            std::memcpy(value, &i, sizeof i);
            CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls},
                                {CKA_TOKEN, &yes, sizeof yes},
                                {CKA_PRIVATE, &yes, sizeof yes},
                                {CKA_LABEL, label.data(), label.size()},
                                {CKA_VALUE, value, sizeof value}};
            CK_OBJECT_HANDLE h;
            if (CK_RV rv = p11->C_CreateObject(s, t, 5, &h); rv != CKR_OK)
                return fail("C_CreateObject", rv);
        }
    }
    std::vector<CK_OBJECT_HANDLE> objects = findObjects(p11.fn(), s);
    for (CK_OBJECT_HANDLE h : objects) {
        char label[128];
        CK_ATTRIBUTE a = {CKA_LABEL, label, sizeof label};
        p11->C_GetAttributeValue(s, h, &a, 1);
    }
    const long after = rssKib();
    std::printf("%s\t%ld\t%ld\t%zu\n", name.empty() ? module.c_str() : name.c_str(), before, after,
                objects.size());
    p11->C_Logout(s);
    p11->C_Finalize(nullptr);
    return 0;
}

// Test support: fresh SoftHSM member tokens and PKCS#11 modules loaded by path.
//
// SoftHsmEnv makes a temporary token directory with N initialised tokens
// (labels member-a, member-b, ...), points SOFTHSM2_CONF at it, writes a
// cluster configuration naming them and points P11CLUSTER_CONF at that.
// SoftHSM reads SOFTHSM2_CONF once per C_Initialize, so one process uses one
// environment at a time (ctest runs every test case in its own process).
#pragma once

#include <pkcs11.h>

#include <string>
#include <vector>

namespace p11c::test {

inline constexpr const char* kUserPin = "1234";
inline constexpr const char* kSoPin = "5678";
const char* softhsmPath();        // the SoftHSM module
const char* clusterModulePath();  // libp11cluster.so under test
const char* toolPath();           // the p11cluster command under test
const char* simHsmPath();         // the simulated network HSM (sim_hsm.cpp)

class SoftHsmEnv {
  public:
    explicit SoftHsmEnv(unsigned members = 3);
    ~SoftHsmEnv();
    SoftHsmEnv(const SoftHsmEnv&) = delete;
    SoftHsmEnv& operator=(const SoftHsmEnv&) = delete;

    const std::string& dir() const { return dir_; }
    const std::string& configPath() const { return configPath_; }
    std::string memberLabel(unsigned i) const { return std::string("member-") + char('a' + i); }
    unsigned members() const { return members_; }

    // The [[member]] tables for every token (extra lines go into each).
    std::string memberTables(const std::string& extra = "") const;
    // Writes the configuration: `cluster` is the body of [cluster].
    void writeConfig(const std::string& cluster = "label = \"test-cluster\"\n",
                     const std::string& members = "");
    // Writes any text as the configuration file.
    void writeRawConfig(const std::string& text);
    // Runs `p11cluster init` (the transport key on every member), as an
    // operator would; returns the command's exit status.
    int initTransportKey() const;
    // Runs `p11cluster ARGS --config <this env's>` with P11C_TEST_SO_PIN and
    // P11C_TEST_USER_PIN set to the test PINs; returns its exit status and
    // puts what it printed (stdout and stderr) in `output`.
    int tool(const std::string& args, std::string* output = nullptr) const;
    // Runs `p11cluster verify`; returns its exit status and puts its
    // standard output in `output`.
    int verify(std::string* output = nullptr) const;
    // Runs `p11cluster verify` until it is clean (repair runs in the
    // background) or `seconds` pass; true when clean. `output` gets the
    // last report.
    bool verifiesWithin(int seconds, std::string* output = nullptr) const;
    // Adds one more initialised token; returns its label.
    std::string addToken(const std::string& label);

  private:
    std::string dir_;
    std::string configPath_;
    unsigned members_;
};

// Adds `lines` to the [[member]] table named `name` in `tables` (as
// memberTables writes them); throws std::invalid_argument if there is none.
std::string withMemberLines(std::string tables, const std::string& name, const std::string& lines);

// A PKCS#11 module loaded with dlopen.
class Module {
  public:
    explicit Module(const char* path);
    ~Module();
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;
    CK_FUNCTION_LIST* operator->() const { return fn_; }
    CK_FUNCTION_LIST* fn() const { return fn_; }
    void* handle() const { return handle_; }

  private:
    void* handle_ = nullptr;
    CK_FUNCTION_LIST* fn_ = nullptr;
};

// Runs fn with stderr captured; returns what was written to it.
template <class Fn>
std::string captureStderr(Fn&& fn);
std::string captureStderrImpl(void (*call)(void*), void* context);
template <class Fn>
std::string captureStderr(Fn&& fn) {
    return captureStderrImpl([](void* c) { (*static_cast<Fn*>(c))(); }, &fn);
}

// The slot of the token labelled `label` in module `fn`; throws if none.
CK_SLOT_ID slotByLabel(CK_FUNCTION_LIST* fn, const std::string& label);

// Every object handle matching a template (C_FindObjects* to completion).
std::vector<CK_OBJECT_HANDLE> findObjects(CK_FUNCTION_LIST* fn, CK_SESSION_HANDLE session,
                                          std::vector<CK_ATTRIBUTE> templ = {});

// One attribute's value (empty when the object lacks it).
std::vector<CK_BYTE> attribute(CK_FUNCTION_LIST* fn, CK_SESSION_HANDLE session,
                               CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type);

std::string rvText(CK_RV rv);

}  // namespace p11c::test

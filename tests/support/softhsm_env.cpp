#include "support/softhsm_env.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace p11c::test {

const char* softhsmPath() {
    return P11C_SOFTHSM_PATH;
}
const char* clusterModulePath() {
    return P11C_MODULE_PATH;
}
const char* toolPath() {
    return P11C_TOOL_PATH;
}
const char* simHsmPath() {
    return P11C_SIMHSM_PATH;
}

namespace {

void run(const std::string& command) {
    if (std::system((command + " >/dev/null").c_str()) != 0)
        throw std::runtime_error("command failed: " + command);
}

}  // namespace

SoftHsmEnv::SoftHsmEnv(unsigned members) : members_(members) {
    char pattern[] = "/tmp/p11cluster-test-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    std::filesystem::create_directories(dir_ + "/tokens");
    {
        std::ofstream conf(dir_ + "/softhsm2.conf");
        conf << "directories.tokendir = " << dir_ << "/tokens\n"
             << "objectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n";
    }
    ::setenv("SOFTHSM2_CONF", (dir_ + "/softhsm2.conf").c_str(), 1);
    for (unsigned i = 0; i < members; ++i) addToken(memberLabel(i));
    configPath_ = dir_ + "/cluster.toml";
    ::setenv("P11CLUSTER_CONF", configPath_.c_str(), 1);
    writeConfig();
}

SoftHsmEnv::~SoftHsmEnv() {
    std::error_code ignored;
    if (std::getenv("P11C_KEEP_TEST_DIRS") == nullptr) std::filesystem::remove_all(dir_, ignored);
}

int SoftHsmEnv::initTransportKey() const {
    ::setenv("P11C_TEST_SO_PIN", kSoPin, 1);
    ::setenv("P11C_TEST_USER_PIN", kUserPin, 1);
    std::string command = std::string(toolPath()) + " init --config " + configPath_ +
                          " --so-pin-env P11C_TEST_SO_PIN --user-pin-env=P11C_TEST_USER_PIN"
                          " >/dev/null";
    return std::system(command.c_str());
}

int SoftHsmEnv::tool(const std::string& args, std::string* output) const {
    ::setenv("P11C_TEST_SO_PIN", kSoPin, 1);
    ::setenv("P11C_TEST_USER_PIN", kUserPin, 1);
    std::string out = dir_ + "/tool.out";
    std::string command =
        std::string(toolPath()) + " " + args + " --config " + configPath_ + " >" + out + " 2>&1";
    int status = std::system(command.c_str());
    if (output != nullptr) {
        std::ifstream in(out);
        std::ostringstream text;
        text << in.rdbuf();
        *output = text.str();
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int SoftHsmEnv::verify(std::string* output) const {
    return tool("verify --user-pin-env P11C_TEST_USER_PIN", output);
}

std::string SoftHsmEnv::addToken(const std::string& label) {
    run("softhsm2-util --init-token --free --label " + label + " --pin " + kUserPin + " --so-pin " +
        kSoPin);
    return label;
}

std::string withMemberLines(std::string tables, const std::string& name, const std::string& lines) {
    const size_t at = tables.find("name = \"" + name + "\"");
    if (at == std::string::npos) throw std::invalid_argument("no member table named " + name);
    tables.insert(tables.find('\n', at) + 1, lines);
    return tables;
}

std::string SoftHsmEnv::memberTables(const std::string& extra) const {
    std::ostringstream out;
    for (unsigned i = 0; i < members_; ++i) {
        out << "[[member]]\nname = \"" << char('a' + i) << "\"\nmodule = \"" << softhsmPath()
            << "\"\ntoken = \"pkcs11:token=" << memberLabel(i) << "\"\n"
            << extra << "\n";
    }
    return out.str();
}

void SoftHsmEnv::writeConfig(const std::string& cluster, const std::string& members) {
    writeRawConfig("[cluster]\n" + cluster + "\n" + (members.empty() ? memberTables() : members));
}

void SoftHsmEnv::writeRawConfig(const std::string& text) {
    std::ofstream out(configPath_, std::ios::trunc);
    out << text;
}

bool SoftHsmEnv::verifiesWithin(int seconds, std::string* output) const {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    for (;;) {
        if (verify(output) == 0) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
}

Module::Module(const char* path) {
    handle_ = ::dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr) throw std::runtime_error(std::string("dlopen: ") + ::dlerror());
    auto get = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(handle_, "C_GetFunctionList"));
    if (get == nullptr || get(&fn_) != CKR_OK) throw std::runtime_error("no function list");
}

Module::~Module() {
    if (handle_ != nullptr) ::dlclose(handle_);
}

std::string captureStderrImpl(void (*call)(void*), void* context) {
    std::fflush(stderr);
    char path[] = "/tmp/p11cluster-stderr-XXXXXX";
    int fd = ::mkstemp(path);
    int saved = ::dup(STDERR_FILENO);
    ::dup2(fd, STDERR_FILENO);
    call(context);
    std::fflush(stderr);
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    ::close(fd);
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    ::unlink(path);
    return text.str();
}

CK_SLOT_ID slotByLabel(CK_FUNCTION_LIST* fn, const std::string& label) {
    CK_ULONG count = 0;
    fn->C_GetSlotList(CK_TRUE, nullptr, &count);
    std::vector<CK_SLOT_ID> slots(count);
    fn->C_GetSlotList(CK_TRUE, slots.data(), &count);
    for (CK_SLOT_ID slot : slots) {
        CK_TOKEN_INFO info{};
        if (fn->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
        std::string have(reinterpret_cast<char*>(info.label), sizeof info.label);
        have.erase(have.find_last_not_of(' ') + 1);
        if (have == label) return slot;
    }
    throw std::runtime_error("no token labelled " + label);
}

std::vector<CK_OBJECT_HANDLE> findObjects(CK_FUNCTION_LIST* fn, CK_SESSION_HANDLE session,
                                          std::vector<CK_ATTRIBUTE> templ) {
    std::vector<CK_OBJECT_HANDLE> found;
    if (fn->C_FindObjectsInit(session, templ.data(), templ.size()) != CKR_OK)
        throw std::runtime_error("C_FindObjectsInit failed");
    CK_OBJECT_HANDLE batch[64];
    CK_ULONG n = 0;
    while (fn->C_FindObjects(session, batch, 64, &n) == CKR_OK && n > 0)
        found.insert(found.end(), batch, batch + n);
    fn->C_FindObjectsFinal(session);
    return found;
}

std::vector<CK_BYTE> attribute(CK_FUNCTION_LIST* fn, CK_SESSION_HANDLE session,
                               CK_OBJECT_HANDLE object, CK_ATTRIBUTE_TYPE type) {
    CK_ATTRIBUTE attr{type, nullptr, 0};
    if (fn->C_GetAttributeValue(session, object, &attr, 1) != CKR_OK) return {};
    std::vector<CK_BYTE> value(attr.ulValueLen);
    attr.pValue = value.data();
    if (fn->C_GetAttributeValue(session, object, &attr, 1) != CKR_OK) return {};
    value.resize(attr.ulValueLen);
    return value;
}

std::string rvText(CK_RV rv) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "0x%lx", static_cast<unsigned long>(rv));
    return buffer;
}

}  // namespace p11c::test

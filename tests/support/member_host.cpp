#include "support/member_host.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace p11c::test {
namespace {

bool accepts(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

MemberHost::MemberHost(const SoftHsmEnv& env, const std::string& name, const std::string& ownToken)
    : socket_(env.dir() + "/" + name + ".sock"), log_(env.dir() + "/" + name + ".log") {
    if (!ownToken.empty()) {
        namespace fs = std::filesystem;
        std::string padded = ownToken;
        padded.resize(32, ' ');  // as SoftHSM keeps a token's label
        const std::string dir = env.dir() + "/" + name + "-tokens";
        fs::create_directories(dir);
        for (const auto& entry : fs::directory_iterator(env.dir() + "/tokens")) {
            std::ifstream in(entry.path() / "token.object", std::ios::binary);
            std::string content((std::istreambuf_iterator<char>(in)), {});
            if (content.find(padded) == std::string::npos) continue;
            fs::rename(entry.path(), dir + "/" + entry.path().filename().string());
            softhsmConf_ = env.dir() + "/" + name + "-softhsm2.conf";
            std::ofstream(softhsmConf_) << "directories.tokendir = " << dir
                                        << "\nobjectstore.backend = file\nlog.level = ERROR\n"
                                           "slots.removable = false\n";
            break;
        }
        if (softhsmConf_.empty()) throw std::runtime_error("no token labelled " + ownToken);
    }
    start();
}

MemberHost::~MemberHost() {
    if (running()) kill();
}

void MemberHost::start() {
    if (running()) throw std::logic_error("member host already running");
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            ::dup2(fd, 2);
            ::dup2(fd, 1);
        }
        if (!softhsmConf_.empty()) ::setenv("SOFTHSM2_CONF", softhsmConf_.c_str(), 1);
        ::execl(toolPath(), "p11cluster", "serve", "--module", softhsmPath(), "--socket",
                socket_.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    pid_ = pid;
    frozen_ = false;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!accepts(socket_)) {
        int status;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            throw std::runtime_error("member host exited at start; see " + log_);
        }
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error("member host did not start; see " + log_);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

void MemberHost::kill() {
    if (!running()) return;
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    frozen_ = false;
}

void MemberHost::freeze() {
    if (running() && !frozen_) ::kill(pid_, SIGSTOP);
    frozen_ = true;
}

void MemberHost::thaw() {
    if (running() && frozen_) ::kill(pid_, SIGCONT);
    frozen_ = false;
}

MemberHosts::MemberHosts(const SoftHsmEnv& e, bool ownTokens) : env(e) {
    for (unsigned i = 0; i < env.members(); ++i)
        hosts.push_back(std::make_unique<MemberHost>(env, std::string("host-") + char('a' + i),
                                                     ownTokens ? env.memberLabel(i) : ""));
}

std::string MemberHosts::memberTables(const std::string& extra) const {
    std::ostringstream out;
    for (unsigned i = 0; i < env.members(); ++i)
        out << "[[member]]\nname = \"" << char('a' + i) << "\"\nremote = \"" << hosts[i]->address()
            << "\"\ntoken = \"pkcs11:token=" << env.memberLabel(i) << "\"\n"
            << extra << "\n";
    return out.str();
}

}  // namespace p11c::test

namespace p11c::test {

std::string publishedHealth(const std::string& statusDir, const std::string& label,
                            const std::string& member) {
    // One [[member]] table per member; toml++ writes keys in any order.
    std::ifstream in(statusDir + "/" + label + "-" + std::to_string(::getpid()) + ".toml");
    std::string line, name, health;
    auto value = [](const std::string& l) {
        size_t eq = l.find('=');
        return l.substr(eq + 3, l.size() - eq - 4);  // drop `= '` and the closing quote
    };
    while (std::getline(in, line)) {
        if (line.find("[[member]]") != std::string::npos) {
            if (name == member) return health;
            name.clear();
            health.clear();
        }
        if (line.rfind("name = ", 0) == 0) name = value(line);
        if (line.rfind("health = ", 0) == 0) health = value(line);
    }
    return name == member ? health : std::string();
}

bool waitForHealth(const std::string& statusDir, const std::string& label,
                   const std::string& member, const std::string& wanted, int seconds) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
        if (publishedHealth(statusDir, label, member) == wanted) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

}  // namespace p11c::test

#include "tools/cli.h"

#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "config/config.h"
#include "util/error.h"

namespace p11c::tool {

bool Options::has(const std::string& flag) const {
    return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

std::string Options::get(const std::string& name, const std::string& fallback) const {
    auto it = values.find(name);
    return it == values.end() ? fallback : it->second;
}

Options parse(int argc, char** argv, const std::vector<std::string>& valued) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg.rfind("--", 0) != 0) {
            if (!options.command.empty()) throw UsageError("unexpected argument \"" + arg + "\"");
            options.command = arg;
            continue;
        }
        std::string name = arg.substr(2);
        if (auto eq = name.find('='); eq != std::string::npos) {
            options.values[name.substr(0, eq)] = name.substr(eq + 1);
        } else if (std::find(valued.begin(), valued.end(), name) != valued.end()) {
            if (i + 1 >= argc) throw UsageError("option --" + name + " needs a value");
            options.values[name] = argv[++i];
        } else {
            options.flags.push_back(name);
        }
    }
    return options;
}

std::unique_ptr<Cluster> connect(const Options& options) {
    std::string path = options.get("config");
    if (path.empty()) path = config::locate(nullptr);
    try {
        return Cluster::start(config::loadFile(path));
    } catch (const ModuleLoadError& e) {
        throw std::runtime_error(path + ": " + e.what());
    }
}

Secret readPin(const Options& options, const std::string& who) {
    if (std::string env = options.get(who + "-pin-env"); !env.empty()) {
        const char* value = std::getenv(env.c_str());
        if (value == nullptr) throw UsageError("environment variable " + env + " is not set");
        return Secret(value, std::strlen(value));
    }
    if (std::string file = options.get(who + "-pin-file"); !file.empty()) {
        struct stat st {};
        if (::stat(file.c_str(), &st) != 0) throw UsageError("cannot read PIN file " + file);
        if (st.st_mode & (S_IRWXG | S_IRWXO))
            throw UsageError("PIN file " + file + " is accessible by group or others (chmod 600)");
        Secret pin = Secret::readFile(file);
        if (pin.empty()) throw UsageError("PIN file " + file + " is empty");
        return pin;
    }
    if (!::isatty(STDIN_FILENO))
        throw UsageError("no " + who + " PIN: give --" + who + "-pin-env VAR or --" + who +
                         "-pin-file FILE");
    std::cerr << (who == "so"     ? std::string("Security officer PIN: ")
                  : who == "user" ? std::string("User PIN: ")
                                  : "PIN (" + who + "): ")
              << std::flush;
    termios saved{};
    ::tcgetattr(STDIN_FILENO, &saved);
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    char buffer[256];
    ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    std::cerr << "\n";
    size_t size = n > 0 ? static_cast<size_t>(n) : 0;
    while (size > 0 && (buffer[size - 1] == '\n' || buffer[size - 1] == '\r')) --size;
    Secret pin(buffer, size);
    ::explicit_bzero(buffer, sizeof buffer);
    return pin;
}

void loginAll(Cluster& cluster, CK_USER_TYPE user, Secret& pin) {
    auto session = cluster.sessions().open(cluster, CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                           cluster.memberCount());
    try {
        cluster.login(*session, user, pin.data(), pin.size());
    } catch (const CkError& e) {
        throw std::runtime_error(std::string("login failed: ") + rvName(e.rv()));
    }
    // The session may go: the anchors keep every member logged in.
    cluster.sessions().remove(session->handle());
}

}  // namespace p11c::tool

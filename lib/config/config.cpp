#include "config/config.h"

#include <sys/stat.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "routing/policy.h"

namespace p11c::config {
namespace {

// Collects the context ("file: key") for messages.
class Reader {
  public:
    explicit Reader(std::string path) : path_(std::move(path)) {}

    [[noreturn]] void fail(const std::string& key, const std::string& problem) const {
        throw ConfigError(path_ + ": " + key + ": " + problem);
    }

    static const char* typeName(const toml::node& node) {
        switch (node.type()) {
            case toml::node_type::string:
                return "a string";
            case toml::node_type::integer:
                return "an integer";
            case toml::node_type::floating_point:
                return "a number";
            case toml::node_type::boolean:
                return "a boolean";
            case toml::node_type::table:
                return "a table";
            case toml::node_type::array:
                return "an array";
            default:
                return "a date or time";
        }
    }

    void rejectUnknown(const toml::table& table, const std::string& prefix,
                       const std::set<std::string>& known) const {
        for (const auto& [key, value] : table) {
            std::string name(key.str());
            if (!known.contains(name)) {
                std::string list;
                for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
                fail(prefix + name, "unknown key (known keys: " + list + ")");
            }
        }
    }

    std::optional<std::string> string(const toml::table& table, const std::string& prefix,
                                      const char* key) const {
        const toml::node* node = table.get(key);
        if (node == nullptr) return std::nullopt;
        if (!node->is_string())
            fail(prefix + key, std::string("expected a string, got ") + typeName(*node));
        return node->value<std::string>();
    }

    std::string requiredString(const toml::table& table, const std::string& prefix,
                               const char* key) const {
        auto value = string(table, prefix, key);
        if (!value) fail(prefix + key, "missing (required)");
        if (value->empty()) fail(prefix + key, "must not be empty");
        return *value;
    }

    std::optional<int64_t> integer(const toml::table& table, const std::string& prefix,
                                   const char* key, int64_t min, int64_t max) const {
        const toml::node* node = table.get(key);
        if (node == nullptr) return std::nullopt;
        if (!node->is_integer())
            fail(prefix + key, std::string("expected an integer, got ") + typeName(*node));
        int64_t value = *node->value<int64_t>();
        if (value < min || value > max)
            fail(prefix + key, "must be between " + std::to_string(min) + " and " +
                                   std::to_string(max) + ", got " + std::to_string(value));
        return value;
    }

  private:
    std::string path_;
};

WriteQuorum parseQuorum(const Reader& reader, const toml::table& table) {
    const toml::node* node = table.get("write_quorum");
    WriteQuorum quorum;
    if (node == nullptr) return quorum;
    if (node->is_integer()) {
        int64_t value = *node->value<int64_t>();
        if (value < 1 || value > 64)
            reader.fail("cluster.write_quorum", "a number of members must be between 1 and 64");
        quorum.kind = QuorumKind::Count;
        quorum.count = static_cast<unsigned>(value);
        return quorum;
    }
    if (!node->is_string())
        reader.fail("cluster.write_quorum", std::string("expected \"all\", \"majority\" or a "
                                                        "number, got ") +
                                                Reader::typeName(*node));
    std::string value = *node->value<std::string>();
    if (value == "all") {
        quorum.kind = QuorumKind::All;
    } else if (value == "majority") {
        quorum.kind = QuorumKind::Majority;
    } else {
        reader.fail("cluster.write_quorum",
                    "expected \"all\", \"majority\" or a number, got \"" + value + "\"");
    }
    return quorum;
}

void parseCluster(const Reader& reader, const toml::table& root, Config& config) {
    const toml::node* node = root.get("cluster");
    if (node == nullptr) reader.fail("cluster", "missing section [cluster]");
    const toml::table* table = node->as_table();
    if (table == nullptr)
        reader.fail("cluster", std::string("expected a table, got ") + Reader::typeName(*node));
    reader.rejectUnknown(
        *table, "cluster.",
        {"label", "serial", "slot_id", "write_quorum", "policy", "local_zone", "call_timeout_ms",
         "status_dir", "replay_limit_bytes", "spill_in_flight", "writes_without_sync"});
    Cluster& cluster = config.cluster;
    if (auto label = reader.string(*table, "cluster.", "label")) {
        if (label->empty() || label->size() > 32)
            reader.fail("cluster.label", "must be 1 to 32 characters");
        cluster.label = *label;
    }
    if (auto serial = reader.string(*table, "cluster.", "serial")) {
        if (serial->empty() || serial->size() > 16)
            reader.fail("cluster.serial", "must be 1 to 16 characters");
        cluster.serial = *serial;
    }
    if (auto slot = reader.integer(*table, "cluster.", "slot_id", 0, 0x7fffffff))
        cluster.slotId = static_cast<unsigned long>(*slot);
    cluster.writeQuorum = parseQuorum(reader, *table);
    if (auto policy = reader.string(*table, "cluster.", "policy")) {
        if (!routing::policyExists(*policy))
            reader.fail("cluster.policy", "unknown policy \"" + *policy +
                                              "\" (known: " + routing::policyNames() + ")");
        cluster.policy = *policy;
    }
    if (auto zone = reader.string(*table, "cluster.", "local_zone")) cluster.localZone = *zone;
    if (auto spill = reader.integer(*table, "cluster.", "spill_in_flight", 1, 1'000'000))
        cluster.spillInFlight = static_cast<unsigned>(*spill);
    if (auto rule = reader.string(*table, "cluster.", "writes_without_sync")) {
        if (*rule == "accept")
            cluster.acceptWritesOnAsync = true;
        else if (*rule != "refuse")
            reader.fail("cluster.writes_without_sync",
                        "expected \"refuse\" or \"accept\", got \"" + *rule + "\"");
    }
    if (auto dir = reader.string(*table, "cluster.", "status_dir")) {
        if (dir->empty() || (*dir)[0] != '/')
            reader.fail("cluster.status_dir", "must be an absolute directory path");
        cluster.statusDir = *dir;
    }
    if (auto limit = reader.integer(*table, "cluster.", "replay_limit_bytes", 0, 1 << 30))
        cluster.replayLimitBytes = static_cast<unsigned long>(*limit);
    if (auto timeout = reader.integer(*table, "cluster.", "call_timeout_ms", 1, 3'600'000))
        cluster.callTimeoutMs = static_cast<unsigned>(*timeout);
}

void checkPinFile(const Reader& reader, const std::string& key, const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) reader.fail(key, "cannot read PIN file " + path);
    if (!S_ISREG(st.st_mode)) reader.fail(key, "PIN file " + path + " is not a regular file");
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        reader.fail(
            key, "PIN file " + path + " is accessible by group or others; refusing it (chmod 600)");
}

Member parseMember(const Reader& reader, const toml::table& table, const std::string& prefix) {
    reader.rejectUnknown(table, prefix,
                         {"name", "module", "remote", "token", "zone", "weight", "role", "sync",
                          "pin_file", "pin_env"});
    Member member;
    member.name = reader.requiredString(table, prefix, "name");
    auto module = reader.string(table, prefix, "module");
    member.remote = reader.string(table, prefix, "remote");
    if (module && member.remote)
        reader.fail(prefix + "remote", "give either module or remote, not both");
    if (!module && !member.remote)
        reader.fail(prefix + "module",
                    "missing; give the member's PKCS#11 module, or remote = \"unix:SOCKET\"");
    if (module) member.module = *module;
    if (member.remote && member.remote->empty())
        reader.fail(prefix + "remote", "must not be empty");
    member.token = reader.requiredString(table, prefix, "token");
    if (auto zone = reader.string(table, prefix, "zone")) member.zone = *zone;
    if (auto weight = reader.integer(table, prefix, "weight", 1, 1000))
        member.weight = static_cast<unsigned>(*weight);
    if (auto role = reader.string(table, prefix, "role")) {
        if (*role == "active") {
            member.role = Role::Active;
        } else if (*role == "standby") {
            member.role = Role::Standby;
        } else {
            reader.fail(prefix + "role",
                        "expected \"active\" or \"standby\", got \"" + *role + "\"");
        }
    }
    if (auto sync = reader.string(table, prefix, "sync")) {
        if (*sync == "async")
            member.async = true;
        else if (*sync != "sync")
            reader.fail(prefix + "sync", "expected \"sync\" or \"async\", got \"" + *sync + "\"");
    }
    member.pinFile = reader.string(table, prefix, "pin_file");
    if (member.pinFile) checkPinFile(reader, prefix + "pin_file", *member.pinFile);
    member.pinEnv = reader.string(table, prefix, "pin_env");
    if (member.pinFile && member.pinEnv)
        reader.fail(prefix + "pin_env", "give either pin_file or pin_env, not both");
    return member;
}

void parseMembers(const Reader& reader, const toml::table& root, Config& config) {
    const toml::node* node = root.get("member");
    if (node == nullptr)
        reader.fail("member", "no [[member]] entries; a cluster needs at least one");
    const toml::array* array = node->as_array();
    if (array == nullptr)
        reader.fail("member",
                    std::string("expected [[member]] tables, got ") + Reader::typeName(*node));
    std::set<std::string> names;
    for (size_t i = 0; i < array->size(); ++i) {
        std::string prefix = "member[" + std::to_string(i) + "].";
        const toml::table* table = (*array)[i].as_table();
        if (table == nullptr) reader.fail("member[" + std::to_string(i) + "]", "expected a table");
        Member member = parseMember(reader, *table, prefix);
        if (!names.insert(member.name).second)
            reader.fail(prefix + "name", "duplicate member name \"" + member.name + "\"");
        config.members.push_back(std::move(member));
    }
    if (config.members.empty())
        reader.fail("member", "no [[member]] entries; a cluster needs at least one");
    const std::string& local = config.cluster.localZone;
    if (!local.empty() && std::none_of(config.members.begin(), config.members.end(),
                                       [&](const Member& m) { return m.zone == local; }))
        reader.fail("cluster.local_zone", "no member is in zone \"" + local + "\"");
    if (std::all_of(config.members.begin(), config.members.end(),
                    [](const Member& m) { return m.async; }))
        reader.fail("member", "every member is sync = \"async\"; at least one must be synchronous");
    const auto& quorum = config.cluster.writeQuorum;
    const auto synchronous = static_cast<size_t>(std::count_if(
        config.members.begin(), config.members.end(), [](const Member& m) { return !m.async; }));
    if (quorum.kind == QuorumKind::Count && quorum.count > synchronous)
        reader.fail(
            "cluster.write_quorum",
            "asks for " + std::to_string(quorum.count) + " members but only " +
                std::to_string(synchronous) +
                (synchronous == config.members.size() ? " are configured" : " are synchronous"));
}

}  // namespace

unsigned WriteQuorum::required(unsigned members) const {
    switch (kind) {
        case QuorumKind::All:
            return members;
        case QuorumKind::Majority:
            return members / 2 + 1;
        case QuorumKind::Count:
            return count < members ? count : members;
    }
    return members;
}

Config parse(const std::string& text, const std::string& path) {
    Reader reader(path);
    toml::table root;
    try {
        root = toml::parse(text, path);
    } catch (const toml::parse_error& error) {
        const auto& where = error.source().begin;
        throw ConfigError(path + ":" + std::to_string(where.line) + ":" +
                          std::to_string(where.column) +
                          ": syntax error: " + std::string(error.description()));
    }
    reader.rejectUnknown(root, "", {"cluster", "member"});
    Config config;
    config.path = path;
    parseCluster(reader, root, config);
    parseMembers(reader, root, config);
    return config;
}

Config loadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError(path + ": cannot open the configuration file");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw ConfigError(path + ": cannot read the configuration file");
    return parse(text.str(), path);
}

std::string locate(const char* initReserved, const std::string& inherited) {
    if (const char* env = std::getenv("P11CLUSTER_CONF"); env != nullptr && *env != '\0')
        return env;
    if (initReserved != nullptr && *initReserved != '\0') return initReserved;
    if (!inherited.empty()) return inherited;
    return kDefaultPath;
}

}  // namespace p11c::config

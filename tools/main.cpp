// p11cluster: the cluster's admin command.
//
//   p11cluster init   [--config FILE] [--cluster-id HEX] [SO and user PINs]
//   p11cluster verify [--config FILE] [--user-pin-env VAR | --user-pin-file FILE]
//   p11cluster serve  --module PATH --socket PATH
//   p11cluster status [--config FILE] [--json | --prometheus]
//   p11cluster repair [--config FILE] [--user-pin-env VAR | --user-pin-file FILE]
//   p11cluster drill --module PATH [--dry-run] [--out-seconds S] [--return-seconds S]
//   p11cluster backup-key --recovery-module PATH --recovery-token TOKEN [--new | --drop SERIAL]
//                         [SO and user PINs of the members and of the recovery token]
//   p11cluster backup --out FILE [user PIN]
//   p11cluster restore --in FILE [--id ID | --id-hex HEX | --label LABEL] [--undelete]
//                      [--legacy] [user PIN]
//
// Exit status: 0 success, 1 failure, 2 usage error.
#include <iostream>

#include "config/config.h"
#include "remote/host.h"
#include "tools/cli.h"

namespace {

const char kUsage[] =
    "usage: p11cluster COMMAND [--config FILE] [options]\n"
    "\n"
    "commands:\n"
    "  init     make (or rotate) the cluster transport key on every member (private and\n"
    "           trusted: it needs both PINs), give the cluster its identity, re-protect keys\n"
    "           an earlier release made    [--cluster-id HEX: a rebuilt, empty cluster takes\n"
    "           the identity of the one it replaces]\n"
    "           --so-pin-env VAR | --so-pin-file FILE   the members' security officer PIN\n"
    "           --user-pin-env VAR | --user-pin-file FILE   the members' user PIN\n"
    "  verify   compare every member object by object (attributes, and a signature made\n"
    "           on one member verified on another); exit 1 on any difference\n"
    "           --user-pin-env VAR | --user-pin-file FILE   the user PIN\n"
    "  repair   bring every reachable member to the same objects now (copies what some\n"
    "           lack, removes what was destroyed while they were away); exit 1 if a\n"
    "           member cannot be reached    --user-pin-env VAR | --user-pin-file FILE\n"
    "  drill    a failover game day: takes each member (then each zone) out of service\n"
    "           in turn while this command signs through the module, checks that no call\n"
    "           fails, that the member returns repaired and that verify is clean; exit 1 if\n"
    "           anything failed.  --module PATH (libp11cluster.so)  [--dry-run]\n"
    "           [--out-seconds S (3)] [--return-seconds S (60)]   user PIN as for verify\n"
    "  backup-key  make the backup key on a recovery token (if it has none, or --new)\n"
    "           and hand its backup keys to every member that lacks them (also how fresh\n"
    "           members get them before a restore); --drop SERIAL removes an old one\n"
    "           --recovery-module PATH --recovery-token TOKEN (a PKCS#11 URI or label)\n"
    "           --recovery-so-pin-env VAR | --recovery-so-pin-file FILE   its SO PIN\n"
    "           --recovery-pin-env VAR | --recovery-pin-file FILE   its user PIN\n"
    "           --so-pin-env VAR | --so-pin-file FILE   the members' SO PIN\n"
    "           --user-pin-env VAR | --user-pin-file FILE   the members' user PIN\n"
    "  backup   write every cluster object to a file, keys wrapped under the backup key\n"
    "           --out FILE   --user-pin-env VAR | --user-pin-file FILE\n"
    "  restore  check a backup file (refused if cut short, changed, made by another\n"
    "           cluster or for a backup key no member holds) and restore the objects the\n"
    "           members lack; a key destroyed since the backup only by name with --undelete\n"
    "           --in FILE [--id ID | --id-hex HEX | --label LABEL] [--undelete] [--legacy: a\n"
    "           file of an earlier release]   --user-pin-env VAR | --user-pin-file FILE\n"
    "  status   every member as reached from here (reachable, latency, token) and every\n"
    "           process's view of them (health, in-flight, operations, errors, latency,\n"
    "           repair to do, failovers, latency percentiles); --json for JSON,\n"
    "           --prometheus for Prometheus text (docs/metrics.md). Exit 1 if a member\n"
    "           is unreachable\n"
    "  serve    serve the tokens of a PKCS#11 module to cluster members in other\n"
    "           processes (member = remote = \"unix:SOCKET\"), until SIGTERM\n"
    "           --module PATH   the module;  --socket PATH   the Unix socket (mode 0600)\n"
    "\n"
    "The configuration is --config FILE, else $P11CLUSTER_CONF, else "
    "/etc/p11cluster/p11cluster.toml.\n";

}  // namespace

int main(int argc, char** argv) {
    using namespace p11c::tool;
    try {
        Options options = parse(argc, argv,
                                {"config",
                                 "so-pin-env",
                                 "so-pin-file",
                                 "user-pin-env",
                                 "user-pin-file",
                                 "module",
                                 "socket",
                                 "recovery-module",
                                 "recovery-token",
                                 "recovery-so-pin-env",
                                 "recovery-so-pin-file",
                                 "recovery-pin-env",
                                 "recovery-pin-file",
                                 "out",
                                 "in",
                                 "id",
                                 "id-hex",
                                 "label",
                                 "out-seconds",
                                 "return-seconds",
                                 "cluster-id",
                                 "drop"});
        if (options.command.empty() || options.has("help")) {
            std::cout << kUsage;
            return options.command.empty() && !options.has("help") ? 2 : 0;
        }
        if (options.command == "init") return initCommand(options);
        if (options.command == "verify") return verifyCommand(options);
        if (options.command == "status") return statusCommand(options);
        if (options.command == "repair") return repairCommand(options);
        if (options.command == "drill") return drillCommand(options);
        if (options.command == "backup-key") return backupKeyCommand(options);
        if (options.command == "backup") return backupCommand(options);
        if (options.command == "restore") return restoreCommand(options);
        if (options.command == "serve") {
            if (options.get("module").empty() || options.get("socket").empty())
                throw UsageError("serve needs --module PATH and --socket PATH");
            return p11c::remote::serve({options.get("module"), options.get("socket")});
        }
        throw UsageError("unknown command \"" + options.command + "\"");
    } catch (const UsageError& e) {
        std::cerr << "p11cluster: " << e.what() << "\n\n" << kUsage;
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "p11cluster: " << e.what() << "\n";
        return 1;
    }
}

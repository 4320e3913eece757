// Command-line parsing for p11cluster-bench (options.h).
#include "options.h"

#include <cstdlib>
#include <cstring>

namespace p11c::bench {

namespace {

bool positiveNumber(const char* text, double& out, bool allowZero) {
    char* end = nullptr;
    double value = std::strtod(text, &end);
    if (end == text || *end != '\0' || value < 0 || (!allowZero && value == 0) || value > 86400)
        return false;
    out = value;
    return true;
}

}  // namespace

const char* usage() {
    return "usage: p11cluster-bench --module PATH --op OP --threads T --seconds S\n"
           "         [--token LABEL] [--pin PIN] [--warmup S] [--key-label L]\n"
           "         [--format tsv|json] [--header] [--name NAME] [--keep-going]\n"
           "  OP: rsa-sign | ecdsa-sign | aes-gcm | sha256 | random | ec-keygen\n"
           "  prints: module op threads seconds ops ops_per_s p50_us p99_us max_us errors\n";
}

bool parseOptions(int argc, char** argv, Options& out, std::string& error) {
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--header") {
            out.header = true;
            continue;
        }
        if (arg == "--keep-going") {
            out.keepGoing = true;
            continue;
        }
        if (i + 1 >= argc) {
            error = arg + ": unknown option or missing value";
            return false;
        }
        const char* value = argv[++i];
        double number = 0;
        if (arg == "--module") {
            out.module = value;
        } else if (arg == "--name") {
            out.name = value;
        } else if (arg == "--token") {
            out.token = value;
        } else if (arg == "--pin") {
            out.pin = value;
        } else if (arg == "--op") {
            out.op = value;
        } else if (arg == "--key-label") {
            out.keyLabel = value;
        } else if (arg == "--threads") {
            if (!positiveNumber(value, number, false) || number != static_cast<unsigned>(number) ||
                number > 1024) {
                error = "--threads: not a whole number from 1 to 1024";
                return false;
            }
            out.threads = static_cast<unsigned>(number);
        } else if (arg == "--seconds") {
            if (!positiveNumber(value, out.seconds, false)) {
                error = "--seconds: not a positive number";
                return false;
            }
        } else if (arg == "--warmup") {
            if (!positiveNumber(value, out.warmup, true)) {
                error = "--warmup: not a number of seconds";
                return false;
            }
        } else if (arg == "--format") {
            if (std::strcmp(value, "tsv") != 0 && std::strcmp(value, "json") != 0) {
                error = "--format: tsv or json";
                return false;
            }
            out.json = std::strcmp(value, "json") == 0;
        } else {
            error = arg + ": unknown option";
            return false;
        }
    }
    if (out.module.empty() || out.op.empty()) {
        error = "--module and --op are required";
        return false;
    }
    if (out.name.empty()) out.name = out.module;
    if (out.keyLabel.empty()) out.keyLabel = "bench-" + out.op;
    return true;
}

}  // namespace p11c::bench

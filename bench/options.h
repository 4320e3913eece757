// p11cluster-bench's command line: which module, token, operation, how many
// threads for how long, and the output format. A plain value, parsed once in
// main before any thread starts.
#pragma once

#include <string>

namespace p11c::bench {

struct Options {
    std::string module;  // the PKCS#11 module to drive
    std::string name;    // the "module" column (default: the path as given)
    std::string token;   // token label (default: the first slot with a token)
    std::string pin = "1234";
    std::string op;
    std::string keyLabel;  // default bench-<op>
    unsigned threads = 1;
    double seconds = 5;
    double warmup = 1;
    bool json = false;
    bool header = false;
    bool keepGoing = false;  // count failed ops as errors instead of stopping
};

// Parses argv into `out`; false (with `error` set) on a bad command line.
bool parseOptions(int argc, char** argv, Options& out, std::string& error);
const char* usage();

}  // namespace p11c::bench

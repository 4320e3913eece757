// p11cluster init: the transport key on every member.
#include <iostream>

#include "replication/transport.h"
#include "tools/cli.h"

namespace p11c::tool {

int initCommand(const Options& options) {
    Secret soPin = readPin(options, "so");
    auto cluster = connect(options);
    loginAll(*cluster, CKU_SO, soPin);
    replication::establishTransportKey(*cluster, std::cout);
    cluster->logout();
    return 0;
}

}  // namespace p11c::tool

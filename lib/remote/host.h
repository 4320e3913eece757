// The member host: serves every token of one PKCS#11 module on a Unix
// socket to RemoteClients (remote/client.h), usually in other processes.
// Run as `p11cluster serve --module PATH --socket PATH`.
//
// Who may connect: the socket is created mode 0600 and every connection's
// peer must run as the host's own user (or root), checked with SO_PEERCRED.
// Each connection serves one call at a time, on its own thread; clients
// open as many connections as they have concurrent calls. Sessions belong
// to the client that opened them and are closed when its control
// connection ends (the client process exited or finalized). The token's
// login is shared by all clients, as it is by all applications of one
// PKCS#11 library; a client's C_Logout only logs the token out once no
// other client is logged in.
#pragma once

#include <string>

namespace p11c::remote {

struct HostOptions {
    std::string module;  // path of the PKCS#11 module to serve
    std::string socket;  // path of the Unix socket to listen on
};

// Serves until SIGTERM or SIGINT; returns the process exit code. Prints
// one line naming the problem to stderr when it cannot start.
int serve(const HostOptions& options);

}  // namespace p11c::remote

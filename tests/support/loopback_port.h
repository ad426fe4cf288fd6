// Loopback TCP ports for tests and benchmarks.
#pragma once

namespace middlepipe::testing {

// A listening socket on 127.0.0.1 at a port the kernel picks (stored in *port); -1 on
// failure. The caller closes it.
int ListenOnLoopback(int* port);

// A port free right now, for a server that must be told its port on its command line
// (a small race with other processes is accepted).
int FreeLoopbackPort();

}  // namespace middlepipe::testing

// The `mp` command line: global options, commands, output (text or --json) and exit
// codes (0 ok; 1 "mp: error: ..." on failure; 2 on usage errors). main() only calls
// RunCli, so tests drive the whole CLI in-process.
#pragma once

#include <ostream>

namespace middlepipe::cli {

int RunCli(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace middlepipe::cli

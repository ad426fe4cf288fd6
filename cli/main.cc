// mp: the user's command line. See cli/cli.h.
#include <iostream>

#include "cli/cli.h"

int main(int argc, char** argv) { return middlepipe::cli::RunCli(argc, argv, std::cout, std::cerr); }

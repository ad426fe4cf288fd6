// Command-line conventions shared by every middlepipe binary (built on CLI11):
//
//   PROG --help          usage on stdout, exit 0
//   PROG version         "PROG 0.1.0 (middlepipe.v1)" on stdout, exit 0
//   bad usage            "PROG: error: <what>" and a hint on stderr, exit 2
//   failure at run time  "PROG: error: <what>" on stderr, exit 1 (see Fail)
#pragma once

#include <initializer_list>
#include <optional>
#include <ostream>
#include <string>

#include <CLI/CLI.hpp>

#include "absl/status/status.h"

namespace middlepipe {

inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Adds the `version` subcommand: prints "PROG 0.1.0 (middlepipe.v1)" to `out` and makes
// ParseCommandLine return 0.
CLI::App* AddVersionCommand(CLI::App& app, std::ostream& out);

// Parses argv. Returns the exit code when the program should stop now (help shown,
// version printed, usage error reported); nullopt when it should go on.
std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv, std::ostream& out,
                                    std::ostream& err);

// Options that must be given when the program runs (they are not required for --help or
// `version`, which is why CLI11's own ->required() is not used). Returns kExitUsage after
// "PROG: error: --flag is required" for the first one missing; nullopt when all are there.
std::optional<int> RequireOptions(const CLI::App& app, std::initializer_list<const char*> flags,
                                  std::ostream& err);

// Reports a run-time failure as "PROG: error: <message>" and returns kExitFailure.
int Fail(const std::string& program, const absl::Status& status, std::ostream& err);

}  // namespace middlepipe

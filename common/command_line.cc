#include "common/command_line.h"

#include "common/version.h"

namespace middlepipe {

CLI::App* AddVersionCommand(CLI::App& app, std::ostream& out) {
  CLI::App* version = app.add_subcommand("version", "Print the version and exit");
  version->callback([&app, &out] {
    out << app.get_name() << " " << kVersion << " (" << kApiVersion << ")\n";
    throw CLI::Success();  // stops parsing; ParseCommandLine returns 0
  });
  return version;
}

std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv, std::ostream& out,
                                    std::ostream& err) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    out << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::Success&) {
    return 0;
  } catch (const CLI::ParseError& error) {
    err << app.get_name() << ": error: " << error.what() << "\n"
        << "Run '" << app.get_name() << " --help' for usage.\n";
    return kExitUsage;
  }
  return std::nullopt;
}

std::optional<int> RequireOptions(const CLI::App& app, std::initializer_list<const char*> flags,
                                  std::ostream& err) {
  for (const char* flag : flags) {
    if (app.get_option(flag)->count() == 0) {
      err << app.get_name() << ": error: " << flag << " is required\n"
          << "Run '" << app.get_name() << " --help' for usage.\n";
      return kExitUsage;
    }
  }
  return std::nullopt;
}

int Fail(const std::string& program, const absl::Status& status, std::ostream& err) {
  err << program << ": error: " << status.message() << "\n";
  return kExitFailure;
}

}  // namespace middlepipe

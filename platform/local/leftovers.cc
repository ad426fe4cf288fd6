#include "platform/local/leftovers.h"

#include <signal.h>

#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/process.h"
#include "platform/local/fabric.h"

namespace middlepipe::local {

bool Running(pid_t pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  absl::StatusOr<std::string> stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  // "PID (COMM) STATE ..."; COMM may hold spaces and parentheses, so look after the last ')'.
  if (!stat.ok()) return false;
  const size_t end = stat->rfind(')');
  return end == std::string::npos || end + 2 >= stat->size() || (*stat)[end + 2] != 'Z';
}

absl::Status RemoveLeftovers(const std::string& platform_name, std::chrono::milliseconds grace,
                             Logger* logger) {
  absl::StatusOr<std::vector<std::string>> namespaces = Fabric::Namespaces(platform_name);
  if (!namespaces.ok()) return namespaces.status();
  std::vector<pid_t> pids;
  for (const std::string& name_space : *namespaces) {
    absl::StatusOr<std::string> listed = RunToCompletion({"ip", "netns", "pids", name_space});
    if (!listed.ok()) continue;
    for (absl::string_view line : absl::StrSplit(*listed, '\n', absl::SkipEmpty())) {
      pid_t pid = 0;
      if (absl::SimpleAtoi(line, &pid) && pid > 0) pids.push_back(pid);
    }
  }
  for (pid_t pid : pids) kill(pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  for (pid_t pid : pids) {
    while (Running(pid) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (Running(pid)) kill(pid, SIGKILL);
  }
  if (!namespaces->empty()) {
    logger->Info("removing what an earlier run left: ", namespaces->size(), " namespaces, ",
                 pids.size(), " processes");
  }
  return Fabric::RemoveAll(platform_name);
}

}  // namespace middlepipe::local

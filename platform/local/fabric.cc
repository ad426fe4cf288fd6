#include "platform/local/fabric.h"

#include <arpa/inet.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/process.h"

namespace middlepipe::local {
namespace {

constexpr char kBridge[] = "mpbr";

absl::Status Ip(std::vector<std::string> arguments) {
  arguments.insert(arguments.begin(), "ip");
  return RunToCompletion(arguments).status();
}

// The fabric's end of a container's veth pair: "v" and the address's 32 bits in hex, so
// it is unique on the bridge and fits the 15 characters an interface name may have.
std::string FabricLinkName(const std::string& address) {
  in_addr parsed{};
  inet_pton(AF_INET, address.c_str(), &parsed);
  return absl::StrCat("v", absl::Hex(ntohl(parsed.s_addr), absl::kZeroPad8));
}

}  // namespace

std::string Fabric::ContainerNamespace(const std::string& app, uint32_t index) const {
  return absl::StrCat(name_, ".", app, ".", index);
}

std::string Fabric::NamespacePath(const std::string& name_space) {
  return absl::StrCat("/run/netns/", name_space);
}

absl::Status Fabric::Create() {
  const std::string fabric = FabricNamespace();
  (void)Ip({"netns", "del", fabric});  // a leftover of a crashed run
  for (const std::vector<std::string>& step :
       std::vector<std::vector<std::string>>{{"netns", "add", fabric},
                                             {"-n", fabric, "link", "set", "lo", "up"},
                                             {"-n", fabric, "link", "add", kBridge, "type", "bridge"},
                                             {"-n", fabric, "link", "set", kBridge, "up"}}) {
    if (absl::Status done = Ip(step); !done.ok()) {
      (void)Ip({"netns", "del", fabric});
      return absl::Status(done.code(), absl::StrCat("creating the fabric: ", done.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status Fabric::AddContainer(const std::string& container, const std::string& address) {
  const std::string fabric = FabricNamespace();
  const std::string link = FabricLinkName(address);
  (void)Ip({"netns", "del", container});  // a leftover of a crashed run
  for (const std::vector<std::string>& step : std::vector<std::vector<std::string>>{
           {"netns", "add", container},
           {"-n", container, "link", "set", "lo", "up"},
           {"-n", fabric, "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns",
            container},
           {"-n", fabric, "link", "set", link, "master", kBridge, "up"},
           {"-n", container, "addr", "add", absl::StrCat(address, "/", prefix_length_), "dev",
            "eth0"},
           {"-n", container, "link", "set", "eth0", "up"}}) {
    if (absl::Status done = Ip(step); !done.ok()) {
      (void)Ip({"netns", "del", container});
      return absl::Status(done.code(),
                          absl::StrCat("creating container ", container, ": ", done.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status Fabric::RemoveContainer(const std::string& container) {
  return Ip({"netns", "del", container});
}

absl::StatusOr<std::vector<std::string>> Fabric::Namespaces(const std::string& name) {
  absl::StatusOr<std::string> listed = RunToCompletion({"ip", "netns", "list"});
  if (!listed.ok()) return listed.status();
  std::vector<std::string> found;
  for (absl::string_view line : absl::StrSplit(*listed, '\n', absl::SkipEmpty())) {
    // "NAME" or "NAME (id: 3)"
    std::string name_space(line.substr(0, line.find(' ')));
    if (absl::StartsWith(name_space, name + ".")) found.push_back(std::move(name_space));
  }
  return found;
}

absl::Status Fabric::RemoveAll(const std::string& name) {
  absl::StatusOr<std::vector<std::string>> namespaces = Namespaces(name);
  if (!namespaces.ok()) return namespaces.status();
  std::vector<std::string> failures;
  for (const std::string& name_space : *namespaces) {
    if (absl::Status removed = Ip({"netns", "del", name_space}); !removed.ok()) {
      failures.push_back(std::string(removed.message()));
    }
  }
  if (!failures.empty()) return absl::InternalError(absl::StrJoin(failures, "; "));
  return absl::OkStatus();
}

}  // namespace middlepipe::local

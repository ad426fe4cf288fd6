// The local platform's network: a fabric namespace holding a bridge, and one network
// namespace per container joined to it by a veth pair (eth0 inside, with the container's
// address). Everything lives in namespaces this class creates, named NAME.fabric and
// NAME.APP.INDEX (dots: platform and app names cannot contain them, so one platform's
// prefix never matches another's namespaces); the host's own namespace is never touched.
// It drives iproute2's `ip` (the kernel's netlink interface through its standard tool).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace middlepipe::local {

class Fabric {
 public:
  // `name`: the platform's name, the prefix of its namespaces.
  Fabric(std::string name, int prefix_length) : name_(std::move(name)), prefix_length_(prefix_length) {}

  // Creates the fabric namespace and its bridge (replacing a leftover one).
  absl::Status Create();
  // Creates the container's namespace joined to the fabric with `address`; on failure
  // nothing of it is left.
  absl::Status AddContainer(const std::string& container, const std::string& address);
  // Deletes the container's namespace (its veth pair goes with it).
  absl::Status RemoveContainer(const std::string& container);

  // NAME.APP.INDEX, and its file for setns(2).
  std::string ContainerNamespace(const std::string& app, uint32_t index) const;
  static std::string NamespacePath(const std::string& name_space);

  const std::string& name() const { return name_; }

  // The namespaces of platform `name` that exist now (the fabric's among them).
  static absl::StatusOr<std::vector<std::string>> Namespaces(const std::string& name);
  // Deletes every namespace of platform `name`; the error lists those that could not be.
  static absl::Status RemoveAll(const std::string& name);

 private:
  std::string FabricNamespace() const { return name_ + ".fabric"; }

  const std::string name_;
  const int prefix_length_;
};

}  // namespace middlepipe::local

// The kinds a controller offers (the marketplace), by name, each with its validator.
// Built once at start from a list of KindDescriptors (filters/builtin_kinds.h); read-only
// afterwards, so it is shared across threads without locks.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "scheduler/config_validator.h"
#include "scheduler/kind.h"

namespace middlepipe::scheduler {

class KindCatalog {
 public:
  // Fails if a kind's schema does not parse or two kinds share a name.
  static absl::StatusOr<KindCatalog> Create(std::vector<KindDescriptor> kinds);

  // The kind, or nullptr.
  const KindDescriptor* Find(const std::string& name) const;

  // Kinds sorted by name.
  std::vector<const KindDescriptor*> List() const;

  // Validates `config_json` (empty = "{}") for `kind`: JSON syntax, the kind's schema and
  // its cross-field check. Returns the config with defaults filled in, serialized
  // compactly with sorted keys (so equal configs are equal strings). Errors name the
  // field: INVALID_ARGUMENT "config: field window_ms: must be >= 100"; an unknown kind
  // names the known ones.
  absl::StatusOr<std::string> ValidateConfig(const std::string& kind,
                                             const std::string& config_json) const;

  // The services `config_json` (as ValidateConfig returned it) of `kind` names, besides
  // the one it is bound to; empty for kinds that name none or configs that do not parse.
  std::vector<std::string> ReferencedServices(const std::string& kind,
                                              const std::string& config_json) const;

 private:
  struct Entry {
    KindDescriptor descriptor;
    ConfigValidator validator;
  };
  explicit KindCatalog(std::map<std::string, Entry> entries) : entries_(std::move(entries)) {}

  std::map<std::string, Entry> entries_;
};

}  // namespace middlepipe::scheduler

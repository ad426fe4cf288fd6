#include "scheduler/kind_catalog.h"

#include "common/json.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace middlepipe::scheduler {

absl::StatusOr<KindCatalog> KindCatalog::Create(std::vector<KindDescriptor> kinds) {
  std::map<std::string, Entry> entries;
  for (KindDescriptor& kind : kinds) {
    absl::StatusOr<ConfigValidator> validator = ConfigValidator::Create(kind.config_schema_json);
    if (!validator.ok()) {
      return absl::InternalError(absl::StrCat("kind ", kind.name, ": ", validator.status().message()));
    }
    std::string name = kind.name;
    if (!entries.emplace(name, Entry{std::move(kind), std::move(*validator)}).second) {
      return absl::InternalError(absl::StrCat("kind ", name, " is defined twice"));
    }
  }
  return KindCatalog(std::move(entries));
}

const KindDescriptor* KindCatalog::Find(const std::string& name) const {
  auto entry = entries_.find(name);
  return entry == entries_.end() ? nullptr : &entry->second.descriptor;
}

std::vector<const KindDescriptor*> KindCatalog::List() const {
  std::vector<const KindDescriptor*> kinds;
  for (const auto& [name, entry] : entries_) kinds.push_back(&entry.descriptor);
  return kinds;
}

absl::StatusOr<std::string> KindCatalog::ValidateConfig(const std::string& kind,
                                                        const std::string& config_json) const {
  auto entry = entries_.find(kind);
  if (entry == entries_.end()) {
    std::vector<std::string> names;
    for (const auto& [name, unused] : entries_) names.push_back(name);
    return absl::InvalidArgumentError(absl::StrCat("unknown kind \"", kind, "\" (known: ",
                                                   absl::StrJoin(names, ", "), ")"));
  }
  // Bounded before any parsing: what validates and stores the config recurses.
  if (absl::Status deep = CheckJsonDepth(config_json, "config"); !deep.ok()) return deep;
  nlohmann::json config = nlohmann::json::parse(config_json.empty() ? "{}" : config_json, nullptr,
                                                /*allow_exceptions=*/false);
  if (config.is_discarded()) {
    return absl::InvalidArgumentError("config: not valid JSON");
  }
  absl::StatusOr<nlohmann::json> filled = entry->second.validator.Validate(config);
  if (!filled.ok()) return filled.status();
  if (entry->second.descriptor.check) {
    absl::Status checked = entry->second.descriptor.check(*filled);
    if (!checked.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("config: ", checked.message()));
    }
  }
  return filled->dump();  // nlohmann's object keeps keys sorted
}

std::vector<std::string> KindCatalog::ReferencedServices(const std::string& kind,
                                                         const std::string& config_json) const {
  const KindDescriptor* descriptor = Find(kind);
  if (descriptor == nullptr || !descriptor->referenced_services) return {};
  nlohmann::json config = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) return {};
  return descriptor->referenced_services(config);
}

}  // namespace middlepipe::scheduler

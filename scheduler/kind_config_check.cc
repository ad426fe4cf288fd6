#include "scheduler/kind_config_check.h"

#include <nlohmann/json.hpp>

namespace middlepipe::scheduler {

absl::StatusOr<KindConfigCheck> KindConfigCheck::Create(KindDescriptor kind) {
  const nlohmann::json schema =
      nlohmann::json::parse(kind.config_schema_json, nullptr, /*allow_exceptions=*/false);
  std::set<std::string> fields;
  if (schema.is_object() && schema.contains("properties")) {
    for (auto it = schema["properties"].begin(); it != schema["properties"].end(); ++it) {
      fields.insert(it.key());
    }
  }
  std::string name = kind.name;
  absl::StatusOr<KindCatalog> catalog = KindCatalog::Create({std::move(kind)});
  if (!catalog.ok()) return catalog.status();
  return KindConfigCheck(std::move(name), std::move(fields), *std::move(catalog));
}

absl::StatusOr<std::string> KindConfigCheck::Validate(const std::string& config_json) const {
  return catalog_.ValidateConfig(name_, config_json);
}

std::set<std::string> KindConfigCheck::SchemaFields() const { return fields_; }

}  // namespace middlepipe::scheduler

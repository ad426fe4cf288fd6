// Validates a kind's config object against its JSON Schema (draft 7, checked by valijson
// from Debian's libvalijson-dev) and fills in the schema's defaults.
//
// Errors name the field and the rule, in the schema's own terms:
//   config: field latency_threshold_ms: must be an integer
//   config: field fallback.status: must be <= 599
//   config: unknown field "latency" (known: latency_threshold_ms, ...)
//   config: missing required field "requests_per_second"
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace valijson {
class Schema;
}

namespace middlepipe::scheduler {

class ConfigValidator {
 public:
  // Parses the schema once; an error here is a bug in a kind's definition.
  static absl::StatusOr<ConfigValidator> Create(const std::string& schema_json);

  ConfigValidator(ConfigValidator&&) noexcept;
  ConfigValidator& operator=(ConfigValidator&&) noexcept;
  ~ConfigValidator();

  // The config with defaults filled in, or INVALID_ARGUMENT naming what is wrong.
  absl::StatusOr<nlohmann::json> Validate(const nlohmann::json& config) const;

  const nlohmann::json& schema() const { return schema_document_; }

 private:
  ConfigValidator(nlohmann::json schema_document, std::unique_ptr<valijson::Schema> schema);

  nlohmann::json schema_document_;
  std::unique_ptr<valijson::Schema> schema_;
};

}  // namespace middlepipe::scheduler

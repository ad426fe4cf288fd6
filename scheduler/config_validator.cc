#include "scheduler/config_validator.h"

#include <stdexcept>
#include <vector>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace middlepipe::scheduler {
namespace {

// One step of a path into the config: a property name or an array index.
struct Step {
  std::string property;
  int index = -1;
};

// valijson's context is "<root>", "[name]", "[0]", ...
std::vector<Step> StepsOf(const std::vector<std::string>& context) {
  std::vector<Step> steps;
  for (const std::string& element : context) {
    if (element == "<root>" || element.size() < 2) continue;
    std::string inner = element.substr(1, element.size() - 2);
    Step step;
    bool numeric = !inner.empty() && inner.find_first_not_of("0123456789") == std::string::npos;
    if (numeric) {
      step.index = std::stoi(inner);
    } else {
      step.property = inner;
    }
    steps.push_back(step);
  }
  return steps;
}

std::string PathText(const std::vector<Step>& steps) {
  std::string path;
  for (const Step& step : steps) {
    if (step.index >= 0) {
      absl::StrAppend(&path, "[", step.index, "]");
    } else {
      absl::StrAppend(&path, path.empty() ? "" : ".", step.property);
    }
  }
  return path;
}

// The schema node that describes the value at `steps` (null if the schema has none).
const nlohmann::json* SchemaAt(const nlohmann::json& schema, const std::vector<Step>& steps) {
  const nlohmann::json* node = &schema;
  for (const Step& step : steps) {
    if (!node->is_object()) return nullptr;
    if (step.index >= 0) {
      if (!node->contains("items")) return nullptr;
      node = &(*node)["items"];
    } else if (node->contains("properties") && (*node)["properties"].contains(step.property)) {
      node = &(*node)["properties"][step.property];
    } else if (node->contains("additionalProperties") &&
               (*node)["additionalProperties"].is_object()) {
      node = &(*node)["additionalProperties"];  // a map's values
    } else {
      return nullptr;
    }
  }
  return node;
}

std::string TypePhrase(const nlohmann::json& type) {
  auto one = [](const std::string& name) -> std::string {
    if (name == "integer") return "an integer";
    if (name == "object") return "an object";
    if (name == "array") return "an array";
    return "a " + name;
  };
  if (type.is_string()) return one(type.get<std::string>());
  std::vector<std::string> names;
  for (const auto& name : type) names.push_back(one(name.get<std::string>()));
  return absl::StrJoin(names, " or ");
}

std::string Quoted(const std::string& text) { return absl::StrCat("\"", text, "\""); }

// The name between the last pair of single quotes in valijson's description, e.g. 'x' in
// "Object contains a property that could not be validated using 'properties' ...: 'x'."
std::string QuotedName(const std::string& description) {
  size_t close = description.rfind('\'');
  if (close == std::string::npos || close == 0) return "";
  size_t open = description.rfind('\'', close - 1);
  if (open == std::string::npos) return "";
  return description.substr(open + 1, close - open - 1);
}

std::string KnownProperties(const nlohmann::json* node) {
  if (node == nullptr || !node->contains("properties")) return "";
  std::vector<std::string> names;
  for (const auto& [name, unused] : (*node)["properties"].items()) names.push_back(name);
  return absl::StrCat(" (known: ", absl::StrJoin(names, ", "), ")");
}

// The message for one valijson error, in terms of the schema's own constraints.
std::string Explain(const nlohmann::json& schema, const valijson::ValidationResults::Error& error) {
  const std::vector<Step> steps = StepsOf(error.context);
  const std::string path = PathText(steps);
  const nlohmann::json* node = SchemaAt(schema, steps);
  const std::string& description = error.description;
  const std::string at = path.empty() ? "" : absl::StrCat("field ", path, ": ");

  if (absl::StartsWith(description, "Object contains a property")) {
    return absl::StrCat(at, "unknown field ", Quoted(QuotedName(description)),
                        KnownProperties(node));
  }
  if (absl::StartsWith(description, "Missing required property")) {
    return absl::StrCat(at, "missing required field ", Quoted(QuotedName(description)));
  }
  if (node == nullptr) return absl::StrCat(at, description);
  auto bound = [&](const char* key) { return node->contains(key) ? (*node)[key].dump() : "?"; };
  if (absl::StartsWith(description, "Value type not permitted") && node->contains("type")) {
    return absl::StrCat(at, "must be ", TypePhrase((*node)["type"]));
  }
  if (absl::StartsWith(description, "Expected number greater than or equal to")) {
    return absl::StrCat(at, "must be >= ", bound("minimum"));
  }
  if (absl::StartsWith(description, "Expected number greater than")) {
    return absl::StrCat(at, "must be > ", bound("exclusiveMinimum"));
  }
  if (absl::StartsWith(description, "Expected number less than or equal to")) {
    return absl::StrCat(at, "must be <= ", bound("maximum"));
  }
  if (absl::StartsWith(description, "Expected number less than")) {
    return absl::StrCat(at, "must be < ", bound("exclusiveMaximum"));
  }
  if (absl::StartsWith(description, "Failed to match against any enum values")) {
    std::vector<std::string> values;
    for (const auto& value : (*node)["enum"]) values.push_back(value.dump());
    return absl::StrCat(at, "must be one of ", absl::StrJoin(values, ", "));
  }
  if (absl::StartsWith(description, "Failed to match regex")) {
    return absl::StrCat(at, "must match ", bound("pattern"));
  }
  if (absl::StartsWith(description, "Array should contain no fewer than")) {
    return absl::StrCat(at, "must have at least ", bound("minItems"), " items");
  }
  if (absl::StartsWith(description, "Array should contain no more than")) {
    return absl::StrCat(at, "must have at most ", bound("maxItems"), " items");
  }
  if (absl::StartsWith(description, "String should be no fewer than")) {
    return absl::StrCat(at, "must be at least ", bound("minLength"), " characters");
  }
  if (absl::StartsWith(description, "String should be no more than")) {
    return absl::StrCat(at, "must be at most ", bound("maxLength"), " characters");
  }
  return absl::StrCat(at, description);
}

// Fills in "default" of every property the config does not set, in nested objects too.
void FillDefaults(const nlohmann::json& schema, nlohmann::json& value) {
  if (!value.is_object() || !schema.contains("properties")) return;
  for (const auto& [name, property] : schema["properties"].items()) {
    if (!value.contains(name)) {
      if (property.contains("default")) value[name] = property["default"];
      continue;
    }
    FillDefaults(property, value[name]);
  }
}

}  // namespace

absl::StatusOr<ConfigValidator> ConfigValidator::Create(const std::string& schema_json) {
  nlohmann::json document = nlohmann::json::parse(schema_json, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.is_object()) {
    return absl::InternalError("kind schema is not a JSON object");
  }
  auto schema = std::make_unique<valijson::Schema>();
  try {
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(document);
    parser.populateSchema(adapter, *schema);
  } catch (const std::exception& error) {
    return absl::InternalError(absl::StrCat("kind schema does not parse: ", error.what()));
  }
  return ConfigValidator(std::move(document), std::move(schema));
}

ConfigValidator::ConfigValidator(nlohmann::json schema_document,
                                 std::unique_ptr<valijson::Schema> schema)
    : schema_document_(std::move(schema_document)), schema_(std::move(schema)) {}
ConfigValidator::ConfigValidator(ConfigValidator&&) noexcept = default;
ConfigValidator& ConfigValidator::operator=(ConfigValidator&&) noexcept = default;
ConfigValidator::~ConfigValidator() = default;

absl::StatusOr<nlohmann::json> ConfigValidator::Validate(const nlohmann::json& config) const {
  if (!config.is_object()) {
    return absl::InvalidArgumentError("config: must be a JSON object");
  }
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(config);
  if (!validator.validate(*schema_, adapter, &results)) {
    // valijson reports the innermost error first; the rest restate it for each parent.
    valijson::ValidationResults::Error error;
    results.popError(error);
    return absl::InvalidArgumentError(absl::StrCat("config: ", Explain(schema_document_, error)));
  }
  nlohmann::json filled = config;
  FillDefaults(schema_document_, filled);
  return filled;
}

}  // namespace middlepipe::scheduler

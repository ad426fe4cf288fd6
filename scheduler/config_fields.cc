#include "scheduler/config_fields.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace middlepipe::scheduler {

absl::Status ConfigFieldError(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("config: ", field, ": ", why));
}

absl::Status RefuseUnknownFields(const nlohmann::json& config,
                                 std::initializer_list<const char*> fields,
                                 absl::string_view kind) {
  for (auto it = config.begin(); it != config.end(); ++it) {
    bool known = false;
    for (const char* field : fields) known = known || it.key() == field;
    if (!known) return ConfigFieldError(it.key(), absl::StrCat("is not a ", kind, " field"));
  }
  return absl::OkStatus();
}

absl::Status ReadIntegerField(const nlohmann::json& config, const char* field, int64_t low,
                              int64_t high, int64_t& out) {
  if (!config.contains(field)) return absl::OkStatus();
  const nlohmann::json& value = config[field];
  if (!value.is_number_integer() || value.get<int64_t>() < low || value.get<int64_t>() > high) {
    return ConfigFieldError(field, high == std::numeric_limits<int64_t>::max()
                                       ? absl::StrCat("must be an integer >= ", low)
                                       : absl::StrCat("must be an integer ", low, "-", high));
  }
  out = value.get<int64_t>();
  return absl::OkStatus();
}

absl::Status ReadHeaderNameField(const nlohmann::json& config, const char* field,
                                 std::string& out) {
  if (!config.contains(field)) return absl::OkStatus();
  const nlohmann::json& value = config[field];
  bool ok = value.is_string() && !value.get<std::string>().empty() &&
            value.get<std::string>().size() <= kMaxHeaderNameLength;
  if (ok) {
    for (char c : value.get<std::string>()) {
      ok = ok &&
           ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
    }
  }
  if (!ok) {
    return ConfigFieldError(field, absl::StrCat("must be a header name (letters, digits, '-'), "
                                                "at most ",
                                                kMaxHeaderNameLength, " characters"));
  }
  out = value.get<std::string>();
  return absl::OkStatus();
}

absl::Status ReadScopeField(const nlohmann::json& config, bool& cluster_scope) {
  if (!config.contains("scope")) return absl::OkStatus();
  const nlohmann::json& scope = config["scope"];
  if (!scope.is_string() || (scope != "cluster" && scope != "instance")) {
    return ConfigFieldError("scope", "must be \"cluster\" or \"instance\"");
  }
  cluster_scope = scope == "cluster";
  return absl::OkStatus();
}

}  // namespace middlepipe::scheduler

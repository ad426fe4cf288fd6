// Reading one field of a kind's config object the way its schema states it, for the
// kinds' parsers (scheduler/filters/<kind>/config.cc): absent fields keep the struct's
// default, present ones are checked against the schema's bounds, and errors name the
// field as the controller's validation does: INVALID_ARGUMENT "config: <field>: <why>".
#pragma once

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace middlepipe::scheduler {

// INVALID_ARGUMENT "config: <field>: <why>".
absl::Status ConfigFieldError(absl::string_view field, absl::string_view why);

// Refuses any key of `config` not in `fields` (the schemas say additionalProperties: false).
absl::Status RefuseUnknownFields(const nlohmann::json& config,
                                 std::initializer_list<const char*> fields, absl::string_view kind);

// An integer in [low, high] (high = max: no upper bound); `out` unchanged when absent.
absl::Status ReadIntegerField(const nlohmann::json& config, const char* field, int64_t low,
                              int64_t high, int64_t& out);

// The longest header name a config may name (key_header, sticky_header).
inline constexpr size_t kMaxHeaderNameLength = 128;

// A request header's name, as the schemas' pattern ^[A-Za-z0-9-]+$ and maxLength allow;
// `out` unchanged when absent.
absl::Status ReadHeaderNameField(const nlohmann::json& config, const char* field, std::string& out);

// "scope": "cluster" (true) or "instance" (false); `cluster_scope` unchanged when absent.
absl::Status ReadScopeField(const nlohmann::json& config, bool& cluster_scope);

}  // namespace middlepipe::scheduler

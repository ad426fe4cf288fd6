#include "scheduler/request_filter.h"

#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace middlepipe::scheduler {

Clock SteadyClockMillis() {
  return [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
}

void RequestCall::AddMarker(const std::string& name, const std::string& value) {
  v1::Header& marker = markers.emplace_back();
  marker.set_name(name);
  marker.set_value(value);
}

std::optional<std::string> RequestCall::RequestHeader(absl::string_view name) const {
  for (const v1::Header& header : request.headers()) {
    if (absl::EqualsIgnoreCase(header.name(), name)) return header.value();
  }
  return std::nullopt;
}

v1::Header CallbackMarker(absl::string_view kind, absl::string_view middlepipe,
                          absl::string_view event, absl::string_view detail) {
  v1::Header marker;
  marker.set_name("Middlepipe-Callback");
  std::string value = absl::StrCat(kind, "; name=\"", middlepipe, "\"; event=", event);
  if (!detail.empty()) absl::StrAppend(&value, "; detail=\"", detail, "\"");
  marker.set_value(value);
  return marker;
}

}  // namespace middlepipe::scheduler

#include "scheduler/request_filter.h"

#include <chrono>
#include <string_view>

#include "common/markers.h"

namespace middlepipe::scheduler {
namespace {

// Debian's absl::string_view is its own type, not std::string_view (which the marker
// contract takes, to stay free of absl for the client core).
std::string_view Std(absl::string_view text) { return {text.data(), text.size()}; }

}  // namespace

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
    if (markers::HeaderNameEquals(header.name(), Std(name))) return header.value();
  }
  return std::nullopt;
}

v1::Header CallbackMarker(absl::string_view kind, absl::string_view middlepipe,
                          absl::string_view event, absl::string_view detail) {
  v1::Header marker;
  marker.set_name(markers::kCallbackHeader);
  marker.set_value(
      markers::FormatCallbackMarker(Std(kind), Std(middlepipe), Std(event), Std(detail)));
  return marker;
}

}  // namespace middlepipe::scheduler

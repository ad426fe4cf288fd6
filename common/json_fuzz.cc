// libFuzzer target: JSON from outside (broker bodies, configs) through the depth check and
// the parser, then what consumers do with a document (dump, walk); and the dashboard's
// form and cookie parsing. Nothing may crash, leak or overflow the stack.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/json.h"
#include "controller/dashboard/sessions.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<nlohmann::json> parsed = middlepipe::ParseJson(text, "input");
  if (parsed.ok()) {
    const std::string dumped = parsed->dump();
    absl::StatusOr<nlohmann::json> again = middlepipe::ParseJson(dumped, "dump");
    if (!again.ok() || *again != *parsed) __builtin_trap();  // a dump parses back to itself
  }
  middlepipe::controller::FormValue(text, "token");
  middlepipe::controller::CookieValue(text, "mp_session");
  return 0;
}

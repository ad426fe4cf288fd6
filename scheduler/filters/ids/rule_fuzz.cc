// libFuzzer target: the ids rule parser, and the matcher built from whatever parses, on
// arbitrary text. Nothing may crash or read out of bounds. Built and run by tools/fuzz/run.
#include <cstddef>
#include <cstdint>
#include <string>

#include "scheduler/filters/ids/pattern_matcher.h"
#include "scheduler/filters/ids/rule.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<middlepipe::scheduler::ids::Rule> rule = middlepipe::scheduler::ids::ParseRule(text);
  if (!rule.ok()) return 0;
  middlepipe::scheduler::ids::PatternMatcher matcher;
  for (const auto& content : rule->contents) matcher.Add(content.bytes, content.nocase);
  matcher.Build();
  middlepipe::scheduler::ids::PatternMatcher::Cursor cursor;
  size_t found = 0;
  matcher.Scan(cursor, text, [&](uint32_t, size_t) { ++found; });
  return 0;
}

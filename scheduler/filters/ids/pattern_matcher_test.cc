#include "scheduler/filters/ids/pattern_matcher.h"

#include <random>
#include <set>
#include <utility>

#include <gtest/gtest.h>

#include "absl/strings/ascii.h"

namespace middlepipe::scheduler::ids {
namespace {

using Found = std::set<std::pair<uint32_t, size_t>>;  // (pattern, end offset in the stream)

// Scans `text` cut into chunks at `cuts`.
Found ScanInChunks(const PatternMatcher& matcher, const std::string& text,
                   const std::vector<size_t>& cuts) {
  Found found;
  PatternMatcher::Cursor cursor;
  size_t at = 0;
  for (size_t cut : cuts) {
    matcher.Scan(cursor, absl::string_view(text).substr(at, cut - at),
                 [&](uint32_t id, size_t end) { found.insert({id, at + end}); });
    at = cut;
  }
  matcher.Scan(cursor, absl::string_view(text).substr(at),
               [&](uint32_t id, size_t end) { found.insert({id, at + end}); });
  return found;
}

TEST(PatternMatcherTest, FindsOverlappingAndNestedPatternsAcrossChunks) {
  PatternMatcher matcher;
  matcher.Add("he", false);
  matcher.Add("she", false);
  matcher.Add("his", false);
  matcher.Add("hers", false);
  matcher.Build();
  const Found expected = {{1, 4}, {0, 4}, {3, 6}};  // "ushers"
  EXPECT_EQ(ScanInChunks(matcher, "ushers", {}), expected);
  EXPECT_EQ(ScanInChunks(matcher, "ushers", {1, 2, 3, 4, 5}), expected);
}

TEST(PatternMatcherTest, NocaseAndExactPatternsShareOneAutomaton) {
  PatternMatcher matcher;
  const uint32_t exact = matcher.Add("Admin", false);
  const uint32_t any_case = matcher.Add("admin", true);
  matcher.Build();
  EXPECT_EQ(ScanInChunks(matcher, "ADMIN", {}), (Found{{any_case, 5}}));
  EXPECT_EQ(ScanInChunks(matcher, "xAdmin", {3}), (Found{{exact, 6}, {any_case, 6}}));
  EXPECT_EQ(ScanInChunks(matcher, "xAdmIn", {2}), (Found{{any_case, 6}}));
  EXPECT_LT(matcher.states(), 12u);
}

TEST(PatternMatcherTest, AgreesWithANaiveSearchOnRandomInput) {
  std::mt19937 random(3);
  for (int round = 0; round < 200; ++round) {
    PatternMatcher matcher;
    std::vector<std::pair<std::string, bool>> patterns;
    for (int i = 0, n = 1 + random() % 12; i < n; ++i) {
      std::string pattern;
      for (int j = 0, length = 1 + random() % 5; j < length; ++j) {
        pattern.push_back("aAbB\x00\xff"[random() % 6]);
      }
      const bool nocase = random() % 2 == 0;
      patterns.push_back({pattern, nocase});
      matcher.Add(pattern, nocase);
    }
    matcher.Build();
    std::string text;
    for (int j = 0, length = random() % 200; j < length; ++j) text.push_back("aAbBc\x00\xff"[random() % 7]);
    Found naive;
    for (uint32_t id = 0; id < patterns.size(); ++id) {
      const auto& [pattern, nocase] = patterns[id];
      for (size_t at = 0; at + pattern.size() <= text.size(); ++at) {
        std::string window = text.substr(at, pattern.size());
        const bool equal = nocase ? absl::AsciiStrToLower(window) == absl::AsciiStrToLower(pattern)
                                  : window == pattern;
        if (equal) naive.insert({id, at + pattern.size()});
      }
    }
    std::vector<size_t> cuts;
    for (size_t at = 0; at < text.size(); at += 1 + random() % 7) cuts.push_back(at);
    ASSERT_EQ(ScanInChunks(matcher, text, cuts), naive) << "round " << round;
  }
}

}  // namespace
}  // namespace middlepipe::scheduler::ids

// Finds every pattern of a rule set in a byte stream in one pass (Aho–Corasick), however
// many rules there are, and across chunk boundaries: a Cursor carries where the automaton
// is between one chunk of a stream and the next, so a pattern split over TCP segments is
// found like any other.
//
// One automaton serves case-sensitive and nocase patterns alike: it runs on ASCII-folded
// bytes, and a case-sensitive match is then checked against the original bytes (the
// cursor keeps the last few bytes of the previous chunk for matches that straddle it).
// Bytes that no pattern contains share one input class, so the transition table is
// states × (distinct pattern bytes + 1), not states × 256.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace middlepipe::scheduler::ids {

class PatternMatcher {
 public:
  struct Cursor {
    uint32_t state = 0;
    // The last (longest case-sensitive pattern - 1) original bytes before the next chunk.
    std::string tail;
  };

  // Adds a pattern (not empty) and returns its id: 0, 1, 2, ... Before Build() only.
  uint32_t Add(std::string pattern, bool nocase);
  void Build();

  size_t patterns() const { return patterns_.size(); }
  size_t states() const { return outputs_.size(); }
  size_t pattern_length(uint32_t id) const { return patterns_[id].bytes.size(); }

  // Scans the next chunk of a stream; calls found(pattern_id, end) for each occurrence,
  // `end` being the index in `bytes` just past the match (it may start in an earlier chunk).
  template <typename Found>
  void Scan(Cursor& cursor, absl::string_view bytes, Found&& found) const {
    uint32_t state = cursor.state;
    const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
    const size_t size = bytes.size();
    for (size_t i = 0; i < size; ++i) {
      if (state == 0) {
        // At the root most bytes lead back to it: skip them with one table look-up each
        // (the first-byte filter real IDS engines use) instead of a full transition.
        while (i < size && !leaves_root_[data[i]]) ++i;
        if (i == size) break;
      }
      const uint32_t next = next_[static_cast<size_t>(state) * classes_ + class_of_[data[i]]];
      state = next & kStateMask;
      if ((next & kHasOutput) != 0) {
        for (uint32_t id : outputs_[state]) {
          if (patterns_[id].nocase || Verify(cursor.tail, bytes, i + 1, patterns_[id].bytes)) {
            found(id, i + 1);
          }
        }
      }
    }
    cursor.state = state;
    if (longest_exact_ > 1) KeepTail(cursor.tail, bytes);
  }

 private:
  struct Pattern {
    std::string bytes;
    bool nocase;
  };

  // Whether the original bytes ending at `end` of `bytes` (continuing into `tail`) are
  // exactly `pattern`.
  static bool Verify(const std::string& tail, absl::string_view bytes, size_t end,
                     const std::string& pattern);
  void KeepTail(std::string& tail, absl::string_view bytes) const;

  std::vector<Pattern> patterns_;
  std::array<uint16_t, 256> class_of_{};
  size_t classes_ = 1;
  // A transition is the next state, with kHasOutput set when patterns end there (one load
  // per byte instead of two).
  static constexpr uint32_t kHasOutput = 0x80000000u;
  static constexpr uint32_t kStateMask = 0x7fffffffu;
  std::vector<uint32_t> next_;
  std::vector<std::vector<uint32_t>> outputs_;
  std::array<bool, 256> leaves_root_{};
  size_t longest_exact_ = 0;
};

}  // namespace middlepipe::scheduler::ids

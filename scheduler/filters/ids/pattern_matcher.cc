#include "scheduler/filters/ids/pattern_matcher.h"

#include <algorithm>
#include <deque>

#include "absl/strings/ascii.h"

namespace middlepipe::scheduler::ids {
namespace {

constexpr uint32_t kNone = ~uint32_t{0};

unsigned char Fold(unsigned char c) { return static_cast<unsigned char>(absl::ascii_tolower(c)); }

}  // namespace

uint32_t PatternMatcher::Add(std::string pattern, bool nocase) {
  if (!nocase) longest_exact_ = std::max(longest_exact_, pattern.size());
  patterns_.push_back({std::move(pattern), nocase});
  return static_cast<uint32_t>(patterns_.size() - 1);
}

void PatternMatcher::Build() {
  // Input classes: one per distinct folded byte that occurs in a pattern, 0 for the rest.
  class_of_.fill(0);
  std::array<uint16_t, 256> folded_class{};
  classes_ = 1;
  for (const Pattern& pattern : patterns_) {
    for (unsigned char c : pattern.bytes) {
      if (folded_class[Fold(c)] == 0) folded_class[Fold(c)] = static_cast<uint16_t>(classes_++);
    }
  }
  for (int c = 0; c < 256; ++c) class_of_[c] = folded_class[Fold(static_cast<unsigned char>(c))];

  // The trie of folded patterns.
  next_.assign(classes_, kNone);
  outputs_.assign(1, {});
  for (uint32_t id = 0; id < patterns_.size(); ++id) {
    uint32_t state = 0;
    for (unsigned char c : patterns_[id].bytes) {
      size_t slot = static_cast<size_t>(state) * classes_ + class_of_[c];
      if (next_[slot] == kNone) {
        next_[slot] = static_cast<uint32_t>(outputs_.size());
        outputs_.emplace_back();
        next_.resize(next_.size() + classes_, kNone);
      }
      state = next_[slot];
    }
    outputs_[state].push_back(id);
  }

  // Breadth first: failure links, folded into a complete transition table, and each
  // state's outputs extended with its failure state's (all patterns ending here).
  std::vector<uint32_t> failure(outputs_.size(), 0);
  std::deque<uint32_t> queue;
  for (size_t c = 0; c < classes_; ++c) {
    uint32_t& to = next_[c];
    if (to == kNone) {
      to = 0;
    } else {
      failure[to] = 0;
      queue.push_back(to);
    }
  }
  while (!queue.empty()) {
    const uint32_t state = queue.front();
    queue.pop_front();
    const std::vector<uint32_t>& inherited = outputs_[failure[state]];
    outputs_[state].insert(outputs_[state].end(), inherited.begin(), inherited.end());
    for (size_t c = 0; c < classes_; ++c) {
      uint32_t& to = next_[static_cast<size_t>(state) * classes_ + c];
      const uint32_t via_failure = next_[static_cast<size_t>(failure[state]) * classes_ + c];
      if (to == kNone) {
        to = via_failure;
      } else {
        failure[to] = via_failure;
        queue.push_back(to);
      }
    }
  }
  for (uint32_t& to : next_) {
    if (!outputs_[to].empty()) to |= kHasOutput;
  }
  for (int c = 0; c < 256; ++c) leaves_root_[c] = (next_[class_of_[c]] & kStateMask) != 0;
}

bool PatternMatcher::Verify(const std::string& tail, absl::string_view bytes, size_t end,
                            const std::string& pattern) {
  // Compare from the pattern's end backwards: first in this chunk, then in the tail.
  size_t remaining = pattern.size();
  size_t in_chunk = std::min(remaining, end);
  if (bytes.substr(end - in_chunk, in_chunk) !=
      absl::string_view(pattern).substr(remaining - in_chunk)) {
    return false;
  }
  remaining -= in_chunk;
  if (remaining == 0) return true;
  if (tail.size() < remaining) return false;
  return absl::string_view(tail).substr(tail.size() - remaining) ==
         absl::string_view(pattern).substr(0, remaining);
}

void PatternMatcher::KeepTail(std::string& tail, absl::string_view bytes) const {
  const size_t keep = longest_exact_ - 1;
  if (bytes.size() >= keep) {
    tail.assign(bytes.substr(bytes.size() - keep).data(), keep);
    return;
  }
  tail.append(bytes.data(), bytes.size());
  if (tail.size() > keep) tail.erase(0, tail.size() - keep);
}

}  // namespace middlepipe::scheduler::ids

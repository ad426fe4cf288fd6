// Keyed token buckets in the segment (a rate limit with key_header): an open-addressing
// table of `slots` (a power of two) in consecutive cells from `base`. Slot i is cell
// base + 2i, the key's tag (StableHash of the key; 0 empty, 1 removed, so tags avoid
// both), and cell base + 2i + 1, its GCRA word (gcra.h).
//
// Only the agent writes tags (under its filter's lock): it makes a key's bucket when a
// call with a new key reaches it, so client cores only look keys up and take tokens; a
// key they do not find goes to the agent. Insertion writes the bucket's word before the
// tag (release), and lookups read the tag first (acquire), so a client that finds a key
// finds its bucket. A key removed (evicted) while a client is taking from it may cost
// the key that takes its slot next one token.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "fastpath/stable_hash.h"

namespace middlepipe::fastpath {

// How far a key may sit from its home slot.
constexpr uint32_t kKeyProbes = 16;
constexpr uint64_t kEmptyTag = 0;
constexpr uint64_t kRemovedTag = 1;

inline uint64_t KeyTag(std::string_view key) {
  const uint64_t hash = StableHash({key});
  return hash <= kRemovedTag ? hash + 2 : hash;
}

class KeyTable {
 public:
  KeyTable(std::atomic<int64_t>* cells, uint32_t slots) : cells_(cells), slots_(slots) {}

  uint32_t slots() const { return slots_; }
  std::atomic<int64_t>& bucket(uint32_t slot) const { return cells_[2 * slot + 1]; }

  // The slot holding `tag`, or -1.
  int Find(uint64_t tag) const {
    for (uint32_t probe = 0; probe < kKeyProbes && probe < slots_; ++probe) {
      const uint32_t slot = Home(tag, probe);
      const auto seen = static_cast<uint64_t>(Tag(slot).load(std::memory_order_acquire));
      if (seen == tag) return static_cast<int>(slot);
      if (seen == kEmptyTag) return -1;
    }
    return -1;
  }

  // The agent's side. A slot for `tag` (not in the table) whose bucket word the caller
  // sets before Publish; -1 when the key's probe window is full.
  int Free(uint64_t tag) const {
    for (uint32_t probe = 0; probe < kKeyProbes && probe < slots_; ++probe) {
      const uint32_t slot = Home(tag, probe);
      const auto seen = static_cast<uint64_t>(Tag(slot).load(std::memory_order_relaxed));
      if (seen == kEmptyTag || seen == kRemovedTag) return static_cast<int>(slot);
    }
    return -1;
  }
  void Publish(uint32_t slot, uint64_t tag) { Tag(slot).store(static_cast<int64_t>(tag), std::memory_order_release); }
  void Remove(uint32_t slot) { Tag(slot).store(static_cast<int64_t>(kRemovedTag), std::memory_order_release); }
  void Clear() {
    for (uint32_t slot = 0; slot < slots_; ++slot) Tag(slot).store(kEmptyTag, std::memory_order_relaxed);
  }

 private:
  uint32_t Home(uint64_t tag, uint32_t probe) const { return static_cast<uint32_t>(tag + probe) & (slots_ - 1); }
  std::atomic<int64_t>& Tag(uint32_t slot) const { return cells_[2 * slot]; }

  std::atomic<int64_t>* cells_;
  uint32_t slots_;
};

}  // namespace middlepipe::fastpath

// A 64-bit hash that is the same in every process and on every machine (std::hash and
// absl::Hash are seeded per process), so the agent and every app's client core agree on
// it: FNV-1a over the bytes, then the splitmix64 finalizer to spread FNV's weak low bits
// over the whole word.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>

namespace middlepipe::fastpath {

// Hashes the parts in order, with a 0xff byte between them (no text this hashes
// contains one), so ("ab", "c") and ("a", "bc") differ.
inline uint64_t StableHash(std::initializer_list<std::string_view> parts) {
  uint64_t hash = 0xcbf29ce484222325ull;
  bool first = true;
  for (std::string_view part : parts) {
    if (!first) {
      hash ^= 0xffu;
      hash *= 0x100000001b3ull;
    }
    first = false;
    for (unsigned char byte : part) {
      hash ^= byte;
      hash *= 0x100000001b3ull;
    }
  }
  hash ^= hash >> 30;
  hash *= 0xbf58476d1ce4e5b9ull;
  hash ^= hash >> 27;
  hash *= 0x94d049bb133111ebull;
  hash ^= hash >> 31;
  return hash;
}

}  // namespace middlepipe::fastpath

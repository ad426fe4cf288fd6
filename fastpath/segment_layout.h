// The fast-path segment (DESIGN.md §5): a shared-memory file the agent creates in its
// container and the app's client core maps. Its bytes are the contract between the two,
// so this header has no dependencies and every type here has a fixed size.
//
//   Header        magic, version, the sizes and offsets of the regions below (written
//                 once, before the file appears under its name), the agent's heartbeat,
//                 the directory seqlock and the ring's counters.
//   BindingSlot   x binding_slots: one chain (app -> service) each, as an encoded Program
//                 (program.h) behind a seqlock: the agent writes, clients copy and check.
//   Cell          x cell_count: 64-bit atomics clients and the agent update together
//                 (rate-limit token buckets, as GCRA theoretical arrival times).
//   Observation   x ring_capacity: a bounded multi-producer ring (Vyukov's sequence
//                 cells) of completed calls, which the agent drains and runs its filters'
//                 OnResponse on.
//
// A client never trusts what it reads: offsets and sizes are checked against the mapping
// on attach, and a slot's payload is copied out and parsed with bounds checks.
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>

namespace middlepipe::fastpath {

constexpr uint32_t kMagic = 0x5046504D;  // "MPFP" in memory order
// 2: ring cell sequences are stored relative to the cell's index, so zeros are free;
//    observations carry per-filter choices and a keyed rate limit's key slot.
constexpr uint32_t kLayoutVersion = 2;

// Sizes the agent creates segments with (a client reads them from the header).
constexpr uint32_t kDefaultBindingSlots = 64;
constexpr uint32_t kDefaultSlotWords = 1024;  // 8 KiB of program per binding
constexpr uint32_t kDefaultCells = 65536;  // 512 KiB; pages no bucket uses stay unwritten
constexpr uint32_t kDefaultRingCapacity = 16384;  // a power of two

// Limits a client enforces on any header, so a hostile one cannot make it map or scan
// without bound.
constexpr uint32_t kMaxBindingSlots = 4096;
constexpr uint32_t kMaxSlotWords = 65536;
constexpr uint32_t kMaxCells = 1u << 20;
constexpr uint32_t kMaxRingCapacity = 1u << 22;

struct Header {
  uint32_t magic;
  uint32_t version;
  uint64_t size;  // bytes of the whole file
  uint32_t binding_slots;
  uint32_t slot_words;
  uint64_t slots_offset;
  uint32_t cell_count;
  uint32_t observation_bytes;  // sizeof(Observation) when written
  uint64_t cells_offset;
  uint32_t ring_capacity;
  uint32_t reserved;
  uint64_t ring_offset;
  // The agent's clock (CLOCK_MONOTONIC, ms) when it last showed it is alive; a client
  // treats the segment as stale (and asks the agent over the socket) when it is old.
  std::atomic<uint64_t> heartbeat_ms;
  // Odd while the agent changes which binding lives in which slot.
  std::atomic<uint64_t> directory_seq;
  // The ring's next position to produce; the consumer's position is the agent's own.
  std::atomic<uint64_t> ring_enqueue;
  // Observations a full ring turned away.
  std::atomic<uint64_t> ring_dropped;
  std::atomic<uint64_t> agent_pid;
  // Bindings the agent has no slot for: while nonzero, a service missing from the
  // directory may be one of them, so a client asks the agent instead of going direct.
  std::atomic<uint64_t> unlisted;
};

struct BindingSlot {
  // Odd while the agent writes `words`.
  std::atomic<uint64_t> seq;
  // The encoded Program (its first 4 bytes give its length), then zeros. Read word by
  // word: the seqlock, not the words, says whether a copy is whole.
  std::atomic<uint64_t> words[1];  // really slot_words of them
};

constexpr uint8_t kNotAnswered = 0xFF;
// Filters (by position in the chain) whose in-process choice an observation carries.
constexpr uint8_t kChoiceFilters = 8;

// What a client appends for one completed call.
struct ObservationData {
  uint64_t binding_id = 0;
  uint64_t epoch = 0;
  uint64_t latency_us = 0;
  uint64_t request_bytes = 0;
  uint64_t response_bytes = 0;
  uint32_t status = 0;  // HTTP status; 0 = transport failure; ignored when answered
  uint8_t answered_by = kNotAnswered;  // index of the filter that answered, if one did
  uint8_t filter_count = 0;  // filters of the chain as the client saw it
  // The slot + 1 of the key whose bucket a keyed rate limit took from (0: none), so the
  // agent knows which key was used.
  uint16_t key_slot = 0;
  // What the client chose for filter i, for the agent to count it the same way: a
  // traffic split's route + 1 (0: none reachable), 1 for a delay fault-inject injected.
  uint8_t choices[kChoiceFilters] = {};
};

// One cell of the ring: the call, behind Vyukov's cell sequence (== position when free
// to produce, position + 1 when full). The word holds the sequence minus the cell's
// index, so a fresh file's zeros mean "free for the first lap": the agent need not
// write (and so keep resident) the whole ring before the first call.
struct Observation {
  std::atomic<uint64_t> relative_sequence;
  ObservationData data;
};

static_assert(std::atomic<uint64_t>::is_always_lock_free, "cross-process atomics need lock-free");
static_assert(std::atomic<int64_t>::is_always_lock_free, "cross-process atomics need lock-free");
static_assert(sizeof(std::atomic<uint64_t>) == 8, "atomics must be plain words");
static_assert(std::is_standard_layout<Header>::value, "Header is a byte layout");
static_assert(std::is_trivially_copyable<ObservationData>::value, "ObservationData is a byte layout");
static_assert(sizeof(Observation) == 64, "Observation is a byte layout");

// Where each region starts in a segment with these sizes; every region is 64-byte
// aligned so producers on different cores do not share lines with the header.
struct Geometry {
  uint32_t binding_slots;
  uint32_t slot_words;
  uint32_t cell_count;
  uint32_t ring_capacity;
  uint64_t slots_offset;
  uint64_t cells_offset;
  uint64_t ring_offset;
  uint64_t size;

  static constexpr uint64_t Align(uint64_t value) { return (value + 63) & ~uint64_t{63}; }
  static constexpr uint64_t SlotBytes(uint32_t slot_words) { return Align(8 + 8ull * slot_words); }

  static Geometry For(uint32_t binding_slots, uint32_t slot_words, uint32_t cell_count,
                      uint32_t ring_capacity) {
    Geometry geometry{binding_slots, slot_words, cell_count, ring_capacity, 0, 0, 0, 0};
    geometry.slots_offset = Align(sizeof(Header));
    geometry.cells_offset = Align(geometry.slots_offset + SlotBytes(slot_words) * binding_slots);
    geometry.ring_offset = Align(geometry.cells_offset + 8ull * cell_count);
    geometry.size = Align(geometry.ring_offset + uint64_t{sizeof(Observation)} * ring_capacity);
    return geometry;
  }
};

}  // namespace middlepipe::fastpath

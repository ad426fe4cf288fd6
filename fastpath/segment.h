// A mapped fast-path segment (segment_layout.h): created by the agent, attached by the
// client core. Holds the mapping and gives checked access to its regions, the binding
// slots' seqlock and the observation ring.
//
// Errors are strings, not exceptions: the client core is also a C library.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "fastpath/segment_layout.h"

namespace middlepipe::fastpath {

// CLOCK_MONOTONIC, the clock the agent and every app of the host share.
int64_t MonotonicMicros();

class Segment {
 public:
  struct Sizes {
    uint32_t binding_slots = kDefaultBindingSlots;
    uint32_t slot_words = kDefaultSlotWords;
    uint32_t cell_count = kDefaultCells;
    uint32_t ring_capacity = kDefaultRingCapacity;
  };

  // The agent's side: a new segment at `path` (any file there is replaced), mode 0600,
  // owned by `owner_uid` when it is not -1 (the container's app user). Written under a
  // temporary name and renamed, so a client never sees half a header.
  static std::unique_ptr<Segment> Create(const std::string& path, const Sizes& sizes,
                                         uid_t owner_uid, std::string* error);
  // The client's side: maps `path` and checks its header (magic, version, sizes that fit
  // the file and the limits). nullptr with `error` set when it cannot be used.
  static std::unique_ptr<Segment> Attach(const std::string& path, std::string* error);

  ~Segment();
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;

  Header& header() const { return *header_; }
  const Geometry& geometry() const { return geometry_; }
  const std::string& path() const { return path_; }

  // Slot i (i < binding_slots).
  BindingSlot& slot(uint32_t index) const;
  // Cell i (i < cell_count).
  std::atomic<int64_t>& cell(uint32_t index) const;

  // Writes `payload` (at most slot_words * 8 bytes) into slot i under its seqlock. One
  // writer (the agent) at a time.
  bool WriteSlot(uint32_t index, const std::string& payload);
  // Copies slot i's payload into `payload` if no write overlapped the copy; `seq` gets
  // the (even) sequence it was read at. False when a writer was busy throughout.
  bool ReadSlot(uint32_t index, std::string* payload, uint64_t* seq) const;

  // Producer side (any thread of any process): false when the ring is full (counted in
  // ring_dropped) or the ring's state makes no sense (a corrupt segment). Never blocks.
  bool Append(const ObservationData& observation);
  // Consumer side (the agent's one draining thread): hands every observation produced so
  // far to `take`, in order, and returns how many. A producer that claimed a cell and
  // did not fill it for `abandon_after_us` (it died mid-append) has its cell skipped and
  // counted in `abandoned`.
  size_t Drain(const std::function<void(const ObservationData&)>& take,
               int64_t abandon_after_us = 1'000'000);
  uint64_t abandoned() const { return abandoned_.load(std::memory_order_relaxed); }

 private:
  Segment(std::string path, void* base, uint64_t size, const Geometry& geometry);

  const std::string path_;
  void* const base_;
  const uint64_t size_;
  const Geometry geometry_;
  Header* const header_;
  // Consumer state (agent only).
  uint64_t dequeue_ = 0;
  int64_t stalled_since_us_ = -1;
  std::atomic<uint64_t> abandoned_{0};  // read by any thread, written by the drainer
};

}  // namespace middlepipe::fastpath

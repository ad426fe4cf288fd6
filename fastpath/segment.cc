#include "fastpath/segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace middlepipe::fastpath {
namespace {

// A segment larger than this is refused on attach (ours are about 1.5 MB).
constexpr uint64_t kMaxSegmentBytes = uint64_t{1} << 30;
// A producer gives up (and drops) after this many lost races for a cell.
constexpr int kAppendAttempts = 64;
// A reader gives up on a slot after this many writes overlapped its copies.
constexpr int kReadAttempts = 64;

std::string Errno(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

Observation* Ring(void* base, const Geometry& geometry) {
  return reinterpret_cast<Observation*>(static_cast<char*>(base) + geometry.ring_offset);
}

// A ring cell's Vyukov sequence, stored relative to the cell's index (segment_layout.h).
uint64_t LoadSequence(const Observation& cell, uint64_t index) {
  return cell.relative_sequence.load(std::memory_order_acquire) + index;
}

void StoreSequence(Observation& cell, uint64_t index, uint64_t sequence) {
  cell.relative_sequence.store(sequence - index, std::memory_order_release);
}

}  // namespace

int64_t MonotonicMicros() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return int64_t{now.tv_sec} * 1'000'000 + now.tv_nsec / 1000;
}

Segment::Segment(std::string path, void* base, uint64_t size, const Geometry& geometry)
    : path_(std::move(path)),
      base_(base),
      size_(size),
      geometry_(geometry),
      header_(static_cast<Header*>(base)) {}

Segment::~Segment() { munmap(base_, size_); }

std::unique_ptr<Segment> Segment::Create(const std::string& path, const Sizes& sizes,
                                         uid_t owner_uid, std::string* error) {
  if (sizes.ring_capacity == 0 || (sizes.ring_capacity & (sizes.ring_capacity - 1)) != 0) {
    *error = "ring capacity must be a power of two";
    return nullptr;
  }
  const Geometry geometry =
      Geometry::For(sizes.binding_slots, sizes.slot_words, sizes.cell_count, sizes.ring_capacity);
  const std::string temporary = path + ".tmp." + std::to_string(getpid());
  unlink(temporary.c_str());
  int fd = open(temporary.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = Errno("cannot create", temporary);
    return nullptr;
  }
  // fchmod too: the umask may have taken bits from 0600, never added any, but be exact.
  if (ftruncate(fd, static_cast<off_t>(geometry.size)) != 0 || fchmod(fd, 0600) != 0 ||
      (owner_uid != static_cast<uid_t>(-1) && fchown(fd, owner_uid, static_cast<gid_t>(-1)) != 0)) {
    *error = Errno("cannot size or own", temporary);
    close(fd);
    unlink(temporary.c_str());
    return nullptr;
  }
  void* base = mmap(nullptr, geometry.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (base == MAP_FAILED) {
    *error = Errno("cannot map", temporary);
    unlink(temporary.c_str());
    return nullptr;
  }
  // The file is zeros: placement-new the atomics' initial values where they are not 0.
  auto* header = static_cast<Header*>(base);
  header->magic = kMagic;
  header->version = kLayoutVersion;
  header->size = geometry.size;
  header->binding_slots = geometry.binding_slots;
  header->slot_words = geometry.slot_words;
  header->slots_offset = geometry.slots_offset;
  header->cell_count = geometry.cell_count;
  header->observation_bytes = sizeof(Observation);
  header->cells_offset = geometry.cells_offset;
  header->ring_capacity = geometry.ring_capacity;
  header->ring_offset = geometry.ring_offset;
  header->agent_pid.store(static_cast<uint64_t>(getpid()), std::memory_order_relaxed);
  header->heartbeat_ms.store(static_cast<uint64_t>(MonotonicMicros() / 1000), std::memory_order_relaxed);
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    *error = Errno("cannot publish", path);
    munmap(base, geometry.size);
    unlink(temporary.c_str());
    return nullptr;
  }
  return std::unique_ptr<Segment>(new Segment(path, base, geometry.size, geometry));
}

std::unique_ptr<Segment> Segment::Attach(const std::string& path, std::string* error) {
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    *error = Errno("cannot open", path);
    return nullptr;
  }
  struct stat info {};
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    *error = path + " is not a regular file";
    close(fd);
    return nullptr;
  }
  const auto size = static_cast<uint64_t>(info.st_size);
  if (size < sizeof(Header) || size > kMaxSegmentBytes) {
    *error = path + ": size " + std::to_string(size) + " is not a fast-path segment's";
    close(fd);
    return nullptr;
  }
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (base == MAP_FAILED) {
    *error = Errno("cannot map", path);
    return nullptr;
  }
  // Copy the fixed fields once: the checks below must hold for the values used later.
  Header copy;
  std::memcpy(static_cast<void*>(&copy), base, offsetof(Header, heartbeat_ms));
  auto refuse = [&](const std::string& why) -> std::unique_ptr<Segment> {
    *error = path + ": " + why;
    munmap(base, size);
    return nullptr;
  };
  if (copy.magic != kMagic) return refuse("not a middlepipe fast-path segment (bad magic)");
  if (copy.version != kLayoutVersion) {
    return refuse("layout version " + std::to_string(copy.version) + ", this client reads " +
                  std::to_string(kLayoutVersion));
  }
  if (copy.observation_bytes != sizeof(Observation) || copy.binding_slots == 0 ||
      copy.binding_slots > kMaxBindingSlots || copy.slot_words < 2 ||
      copy.slot_words > kMaxSlotWords || copy.cell_count > kMaxCells || copy.ring_capacity == 0 ||
      copy.ring_capacity > kMaxRingCapacity || (copy.ring_capacity & (copy.ring_capacity - 1)) != 0) {
    return refuse("sizes out of range");
  }
  const Geometry geometry =
      Geometry::For(copy.binding_slots, copy.slot_words, copy.cell_count, copy.ring_capacity);
  if (geometry.slots_offset != copy.slots_offset || geometry.cells_offset != copy.cells_offset ||
      geometry.ring_offset != copy.ring_offset || geometry.size != copy.size || geometry.size > size) {
    return refuse("region offsets do not match its sizes");
  }
  return std::unique_ptr<Segment>(new Segment(path, base, size, geometry));
}

BindingSlot& Segment::slot(uint32_t index) const {
  return *reinterpret_cast<BindingSlot*>(static_cast<char*>(base_) + geometry_.slots_offset +
                                         Geometry::SlotBytes(geometry_.slot_words) * index);
}

std::atomic<int64_t>& Segment::cell(uint32_t index) const {
  return reinterpret_cast<std::atomic<int64_t>*>(static_cast<char*>(base_) +
                                                 geometry_.cells_offset)[index];
}

bool Segment::WriteSlot(uint32_t index, const std::string& payload) {
  const uint64_t bytes = 4 + payload.size();
  if (index >= geometry_.binding_slots || bytes > uint64_t{geometry_.slot_words} * 8) return false;
  BindingSlot& target = slot(index);
  // Fence-free seqlock (ThreadSanitizer does not model fences): the odd mark is an
  // acquire-release RMW so no word store moves above it; words are release stores, so a
  // reader that sees any of them also sees the odd mark when it checks again.
  const uint64_t seq = target.seq.fetch_add(1, std::memory_order_acq_rel);
  const auto length = static_cast<uint32_t>(payload.size());
  for (uint64_t word = 0; word * 8 < bytes; ++word) {
    unsigned char chunk[8] = {};
    for (uint64_t byte = 0; byte < 8; ++byte) {
      const uint64_t at = word * 8 + byte;
      if (at < 4) {
        chunk[byte] = static_cast<unsigned char>(length >> (8 * at));
      } else if (at < bytes) {
        chunk[byte] = static_cast<unsigned char>(payload[at - 4]);
      }
    }
    uint64_t value;
    std::memcpy(&value, chunk, 8);
    target.words[word].store(value, std::memory_order_release);
  }
  target.seq.store(seq + 2, std::memory_order_release);
  return true;
}

bool Segment::ReadSlot(uint32_t index, std::string* payload, uint64_t* seq) const {
  if (index >= geometry_.binding_slots) return false;
  const BindingSlot& source = slot(index);
  const uint64_t capacity = uint64_t{geometry_.slot_words} * 8;
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    const uint64_t before = source.seq.load(std::memory_order_acquire);
    if (before % 2 != 0) continue;
    // Acquire loads: the check of `seq` below cannot move above them.
    uint64_t first = source.words[0].load(std::memory_order_acquire);
    uint64_t length = first & 0xFFFFFFFFu;
    if (4 + length > capacity) length = capacity - 4;  // corrupt: read what fits, parse refuses
    payload->resize(length);
    for (uint64_t at = 4; at < 4 + length;) {
      const uint64_t word = at / 8;
      uint64_t value = word == 0 ? first : source.words[word].load(std::memory_order_acquire);
      unsigned char chunk[8];
      std::memcpy(chunk, &value, 8);
      for (uint64_t byte = at % 8; byte < 8 && at < 4 + length; ++byte, ++at) {
        (*payload)[at - 4] = static_cast<char>(chunk[byte]);
      }
    }
    if (source.seq.load(std::memory_order_acquire) == before) {
      *seq = before;
      return true;
    }
  }
  return false;
}

bool Segment::Append(const ObservationData& data) {
  Observation* ring = Ring(base_, geometry_);
  const uint64_t mask = geometry_.ring_capacity - 1;
  uint64_t position = header_->ring_enqueue.load(std::memory_order_relaxed);
  for (int attempt = 0; attempt < kAppendAttempts; ++attempt) {
    const uint64_t index = position & mask;
    Observation& cell = ring[index];
    const uint64_t sequence = LoadSequence(cell, index);
    const auto difference = static_cast<int64_t>(sequence - position);
    if (difference == 0) {
      if (header_->ring_enqueue.compare_exchange_weak(position, position + 1,
                                                      std::memory_order_relaxed)) {
        cell.data = data;
        StoreSequence(cell, index, position + 1);
        return true;
      }
    } else if (difference < 0) {
      break;  // the cell a lap behind is not drained yet: full
    } else {
      position = header_->ring_enqueue.load(std::memory_order_relaxed);
    }
  }
  header_->ring_dropped.fetch_add(1, std::memory_order_relaxed);
  return false;
}

size_t Segment::Drain(const std::function<void(const ObservationData&)>& take,
                      int64_t abandon_after_us) {
  Observation* ring = Ring(base_, geometry_);
  const uint64_t mask = geometry_.ring_capacity - 1;
  size_t taken = 0;
  while (true) {
    const uint64_t index = dequeue_ & mask;
    Observation& cell = ring[index];
    if (LoadSequence(cell, index) == dequeue_ + 1) {
      const ObservationData data = cell.data;
      StoreSequence(cell, index, dequeue_ + geometry_.ring_capacity);
      ++dequeue_;
      stalled_since_us_ = -1;
      take(data);
      ++taken;
      continue;
    }
    // Not filled. Claimed by a producer (the enqueue position passed it) that is slow,
    // or died between claiming and filling: give it a while, then skip the cell.
    if (header_->ring_enqueue.load(std::memory_order_relaxed) <= dequeue_) break;
    const int64_t now = MonotonicMicros();
    if (stalled_since_us_ < 0) stalled_since_us_ = now;
    if (now - stalled_since_us_ < abandon_after_us) break;
    StoreSequence(cell, index, dequeue_ + geometry_.ring_capacity);
    ++dequeue_;
    ++abandoned_;
    stalled_since_us_ = -1;
  }
  return taken;
}

}  // namespace middlepipe::fastpath

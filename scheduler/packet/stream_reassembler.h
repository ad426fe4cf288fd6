// Rebuilds one side of a TCP connection into its byte stream (FlowOS/mOS style): in-order
// bytes are handed on at once, bytes that arrive early wait in a bounded buffer, bytes
// seen twice are trimmed and reported as retransmissions (with whether their content
// differs from what was first seen, the TCP-tunneling trick against data accounting).
//
// Sequence numbers wrap at 2^32; the reassembler works in 64-bit stream offsets (bytes
// since the stream's first byte), unwrapping each segment's sequence number relative to
// the next expected one, so a stream longer than 4 GiB or starting near 2^32 is handled.
//
// Memory: the out-of-order buffer and the history of delivered bytes (kept to compare
// retransmissions) are bounded per side and, through a MemoryBudget, for all flows
// together. A segment that does not fit is not buffered; when the peer later acknowledges
// bytes the reassembler never got in order, it skips them as a gap (told to the listener)
// instead of waiting forever.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/strings/string_view.h"

namespace middlepipe::scheduler::packet {

// Bytes held by all reassemblers of one engine.
struct MemoryBudget {
  size_t limit = 0;
  size_t used = 0;

  bool Take(size_t bytes) {
    if (used + bytes > limit) return false;
    used += bytes;
    return true;
  }
  void Give(size_t bytes) { used -= bytes; }
};

struct Retransmission {
  // Stream offset of the first retransmitted byte, and how many.
  uint64_t offset = 0;
  uint32_t length = 0;
  // Whether the retransmitted bytes could be compared with the original (they were still in
  // the history or the buffer), and whether any of them differed.
  bool verified = false;
  bool differs = false;
};

class StreamListener {
 public:
  virtual ~StreamListener() = default;
  // New in-order bytes at stream offset `offset`. `after_gap`: bytes before them were
  // never seen (skipped), so a pattern cannot continue across this boundary.
  virtual void OnStreamData(uint64_t offset, absl::string_view bytes, bool after_gap) = 0;
  virtual void OnStreamRetransmit(const Retransmission& retransmission) = 0;
};

struct ReassemblyLimits {
  // Out-of-order bytes held for one side.
  size_t max_buffered = 1 << 20;
  // Delivered bytes kept to compare retransmissions against.
  size_t max_history = 64 << 10;
};

class StreamReassembler {
 public:
  StreamReassembler(ReassemblyLimits limits, MemoryBudget* budget)
      : limits_(limits), budget_(budget) {}
  ~StreamReassembler();
  StreamReassembler(const StreamReassembler&) = delete;
  StreamReassembler& operator=(const StreamReassembler&) = delete;

  // The sequence number of the stream's first byte (ISN + 1 after a SYN, or the first
  // segment's when the connection was picked up mid-stream).
  void Start(uint32_t first_seq);
  bool started() const { return started_; }

  // One segment's payload starting at sequence number `seq`.
  void Add(uint32_t seq, absl::string_view payload, StreamListener& listener);
  // The side sent FIN at sequence number `seq`: nothing after it belongs to the stream, and
  // the peer's acknowledgement of the FIN is not a gap.
  void FinAt(uint32_t seq);
  // The peer acknowledged everything before `ack`: bytes up to there that never arrived in
  // order are skipped as a gap, and buffered bytes behind them delivered.
  void Acknowledged(uint32_t ack, StreamListener& listener);
  // The connection ended: buffered bytes are delivered (after gaps) and memory released.
  void Finish(StreamListener& listener);

  // Bytes delivered in order (including skipped gaps): the next expected stream offset.
  uint64_t next_offset() const { return next_offset_; }
  uint32_t next_seq() const { return next_seq_; }
  size_t buffered() const { return buffered_bytes_; }
  // Segments that could not be buffered (bounds), and bytes skipped as gaps.
  uint64_t overflows() const { return overflows_; }
  uint64_t gap_bytes() const { return gap_bytes_; }

 private:
  // Stream offset of sequence number `seq`, unwrapped around the next expected one.
  int64_t OffsetOf(uint32_t seq) const;
  void Deliver(absl::string_view bytes, bool after_gap, StreamListener& listener);
  // Compares [offset, offset+bytes) with what was already seen; reports the retransmission.
  void ReportRetransmit(uint64_t offset, absl::string_view bytes, StreamListener& listener);
  // Returns whether the bytes at `offset` equal the kept history; sets `covered` to how
  // many of them the history holds.
  bool MatchesHistory(uint64_t offset, absl::string_view bytes, size_t& covered) const;
  void Buffer(uint64_t offset, absl::string_view bytes, StreamListener& listener);
  void DrainBuffer(StreamListener& listener);
  void SkipTo(uint64_t offset, StreamListener& listener);
  void ForgetHistory();

  const ReassemblyLimits limits_;
  MemoryBudget* const budget_;
  bool started_ = false;
  uint32_t next_seq_ = 0;
  uint64_t next_offset_ = 0;
  bool gap_pending_ = false;
  // Stream offset of the FIN, once seen (-1: not yet).
  int64_t fin_offset_ = -1;
  // Delivered bytes [history_offset_, next_offset_), the last ones only.
  std::string history_;
  uint64_t history_offset_ = 0;
  // Out-of-order segments by stream offset; never overlapping, all after next_offset_.
  std::map<uint64_t, std::string> buffer_;
  size_t buffered_bytes_ = 0;
  uint64_t overflows_ = 0;
  uint64_t gap_bytes_ = 0;
};

}  // namespace middlepipe::scheduler::packet

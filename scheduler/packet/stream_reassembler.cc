#include "scheduler/packet/stream_reassembler.h"

#include <algorithm>

namespace middlepipe::scheduler::packet {
namespace {

// How far ahead of the next expected byte a segment may start: TCP's largest window
// (2^30 with window scaling). Anything further is bogus and ignored.
constexpr int64_t kMaxAhead = int64_t{1} << 30;

}  // namespace

StreamReassembler::~StreamReassembler() {
  budget_->Give(history_.size() + buffered_bytes_);
}

void StreamReassembler::Start(uint32_t first_seq) {
  started_ = true;
  next_seq_ = first_seq;
  next_offset_ = 0;
  history_offset_ = 0;
}

int64_t StreamReassembler::OffsetOf(uint32_t seq) const {
  return static_cast<int64_t>(next_offset_) + static_cast<int32_t>(seq - next_seq_);
}

void StreamReassembler::FinAt(uint32_t seq) {
  if (!started_) Start(seq);
  if (fin_offset_ < 0) fin_offset_ = std::max<int64_t>(OffsetOf(seq), 0);
}

void StreamReassembler::Add(uint32_t seq, absl::string_view payload, StreamListener& listener) {
  if (payload.empty()) return;
  if (!started_) Start(seq);
  int64_t offset = OffsetOf(seq);
  const int64_t end = offset + static_cast<int64_t>(payload.size());
  if (end <= 0) return;  // entirely before the stream's first byte
  if (offset < 0) {
    payload.remove_prefix(static_cast<size_t>(-offset));
    offset = 0;
  }
  if (offset - static_cast<int64_t>(next_offset_) > kMaxAhead) {
    ++overflows_;
    return;
  }
  const auto next = static_cast<int64_t>(next_offset_);
  if (offset < next) {
    const size_t seen = static_cast<size_t>(std::min(end, next) - offset);
    ReportRetransmit(static_cast<uint64_t>(offset), payload.substr(0, seen), listener);
    payload.remove_prefix(seen);
    offset = next;
  }
  if (payload.empty()) return;
  if (offset == next) {
    Deliver(payload, false, listener);
    DrainBuffer(listener);
  } else {
    Buffer(static_cast<uint64_t>(offset), payload, listener);
  }
}

void StreamReassembler::Acknowledged(uint32_t ack, StreamListener& listener) {
  if (!started_) return;
  const int32_t ahead = static_cast<int32_t>(ack - next_seq_);
  if (ahead <= 0) return;
  uint64_t target = next_offset_ + static_cast<uint64_t>(ahead);
  if (fin_offset_ >= 0) target = std::min(target, static_cast<uint64_t>(fin_offset_));
  while (next_offset_ < target) {
    if (!buffer_.empty() && buffer_.begin()->first <= next_offset_) {
      DrainBuffer(listener);
      continue;
    }
    uint64_t skip_to = target;
    if (!buffer_.empty()) skip_to = std::min(skip_to, buffer_.begin()->first);
    SkipTo(skip_to, listener);
  }
  DrainBuffer(listener);
}

void StreamReassembler::Finish(StreamListener& listener) {
  while (!buffer_.empty()) {
    if (buffer_.begin()->first > next_offset_) SkipTo(buffer_.begin()->first, listener);
    DrainBuffer(listener);
  }
  ForgetHistory();
}

void StreamReassembler::Deliver(absl::string_view bytes, bool after_gap,
                                StreamListener& listener) {
  listener.OnStreamData(next_offset_, bytes, after_gap || gap_pending_);
  gap_pending_ = false;
  next_offset_ += bytes.size();
  next_seq_ += static_cast<uint32_t>(bytes.size());
  if (limits_.max_history == 0) {
    history_offset_ = next_offset_;
    return;
  }
  if (!budget_->Take(bytes.size())) {
    // Out of memory for history: later retransmissions of these bytes go unverified.
    ForgetHistory();
    return;
  }
  history_.append(bytes.data(), bytes.size());
  // Trimmed in steps of at least max_history so the copy is amortized over many segments.
  if (history_.size() > 2 * limits_.max_history) {
    const size_t drop = history_.size() - limits_.max_history;
    history_.erase(0, drop);
    history_offset_ += drop;
    budget_->Give(drop);
  }
}

bool StreamReassembler::MatchesHistory(uint64_t offset, absl::string_view bytes,
                                       size_t& covered) const {
  covered = 0;
  const uint64_t begin = std::max(offset, history_offset_);
  const uint64_t end = std::min<uint64_t>(offset + bytes.size(), next_offset_);
  if (begin >= end) return true;
  covered = static_cast<size_t>(end - begin);
  return bytes.substr(static_cast<size_t>(begin - offset), covered) ==
         absl::string_view(history_).substr(static_cast<size_t>(begin - history_offset_), covered);
}

void StreamReassembler::ReportRetransmit(uint64_t offset, absl::string_view bytes,
                                         StreamListener& listener) {
  size_t covered = 0;
  const bool matches = MatchesHistory(offset, bytes, covered);
  Retransmission retransmission;
  retransmission.offset = offset;
  retransmission.length = static_cast<uint32_t>(bytes.size());
  retransmission.verified = covered == bytes.size();
  retransmission.differs = !matches;
  listener.OnStreamRetransmit(retransmission);
}

void StreamReassembler::Buffer(uint64_t offset, absl::string_view bytes,
                               StreamListener& listener) {
  if (fin_offset_ >= 0 && offset >= static_cast<uint64_t>(fin_offset_)) return;
  const uint64_t end = offset + bytes.size();
  // Walk the buffered segments that overlap [offset, end): keep what is already there
  // (the first copy wins), compare the overlap, and buffer only the uncovered pieces.
  auto it = buffer_.upper_bound(offset);
  if (it != buffer_.begin()) --it;
  uint64_t cursor = offset;
  auto keep = [&](uint64_t from, uint64_t to) {
    const size_t size = static_cast<size_t>(to - from);
    if (buffered_bytes_ + size > limits_.max_buffered || !budget_->Take(size)) {
      ++overflows_;
      return;
    }
    buffered_bytes_ += size;
    buffer_.emplace(from, std::string(bytes.substr(static_cast<size_t>(from - offset), size)));
  };
  while (cursor < end && it != buffer_.end()) {
    const uint64_t segment_start = it->first;
    const uint64_t segment_end = segment_start + it->second.size();
    if (segment_end <= cursor) {
      ++it;
      continue;
    }
    if (segment_start >= end) break;
    if (segment_start > cursor) keep(cursor, segment_start);
    const uint64_t overlap_start = std::max(cursor, segment_start);
    const uint64_t overlap_end = std::min(end, segment_end);
    const size_t overlap = static_cast<size_t>(overlap_end - overlap_start);
    Retransmission retransmission;
    retransmission.offset = overlap_start;
    retransmission.length = static_cast<uint32_t>(overlap);
    retransmission.verified = true;
    retransmission.differs =
        bytes.substr(static_cast<size_t>(overlap_start - offset), overlap) !=
        absl::string_view(it->second).substr(static_cast<size_t>(overlap_start - segment_start),
                                             overlap);
    listener.OnStreamRetransmit(retransmission);
    cursor = overlap_end;
    ++it;
  }
  if (cursor < end) keep(cursor, end);
}

void StreamReassembler::DrainBuffer(StreamListener& listener) {
  while (!buffer_.empty() && buffer_.begin()->first <= next_offset_) {
    auto first = buffer_.begin();
    const uint64_t start = first->first;
    std::string segment = std::move(first->second);
    buffer_.erase(first);
    buffered_bytes_ -= segment.size();
    budget_->Give(segment.size());
    const uint64_t end = start + segment.size();
    absl::string_view bytes(segment);
    if (start < next_offset_) {
      // Possible only when in-order bytes arrived over a buffered segment: those bytes
      // were seen twice.
      const size_t seen = static_cast<size_t>(std::min(end, next_offset_) - start);
      ReportRetransmit(start, bytes.substr(0, seen), listener);
      bytes.remove_prefix(seen);
    }
    if (!bytes.empty()) Deliver(bytes, false, listener);
  }
}

void StreamReassembler::SkipTo(uint64_t offset, StreamListener& listener) {
  if (offset <= next_offset_) return;
  gap_bytes_ += offset - next_offset_;
  next_seq_ += static_cast<uint32_t>(offset - next_offset_);
  next_offset_ = offset;
  ForgetHistory();
  gap_pending_ = true;
}

void StreamReassembler::ForgetHistory() {
  budget_->Give(history_.size());
  history_.clear();
  history_.shrink_to_fit();
  history_offset_ = next_offset_;
}

}  // namespace middlepipe::scheduler::packet

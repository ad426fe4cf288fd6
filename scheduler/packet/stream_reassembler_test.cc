#include "scheduler/packet/stream_reassembler.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace middlepipe::scheduler::packet {
namespace {

class Recorder : public StreamListener {
 public:
  void OnStreamData(uint64_t offset, absl::string_view bytes, bool after_gap) override {
    if (after_gap) {
      EXPECT_GT(offset, delivered_to) << "a gap skips bytes";
      gaps.push_back(offset);
    } else {
      EXPECT_EQ(offset, delivered_to) << "data must come in stream order";
    }
    stream.append(bytes.data(), bytes.size());
    delivered_to = offset + bytes.size();
  }
  void OnStreamRetransmit(const Retransmission& retransmission) override {
    retransmissions.push_back(retransmission);
  }

  std::string stream;
  uint64_t delivered_to = 0;
  std::vector<uint64_t> gaps;
  std::vector<Retransmission> retransmissions;
};

// Counts instead of keeping (for streams too long to keep).
class Discard : public StreamListener {
 public:
  void OnStreamData(uint64_t, absl::string_view bytes, bool) override { bytes_ += bytes.size(); }
  void OnStreamRetransmit(const Retransmission&) override { ++retransmissions_; }
  uint64_t bytes_ = 0;
  uint64_t retransmissions_ = 0;
};

class StreamReassemblerTest : public ::testing::Test {
 protected:
  StreamReassemblerTest() { budget_.limit = 1 << 20; }
  MemoryBudget budget_;
  Recorder out_;
};

TEST_F(StreamReassemblerTest, DeliversInOrderBytesAtOnce) {
  StreamReassembler stream({}, &budget_);
  stream.Start(100);
  stream.Add(100, "GET / HTTP/1.1\r\n", out_);
  stream.Add(116, "Host: x\r\n", out_);
  EXPECT_EQ(out_.stream, "GET / HTTP/1.1\r\nHost: x\r\n");
  EXPECT_EQ(stream.next_offset(), 25u);
  EXPECT_TRUE(out_.retransmissions.empty());
}

TEST_F(StreamReassemblerTest, ReordersSegmentsThatArriveEarly) {
  StreamReassembler stream({}, &budget_);
  stream.Start(0);
  stream.Add(10, "klmno", out_);
  stream.Add(5, "fghij", out_);
  EXPECT_EQ(out_.stream, "");
  EXPECT_EQ(stream.buffered(), 10u);
  stream.Add(0, "abcde", out_);
  EXPECT_EQ(out_.stream, "abcdefghijklmno");
  EXPECT_EQ(stream.buffered(), 0u);
}

TEST_F(StreamReassemblerTest, ARetransmissionIsTrimmedAndComparedWithTheOriginal) {
  StreamReassembler stream({}, &budget_);
  stream.Start(0);
  stream.Add(0, "0123456789", out_);
  stream.Add(2, "234", out_);        // same bytes again
  stream.Add(5, "XY789abc", out_);   // different bytes over 5-9, then new ones
  EXPECT_EQ(out_.stream, "0123456789abc");
  ASSERT_EQ(out_.retransmissions.size(), 2u);
  EXPECT_EQ(out_.retransmissions[0].offset, 2u);
  EXPECT_EQ(out_.retransmissions[0].length, 3u);
  EXPECT_TRUE(out_.retransmissions[0].verified);
  EXPECT_FALSE(out_.retransmissions[0].differs);
  EXPECT_EQ(out_.retransmissions[1].offset, 5u);
  EXPECT_EQ(out_.retransmissions[1].length, 5u);
  EXPECT_TRUE(out_.retransmissions[1].differs);
}

TEST_F(StreamReassemblerTest, OverlappingEarlySegmentsKeepTheFirstCopy) {
  StreamReassembler stream({}, &budget_);
  stream.Start(0);
  stream.Add(4, "efgh", out_);
  stream.Add(2, "cdEFGHij", out_);  // overlaps e-h with other bytes
  stream.Add(0, "ab", out_);
  EXPECT_EQ(out_.stream, "abcdefghij");
  ASSERT_EQ(out_.retransmissions.size(), 1u);
  EXPECT_EQ(out_.retransmissions[0].offset, 4u);
  EXPECT_EQ(out_.retransmissions[0].length, 4u);
  EXPECT_TRUE(out_.retransmissions[0].differs);
}

TEST_F(StreamReassemblerTest, SequenceNumbersWrapAround) {
  StreamReassembler stream({}, &budget_);
  const uint32_t start = 0xfffffffa;
  stream.Start(start);
  stream.Add(start + 10, "KLMNOP", out_);  // past the wrap, early
  stream.Add(start, "ABCDEFGHIJ", out_);   // crosses 2^32
  EXPECT_EQ(out_.stream, "ABCDEFGHIJKLMNOP");
  EXPECT_EQ(stream.next_seq(), start + 16);
  stream.Add(start + 4, "EFG", out_);
  ASSERT_EQ(out_.retransmissions.size(), 1u);
  EXPECT_FALSE(out_.retransmissions[0].differs);
}

TEST_F(StreamReassemblerTest, AStreamLongerThanFourGigabytesKeepsCounting) {
  StreamReassembler stream({ReassemblyLimits{1 << 16, 0}}, &budget_);
  Discard quiet;
  stream.Start(7);
  const std::string chunk(1 << 16, 'z');
  uint32_t seq = 7;
  for (int i = 0; i < (1 << 16) + 3; ++i) {  // 4 GiB + 192 KiB
    stream.Add(seq, chunk, quiet);
    seq += static_cast<uint32_t>(chunk.size());
  }
  EXPECT_EQ(stream.next_offset(), (uint64_t{1} << 32) + 3 * (1 << 16));
  EXPECT_EQ(quiet.bytes_, stream.next_offset());
  EXPECT_EQ(quiet.retransmissions_, 0u);
}

TEST_F(StreamReassemblerTest, BoundedBufferOverflowsAndTheAcknowledgementSkipsTheGap) {
  StreamReassembler stream({ReassemblyLimits{8, 1024}}, &budget_);
  stream.Start(0);
  stream.Add(4, "efgh", out_);       // buffered (4 of 8)
  stream.Add(20, "uvwxyz", out_);    // would exceed 8: not buffered
  EXPECT_EQ(stream.overflows(), 1u);
  stream.Add(0, "abcd", out_);
  EXPECT_EQ(out_.stream, "abcdefgh");
  // The peer got 8..26 (it acknowledges 26): what never reached the reassembler in order
  // is skipped as a gap, and the stream goes on from there.
  stream.Acknowledged(26, out_);
  EXPECT_EQ(stream.next_offset(), 26u);
  EXPECT_EQ(stream.gap_bytes(), 18u);
  stream.Add(26, "after", out_);
  EXPECT_EQ(out_.stream, "abcdefghafter");
  ASSERT_EQ(out_.gaps.size(), 1u);
  EXPECT_EQ(out_.gaps[0], 26u);
}

TEST_F(StreamReassemblerTest, TheAcknowledgementOfAFinIsNotAGap) {
  StreamReassembler stream({}, &budget_);
  stream.Start(50);
  stream.Add(50, "bye", out_);
  stream.FinAt(53);
  stream.Acknowledged(54, out_);
  EXPECT_EQ(stream.gap_bytes(), 0u);
  EXPECT_EQ(stream.next_offset(), 3u);
}

TEST_F(StreamReassemblerTest, FinishDeliversWhatWasBufferedBehindAHole) {
  StreamReassembler stream({}, &budget_);
  stream.Start(0);
  stream.Add(0, "ab", out_);
  stream.Add(5, "fg", out_);
  stream.Finish(out_);
  EXPECT_EQ(out_.stream, "abfg");
  EXPECT_EQ(out_.gaps, std::vector<uint64_t>{5});
}

TEST_F(StreamReassemblerTest, TheSharedBudgetBoundsAllStreamsAndIsGivenBack) {
  MemoryBudget small{64, 0};
  {
    StreamReassembler one({}, &small);
    StreamReassembler two({}, &small);
    one.Start(0);
    two.Start(0);
    one.Add(100, std::string(40, 'a'), out_);
    two.Add(100, std::string(40, 'b'), out_);  // does not fit next to one's 40
    EXPECT_EQ(one.buffered(), 40u);
    EXPECT_EQ(two.buffered(), 0u);
    EXPECT_EQ(two.overflows(), 1u);
    EXPECT_LE(small.used, small.limit);
  }
  EXPECT_EQ(small.used, 0u);
}

TEST_F(StreamReassemblerTest, AnyOrderOfSegmentsGivesTheSameStream) {
  std::mt19937 random(11);
  std::string text;
  for (int i = 0; i < 3000; ++i) text.push_back(static_cast<char>('a' + random() % 26));
  for (int round = 0; round < 200; ++round) {
    // Random segments covering the text, some overlapping, shuffled.
    std::vector<std::pair<size_t, size_t>> segments;
    for (size_t at = 0; at < text.size();) {
      const size_t length = 1 + random() % 200;
      segments.push_back({at, std::min(length, text.size() - at)});
      if (random() % 3 == 0 && at > 0) segments.push_back({at - 1 - random() % at % 50, length});
      at += length;
    }
    std::shuffle(segments.begin(), segments.end(), random);
    MemoryBudget budget{1 << 20, 0};
    Recorder out;
    {
      StreamReassembler stream({}, &budget);
      const uint32_t isn = static_cast<uint32_t>(random());
      stream.Start(isn);
      for (const auto& [at, length] : segments) {
        const size_t size = std::min(length, text.size() - at);
        stream.Add(isn + static_cast<uint32_t>(at), absl::string_view(text).substr(at, size), out);
      }
      EXPECT_EQ(stream.buffered(), 0u);
    }
    ASSERT_EQ(out.stream, text) << "round " << round;
    for (const Retransmission& retransmission : out.retransmissions) {
      EXPECT_FALSE(retransmission.differs);
    }
    EXPECT_EQ(budget.used, 0u);
  }
}

}  // namespace
}  // namespace middlepipe::scheduler::packet

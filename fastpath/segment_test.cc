#include "fastpath/segment.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fastpath/gcra.h"
#include "fastpath/program.h"

namespace middlepipe::fastpath {
namespace {

std::string TempPath(const std::string& name) {
  return std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") + "/" + name;
}

Segment::Sizes Small(uint32_t ring = 64) {
  Segment::Sizes sizes;
  sizes.binding_slots = 4;
  sizes.slot_words = 64;
  sizes.cell_count = 4;
  sizes.ring_capacity = ring;
  return sizes;
}

TEST(SegmentTest, AttachSeesWhatCreateWrote) {
  std::string error;
  const std::string path = TempPath("attach.shm");
  auto agent = Segment::Create(path, Small(), static_cast<uid_t>(-1), &error);
  ASSERT_NE(agent, nullptr) << error;
  struct stat info {};
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);  // only the owner (the app's user) may map it
  ASSERT_TRUE(agent->WriteSlot(2, "program bytes"));
  auto client = Segment::Attach(path, &error);
  ASSERT_NE(client, nullptr) << error;
  EXPECT_EQ(client->geometry().binding_slots, 4u);
  std::string payload;
  uint64_t seq = 0;
  ASSERT_TRUE(client->ReadSlot(2, &payload, &seq));
  EXPECT_EQ(payload, "program bytes");
  EXPECT_EQ(seq % 2, 0u);
  ASSERT_TRUE(client->ReadSlot(1, &payload, &seq));
  EXPECT_EQ(payload, "");
  EXPECT_FALSE(client->ReadSlot(4, &payload, &seq));  // past the slots
  EXPECT_FALSE(agent->WriteSlot(0, std::string(64 * 8, 'x')));  // does not fit with its length
}

// An idle agent keeps only what it wrote resident: a new segment's ring (most of its
// bytes) stays untouched until calls are appended, because a zero cell means "free".
TEST(SegmentTest, CreateLeavesTheRingUntouched) {
  std::string error;
  const std::string path = TempPath("untouched.shm");
  Segment::Sizes sizes;  // the agent's defaults: a 16384-cell ring
  auto agent = Segment::Create(path, sizes, static_cast<uid_t>(-1), &error);
  ASSERT_NE(agent, nullptr) << error;
  const Geometry& geometry = agent->geometry();
  const uint64_t ring_bytes = geometry.size - geometry.ring_offset;
  ASSERT_GT(ring_bytes, 512u * 1024);
  // The agent's mapping of the file, as the kernel counts it in the agent's RSS.
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_segment = false;
  int64_t resident_kb = -1;
  while (std::getline(smaps, line)) {
    // A mapping's first line ("start-end perms offset dev inode path") has a space
    // before its first colon; its fields ("Rss:   4 kB") do not.
    if (line.find(' ') < line.find(':')) {
      in_segment = line.size() >= path.size() &&
                   line.compare(line.size() - path.size(), path.size(), path) == 0;
    }
    if (in_segment && line.rfind("Rss:", 0) == 0) resident_kb = std::stoll(line.substr(4));
  }
  ASSERT_GE(resident_kb, 0) << "no mapping of " << path;
  EXPECT_LT(resident_kb * 1024, static_cast<int64_t>(ring_bytes / 8)) << resident_kb << " kB resident";

  // And the untouched ring works, lap after lap.
  auto client = Segment::Attach(path, &error);
  ASSERT_NE(client, nullptr) << error;
  uint64_t drained = 0;
  for (uint64_t lap = 0; lap < 3; ++lap) {
    for (uint32_t i = 0; i < geometry.ring_capacity; ++i) {
      ObservationData data;
      data.binding_id = lap * geometry.ring_capacity + i;
      ASSERT_TRUE(client->Append(data)) << "lap " << lap << " cell " << i;
    }
    ObservationData extra;
    EXPECT_FALSE(client->Append(extra)) << "full after a whole lap";
    agent->Drain([&](const ObservationData& data) { EXPECT_EQ(data.binding_id, drained++); },
                 1'000'000);
  }
  EXPECT_EQ(drained, 3ull * geometry.ring_capacity);
}

TEST(SegmentTest, AttachRefusesWhatIsNotASegment) {
  std::string error;
  EXPECT_EQ(Segment::Attach(TempPath("missing.shm"), &error), nullptr);
  EXPECT_NE(error.find("cannot open"), std::string::npos) << error;

  const std::string path = TempPath("refused.shm");
  std::ofstream(path) << std::string(4096, 'x');
  EXPECT_EQ(Segment::Attach(path, &error), nullptr);
  EXPECT_NE(error.find("bad magic"), std::string::npos) << error;

  ASSERT_NE(Segment::Create(path, Small(), static_cast<uid_t>(-1), &error), nullptr);
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(4);
    const uint32_t version = kLayoutVersion + 1;
    file.write(reinterpret_cast<const char*>(&version), 4);
  }
  EXPECT_EQ(Segment::Attach(path, &error), nullptr);
  EXPECT_NE(error.find("layout version"), std::string::npos) << error;

  ASSERT_NE(Segment::Create(path, Small(), static_cast<uid_t>(-1), &error), nullptr);
  ASSERT_EQ(truncate(path.c_str(), 1024), 0);  // the regions no longer fit the file
  EXPECT_EQ(Segment::Attach(path, &error), nullptr);
  EXPECT_NE(error.find("offsets"), std::string::npos) << error;
}

// Readers racing a writer see one whole payload or another, never a mix.
TEST(SegmentTest, SeqlockReadersNeverSeeATornPayload) {
  std::string error;
  auto segment = Segment::Create(TempPath("seqlock.shm"), Small(), static_cast<uid_t>(-1), &error);
  ASSERT_NE(segment, nullptr) << error;
  auto payload_for = [](int round) { return std::string(40 + round % 200, static_cast<char>('a' + round % 26)); };
  ASSERT_TRUE(segment->WriteSlot(0, payload_for(0)));
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::atomic<int> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      std::string payload;
      uint64_t seq;
      while (!done.load()) {
        if (!segment->ReadSlot(0, &payload, &seq)) continue;
        ++reads;
        const char first = payload.empty() ? '?' : payload[0];
        if (payload.size() < 40 || payload.find_first_not_of(first) != std::string::npos) ++torn;
      }
    });
  }
  for (int round = 1; round < 20000; ++round) ASSERT_TRUE(segment->WriteSlot(0, payload_for(round)));
  done = true;
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(reads.load(), 0);
}

// Many producers, one consumer draining meanwhile: every observation arrives exactly
// once or is counted as dropped.
TEST(SegmentTest, RingLosesNothingUncountedUnderConcurrentProducers) {
  std::string error;
  auto segment = Segment::Create(TempPath("ring.shm"), Small(256), static_cast<uid_t>(-1), &error);
  ASSERT_NE(segment, nullptr) << error;
  constexpr int kProducers = 4;
  constexpr int kEach = 20000;
  std::atomic<int> producing{kProducers};
  std::vector<std::thread> producers;
  uint64_t appended[kProducers] = {};
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kEach; ++i) {
        ObservationData data;
        data.binding_id = static_cast<uint64_t>(p);
        data.latency_us = static_cast<uint64_t>(i);
        if (segment->Append(data)) ++appended[p];
      }
      --producing;
    });
  }
  std::set<std::pair<uint64_t, uint64_t>> seen;
  size_t duplicates = 0;
  auto take = [&](const ObservationData& data) {
    if (!seen.insert({data.binding_id, data.latency_us}).second) ++duplicates;
  };
  while (producing.load() > 0) segment->Drain(take);
  for (auto& producer : producers) producer.join();
  segment->Drain(take);
  const uint64_t dropped = segment->header().ring_dropped.load();
  EXPECT_EQ(duplicates, 0u);
  EXPECT_EQ(seen.size() + dropped, uint64_t{kProducers} * kEach);
  EXPECT_EQ(seen.size(), appended[0] + appended[1] + appended[2] + appended[3]);
}

TEST(SegmentTest, FullRingDropsAndCounts) {
  std::string error;
  auto segment = Segment::Create(TempPath("full.shm"), Small(8), static_cast<uid_t>(-1), &error);
  ASSERT_NE(segment, nullptr) << error;
  int accepted = 0;
  for (int i = 0; i < 20; ++i) accepted += segment->Append(ObservationData{}) ? 1 : 0;
  EXPECT_EQ(accepted, 8);
  EXPECT_EQ(segment->header().ring_dropped.load(), 12u);
  EXPECT_EQ(segment->Drain([](const ObservationData&) {}), 8u);
  EXPECT_TRUE(segment->Append(ObservationData{}));  // room again
}

// A producer that died between claiming a cell and filling it does not stall the ring.
TEST(SegmentTest, AbandonedCellIsSkippedAfterAWhile) {
  std::string error;
  auto segment = Segment::Create(TempPath("abandon.shm"), Small(8), static_cast<uid_t>(-1), &error);
  ASSERT_NE(segment, nullptr) << error;
  segment->header().ring_enqueue.fetch_add(1);  // claimed, never filled
  ObservationData after;
  after.status = 200;
  ASSERT_TRUE(segment->Append(after));
  size_t taken = 0;
  auto count = [&](const ObservationData& data) { taken += data.status == 200 ? 1 : 0; };
  EXPECT_EQ(segment->Drain(count, /*abandon_after_us=*/60'000'000), 0u);  // waits for it
  EXPECT_EQ(segment->Drain(count, /*abandon_after_us=*/0), 1u);
  EXPECT_EQ(taken, 1u);
  EXPECT_EQ(segment->abandoned(), 1u);
}

#if !defined(__SANITIZE_THREAD__)
// App processes (not only threads) produce into one ring.
TEST(SegmentTest, RingTakesObservationsFromManyProcesses) {
  std::string error;
  const std::string path = TempPath("processes.shm");
  auto agent = Segment::Create(path, Small(1024), static_cast<uid_t>(-1), &error);
  ASSERT_NE(agent, nullptr) << error;
  constexpr int kProcesses = 3;
  constexpr int kEach = 5000;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    pid_t child = fork();
    if (child == 0) {
      std::string attach_error;
      auto app = Segment::Attach(path, &attach_error);
      if (app == nullptr) _exit(2);
      for (int i = 0; i < kEach; ++i) {
        ObservationData data;
        data.binding_id = static_cast<uint64_t>(p);
        data.latency_us = static_cast<uint64_t>(i);
        app->Append(data);
      }
      _exit(0);
    }
    children.push_back(child);
  }
  std::set<std::pair<uint64_t, uint64_t>> seen;
  size_t duplicates = 0;
  auto take = [&](const ObservationData& data) {
    if (!seen.insert({data.binding_id, data.latency_us}).second) ++duplicates;
  };
  size_t running = children.size();
  while (running > 0) {
    agent->Drain(take);
    int status = 0;
    if (waitpid(-1, &status, WNOHANG) > 0) {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
      --running;
    }
  }
  agent->Drain(take);
  EXPECT_EQ(duplicates, 0u);
  EXPECT_EQ(seen.size() + agent->header().ring_dropped.load(), uint64_t{kProcesses} * kEach);
}
#endif

TEST(ProgramTest, EncodeDecodeRoundTrip) {
  Program program;
  program.binding_id = 7;
  program.epoch = 42;
  program.service = "orders";
  program.fast = true;
  program.valid_until_ms = 123456;
  program.filter_count = 3;
  Step take;
  take.kind = Step::Kind::kTakeToken;
  take.filter_index = 1;
  take.cell = 2;
  take.interval_us = 1000;
  take.tolerance_us = 4000;
  take.markers = {{"Middlepipe-Short-Circuit", "limit"}};
  take.response.status = 429;
  take.response.raise = true;
  take.response.body = "slow down\n";
  program.steps.push_back(take);
  Program decoded;
  std::string error;
  ASSERT_TRUE(Decode(Encode(program), &decoded, &error)) << error;
  EXPECT_EQ(decoded.service, "orders");
  EXPECT_EQ(decoded.epoch, 42u);
  ASSERT_EQ(decoded.steps.size(), 1u);
  EXPECT_EQ(decoded.steps[0].tolerance_us, 4000);
  EXPECT_EQ(decoded.steps[0].markers, take.markers);
  EXPECT_EQ(decoded.steps[0].response.body, "slow down\n");

  Step faults;
  faults.kind = Step::Kind::kFault;
  faults.abort_percent = 12.5;
  faults.delay_percent = 100;
  faults.delay_ms = 30;
  faults.delay_markers = {{"Middlepipe-Callback", "delay"}};
  Step split;
  split.kind = Step::Kind::kRoute;
  split.filter_index = 2;
  split.sticky_header = "x-user";
  split.routes = {{"orders", 1.5, true}, {"orders-v2", 0.5, true}};
  split.targets = {{true, {}}, {false, {{"10.1.2.3", 8080}}}};
  program.steps = {faults, split};
  ASSERT_TRUE(Decode(Encode(program), &decoded, &error)) << error;
  ASSERT_EQ(decoded.steps.size(), 2u);
  EXPECT_EQ(decoded.steps[0].abort_percent, 12.5);
  EXPECT_EQ(decoded.steps[0].delay_ms, 30u);
  EXPECT_EQ(decoded.steps[0].delay_markers, faults.delay_markers);
  EXPECT_EQ(decoded.steps[1].sticky_header, "x-user");
  ASSERT_EQ(decoded.steps[1].routes.size(), 2u);
  EXPECT_EQ(decoded.steps[1].routes[1].service, "orders-v2");
  EXPECT_EQ(decoded.steps[1].routes[1].weight, 0.5);
  EXPECT_TRUE(decoded.steps[1].targets[0].own);
  EXPECT_EQ(decoded.steps[1].targets[1].endpoints[0], (std::pair<std::string, uint32_t>{"10.1.2.3", 8080}));

  Step keyed;
  keyed.kind = Step::Kind::kTakeKeyedToken;
  keyed.cell = 4;
  keyed.interval_us = 1000;
  keyed.key_header = "x-user";
  keyed.key_slots = 64;
  keyed.key_prefix = " for ";
  program.steps = {keyed};
  ASSERT_TRUE(Decode(Encode(program), &decoded, &error)) << error;
  EXPECT_EQ(decoded.steps[0].key_header, "x-user");
  EXPECT_EQ(decoded.steps[0].key_slots, 64u);
  EXPECT_EQ(decoded.steps[0].key_prefix, " for ");
  program.steps[0].key_slots = 48;  // not a power of two: a client could probe past it
  EXPECT_FALSE(Decode(Encode(program), &decoded, &error));
  EXPECT_EQ(error, "key table size out of range");

  // What a client must not act on is refused.
  program.steps = {faults};
  program.steps[0].abort_percent = 101;
  EXPECT_FALSE(Decode(Encode(program), &decoded, &error));
  EXPECT_EQ(error, "fault percentages out of range");
  program.steps = {split};
  program.steps[0].routes[1].weight = -1;
  EXPECT_FALSE(Decode(Encode(program), &decoded, &error));
  program.steps[0].routes[1].weight = 1;
  program.steps[0].targets[1].endpoints.clear();  // reachable, but nowhere to send
  EXPECT_FALSE(Decode(Encode(program), &decoded, &error));
  EXPECT_EQ(error, "traffic split routes out of range");
}

// Any bytes decode to a program or an error: truncations, flipped bytes, random bytes.
TEST(ProgramTest, DecodeSurvivesGarbage) {
  Program program;
  program.service = "orders";
  program.filter_count = 2;
  Step respond;
  respond.filter_index = 1;
  respond.markers = {{"a", "b"}};
  respond.response.headers = {{"c", "d"}};
  program.steps.push_back(respond);
  Step split;
  split.kind = Step::Kind::kRoute;
  split.filter_index = 0;
  split.routes = {{"s", 1, true}};
  split.targets = {{false, {{"h", 1}}}};
  program.steps.push_back(split);
  const std::string valid = Encode(program);
  std::mt19937 random(1);
  Program decoded;
  std::string error;
  for (size_t cut = 0; cut < valid.size(); ++cut) EXPECT_FALSE(Decode(valid.substr(0, cut), &decoded, &error));
  for (int round = 0; round < 20000; ++round) {
    std::string bytes = valid;
    for (int flips = 0; flips < 1 + round % 4; ++flips) {
      bytes[random() % bytes.size()] = static_cast<char>(random());
    }
    Decode(bytes, &decoded, &error);
    std::string noise(random() % 200, '\0');
    for (char& c : noise) c = static_cast<char>(random());
    Decode(noise, &decoded, &error);
  }
}

TEST(GcraTest, BucketAdmitsItsCapacityThenItsRate) {
  std::atomic<int64_t> cell{0};
  const int64_t interval = 100'000;  // 10/s
  const int64_t tolerance = 4 * interval;  // capacity 5
  int64_t now = 1'000'000'000;
  int admitted = 0;
  for (int i = 0; i < 10; ++i) admitted += TakeToken(cell, interval, tolerance, now) == 0 ? 1 : 0;
  EXPECT_EQ(admitted, 5);
  EXPECT_EQ(TakeToken(cell, interval, tolerance, now), interval);  // next token in 100 ms
  now += interval;
  EXPECT_EQ(TakeToken(cell, interval, tolerance, now), 0);
  EXPECT_GT(TakeToken(cell, interval, tolerance, now), 0);
  EXPECT_EQ(RetryAfterSeconds(1), 1);
  EXPECT_EQ(RetryAfterSeconds(1'000'001), 2);
}

}  // namespace
}  // namespace middlepipe::fastpath

#include "clients/cpp/fastpath/client.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "fastpath/key_table.h"
#include "clients/cpp/fastpath/middlepipe_client.h"

namespace middlepipe::fastpath {
namespace {

std::string TempPath(const std::string& name) {
  return std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") + "/" + name;
}

// An agent's side of a segment, writing programs by hand.
class FakeAgent {
 public:
  explicit FakeAgent(const std::string& path) {
    std::string error;
    Segment::Sizes sizes;
    sizes.binding_slots = 8;
    sizes.slot_words = 256;
    sizes.cell_count = 64;
    sizes.ring_capacity = 64;
    segment = Segment::Create(path, sizes, static_cast<uid_t>(-1), &error);
    EXPECT_NE(segment, nullptr) << error;
  }
  void Publish(uint32_t slot, const Program& program) {
    segment->header().directory_seq.fetch_add(1);
    EXPECT_TRUE(segment->WriteSlot(slot, Encode(program)));
    segment->header().directory_seq.fetch_add(1);
  }
  void Beat(int64_t now_ms) { segment->header().heartbeat_ms.store(static_cast<uint64_t>(now_ms)); }
  std::vector<ObservationData> Drain() {
    std::vector<ObservationData> taken;
    segment->Drain([&](const ObservationData& data) { taken.push_back(data); });
    return taken;
  }

  std::unique_ptr<Segment> segment;
};

Program Orders(bool fast) {
  Program program;
  program.binding_id = 11;
  program.epoch = 5;
  program.service = "orders";
  program.fast = fast;
  program.valid_until_ms = 1'000'000;
  program.filter_count = 2;
  return program;
}

Step OpenBreaker() {
  Step step;
  step.kind = Step::Kind::kRespond;
  step.filter_index = 0;
  step.markers = {{"Middlepipe-Callback", "circuit-breaker; name=\"b\"; event=open"},
                  {"Middlepipe-Short-Circuit", "b"}};
  step.response.status = 503;
  step.response.raise = true;
  step.response.body = "open\n";  // no headers of its own: the client adds the markers
  return step;
}

// A rate limit's step with room for one token, refilled every interval_us.
Step OneTokenLimit(uint8_t filter_index, uint32_t cell, int64_t interval_us) {
  Step take;
  take.kind = Step::Kind::kTakeToken;
  take.filter_index = filter_index;
  take.cell = cell;
  take.interval_us = interval_us;
  take.tolerance_us = 0;
  take.markers = {{"Middlepipe-Short-Circuit", "limit"}};
  take.response.status = 429;
  return take;
}

struct Harness {
  explicit Harness(const std::string& name) : path(TempPath(name)), agent(path) {
    ClientOptions options;
    options.path = path;
    options.now_us = [this] { return now_ms * 1000; };
    options.log = [this](const std::string& line) { log.push_back(line); };
    agent.Beat(now_ms);
    client = std::make_unique<Client>(options);
  }
  std::string path;
  int64_t now_ms = 500'000;
  std::vector<std::string> log;
  FakeAgent agent;
  std::unique_ptr<Client> client;
};

TEST(ClientTest, ContinueReportsTheCallThroughTheRing) {
  Harness harness("continue.shm");
  harness.agent.Publish(3, Orders(true));
  Verdict verdict = harness.client->OnRequest("orders");
  ASSERT_EQ(verdict.action, Action::kContinue);
  EXPECT_EQ(verdict.markers, (HeaderList{{"Middlepipe-Epoch", "5"}}));
  harness.client->OnResponse(verdict, 200, 1234, 10, 20);
  std::vector<ObservationData> taken = harness.agent.Drain();
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].binding_id, 11u);
  EXPECT_EQ(taken[0].status, 200u);
  EXPECT_EQ(taken[0].latency_us, 1234u);
  EXPECT_EQ(taken[0].answered_by, kNotAnswered);
  EXPECT_EQ(harness.client->OnRequest("payments").action, Action::kNoChain);
}

TEST(ClientTest, RespondStepAnswersAndIsCounted) {
  Harness harness("respond.shm");
  Program program = Orders(true);
  program.steps.push_back(OpenBreaker());
  harness.agent.Publish(0, program);
  Verdict verdict = harness.client->OnRequest("orders");
  ASSERT_EQ(verdict.action, Action::kRespond);
  EXPECT_EQ(verdict.response.status, 503u);
  EXPECT_TRUE(verdict.response.raise);
  EXPECT_EQ(verdict.markers.back(), (std::pair<std::string, std::string>{"Middlepipe-Epoch", "5"}));
  EXPECT_EQ(verdict.response.headers.size(), 3u);
  std::vector<ObservationData> taken = harness.agent.Drain();
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].answered_by, 0u);
}

TEST(ClientTest, TokenStepLimitsWithRetryAfter) {
  Harness harness("token.shm");
  Program program = Orders(true);
  program.steps.push_back(OneTokenLimit(1, 2, 2'500'000));  // 0.4/s
  harness.agent.Publish(1, program);
  EXPECT_EQ(harness.client->OnRequest("orders").action, Action::kContinue);
  Verdict limited = harness.client->OnRequest("orders");
  ASSERT_EQ(limited.action, Action::kRespond);
  EXPECT_EQ(limited.response.headers,
            (HeaderList{{"Retry-After", "3"}, {"Middlepipe-Short-Circuit", "limit"}, {"Middlepipe-Epoch", "5"}}));
  harness.now_ms += 2500;
  harness.agent.Beat(harness.now_ms);
  EXPECT_EQ(harness.client->OnRequest("orders").action, Action::kContinue);
}

TEST(ClientTest, AsksTheAgentWhenTheFastPathCannotDecide) {
  Harness harness("ask.shm");
  harness.agent.Publish(0, Orders(false));
  EXPECT_EQ(harness.client->OnRequest("orders").action, Action::kAskAgent);  // marked slow
  Program expiring = Orders(true);
  expiring.valid_until_ms = harness.now_ms;
  harness.agent.Publish(0, expiring);
  EXPECT_EQ(harness.client->OnRequest("orders").action, Action::kAskAgent);  // validity ended
  harness.agent.Publish(0, Orders(true));
  EXPECT_EQ(harness.client->OnRequest("orders").action, Action::kContinue);
  EXPECT_TRUE(harness.log.empty());
  harness.now_ms += 5000;  // the agent stops beating
  EXPECT_EQ(harness.client->OnRequest("orders").action, Action::kAskAgent);
  EXPECT_EQ(harness.client->OnRequest("orders").action, Action::kAskAgent);
  ASSERT_EQ(harness.log.size(), 1u);  // said once
  EXPECT_NE(harness.log[0].find("stopped beating"), std::string::npos) << harness.log[0];
  harness.agent.Beat(harness.now_ms);
  harness.now_ms += 1000;  // past the retry interval
  EXPECT_EQ(harness.client->OnRequest("orders").action, Action::kContinue);
  ASSERT_EQ(harness.log.size(), 2u);
  EXPECT_NE(harness.log[1].find("is back"), std::string::npos);
}

TEST(ClientTest, NoSegmentMeansAskTheAgentQuietly) {
  // Absent: an agent without a fast path, or no agent (its socket's client says so).
  std::vector<std::string> log;
  ClientOptions options;
  options.path = TempPath("never-created.shm");
  options.log = [&](const std::string& line) { log.push_back(line); };
  Client client(options);
  EXPECT_EQ(client.OnRequest("orders").action, Action::kAskAgent);
  EXPECT_EQ(client.OnRequest("orders").action, Action::kAskAgent);
  EXPECT_TRUE(log.empty()) << log[0];
}

TEST(ClientTest, AnUnusableSegmentIsSaidOnce) {
  std::vector<std::string> log;
  ClientOptions options;
  options.path = TempPath("not-a-segment.shm");
  {
    std::ofstream garbage(options.path);
    garbage << "not a segment";
  }
  options.log = [&](const std::string& line) { log.push_back(line); };
  Client client(options);
  EXPECT_EQ(client.OnRequest("orders").action, Action::kAskAgent);
  EXPECT_EQ(client.OnRequest("orders").action, Action::kAskAgent);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_NE(log[0].find("fast path unavailable"), std::string::npos) << log[0];
}

// Random bytes anywhere past the header (slots, cells, ring) and in the header's
// mutable fields never crash the client; it answers something sane or asks the agent.
TEST(ClientTest, CorruptSegmentNeverCrashesTheClient) {
  Harness harness("corrupt.shm");
  Program program = Orders(true);
  program.steps.push_back(OpenBreaker());
  harness.agent.Publish(0, program);
  Segment& segment = *harness.agent.segment;
  auto* bytes = reinterpret_cast<unsigned char*>(&segment.header());
  const uint64_t size = segment.geometry().size;
  const uint64_t fixed = offsetof(Header, heartbeat_ms);
  std::mt19937_64 random(7);
  for (int round = 0; round < 3000; ++round) {
    for (int flips = 0; flips < 1 + round % 64; ++flips) {
      const uint64_t at = fixed + random() % (size - fixed);
      bytes[at] = static_cast<unsigned char>(random());
    }
    harness.agent.Beat(harness.now_ms);
    Verdict verdict = harness.client->OnRequest(round % 2 == 0 ? "orders" : "other");
    if (verdict.action == Action::kContinue) harness.client->OnResponse(verdict, 200, 1);
    EXPECT_LE(static_cast<int>(verdict.action), static_cast<int>(Action::kAskAgent));
  }
}

// A whole segment of random bytes (header included) is refused on attach.
TEST(ClientTest, RandomFileIsRefused) {
  const std::string path = TempPath("random.shm");
  std::mt19937 random(3);
  for (int round = 0; round < 50; ++round) {
    std::string noise(4096 + random() % 65536, '\0');
    for (char& c : noise) c = static_cast<char>(random());
    if (round % 2 == 0) {  // a valid magic and version, the rest noise
      const uint32_t head[2] = {kMagic, kLayoutVersion};
      std::memcpy(&noise[0], head, sizeof(head));
    }
    FILE* file = std::fopen(path.c_str(), "wb");
    std::fwrite(noise.data(), 1, noise.size(), file);
    std::fclose(file);
    ClientOptions options;
    options.path = path;
    options.log = [](const std::string&) {};
    Client client(options);
    EXPECT_EQ(client.OnRequest("orders").action, Action::kAskAgent);
  }
}

Step Faults(double abort_percent, double delay_percent) {
  Step step;
  step.kind = Step::Kind::kFault;
  step.filter_index = 0;
  step.markers = {{"Middlepipe-Callback", "fault-inject; name=\"f\"; event=abort"}};
  step.response.status = 502;
  step.response.body = "fault\n";
  step.abort_percent = abort_percent;
  step.delay_percent = delay_percent;
  step.delay_ms = 70;
  step.delay_markers = {{"Middlepipe-Callback", "fault-inject; name=\"f\"; event=delay"}};
  return step;
}

Request Applying(const HeaderList* headers = nullptr) {
  Request request;
  request.headers = headers;
  request.applies_delay_and_destination = true;
  return request;
}

// Faults are rolled in-process at the configured rates; a delay's marker goes on the
// call, and on an answer a later step gives (after the delay's, as in the agent).
TEST(ClientTest, FaultStepAbortsAndDelaysAtItsRates) {
  Harness harness("faults.shm");
  Program program = Orders(true);
  program.steps.push_back(Faults(20, 50));
  harness.agent.Publish(0, program);
  EXPECT_EQ(harness.client->OnRequest("orders").action, Action::kAskAgent)
      << "a caller that does not apply delays must ask";
  int aborted = 0;
  int delayed = 0;
  constexpr int kCalls = 20000;
  for (int i = 0; i < kCalls; ++i) {
    Verdict verdict = harness.client->OnRequest("orders", Applying());
    if (verdict.action == Action::kRespond) {
      ++aborted;
      EXPECT_EQ(verdict.response.status, 502u);
      EXPECT_EQ(verdict.response.headers.front().second, "fault-inject; name=\"f\"; event=abort");
    } else {
      ASSERT_EQ(verdict.action, Action::kContinue);
      if (verdict.delay_ms == 70) {
        ++delayed;
        EXPECT_EQ(verdict.markers.size(), 2u);
        EXPECT_EQ(verdict.choices[0], 1);
      } else {
        EXPECT_EQ(verdict.markers.size(), 1u);
      }
    }
    harness.agent.Drain();
  }
  // 20 % abort; half the rest (40 % of all) delayed. Bounds are 6 standard deviations.
  EXPECT_NEAR(aborted, kCalls * 0.2, 6 * std::sqrt(kCalls * 0.2 * 0.8));
  EXPECT_NEAR(delayed, kCalls * 0.4, 6 * std::sqrt(kCalls * 0.4 * 0.6));

  // A limit after a delay: the answer carries the delay's marker, then its own.
  program.steps = {Faults(0, 100), OneTokenLimit(1, 0, 1'000'000'000)};
  harness.agent.Publish(0, program);
  EXPECT_EQ(harness.client->OnRequest("orders", Applying()).action, Action::kContinue);
  Verdict limited = harness.client->OnRequest("orders", Applying());
  ASSERT_EQ(limited.action, Action::kRespond);
  EXPECT_EQ(limited.delay_ms, 0u) << "an answered call is not sent, so not delayed";
  EXPECT_EQ(limited.response.headers,
            (HeaderList{{"Retry-After", "1000"},
                        {"Middlepipe-Callback", "fault-inject; name=\"f\"; event=delay"},
                        {"Middlepipe-Short-Circuit", "limit"},
                        {"Middlepipe-Epoch", "5"}}));
  std::vector<ObservationData> taken = harness.agent.Drain();
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].answered_by, 1u);
  EXPECT_EQ(taken[0].choices[0], 1) << "the agent counts the delay too";
}

// A call handed to the agent has used nothing up: the agent's OnRequest takes its token,
// so a token taken here first would be taken twice.
TEST(ClientTest, ACallHandedToTheAgentHasTakenNoToken) {
  Harness harness("nothing-taken.shm");
  Program program = Orders(true);
  program.steps = {OneTokenLimit(0, 1, 1'000'000'000), Faults(0, 100)};  // no second token for long
  program.steps[1].filter_index = 1;
  harness.agent.Publish(0, program);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(harness.client->OnRequest("orders").action, Action::kAskAgent) << "it does not apply delays";
  }
  EXPECT_EQ(harness.client->OnRequest("orders", Applying()).action, Action::kContinue) << "the token is still there";
  EXPECT_EQ(harness.client->OnRequest("orders", Applying()).action, Action::kRespond);
}

Step Split(const std::string& sticky_header) {
  Step step;
  step.kind = Step::Kind::kRoute;
  step.filter_index = 1;
  step.sticky_header = sticky_header;
  step.routes = {{"orders", 3, true}, {"orders-v2", 1, true}, {"orders-v3", 5, false}};
  step.targets = {{true, {}}, {false, {{"10.0.0.2", 81}, {"10.0.0.3", 82}}}, {false, {}}};
  return step;
}

// A split picks by the same rules as the agent's filter: the sticky key's route, or by
// weight; unreachable routes never.
TEST(ClientTest, RouteStepSendsWhereTheAgentWould) {
  Harness harness("split.shm");
  Program program = Orders(true);
  program.steps.push_back(Split("x-user"));
  harness.agent.Publish(0, program);
  EXPECT_EQ(harness.client->OnRequest("orders", Applying()).action, Action::kAskAgent)
      << "the sticky key is in headers the caller did not give";
  int to_v2 = 0;
  for (int user = 0; user < 400; ++user) {
    const HeaderList headers = {{"X-User", "u" + std::to_string(user)}};
    Verdict verdict = harness.client->OnRequest("orders", Applying(&headers));
    ASSERT_EQ(verdict.action, Action::kContinue);
    const std::optional<size_t> expected = StickyRoute(program.steps[0].routes, "u" + std::to_string(user));
    ASSERT_TRUE(expected.has_value());
    EXPECT_NE(*expected, 2u) << "unreachable";
    EXPECT_EQ(verdict.choices[1], *expected + 1);
    if (*expected == 1) {
      ++to_v2;
      EXPECT_EQ(verdict.destination_service, "orders-v2");
      EXPECT_EQ(verdict.destination_endpoints.size(), 2u);
    } else {
      EXPECT_EQ(verdict.destination_service, "") << "its own service: unchanged";
    }
    EXPECT_EQ(harness.client->OnRequest("orders", Applying(&headers)).choices[1], *expected + 1)
        << "the same key, the same route";
  }
  EXPECT_GT(to_v2, 50);
  EXPECT_LT(to_v2, 150);

  // Without the key (or without stickiness), by weight: 1 in 4 to v2.
  const HeaderList none;
  int random_v2 = 0;
  constexpr int kCalls = 20000;
  for (int i = 0; i < kCalls; ++i) {
    random_v2 += harness.client->OnRequest("orders", Applying(&none)).destination_service == "orders-v2";
  }
  EXPECT_NEAR(random_v2, kCalls * 0.25, 6 * std::sqrt(kCalls * 0.25 * 0.75));
}

// A keyed limit: the client takes from the bucket of the request's key when the agent
// made one in the key table, names the key in the refusal, and asks about other keys.
TEST(ClientTest, KeyedTokenStepTakesFromTheKeysBucket) {
  Harness harness("keyed.shm");
  constexpr uint32_t kBase = 8;  // cells 8..39: a 16-slot key table
  KeyTable table(&harness.agent.segment->cell(kBase), 16);
  const uint64_t alice = KeyTag("alice");
  const int slot = table.Free(alice);
  ASSERT_GE(slot, 0);
  table.Publish(static_cast<uint32_t>(slot), alice);  // a full bucket: its word is 0
  Program program = Orders(true);
  Step take;
  take.kind = Step::Kind::kTakeKeyedToken;
  take.filter_index = 1;
  take.cell = kBase;
  take.key_slots = 16;
  take.key_header = "x-user";
  take.key_prefix = " for ";
  take.interval_us = 10'000'000;
  take.tolerance_us = 0;  // one token
  take.markers = {{"Middlepipe-Callback", std::string("rate-limit; detail=\"over 0.1/s") + kKeyPlaceholder + "\""}};
  take.response.status = 429;
  take.response.body = std::string("limited") + kKeyPlaceholder + "\n";
  program.steps.push_back(take);
  harness.agent.Publish(0, program);

  const HeaderList as_alice = {{"X-User", "alice"}};
  EXPECT_EQ(harness.client->OnRequest("orders").action, Action::kAskAgent) << "no headers given";
  Verdict first = harness.client->OnRequest("orders", Applying(&as_alice));
  ASSERT_EQ(first.action, Action::kContinue);
  EXPECT_EQ(first.key_slot, slot + 1);
  Verdict limited = harness.client->OnRequest("orders", Applying(&as_alice));
  ASSERT_EQ(limited.action, Action::kRespond);
  EXPECT_EQ(limited.response.body, "limited for alice\n");
  EXPECT_EQ(limited.markers.front().second, "rate-limit; detail=\"over 0.1/s for alice\"");
  EXPECT_EQ(limited.response.headers.front(), (std::pair<std::string, std::string>{"Retry-After", "10"}));
  const HeaderList as_bob = {{"X-User", "bob"}};
  EXPECT_EQ(harness.client->OnRequest("orders", Applying(&as_bob)).action, Action::kAskAgent)
      << "a key the agent has no bucket for yet";
  std::vector<ObservationData> taken = harness.agent.Drain();
  ASSERT_EQ(taken.size(), 1u);  // the limited one, answered in-process
  EXPECT_EQ(taken[0].key_slot, slot + 1);
  EXPECT_EQ(taken[0].answered_by, 1u);

  table.Remove(static_cast<uint32_t>(slot));  // the agent evicted alice
  EXPECT_EQ(harness.client->OnRequest("orders", Applying(&as_alice)).action, Action::kAskAgent);
}

TEST(CApiTest, CallsGoThroughTheAbi) {
  Harness harness("abi.shm");
  harness.agent.Beat(MonotonicMicros() / 1000);  // the C ABI runs on the real clock
  Program program = Orders(true);
  program.valid_until_ms = std::numeric_limits<int64_t>::max();
  harness.agent.Publish(0, program);
  EXPECT_EQ(mp_abi_version(), MP_ABI_VERSION);
  mp_client* client = mp_client_open(harness.path.c_str());
  ASSERT_NE(client, nullptr);
  int action = -1;
  mp_call* call = mp_on_request(client, "orders", &action);
  ASSERT_EQ(action, MP_CONTINUE);
  EXPECT_STREQ(mp_call_markers(call), "Middlepipe-Epoch: 5\n");
  EXPECT_EQ(mp_call_epoch(call), 5u);
  mp_on_response(client, call, 200, 100, 1, 2);
  EXPECT_EQ(harness.agent.Drain().size(), 1u);
  EXPECT_EQ(mp_on_request(client, "payments", &action), nullptr);
  EXPECT_EQ(action, MP_NO_CHAIN);

  program.steps.push_back(OpenBreaker());
  harness.agent.Publish(0, program);
  call = mp_on_request(client, "orders", &action);
  ASSERT_EQ(action, MP_RESPOND);
  EXPECT_EQ(mp_call_status(call), 503u);
  EXPECT_EQ(mp_call_raise(call), 1);
  size_t length = 0;
  EXPECT_EQ(std::string(mp_call_body(call, &length)), "open\n");
  EXPECT_EQ(length, 5u);
  EXPECT_NE(std::string(mp_call_headers(call)).find("Middlepipe-Short-Circuit: b\n"), std::string::npos);
  mp_call_free(call);
  EXPECT_EQ(mp_client_dropped(client), 0u);
  EXPECT_EQ(harness.agent.Drain().size(), 1u) << "the answered call";

  // With the request's headers and the promise to route and delay.
  program.steps = {Faults(0, 100), Split("x-user")};
  harness.agent.Publish(0, program);
  EXPECT_EQ(mp_on_request(client, "orders", &action), nullptr);
  EXPECT_EQ(action, MP_ASK_AGENT) << "an older caller does not route or delay";
  std::string key;
  for (int user = 0; key.empty(); ++user) {
    if (StickyRoute(program.steps[1].routes, "u" + std::to_string(user)) == size_t{1}) key = "u" + std::to_string(user);
  }
  const std::string headers = "Accept: */*\r\nX-User: " + key + "\r\n";
  call = mp_on_request_with(client, "orders", headers.c_str(), MP_APPLIES_DELAY_AND_DESTINATION, &action);
  ASSERT_EQ(action, MP_CONTINUE);
  EXPECT_EQ(mp_call_delay_ms(call), 70u);
  EXPECT_STREQ(mp_call_destination(call), "orders-v2");
  EXPECT_STREQ(mp_call_endpoints(call), "10.0.0.2:81\n10.0.0.3:82\n");
  mp_on_response(client, call, 200, 70'100, 1, 2);
  std::vector<ObservationData> taken = harness.agent.Drain();
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].choices[0], 1);
  EXPECT_EQ(taken[0].choices[1], 2);
  EXPECT_EQ(mp_on_request_with(client, "orders", nullptr, 0, &action), nullptr);
  EXPECT_EQ(action, MP_ASK_AGENT);
  mp_client_close(client);
}

}  // namespace
}  // namespace middlepipe::fastpath

#include "filter-agent/hook_server.h"

#include <sys/stat.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sstream>
#include <thread>

#include "common/frame_codec.h"
#include "gtest/gtest.h"
#include "scheduler/filters/builtin_filters.h"
#include "scheduler/filters/builtin_kinds.h"
#include "tests/support/child_process.h"

namespace middlepipe::agent {
namespace {

// A raw client of the hook socket.
class RawClient {
 public:
  explicit RawClient(const std::string& path) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~RawClient() { close(fd_); }

  bool connected() const { return connected_; }
  int fd() const { return fd_; }
  void SendRaw(const std::string& bytes) { ASSERT_EQ(write(fd_, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size())); }
  void Shutdown() { shutdown(fd_, SHUT_WR); }

  v1::HookReply Call(const v1::HookRequest& request) {
    EXPECT_TRUE(WriteFrame(fd_, request.SerializeAsString()).ok());
    return Read();
  }
  v1::HookReply Read() {
    std::string payload;
    v1::HookReply reply;
    absl::Status read = ReadFrame(fd_, &payload);
    EXPECT_TRUE(read.ok()) << read;
    EXPECT_TRUE(reply.ParseFromString(payload));
    return reply;
  }
  // True when the server closed the connection.
  bool Closed() {
    std::string payload;
    return absl::IsNotFound(ReadFrame(fd_, &payload));
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

v1::HookRequest OnRequest(uint64_t id, const std::string& service) {
  v1::HookRequest request;
  request.set_request_id(id);
  request.mutable_on_request()->set_service(service);
  request.mutable_on_request()->set_method("GET");
  request.mutable_on_request()->set_path("/orders/1");
  return request;
}

v1::HookRequest OnResponse(uint64_t id, uint64_t call_id, uint32_t status) {
  v1::HookRequest request;
  request.set_request_id(id);
  request.mutable_on_response()->set_call_id(call_id);
  request.mutable_on_response()->set_status(status);
  request.mutable_on_response()->set_latency_us(1000);
  return request;
}

std::string Joined(const google::protobuf::RepeatedPtrField<v1::Header>& headers) {
  std::ostringstream out;
  for (const auto& header : headers) out << header.name() << ": " << header.value() << "\n";
  return out.str();
}

class HookServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    scheduler::RegisterBuiltinFilters(registry_);
    Commit(1, true);
    ASSERT_TRUE(server_.Start(path_).ok());
  }

  void Commit(uint64_t epoch, bool with_breaker) {
    v1::Prepare prepare;
    prepare.set_epoch(epoch);
    v1::Chain* chain = prepare.add_chains();
    chain->set_app("web");
    chain->set_service("orders");
    if (with_breaker) {
      v1::FilterSpec* breaker = chain->add_filters();
      breaker->set_middlepipe("orders-breaker");
      breaker->set_kind("circuit-breaker");
      breaker->set_level(v1::LEVEL_REQUEST);
      breaker->set_config_json(R"({"min_requests":2,"error_threshold_percent":50})");
    }
    v1::FilterSpec* monitor = chain->add_filters();
    monitor->set_middlepipe("watch");
    monitor->set_kind("monitor");
    monitor->set_level(v1::LEVEL_REQUEST);
    ASSERT_TRUE(chains_.Prepare(prepare).ok());
    ASSERT_TRUE(chains_.Commit(epoch).ok());
  }

  testing::ScratchDir scratch_;
  const std::string path_ = scratch_ / "run/agent.sock";
  std::ostringstream log_;
  Logger logger_{"test", &log_};
  scheduler::KindCatalog kinds_ = *scheduler::KindCatalog::Create(scheduler::BuiltinKinds());
  scheduler::FilterRegistry registry_{&kinds_};
  scheduler::ChainTable chains_{&registry_, scheduler::SteadyClockMillis()};
  HookServer server_{&chains_, &logger_, "test"};
};

TEST_F(HookServerTest, NoChainMeansStraightThrough) {
  RawClient client(path_);
  ASSERT_TRUE(client.connected());
  v1::HookReply reply = client.Call(OnRequest(7, "billing"));
  EXPECT_EQ(reply.request_id(), 7u);
  EXPECT_EQ(reply.verdict().action(), v1::ACTION_CONTINUE);
  EXPECT_EQ(reply.verdict().call_id(), 0u);
  EXPECT_EQ(reply.verdict().markers_size(), 0);
}

TEST_F(HookServerTest, TheBreakerOpensAndThenShortCircuitsWithMarkers) {
  RawClient client(path_);
  std::string last_markers;
  for (uint64_t i = 0; i < 2; ++i) {
    v1::HookReply verdict = client.Call(OnRequest(10 + i, "orders"));
    ASSERT_EQ(verdict.verdict().action(), v1::ACTION_CONTINUE);
    EXPECT_EQ(Joined(verdict.verdict().markers()), "Middlepipe-Epoch: 1\n");
    v1::HookReply markers = client.Call(OnResponse(20 + i, verdict.verdict().call_id(), 503));
    ASSERT_TRUE(markers.has_markers()) << markers.DebugString();
    last_markers = Joined(markers.markers().markers());
  }
  EXPECT_EQ(last_markers.rfind("Middlepipe-Callback: circuit-breaker; name=\"orders-breaker\"; "
                               "event=open",
                               0),
            0u)
      << last_markers;

  v1::HookReply blocked = client.Call(OnRequest(30, "orders"));
  ASSERT_EQ(blocked.verdict().action(), v1::ACTION_RESPOND);
  EXPECT_EQ(blocked.verdict().response().status(), 503u);
  std::string headers = Joined(blocked.verdict().response().headers());
  EXPECT_NE(headers.find("Middlepipe-Short-Circuit: orders-breaker\n"), std::string::npos);
  EXPECT_NE(headers.find("Middlepipe-Epoch: 1\n"), std::string::npos);
  EXPECT_EQ(server_.calls_in_flight(), 0u);
}

TEST_F(HookServerTest, ACallFinishesOnTheEpochItStartedOn) {
  RawClient client(path_);
  v1::HookReply verdict = client.Call(OnRequest(1, "orders"));
  Commit(2, /*with_breaker=*/false);
  v1::HookReply markers = client.Call(OnResponse(2, verdict.verdict().call_id(), 200));
  EXPECT_TRUE(markers.has_markers()) << markers.DebugString();
  EXPECT_EQ(Joined(client.Call(OnRequest(3, "orders")).verdict().markers()), "Middlepipe-Epoch: 2\n");
}

TEST_F(HookServerTest, OneRoundTripWhenNoMarkerCanComeBack) {
  RawClient client(path_);
  // A breaker deciding alone (no aggregator lease) may open on any response: wait.
  v1::HookReply with_breaker = client.Call(OnRequest(1, "orders"));
  EXPECT_TRUE(with_breaker.verdict().await_response_markers());
  ASSERT_TRUE(client.Call(OnResponse(2, with_breaker.verdict().call_id(), 200)).has_markers());

  // A monitor only counts: the hook sends OnResponse without waiting, and no reply comes
  // (the next frame on the connection answers the next request).
  Commit(2, /*with_breaker=*/false);
  v1::HookReply monitored = client.Call(OnRequest(3, "orders"));
  ASSERT_FALSE(monitored.verdict().await_response_markers());
  v1::HookRequest report = OnResponse(4, monitored.verdict().call_id(), 200);
  report.mutable_on_response()->set_no_reply(true);
  v1::HookRequest unknown = OnResponse(5, 424242, 200);
  unknown.mutable_on_response()->set_no_reply(true);
  ASSERT_TRUE(WriteFrame(client.fd(), report.SerializeAsString()).ok());
  ASSERT_TRUE(WriteFrame(client.fd(), unknown.SerializeAsString()).ok());
  v1::HookRequest ping;
  ping.set_request_id(6);
  ping.mutable_ping();
  EXPECT_EQ(client.Call(ping).request_id(), 6u) << "no reply came for the no_reply frames";
  EXPECT_EQ(server_.calls_in_flight(), 0u) << "the observation was taken";
  EXPECT_EQ(server_.unanswered_errors(), 1u) << "the unknown call is counted, not answered";
  v1::Report report_of_watch;
  chains_.Current()->Find("orders")->Find("watch")->TakeReport(report_of_watch);
  EXPECT_EQ(report_of_watch.request_stats().status_classes(2), 2u);
}

TEST_F(HookServerTest, PingAndUnknownCallIds) {
  RawClient client(path_);
  v1::HookRequest ping;
  ping.set_request_id(5);
  ping.mutable_ping();
  v1::HookReply pong = client.Call(ping);
  EXPECT_EQ(pong.pong().epoch(), 1u);
  EXPECT_EQ(client.Call(OnResponse(6, 424242, 200)).error().message(),
            "unknown call_id 424242 (answered already, or expired)");
  v1::HookRequest empty;
  empty.set_request_id(9);
  EXPECT_EQ(client.Call(empty).error().message(), "HookRequest has no call");
}

TEST_F(HookServerTest, GarbageGetsAnErrorAndAClosedConnection) {
  RawClient client(path_);
  client.SendRaw(std::string("\x00\x00\x00\x03\x0f\x0f\x0f", 7));  // wire type 7: invalid
  EXPECT_EQ(client.Read().error().message(), "frame is not a HookRequest");
  EXPECT_TRUE(client.Closed());
  RawClient next(path_);
  EXPECT_EQ(next.Call(OnRequest(1, "orders")).verdict().action(), v1::ACTION_CONTINUE)
      << "the agent must keep serving";
}

TEST_F(HookServerTest, OversizedFramesAreRefusedBeforeTheirPayload) {
  RawClient client(path_);
  client.SendRaw(std::string("\x10\x00\x00\x00", 4));  // 256 MiB announced
  EXPECT_EQ(client.Read().error().message(), "frame too large: 268435456 > 4194304 bytes");
  EXPECT_TRUE(client.Closed());
}

TEST_F(HookServerTest, ATruncatedFrameClosesOnlyThatConnection) {
  {
    RawClient client(path_);
    client.SendRaw(std::string("\x00\x00\x01\x00" "abc", 7));
    client.Shutdown();
    EXPECT_TRUE(client.Closed());
  }
  RawClient next(path_);
  EXPECT_EQ(next.Call(OnRequest(1, "orders")).verdict().action(), v1::ACTION_CONTINUE);
}

TEST_F(HookServerTest, ManyAppThreadsAtOnce) {
  constexpr int kThreads = 8;
  constexpr int kCalls = 100;
  Commit(2, /*with_breaker=*/false);  // a monitor only: every call goes through
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      RawClient client(path_);
      for (int i = 0; i < kCalls; ++i) {
        v1::HookReply verdict = client.Call(OnRequest(i, "orders"));
        v1::HookReply markers = client.Call(OnResponse(i, verdict.verdict().call_id(), 200));
        good += verdict.verdict().action() == v1::ACTION_CONTINUE && markers.has_markers();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(good.load(), kThreads * kCalls);
  EXPECT_EQ(server_.requests_handled(), static_cast<uint64_t>(kThreads * kCalls));
  EXPECT_EQ(server_.calls_in_flight(), 0u);
}

}  // namespace
// The bug: the agent started one thread per hook connection with no cap (5,016 threads
// at 5,000 connections). Past the cap a connection is answered with an error and closed.
TEST_F(HookServerTest, RefusesConnectionsPastTheCap) {
  std::vector<std::unique_ptr<RawClient>> clients;
  for (size_t i = 0; i < HookServer::kMaxConnections; ++i) {
    clients.push_back(std::make_unique<RawClient>(path_));
    ASSERT_TRUE(clients.back()->connected());
  }
  // Every one of them is served (so each has its thread) before the next arrives.
  for (auto& client : clients) {
    ASSERT_EQ(client->Call(OnRequest(1, "billing")).verdict().action(), v1::ACTION_CONTINUE);
  }
  RawClient one_too_many(path_);
  v1::HookReply refused = one_too_many.Call(OnRequest(2, "billing"));
  EXPECT_TRUE(refused.has_error()) << refused.DebugString();
  EXPECT_NE(refused.error().message().find("at most 256 hook connections"), std::string::npos);
  EXPECT_EQ(server_.connections_refused(), 1u);
  clients.pop_back();  // one closes: a new one is served again
  for (int attempt = 0; attempt < 100; ++attempt) {
    RawClient again(path_);
    v1::HookReply reply = again.Call(OnRequest(3, "billing"));
    if (!reply.has_error()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ADD_FAILURE() << "no connection was served after one closed";
}

// The hook socket and its directory admit only the app's user (and root, the agent).
TEST(HookServerPermissionsTest, OnlyTheAppUserMayConnect) {
  testing::ScratchDir scratch;
  std::ostringstream log;
  Logger logger("test", &log);
  scheduler::KindCatalog kinds = *scheduler::KindCatalog::Create(scheduler::BuiltinKinds());
  scheduler::FilterRegistry registry(&kinds);
  scheduler::ChainTable chains(&registry, scheduler::SteadyClockMillis());
  HookServer server(&chains, &logger, "test");
  const std::string path = scratch / "run/middlepipe/agent.sock";
  ASSERT_TRUE(server.Start(path, 4321).ok());
  struct stat socket_info {};
  ASSERT_EQ(stat(path.c_str(), &socket_info), 0);
  EXPECT_EQ(socket_info.st_uid, 4321u);
  EXPECT_EQ(socket_info.st_mode & 0777, 0600u);
  struct stat directory_info {};
  ASSERT_EQ(stat((scratch / "run/middlepipe").c_str(), &directory_info), 0);
  EXPECT_EQ(directory_info.st_mode & 0777, 0711u);
  server.Stop();
}

}  // namespace middlepipe::agent

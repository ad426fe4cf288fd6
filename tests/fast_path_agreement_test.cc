#include "filter-agent/fast_path_publisher.h"

#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "clients/cpp/fastpath/client.h"
#include "filter-agent/hook_server.h"
#include "gtest/gtest.h"
#include "scheduler/filters/builtin_filters.h"
#include "scheduler/filters/builtin_kinds.h"

namespace middlepipe::agent {
namespace {

using fastpath::Action;

std::string TempPath(const std::string& name) {
  return std::string(std::getenv("TEST_TMPDIR") ? std::getenv("TEST_TMPDIR") : "/tmp") + "/" + name;
}

// Chains both worlds run: a cluster breaker + rate limit + monitor on orders, an
// instance-scope breaker + monitor on stock, fault injectors on audit (delay) and search
// (abort), a sticky traffic split on catalog, a limit per user on users.
// Adds web's chain to `service`: (middlepipe, kind, config) in order.
void AddChain(v1::Prepare& prepare, const std::string& service,
              const std::vector<std::tuple<std::string, std::string, std::string>>& filters) {
  v1::Chain* chain = prepare.add_chains();
  chain->set_app("web");
  chain->set_service(service);
  for (const auto& [name, kind, config] : filters) {
    v1::FilterSpec* spec = chain->add_filters();
    spec->set_middlepipe(name);
    spec->set_kind(kind);
    spec->set_level(v1::LEVEL_REQUEST);
    spec->set_config_json(config);
  }
}

v1::Prepare Chains(uint64_t epoch) {
  v1::Prepare prepare;
  prepare.set_epoch(epoch);
  auto add = [&](const std::string& service,
                 const std::vector<std::tuple<std::string, std::string, std::string>>& filters) {
    AddChain(prepare, service, filters);
  };
  add("orders", {{"orders-breaker", "circuit-breaker",
                  R"({"min_requests":4,"error_threshold_percent":50,"window_ms":2000,"open_ms":800,"half_open_requests":2,"latency_threshold_ms":300})"},
                 {"orders-limit", "rate-limit", R"({"requests_per_second":20,"burst":4})"},
                 {"orders-monitor", "monitor", "{}"}});
  add("stock", {{"stock-breaker", "circuit-breaker",
                 R"({"scope":"instance","min_requests":3,"open_ms":500,"half_open_requests":1,"latency_threshold_ms":300})"},
                {"stock-limit", "rate-limit", R"({"requests_per_second":5,"scope":"instance"})"},
                {"stock-monitor", "monitor", "{}"}});
  // Deterministic faults (0 or 100 %), so both worlds inject the same ones.
  add("audit", {{"audit-faults", "fault-inject", R"({"delay_percent":100,"delay_ms":40})"},
                {"audit-limit", "rate-limit", R"({"requests_per_second":8,"burst":2,"scope":"instance"})"},
                {"audit-monitor", "monitor", "{}"}});
  add("search", {{"search-faults", "fault-inject", R"({"abort_percent":100,"abort_status":502})"},
                 {"search-monitor", "monitor", "{}"}});
  // A limit per user (X-User): the keys' buckets live in the segment's key table.
  add("users", {{"users-limit", "rate-limit",
                 R"({"requests_per_second":2,"burst":2,"scope":"instance","key_header":"x-user","max_keys":64})"},
                {"users-monitor", "monitor", "{}"}});
  // A sticky split: requests carry X-User, so both worlds route each the same way.
  add("catalog", {{"catalog-split", "traffic-split",
                   R"({"sticky_header":"x-user","routes":[{"service":"catalog","weight":3},{"service":"catalog-v2","weight":1}]})"},
                  {"catalog-monitor", "monitor", "{}"}});
  v1::ServiceEndpoints* v2 = prepare.mutable_chains(prepare.chains_size() - 1)
                                 ->mutable_filters(0)
                                 ->add_referenced_services();
  v2->set_service("catalog-v2");
  v1::Endpoint* endpoint = v2->add_endpoints();
  endpoint->set_host("10.0.0.7");
  endpoint->set_port(8080);
  return prepare;
}

// What the app sees of a verdict, in one comparable string.
std::string Seen(const v1::Verdict& verdict) {
  std::ostringstream out;
  out << "action=" << verdict.action() << " delay=" << verdict.delay_ms() << " to="
      << verdict.destination_service();
  for (const auto& endpoint : verdict.destination_endpoints()) out << " " << endpoint.host() << ":" << endpoint.port();
  out << "\n";
  for (const auto& marker : verdict.markers()) out << "marker " << marker.name() << ": " << marker.value() << "\n";
  if (verdict.action() == v1::ACTION_RESPOND) {
    out << "status=" << verdict.response().status() << " raise=" << verdict.response().raise() << "\n";
    for (const auto& header : verdict.response().headers()) out << "header " << header.name() << ": " << header.value() << "\n";
    out << "body=" << verdict.response().body();
  }
  return out.str();
}

std::string Seen(const fastpath::Verdict& verdict) {
  std::ostringstream out;
  out << "action=" << (verdict.action == Action::kRespond ? v1::ACTION_RESPOND : v1::ACTION_CONTINUE)
      << " delay=" << verdict.delay_ms << " to=" << verdict.destination_service;
  for (const auto& [host, port] : verdict.destination_endpoints) out << " " << host << ":" << port;
  out << "\n";
  for (const auto& [name, value] : verdict.markers) out << "marker " << name << ": " << value << "\n";
  if (verdict.action == Action::kRespond) {
    out << "status=" << verdict.response.status << " raise=" << verdict.response.raise << "\n";
    for (const auto& [name, value] : verdict.response.headers) out << "header " << name << ": " << value << "\n";
    out << "body=" << verdict.response.body;
  }
  return out.str();
}

std::string Markers(const std::optional<v1::HookReply>& reply) {
  std::ostringstream out;
  if (reply.has_value()) {
    for (const auto& marker : reply->markers().markers()) out << marker.name() << ": " << marker.value() << "\n";
  }
  return out.str();
}

v1::Decision BreakerDecision(uint64_t sequence, v1::BreakerState state, uint32_t permits) {
  v1::Decision decision;
  decision.set_sequence(sequence);
  decision.set_lease_ms(3000);
  decision.mutable_breaker()->set_state(state);
  decision.mutable_breaker()->set_reason("the cluster says so");
  decision.mutable_breaker()->set_trial_permits(permits);
  return decision;
}

// One agent: chains, hook server (the socket path's core) and, with a segment, the fast
// path's publisher and an app's client core, all on one fake clock.
struct World {
  // On a fake clock, `*now_ms`.
  World(int64_t* now_ms, const std::string& segment_path)
      : World([now_ms] { return *now_ms; }, [now_ms] { return *now_ms * 1000; }, segment_path) {}
  // On any clock (in milliseconds and, for the client core, microseconds).
  World(scheduler::Clock clock, std::function<int64_t()> now_us, const std::string& segment_path,
        fastpath::Segment::Sizes sizes = {}) {
    scheduler::RegisterBuiltinFilters(registry);
    chains = std::make_unique<scheduler::ChainTable>(&registry, clock);
    hooks = std::make_unique<HookServer>(chains.get(), &logger, "test");
    if (!segment_path.empty()) {
      std::string error;
      segment = fastpath::Segment::Create(segment_path, sizes, static_cast<uid_t>(-1), &error);
      EXPECT_NE(segment, nullptr) << error;
      publisher = std::make_unique<FastPathPublisher>(segment.get(), chains.get(), &logger, clock);
      fastpath::ClientOptions options;
      options.path = segment_path;
      options.now_us = std::move(now_us);
      options.log = [](const std::string&) {};
      client = std::make_unique<fastpath::Client>(options);
    }
  }
  void Commit(uint64_t epoch) { Commit(Chains(epoch)); }
  void Commit(const v1::Prepare& prepare) {
    ASSERT_TRUE(chains->Prepare(prepare).ok());
    ASSERT_TRUE(chains->Commit(prepare.epoch()).ok());
  }
  void Round() {
    if (publisher) publisher->RunRound();
  }
  scheduler::RequestFilter* Filter(const std::string& service, const std::string& name) {
    return chains->Current()->Find(service)->Find(name);
  }
  // Commits epoch 1 and puts the orders breaker under a cluster lease, so the fast path
  // passes orders calls on its own.
  void LeaseOrdersBreaker() {
    Commit(1);
    Round();
    Filter("orders", "orders-breaker")->OnDecision(BreakerDecision(2, v1::BREAKER_STATE_CLOSED, 0));
    Round();
  }

  std::ostringstream log;
  Logger logger{"test", &log};
  scheduler::KindCatalog kinds = *scheduler::KindCatalog::Create(scheduler::BuiltinKinds());
  scheduler::FilterRegistry registry{&kinds};
  std::unique_ptr<scheduler::ChainTable> chains;
  std::unique_ptr<HookServer> hooks;
  // Made before the publisher and kept until the chains' filters, which may hold its
  // cells, are gone: ~World below destroys in that order.
  std::unique_ptr<fastpath::Segment> segment;
  std::unique_ptr<FastPathPublisher> publisher;
  std::unique_ptr<fastpath::Client> client;

  ~World() {
    client.reset();
    publisher.reset();
    hooks.reset();
    chains.reset();  // filters may hold cells of the segment: they go first
    segment.reset();
  }
};

// A call in flight in both worlds.
struct Flight {
  uint64_t socket_call = 0;
  // The fast world's: a fast verdict, or a socket call id.
  bool fast = false;
  fastpath::Verdict fast_verdict;
  uint64_t fast_world_call = 0;
  bool awaits_markers = false;
  bool fast_world_awaits_markers = false;
};

v1::HookRequest Request(uint64_t id, const std::string& service,
                        const fastpath::HeaderList& headers = {}) {
  v1::HookRequest request;
  request.set_request_id(id);
  request.mutable_on_request()->set_service(service);
  request.mutable_on_request()->set_method("GET");
  request.mutable_on_request()->set_path("/");
  for (const auto& [name, value] : headers) {
    v1::Header* header = request.mutable_on_request()->add_headers();
    header->set_name(name);
    header->set_value(value);
  }
  return request;
}

v1::HookRequest Response(uint64_t id, uint64_t call_id, uint32_t status, uint64_t latency_us, bool awaits) {
  v1::HookRequest request;
  request.set_request_id(id);
  request.mutable_on_response()->set_call_id(call_id);
  request.mutable_on_response()->set_status(status);
  request.mutable_on_response()->set_latency_us(latency_us);
  request.mutable_on_response()->set_no_reply(!awaits);
  return request;
}

// The property: for any sequence of requests, responses, aggregator decisions and time
// passing, an app using the fast path (asking the socket when told to) sees exactly
// what an app using only the socket sees, and the filters count the same.
TEST(FastPathPropertyTest, SameVerdictsMarkersAndCountsOnBothPaths) {
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    int64_t now_ms = 1'000'000;
    World socket_only(&now_ms, "");
    World fast(&now_ms, TempPath("property-" + std::to_string(seed) + ".shm"));
    socket_only.Commit(1);
    fast.Commit(1);
    fast.Round();
    std::mt19937 random(seed);
    std::vector<Flight> flights;
    uint64_t request_id = 1;
    uint64_t sequence = 1;
    size_t fast_calls = 0;
    std::map<std::string, size_t> fast_by_service;
    size_t asked = 0;
    const std::vector<std::string> services = {"orders", "stock", "audit", "search", "catalog", "users", "elsewhere"};
    for (int step = 0; step < 4000; ++step) {
      const int op = static_cast<int>(random() % 100);
      if (op < 45) {  // a request
        const std::string service = services[random() % services.size()];
        // Always a key: without one a split is random, and each world rolls its own dice.
        const fastpath::HeaderList headers = {{"X-User", "user-" + std::to_string(random() % 40)}};
        std::optional<v1::HookReply> expected = socket_only.hooks->Handle(Request(request_id++, service, headers));
        ASSERT_TRUE(expected.has_value() && expected->has_verdict());
        fastpath::Request about;
        about.headers = &headers;
        about.applies_delay_and_destination = true;
        fastpath::Verdict verdict = fast.client->OnRequest(service, about);
        Flight flight;
        flight.socket_call = expected->verdict().call_id();
        flight.awaits_markers = expected->verdict().await_response_markers();
        if (verdict.action == Action::kAskAgent) {
          ++asked;
          std::optional<v1::HookReply> got = fast.hooks->Handle(Request(request_id++, service, headers));
          ASSERT_EQ(Seen(got->verdict()), Seen(expected->verdict())) << "step " << step;
          flight.fast_world_call = got->verdict().call_id();
          flight.fast_world_awaits_markers = got->verdict().await_response_markers();
        } else if (verdict.action == Action::kNoChain) {
          ASSERT_EQ(expected->verdict().call_id(), 0u);
          ASSERT_EQ(expected->verdict().markers_size(), 0);
          continue;
        } else {
          ++fast_calls;
          ++fast_by_service[service];
          ASSERT_EQ(Seen(verdict), Seen(expected->verdict())) << "step " << step;
          ASSERT_FALSE(expected->verdict().await_response_markers()) << "the fast path took a call whose response may mark";
          flight.fast = true;
          flight.fast_verdict = verdict;
        }
        if (expected->verdict().action() == v1::ACTION_CONTINUE && expected->verdict().call_id() != 0) {
          flights.push_back(std::move(flight));
        }
        fast.Round();
      } else if (op < 85 && !flights.empty()) {  // a response, in any order
        const size_t pick = random() % flights.size();
        Flight flight = std::move(flights[pick]);
        flights.erase(flights.begin() + static_cast<long>(pick));
        const uint32_t statuses[] = {200, 200, 200, 503, 0};
        const uint32_t status = statuses[random() % 5];
        const uint64_t latency_us = (random() % 4 == 0) ? 400'000 : 2'000;
        std::optional<v1::HookReply> expected = socket_only.hooks->Handle(
            Response(request_id++, flight.socket_call, status, latency_us, flight.awaits_markers));
        if (flight.fast) {
          fast.client->OnResponse(flight.fast_verdict, status, latency_us);
          fast.Round();
          ASSERT_EQ(Markers(expected), "") << "step " << step;
        } else {
          std::optional<v1::HookReply> got = fast.hooks->Handle(Response(
              request_id++, flight.fast_world_call, status, latency_us, flight.fast_world_awaits_markers));
          ASSERT_EQ(Markers(got), Markers(expected)) << "step " << step;
          fast.Round();
        }
      } else if (op < 92) {  // the aggregator decides
        v1::Decision decision;
        const int which = static_cast<int>(random() % 4);
        if (which == 0) decision = BreakerDecision(++sequence, v1::BREAKER_STATE_OPEN, 0);
        if (which == 1) decision = BreakerDecision(++sequence, v1::BREAKER_STATE_HALF_OPEN, 1 + random() % 3);
        if (which == 2) decision = BreakerDecision(++sequence, v1::BREAKER_STATE_CLOSED, 0);
        if (which == 3) {
          decision.set_sequence(++sequence);
          decision.set_lease_ms(3000);
          decision.mutable_rate_budget()->set_requests_per_second(5 + random() % 30);
          decision.mutable_rate_budget()->set_burst(random() % 5);
          decision.mutable_rate_budget()->set_instances(2);
        }
        const std::string name = which == 3 ? "orders-limit" : "orders-breaker";
        socket_only.Filter("orders", name)->OnDecision(decision);
        fast.Filter("orders", name)->OnDecision(decision);
        fast.Round();
      } else {  // time passes
        now_ms += static_cast<int64_t>(random() % (random() % 8 == 0 ? 4000 : 200));
        fast.Round();
      }
    }
    // Calls still in flight complete, so both worlds have seen every call end.
    for (Flight& flight : flights) {
      socket_only.hooks->Handle(Response(request_id++, flight.socket_call, 200, 1000, flight.awaits_markers));
      if (flight.fast) {
        fast.client->OnResponse(flight.fast_verdict, 200, 1000);
      } else {
        fast.hooks->Handle(Response(request_id++, flight.fast_world_call, 200, 1000,
                                    flight.fast_world_awaits_markers));
      }
    }
    fast.Round();
    // Every filter counted the same calls the same way.
    for (const auto& [service, name] : std::vector<std::pair<std::string, std::string>>{
             {"orders", "orders-breaker"}, {"orders", "orders-limit"}, {"orders", "orders-monitor"},
             {"stock", "stock-breaker"}, {"stock", "stock-limit"}, {"stock", "stock-monitor"},
             {"audit", "audit-faults"}, {"audit", "audit-limit"}, {"audit", "audit-monitor"},
             {"search", "search-faults"}, {"search", "search-monitor"},
             {"catalog", "catalog-split"}, {"catalog", "catalog-monitor"},
             {"users", "users-limit"}, {"users", "users-monitor"}}) {
      v1::Report expected;
      v1::Report got;
      socket_only.Filter(service, name)->TakeReport(expected);
      fast.Filter(service, name)->TakeReport(got);
      EXPECT_EQ(got.request_stats().DebugString(), expected.request_stats().DebugString()) << name;
    }
    EXPECT_GT(fast_calls, 200u) << "the fast path must decide a good share of the calls";
    for (const char* service : {"orders", "stock", "audit", "search", "catalog", "users"}) {
      EXPECT_GT(fast_by_service[service], 10u) << service << " never decided in-process";
    }
    EXPECT_GT(asked, 50u) << "and ask the agent when it cannot";
    EXPECT_EQ(fast.publisher->orphaned(), 0u);
  }
}

// A new epoch with other chains: the directory follows, a removed binding answers
// "no chain", and observations of it are counted as orphaned, not lost silently.
TEST(FastPathPublisherTest, DirectoryFollowsEpochs) {
  int64_t now_ms = 1'000'000;
  World fast(&now_ms, TempPath("epochs.shm"));
  fast.LeaseOrdersBreaker();
  fastpath::Verdict verdict = fast.client->OnRequest("orders");
  ASSERT_EQ(verdict.action, Action::kContinue);
  EXPECT_EQ(verdict.markers.back().second, "1");
  v1::Prepare next;
  next.set_epoch(2);
  ASSERT_TRUE(fast.chains->Prepare(next).ok());  // no chains at all
  ASSERT_TRUE(fast.chains->Commit(2).ok());
  fast.client->OnResponse(verdict, 200, 1000);
  fast.Round();
  EXPECT_EQ(fast.publisher->orphaned(), 1u);
  EXPECT_EQ(fast.client->OnRequest("orders").action, Action::kNoChain);
  fast.Commit(3);
  fast.Round();
  EXPECT_EQ(fast.client->OnRequest("audit").action, Action::kAskAgent)
      << "a caller that does not apply delays asks the agent about a fault-inject chain";
  fastpath::Request about;
  about.applies_delay_and_destination = true;
  EXPECT_EQ(fast.client->OnRequest("audit", about).delay_ms, 40u);
  EXPECT_EQ(fast.client->OnRequest("catalog", about).action, Action::kAskAgent)
      << "a sticky split needs the request's headers";
  fastpath::HeaderList headers = {{"X-User", "ann"}};
  about.headers = &headers;
  EXPECT_EQ(fast.client->OnRequest("catalog", about).action, Action::kContinue);
}

// Stop takes what the app sent last and tells clients the fast path is gone.
// A segment without room for a limit's buckets: that binding goes over the socket, and
// the agent says why, once.
TEST(FastPathPublisherTest, NoRoomForBucketsIsSaidOnce) {
  int64_t now_ms = 1'000'000;
  fastpath::Segment::Sizes sizes;
  sizes.cell_count = 8;  // the unkeyed limits fit; the per-user key table does not
  World fast([&now_ms] { return now_ms; }, [&now_ms] { return now_ms * 1000; }, TempPath("no-room.shm"), sizes);
  fast.Commit(1);
  fast.Round();
  fast.Round();
  fastpath::Request about;
  const fastpath::HeaderList headers = {{"X-User", "ann"}};
  about.headers = &headers;
  EXPECT_EQ(fast.client->OnRequest("users", about).action, Action::kAskAgent);
  const std::string log = fast.log.str();
  const size_t said = log.find("no room left in the segment's 8 cells for users/users-limit");
  ASSERT_NE(said, std::string::npos) << log;
  EXPECT_EQ(log.find("no room left", said + 1), std::string::npos) << "said more than once: " << log;
}

TEST(FastPathPublisherTest, StopDrainsAndRetires) {
  int64_t now_ms = 1'000'000;
  const std::string path = TempPath("stop.shm");
  World fast(&now_ms, path);
  fast.LeaseOrdersBreaker();
  fastpath::Verdict verdict = fast.client->OnRequest("orders");
  ASSERT_EQ(verdict.action, Action::kContinue);
  fast.client->OnResponse(verdict, 200, 1000);
  fast.publisher->Stop();
  EXPECT_EQ(fast.publisher->observations(), 1u);
  v1::Report report;
  fast.Filter("orders", "orders-monitor")->TakeReport(report);
  EXPECT_EQ(report.request_stats().requests(), 1u);
  EXPECT_EQ(access(path.c_str(), F_OK), -1);
  EXPECT_EQ(fast.client->OnRequest("orders").action, Action::kAskAgent);
}

// The chains of the concurrency test: every call to orders passes (a limit no test
// reaches), and epochs alternate its burst (a new program and bucket) and whether
// stock has a chain (a new directory).
v1::Prepare BusyChains(uint64_t epoch) {
  v1::Prepare prepare;
  prepare.set_epoch(epoch);
  const std::string burst = epoch % 2 == 0 ? "1000000" : "2000000";
  AddChain(prepare, "orders",
           {{"orders-breaker", "circuit-breaker", R"({"min_requests":1000000,"latency_threshold_ms":60000})"},
            {"orders-limit", "rate-limit", R"({"requests_per_second":1000000,"burst":)" + burst + "}"},
            {"orders-monitor", "monitor", "{}"}});
  if (epoch % 3 == 0) AddChain(prepare, "stock", {{"stock-monitor", "monitor", "{}"}});
  return prepare;
}

// What app threads and processes did to orders.
struct Calls {
  uint64_t continued = 0;  // sent, and their outcome handed back (fast or socket)
  uint64_t fast = 0;       // of those, decided by the client core
  uint64_t responded = 0;  // answered without the service (none expected)
};

// An app thread: `count` calls to orders, through the client core, asking the agent's
// socket core when the core says so (when there is one). Each call takes `call_time`
// (the service's; zero: an app calling in a tight loop, faster than any service).
Calls CallOrders(fastpath::Client& core, HookServer* hooks, int count, uint64_t first_id,
                 std::chrono::microseconds call_time) {
  Calls calls;
  uint64_t request_id = first_id;
  for (int i = 0; i < count; ++i) {
    fastpath::Verdict verdict = core.OnRequest("orders");
    if (call_time.count() > 0) std::this_thread::sleep_for(call_time);
    if (verdict.action == Action::kContinue) {
      core.OnResponse(verdict, 200, 1500);
      ++calls.continued;
      ++calls.fast;
    } else if (verdict.action == Action::kRespond) {
      ++calls.responded;
    } else if (verdict.action == Action::kAskAgent && hooks != nullptr) {
      std::optional<v1::HookReply> reply = hooks->Handle(Request(request_id++, "orders"));
      if (!reply.has_value() || reply->verdict().action() != v1::ACTION_CONTINUE) {
        ++calls.responded;
        continue;
      }
      hooks->Handle(Response(request_id++, reply->verdict().call_id(), 200, 1500,
                             reply->verdict().await_response_markers()));
      ++calls.continued;
    }
  }
  return calls;
}

// Many app threads and two app processes produce into the ring while the publisher
// drains it on its own thread, the aggregator renews the breaker's lease and new epochs
// are committed. Every call the monitor was told of is counted once: what it counted
// plus what the ring dropped is exactly what the apps sent.
void RunBusyApps(const std::string& name, fastpath::Segment::Sizes sizes,
                 std::chrono::microseconds call_time, bool expect_drops) {
  const std::string path = TempPath(name);
  World world(scheduler::SteadyClockMillis(), fastpath::MonotonicMicros, path, sizes);
  world.Commit(BusyChains(1));
  constexpr int kThreads = 6;
  constexpr int kCallsEach = 3000;
  constexpr int kProcesses = 2;

  // The processes are forked before any thread starts, and wait for the go.
  int go[2];
  int results[2];
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(results), 0);
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(go[1]);
      char byte;
      if (read(go[0], &byte, 1) < 0) _exit(2);
      fastpath::ClientOptions options;
      options.path = path;
      options.log = [](const std::string&) {};
      fastpath::Client core(options);
      // No socket core in this process: calls the fast path cannot decide are not sent.
      Calls calls = CallOrders(core, nullptr, kCallsEach, 1, call_time);
      _exit(write(results[1], &calls.continued, sizeof calls.continued) == sizeof calls.continued ? 0 : 3);
    }
    children.push_back(pid);
  }
  close(go[0]);
  close(results[1]);

  world.publisher->Start(std::chrono::milliseconds(2));
  std::atomic<bool> apps_done{false};
  std::thread aggregator([&] {
    uint64_t sequence = 1;
    while (!apps_done.load()) {
      if (auto current = world.chains->Current()) {
        current->Find("orders")->Find("orders-breaker")->OnDecision(
            BreakerDecision(++sequence, v1::BREAKER_STATE_CLOSED, 0));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
  });
  std::thread controller([&] {
    for (uint64_t epoch = 2; !apps_done.load(); ++epoch) {
      world.Commit(BusyChains(epoch));
      std::this_thread::sleep_for(std::chrono::milliseconds(7));
    }
  });
  close(go[1]);  // the processes start
  std::vector<Calls> per_thread(kThreads);
  std::vector<std::thread> apps;
  for (int t = 0; t < kThreads; ++t) {
    apps.emplace_back([&, t] {
      per_thread[t] = CallOrders(*world.client, world.hooks.get(), kCallsEach,
                                 static_cast<uint64_t>(t) * 1'000'000 + 1, call_time);
    });
  }
  for (std::thread& app : apps) app.join();
  Calls total;
  for (const Calls& calls : per_thread) {
    total.continued += calls.continued;
    total.fast += calls.fast;
    total.responded += calls.responded;
  }
  for (pid_t child : children) {
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
    uint64_t continued = 0;
    ASSERT_EQ(read(results[0], &continued, sizeof continued), static_cast<ssize_t>(sizeof continued));
    total.continued += continued;
    total.fast += continued;
  }
  close(results[0]);
  apps_done.store(true);
  aggregator.join();
  controller.join();
  world.publisher->Stop();

  v1::Report report;
  world.Filter("orders", "orders-monitor")->TakeReport(report);
  const uint64_t dropped = world.segment->header().ring_dropped.load();
  std::cerr << name << ": " << total.continued << " calls sent, " << total.fast << " on the fast path, "
            << dropped << " observations dropped\n";
  EXPECT_EQ(total.responded, 0u);
  EXPECT_GT(total.fast, 0u) << "the fast path decided nothing";
  EXPECT_EQ(report.request_stats().requests() + dropped, total.continued)
      << "counted " << report.request_stats().requests() << ", dropped " << dropped;
  EXPECT_EQ(world.publisher->observations() + dropped, total.fast);
  if (expect_drops) {
    EXPECT_GT(dropped, 0u) << "a ring of " << sizes.ring_capacity << " never filled";
    EXPECT_NE(world.log.str().find("observations lost so far"), std::string::npos)
        << "the loss went unsaid: " << world.log.str();
  } else {
    EXPECT_EQ(dropped, 0u);
  }
  EXPECT_EQ(world.publisher->orphaned(), 0u);
}

TEST(FastPathConcurrencyTest, ThreadsAndProcessesWhileEpochsChange) {
  // Calls as fast as a service on loopback answers: the agent keeps up.
  RunBusyApps("busy.shm", fastpath::Segment::Sizes(), std::chrono::microseconds(50),
              /*expect_drops=*/false);
}

TEST(FastPathConcurrencyTest, AFullRingDropsAndCountsNeverBlocks) {
  fastpath::Segment::Sizes sizes;
  sizes.ring_capacity = 8;
  RunBusyApps("full.shm", sizes, std::chrono::microseconds(0), /*expect_drops=*/true);
}

}  // namespace
}  // namespace middlepipe::agent

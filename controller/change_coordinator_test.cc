// The coordinator in-process, with agents played by threads, so ThreadSanitizer sees all
// of its concurrency (user locks, the sync worker, the reaper, the two phases) without
// gRPC in between.
#include "controller/change_coordinator.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "controller/store/sqlite_store.h"
#include "gtest/gtest.h"
#include "scheduler/filters/builtin_kinds.h"

namespace middlepipe::controller {
namespace {

using std::chrono::milliseconds;

// An agent played by a thread: messages the controller sends are queued and answered
// from that thread, as a real agent answers over its stream.
class ThreadAgent {
 public:
  ThreadAgent(const std::string& user, const std::string& app, uint32_t index,
              const std::string& address = "", uint32_t port = 0) {
    v1::Register registration;
    registration.set_app(app);
    registration.set_instance_index(index);
    registration.set_address(address);
    registration.set_port(port);
    session_ = std::make_shared<AgentSession>(
        user, registration,
        [this](const v1::ControllerMessage& message) {
          std::lock_guard<std::mutex> lock(mu_);
          inbox_.push_back(message);
          changed_.notify_all();
          return true;
        },
        [](const absl::Status&) {});
    thread_ = std::thread([this] { Run(); });
  }

  ~ThreadAgent() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }

  const std::shared_ptr<AgentSession>& session() const { return session_; }

  // The chains of the last Prepare it got.
  std::vector<v1::Chain> last_prepared() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_prepared_;
  }

 private:
  void Run() {
    while (true) {
      v1::ControllerMessage message;
      {
        std::unique_lock<std::mutex> lock(mu_);
        changed_.wait(lock, [this] { return stopping_ || !inbox_.empty(); });
        if (stopping_) return;
        message = inbox_.front();
        inbox_.pop_front();
      }
      if (message.has_prepare()) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          last_prepared_.assign(message.prepare().chains().begin(), message.prepare().chains().end());
        }
        v1::PrepareAck ack;
        ack.set_epoch(message.prepare().epoch());
        ack.set_ok(true);
        session_->OnPrepareAck(ack);
      } else if (message.has_commit()) {
        v1::CommitAck ack;
        ack.set_epoch(message.commit().epoch());
        session_->OnCommitAck(ack);
      }
    }
  }

  std::shared_ptr<AgentSession> session_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<v1::ControllerMessage> inbox_;
  std::vector<v1::Chain> last_prepared_;
  bool stopping_ = false;
  std::thread thread_;
};

class ChangeCoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = *SqliteStore::Open(std::string(std::getenv("TEST_TMPDIR")) + "/" +
                                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    CoordinatorOptions options;
    options.prepare_timeout = milliseconds(5000);
    options.commit_timeout = milliseconds(5000);
    options.heartbeat_interval = milliseconds(50);
    options.missed_heartbeats = 1000;  // the threads do not heartbeat
    coordinator_ = std::make_unique<ChangeCoordinator>(store_.get(), &kinds_, &registry_,
                                                       &metrics_, &logger_, options);
  }

  void TearDown() override { coordinator_.reset(); }

  // Creates middlepipe `name` and binds it to app -> orders.
  absl::StatusOr<v1::Rollout> CreateAndBind(const std::string& user, const std::string& app,
                                            const std::string& name) {
    return coordinator_->Apply(user, [&](StoreTransaction& tx) -> absl::Status {
      v1::Middlepipe middlepipe;
      middlepipe.set_name(name);
      middlepipe.set_kind("monitor");
      middlepipe.set_config_json("{}");
      middlepipe.set_generation(1);
      if (absl::Status put = tx.PutMiddlepipe(user, middlepipe); !put.ok()) return put;
      v1::Binding binding;
      binding.set_middlepipe(name);
      binding.set_app(app);
      binding.set_service("orders");
      return tx.PutBinding(user, binding);
    });
  }

  scheduler::KindCatalog kinds_ = *scheduler::KindCatalog::Create(scheduler::BuiltinKinds());
  std::ostringstream log_;
  Logger logger_{"test", &log_};
  AgentRegistry registry_;
  ControllerMetrics metrics_{[this] { return registry_.size(); }};
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<ChangeCoordinator> coordinator_;
};

TEST_F(ChangeCoordinatorTest, ConcurrentChangesOfManyUsersEndConsistent) {
  const std::vector<std::string> users = {"alice", "bob"};
  std::vector<std::unique_ptr<ThreadAgent>> agents;
  for (const std::string& user : users) {
    for (uint32_t i = 0; i < 4; ++i) {
      agents.push_back(std::make_unique<ThreadAgent>(user, "web", i));
      coordinator_->OnRegistered(agents.back()->session());
    }
  }
  constexpr int kChangesPerThread = 10;
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (const std::string& user : users) {
    for (int thread = 0; thread < 2; ++thread) {
      writers.emplace_back([&, user, thread] {
        for (int i = 0; i < kChangesPerThread; ++i) {
          auto rollout = CreateAndBind(user, "web", absl::StrCat("m-", thread, "-", i));
          if (!rollout.ok()) ++failures;
        }
      });
    }
  }
  for (std::thread& writer : writers) writer.join();
  EXPECT_EQ(failures.load(), 0);

  // Every change of a user was one epoch; all of its agents end at the last one.
  for (const auto& agent : agents) {
    const auto& session = agent->session();
    uint64_t epoch = 0;
    auto chains = coordinator_->CommittedChains(session->user(), "web", &epoch);
    ASSERT_TRUE(chains.ok());
    EXPECT_EQ(epoch, 2u * kChangesPerThread) << session->user();
    ASSERT_EQ(chains->size(), 1u);
    EXPECT_EQ((*chains)[0].filters_size(), 2 * kChangesPerThread);
    EXPECT_TRUE(session->WaitCommitAck(epoch, AgentSession::Clock::now() + milliseconds(5000)))
        << session->user() << " " << session->Name() << " at " << session->applied_epoch();
  }
}

TEST_F(ChangeCoordinatorTest, ARegisteredAgentIsSyncedToTheCommittedEpochAndReady) {
  ASSERT_TRUE(CreateAndBind("alice", "web", "watch").ok());
  ASSERT_TRUE(CreateAndBind("alice", "web", "watch-too").ok());
  ThreadAgent agent("alice", "web", 0);
  coordinator_->OnRegistered(agent.session());
  ASSERT_TRUE(agent.session()->WaitCommitAck(2, AgentSession::Clock::now() + milliseconds(5000)));
  for (int i = 0; i < 200 && agent.session()->Snapshot().state() != v1::INSTANCE_STATE_READY; ++i) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  EXPECT_EQ(agent.session()->Snapshot().state(), v1::INSTANCE_STATE_READY);
  v1::Rollout status = coordinator_->RolloutStatus("alice", "web", 2);
  EXPECT_EQ(status.instances_applied(), 1u);
  coordinator_->OnClosed(agent.session());
  EXPECT_EQ(registry_.size(), 0u);
}

// The service of web's chain is the app orders: when an instance of orders starts or
// goes, web's instances get the new endpoints as a new epoch, though nothing stored
// changed.
TEST_F(ChangeCoordinatorTest, EndpointsOfAServiceAppReachTheAppsCallingIt) {
  ThreadAgent orders0("alice", "orders", 0, "198.18.0.2", 8080);
  coordinator_->OnRegistered(orders0.session());
  ASSERT_TRUE(orders0.session()->WaitCommitAck(0, AgentSession::Clock::now() + milliseconds(5000)));
  ASSERT_TRUE(CreateAndBind("alice", "web", "watch").ok());  // web -> orders, epoch 1
  ThreadAgent web0("alice", "web", 0, "198.18.0.3");
  coordinator_->OnRegistered(web0.session());
  ASSERT_TRUE(web0.session()->WaitCommitAck(1, AgentSession::Clock::now() + milliseconds(5000)));

  auto endpoints_seen = [&web0] {
    std::vector<std::string> seen;
    for (const v1::Chain& chain : web0.last_prepared()) {
      for (const v1::Endpoint& endpoint : chain.service_endpoints()) {
        seen.push_back(absl::StrCat(endpoint.host(), ":", endpoint.port()));
      }
    }
    return seen;
  };
  EXPECT_EQ(endpoints_seen(), std::vector<std::string>{"198.18.0.2:8080"});

  auto orders1 = std::make_unique<ThreadAgent>("alice", "orders", 1, "198.18.0.4", 8080);
  coordinator_->OnRegistered(orders1->session());
  ASSERT_TRUE(web0.session()->WaitCommitAck(2, AgentSession::Clock::now() + milliseconds(5000)))
      << log_.str();
  EXPECT_EQ(endpoints_seen(), (std::vector<std::string>{"198.18.0.2:8080", "198.18.0.4:8080"}));

  coordinator_->OnClosed(orders1->session());
  ASSERT_TRUE(web0.session()->WaitCommitAck(3, AgentSession::Clock::now() + milliseconds(5000)))
      << log_.str();
  EXPECT_EQ(endpoints_seen(), std::vector<std::string>{"198.18.0.2:8080"});

  // No change, no epoch: another web instance coming does not move web's chains.
  ThreadAgent web1("alice", "web", 1, "198.18.0.5");
  coordinator_->OnRegistered(web1.session());
  ASSERT_TRUE(web1.session()->WaitCommitAck(3, AgentSession::Clock::now() + milliseconds(5000)));
  std::this_thread::sleep_for(milliseconds(200));
  uint64_t epoch = 0;
  ASSERT_TRUE(coordinator_->CommittedChains("alice", "web", &epoch).ok());
  EXPECT_EQ(epoch, 3u);
}

}  // namespace
}  // namespace middlepipe::controller

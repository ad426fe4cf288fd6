// End to end: `mp` against mp-controller --store etcd on a real 3-member etcd cluster.
// What one controller stored, another (with a data dir of its own) serves; with quorum
// lost, `mp` says the store is unavailable; when quorum is back, changes work again.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/files.h"
#include "gtest/gtest.h"
#include "tests/support/controller_process.h"
#include "tests/support/etcd_cluster.h"
#include "tests/support/wait_for.h"

namespace middlepipe {
namespace {

using testing::Completed;
using testing::ControllerProcess;
using testing::ScratchDir;

constexpr char kToken[] = "etcd-e2e-token-0123456789";

class EtcdControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = testing::EtcdCluster::Start(3);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = *std::move(cluster);
    ASSERT_TRUE(WriteFileAtomically(tokens_, std::string("admin ") + kToken + "\n", 0600).ok());
  }

  std::unique_ptr<ControllerProcess> StartController(const ScratchDir& scratch) {
    auto controller = std::make_unique<ControllerProcess>(
        scratch,
        std::vector<std::string>{"--store", "etcd", "--etcd-endpoints", cluster_->Endpoints(),
                                 "--tokens", tokens_, "--aggregator-binary", "none"});
    absl::Status started = controller->Start();
    EXPECT_TRUE(started.ok()) << started << "\n" << controller->process().Stderr();
    return controller;
  }

  Completed Mp(const ControllerProcess& controller, std::vector<std::string> args) {
    args.insert(args.begin(), "cli/mp");
    auto result = testing::RunCommand(args, scratch_.path(), controller.CliEnv(kToken));
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : Completed{};
  }

  ScratchDir scratch_;
  const std::string tokens_ = scratch_ / "tokens";
  std::unique_ptr<testing::EtcdCluster> cluster_;
};

TEST_F(EtcdControllerTest, WhatOneControllerStoredAnotherServes) {
  ScratchDir first_dir;
  std::unique_ptr<ControllerProcess> first = StartController(first_dir);
  EXPECT_EQ(
      first->process().WaitForStderrLine("store etcd at ", std::chrono::seconds(5)).has_value(),
      true);
  Completed created = Mp(*first, {"create-middlepipe", "circuit-breaker", "orders-breaker"});
  EXPECT_EQ(created.exit_code, 0) << created.err;
  Completed registered = Mp(*first, {"register-service", "orders", "198.18.0.7:8080"});
  EXPECT_EQ(registered.exit_code, 0) << registered.err;
  Completed bound = Mp(*first, {"bind-middlepipe", "orders-breaker", "web", "orders"});
  EXPECT_EQ(bound.exit_code, 0) << bound.err;
  first.reset();  // stopped: only etcd has the state now

  ScratchDir second_dir;
  std::unique_ptr<ControllerProcess> second = StartController(second_dir);
  Completed chain = Mp(*second, {"chain", "web", "orders"});
  EXPECT_EQ(chain.exit_code, 0) << chain.err;
  EXPECT_NE(chain.out.find("chain web -> orders at epoch 1"), std::string::npos) << chain.out;
  EXPECT_NE(chain.out.find("orders-breaker"), std::string::npos) << chain.out;
  Completed services = Mp(*second, {"services"});
  EXPECT_NE(services.out.find("198.18.0.7:8080"), std::string::npos) << services.out;
}

TEST_F(EtcdControllerTest, WithoutQuorumChangesFailNamingTheStoreAndResumeAfter) {
  ScratchDir dir;
  std::unique_ptr<ControllerProcess> controller = StartController(dir);
  ASSERT_EQ(Mp(*controller, {"create-middlepipe", "circuit-breaker", "before"}).exit_code, 0);
  ASSERT_TRUE(cluster_->Kill(0).ok());
  ASSERT_TRUE(cluster_->Kill(1).ok());

  Completed refused = Mp(*controller, {"create-middlepipe", "circuit-breaker", "refused"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("mp: error: "), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("store unavailable: "), std::string::npos) << refused.err;
  // Reads still answer.
  Completed listed = Mp(*controller, {"middlepipes"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("before"), std::string::npos) << listed.out;

  ASSERT_TRUE(cluster_->Restart(0).ok()) << cluster_->Log(0);
  ASSERT_TRUE(cluster_->Restart(1).ok()) << cluster_->Log(1);
  Completed after;
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        after = Mp(*controller, {"create-middlepipe", "circuit-breaker", "after"});
        return after.exit_code == 0;
      },
      std::chrono::seconds(30), std::chrono::milliseconds(200)))
      << after.err;
}

// Two controllers on one cluster binding to the same app at once: every acknowledged bind
// moved the app on by exactly one epoch (none shared an epoch with another), and a bind
// that lost the race says so and changed nothing.
TEST_F(EtcdControllerTest, TwoControllersNeverGiveTwoChangesOneEpoch) {
  ScratchDir first_dir;
  ScratchDir second_dir;
  std::unique_ptr<ControllerProcess> first = StartController(first_dir);
  std::unique_ptr<ControllerProcess> second = StartController(second_dir);
  ASSERT_EQ(Mp(*first, {"register-service", "orders", "198.18.0.7:8080"}).exit_code, 0);
  constexpr int kPerController = 8;
  for (int i = 0; i < 2 * kPerController; ++i) {
    ASSERT_EQ(Mp(*first, {"create-middlepipe", "monitor", "m" + std::to_string(i)}).exit_code, 0);
  }
  std::atomic<int> acknowledged{0};
  auto binder = [&](ControllerProcess* controller, int from) {
    for (int i = from; i < from + kPerController; ++i) {
      Completed bound =
          Mp(*controller, {"bind-middlepipe", "m" + std::to_string(i), "web", "orders"});
      if (bound.exit_code == 0) {
        ++acknowledged;
      } else {
        EXPECT_NE(bound.err.find("try again"), std::string::npos) << bound.err;
      }
    }
  };
  std::thread one(binder, first.get(), 0);
  std::thread two(binder, second.get(), kPerController);
  one.join();
  two.join();
  ASSERT_GT(acknowledged, 0);
  Completed chain = Mp(*second, {"chain", "web", "orders"});
  EXPECT_NE(chain.out.find("at epoch " + std::to_string(acknowledged.load()) + "\n"),
            std::string::npos)
      << acknowledged << " binds acknowledged; " << chain.out;
}

}  // namespace
}  // namespace middlepipe

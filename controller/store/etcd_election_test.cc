// Leader election and fencing on a real 3-member etcd cluster.
#include "controller/store/etcd_election.h"

#include <memory>
#include <mutex>
#include <optional>

#include "absl/strings/match.h"
#include "controller/store/etcd_client.h"
#include "controller/store/etcd_store.h"
#include "controller/store/store_test_objects.h"
#include "gtest/gtest.h"
#include "tests/support/etcd_cluster.h"
#include "tests/support/wait_for.h"

namespace middlepipe::controller {
namespace {

constexpr char kPrefix[] = "/election-test/";

// A candidate and the fence it was last elected with (set on the election's thread).
class Candidate {
 public:
  Candidate(const testing::EtcdCluster& cluster, const std::string& name) {
    EtcdElectionOptions options;
    options.endpoints = cluster.EndpointList();
    options.key_prefix = kPrefix;
    options.node_name = name;
    options.advertise = "127.0.0.1:7400";
    options.ttl_seconds = 1;
    auto election = EtcdElection::Start(options, [this](const EtcdFence& fence) {
      std::lock_guard<std::mutex> lock(mu_);
      fence_ = fence;
    });
    EXPECT_TRUE(election.ok()) << election.status();
    if (election.ok()) election_ = *std::move(election);
  }

  EtcdElection& election() { return *election_; }
  void Resign() { election_.reset(); }
  std::optional<EtcdFence> fence() {
    std::lock_guard<std::mutex> lock(mu_);
    return fence_;
  }

 private:
  std::mutex mu_;
  std::optional<EtcdFence> fence_;
  std::unique_ptr<EtcdElection> election_;
};

std::unique_ptr<EtcdStore> OpenStore(const testing::EtcdCluster& cluster) {
  EtcdStoreOptions options;
  options.endpoints = cluster.EndpointList();
  options.key_prefix = kPrefix;
  auto store = EtcdStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

absl::Status Create(Store& store, const std::string& name) {
  return store.Transact(
      [&](StoreTransaction& tx) { return tx.PutMiddlepipe("alice", Breaker(name)); });
}

TEST(EtcdElectionTest, ExactlyOneOfTwoCandidatesLeadsAndTheOtherTakesOverWhenItResigns) {
  auto cluster = testing::EtcdCluster::Start(3);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  Candidate a(**cluster, "ctl-a");
  Candidate b(**cluster, "ctl-b");
  ASSERT_TRUE(testing::WaitFor([&] {
    LeaderView seen_by_a = a.election().Current();
    LeaderView seen_by_b = b.election().Current();
    return seen_by_a.leading != seen_by_b.leading && !seen_by_a.leader_node.empty() &&
           seen_by_a.leader_node == seen_by_b.leader_node;
  }));
  const bool a_leads = a.election().Current().leading;
  Candidate& leader = a_leads ? a : b;
  Candidate& follower = a_leads ? b : a;
  EXPECT_EQ(follower.election().Current().leader_node, a_leads ? "ctl-a" : "ctl-b");
  EXPECT_EQ(follower.election().Current().leader_address, "127.0.0.1:7400");
  EXPECT_TRUE(leader.fence().has_value());
  EXPECT_FALSE(follower.fence().has_value());

  leader.Resign();
  EXPECT_TRUE(testing::WaitFor([&] { return follower.election().Current().leading; }));
  EXPECT_TRUE(follower.fence().has_value());
}

// The leader's lease ends behind its back (as when it is paused past its TTL): the writes
// it makes with its old fence are refused by etcd, and the new leader's go through.
TEST(EtcdElectionTest, ALeaderWhoseLeaseEndedCannotWrite) {
  auto cluster = testing::EtcdCluster::Start(3);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  Candidate a(**cluster, "ctl-a");
  ASSERT_TRUE(testing::WaitFor([&] { return a.fence().has_value(); }));
  const EtcdFence old_fence = *a.fence();
  std::unique_ptr<EtcdStore> old_leader = OpenStore(**cluster);
  ASSERT_NE(old_leader, nullptr);
  old_leader->SetFence(old_fence);
  ASSERT_TRUE(Create(*old_leader, "while-leading").ok());

  Candidate b(**cluster, "ctl-b");
  auto killer = EtcdClient::Connect((*cluster)->EndpointList(), std::chrono::seconds(2));
  ASSERT_TRUE(killer.ok());
  ASSERT_TRUE((*killer)->RevokeLease(a.election().lease()).ok());

  absl::Status late = Create(*old_leader, "late");
  EXPECT_TRUE(absl::IsFailedPrecondition(late)) << late;
  EXPECT_TRUE(absl::StartsWith(late.message(), "store: not the leader")) << late;

  // Whoever leads now (b, or a again with a new lease) writes with its new fence.
  ASSERT_TRUE(testing::WaitFor([&] {
    return (b.fence().has_value()) ||
           (a.fence().has_value() && a.fence()->create_revision != old_fence.create_revision);
  }));
  const EtcdFence new_fence = b.fence().has_value() ? *b.fence() : *a.fence();
  std::unique_ptr<EtcdStore> new_leader = OpenStore(**cluster);
  ASSERT_NE(new_leader, nullptr);
  new_leader->SetFence(new_fence);
  EXPECT_TRUE(Create(*new_leader, "new-leader").ok());
  // The old fence stays refused whoever leads.
  EXPECT_TRUE(absl::IsFailedPrecondition(Create(*old_leader, "later")));
  bool late_stored = true;
  ASSERT_TRUE(new_leader
                  ->DryRun([&](StoreTransaction& tx) {
                    late_stored = (*tx.GetMiddlepipe("alice", "late")).has_value() ||
                                  (*tx.GetMiddlepipe("alice", "later")).has_value();
                    EXPECT_TRUE(tx.GetMiddlepipe("alice", "while-leading")->has_value());
                    return absl::OkStatus();
                  })
                  .ok());
  EXPECT_FALSE(late_stored);
}

}  // namespace
}  // namespace middlepipe::controller

#include "filter-agent/netfilter_rules.h"

#include <gtest/gtest.h>

namespace middlepipe::agent {
namespace {

TEST(NetfilterRulesTest, QueuesBothDirectionsOfEachEndpointInOneAtomicReplacement) {
  NetfilterRules rules(4242);
  EXPECT_EQ(rules.chain(), "MP-Q4242");
  EXPECT_EQ(rules.RestoreInput({{"10.0.0.1", 80, false}, {"10.0.0.2", 5432, true}}),
            "*filter\n"
            ":MP-Q4242 - [0:0]\n"
            "-F MP-Q4242\n"
            "-A MP-Q4242 -d 10.0.0.1/32 -p tcp --dport 80 -j NFQUEUE --queue-num 4242 --queue-bypass\n"
            "-A MP-Q4242 -s 10.0.0.1/32 -p tcp --sport 80 -j NFQUEUE --queue-num 4242 --queue-bypass\n"
            "-A MP-Q4242 -d 10.0.0.2/32 -p tcp --dport 5432 -j NFQUEUE --queue-num 4242\n"
            "-A MP-Q4242 -s 10.0.0.2/32 -p tcp --sport 5432 -j NFQUEUE --queue-num 4242\n"
            "COMMIT\n");
}

TEST(NetfilterRulesTest, NeverTouchesTheHostNamespace) {
  // Where it cannot tell (a sandbox hides PID 1), it refuses too.
  absl::StatusOr<bool> host = InHostNetworkNamespace();
  if (host.ok() && !*host) GTEST_SKIP() << "not in the host's network namespace";
  NetfilterRules rules(4242);
  absl::Status applied = rules.Apply({{"10.0.0.1", 80, false}});
  EXPECT_FALSE(applied.ok());
  if (host.ok()) {
    EXPECT_EQ(applied.message(),
              "refusing to change the host's network namespace (the agent must run in its "
              "container's)");
    EXPECT_TRUE(rules.Clear().ok());
  }
}

}  // namespace
}  // namespace middlepipe::agent

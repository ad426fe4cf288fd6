#include "cli/command_context.h"

#include <sstream>

#include "cli/table.h"
#include "gtest/gtest.h"

namespace middlepipe::cli {
namespace {

v1::LaggingInstance Laggard(const std::string& app, uint32_t index, const std::string& reason) {
  v1::LaggingInstance lagging;
  lagging.mutable_instance()->set_app(app);
  lagging.mutable_instance()->set_index(index);
  lagging.set_reason(reason);
  return lagging;
}

TEST(DescribeRolloutTest, SaysHowFarAndWhoLags) {
  v1::Rollout rollout;
  EXPECT_EQ(DescribeRollout(rollout), "no chain changed");
  rollout.set_epoch(4);
  EXPECT_EQ(DescribeRollout(rollout),
            "committed at epoch 4; no instances are running (they get it when they start)");
  rollout.set_instances_total(3);
  rollout.set_instances_applied(3);
  EXPECT_EQ(DescribeRollout(rollout), "applied to 3/3 instances at epoch 4");
  rollout.set_instances_applied(1);
  *rollout.add_lagging() = Laggard("web", 1, "no prepare ack within 300 ms");
  *rollout.add_lagging() = Laggard("web", 2, "disconnected during commit");
  EXPECT_EQ(DescribeRollout(rollout),
            "applied to 1/3 instances at epoch 4; lagging: web/1 (no prepare ack within 300 ms), "
            "web/2 (disconnected during commit)");
}

TEST(TableTest, AlignsColumns) {
  Table table({"NAME", "KIND"});
  table.AddRow({"orders-breaker", "circuit-breaker"});
  table.AddRow({"m", "monitor"});
  std::ostringstream out;
  table.Print(out);
  EXPECT_EQ(out.str(),
            "NAME            KIND\n"
            "orders-breaker  circuit-breaker\n"
            "m               monitor\n");
}

TEST(ReadConfigArgumentTest, InlineOrFromAFile) {
  EXPECT_EQ(*ReadConfigArgument(R"({"a":1})"), R"({"a":1})");
  auto missing = ReadConfigArgument("@/nonexistent/config.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("-c @/nonexistent/config.json: cannot open"),
            absl::string_view::npos)
      << missing.status();
}

}  // namespace
}  // namespace middlepipe::cli

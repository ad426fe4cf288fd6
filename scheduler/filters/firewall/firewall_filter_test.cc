#include "scheduler/filters/firewall/firewall_filter.h"

#include <gtest/gtest.h>

#include "scheduler/packet/test_chain.h"
#include "scheduler/packet/test_packets.h"

namespace middlepipe::scheduler::firewall {
namespace {

using packet::FlowEngine;
using packet::Verdict;
using packet::testing::At;
using packet::testing::ChainOf;
using packet::testing::Conversation;
using packet::testing::ServiceResolver;

FirewallFilter Make(std::vector<std::string> allow, std::vector<std::string> deny) {
  std::vector<AddressRule> allowed, denied;
  for (const auto& entry : allow) allowed.push_back(*ParseAddressRule(entry));
  for (const auto& entry : deny) denied.push_back(*ParseAddressRule(entry));
  return FirewallFilter(allowed, denied, false);
}

TEST(AddressRuleTest, ParsesAddressesPrefixesAndPorts) {
  EXPECT_TRUE(ParseAddressRule("10.0.0.0/8")->Matches(At("10.200.1.1", 9)));
  EXPECT_FALSE(ParseAddressRule("10.0.0.0/8")->Matches(At("11.0.0.1", 9)));
  EXPECT_TRUE(ParseAddressRule("*:22")->Matches(At("1.2.3.4", 22)));
  EXPECT_FALSE(ParseAddressRule("*:22")->Matches(At("1.2.3.4", 23)));
  EXPECT_TRUE(ParseAddressRule("198.18.0.7:5432")->Matches(At("198.18.0.7", 5432)));
  EXPECT_FALSE(ParseAddressRule("198.18.0.7:5432")->Matches(At("198.18.0.8", 5432)));
  EXPECT_TRUE(ParseAddressRule("0.0.0.0/0")->Matches(At("8.8.8.8", 53)));
  EXPECT_EQ(ParseAddressRule("10.0.0.0/33").status().message(), "prefix length must be 0-32");
  EXPECT_EQ(ParseAddressRule("10.0.0.1:0").status().message(), "port must be 1-65535");
  EXPECT_EQ(ParseAddressRule("ten").status().message(),
            "expected IPv4ADDRESS[/PREFIX][:PORT] or *:PORT");
}

TEST(FirewallFilterTest, DenyIsCheckedFirstThenAllow) {
  FirewallFilter open = Make({}, {});
  EXPECT_TRUE(open.Allows(At("10.0.0.1", 80)));
  FirewallFilter only_internal = Make({"10.0.0.0/8"}, {"10.0.0.66", "*:23"});
  EXPECT_TRUE(only_internal.Allows(At("10.1.2.3", 80)));
  EXPECT_FALSE(only_internal.Allows(At("10.0.0.66", 80)));
  EXPECT_FALSE(only_internal.Allows(At("10.1.2.3", 23)));
  EXPECT_FALSE(only_internal.Allows(At("192.168.1.1", 80)));
}

TEST(FirewallFilterTest, DropsEveryPacketOfADeniedConnectionAndCountsThem) {
  const packet::Endpoint service = At("10.5.0.1", 6379);
  ServiceResolver resolver(service);
  auto* filter = new FirewallFilter(Make({}, {"10.5.0.0/24:6379"}));
  resolver.chain = ChainOf({{"fw", filter}}, "firewall");
  EXPECT_FALSE(resolver.chain->needs_payload());
  FlowEngine engine({}, &resolver);
  Conversation tcp(At("10.5.0.2", 40000), service);
  EXPECT_EQ(*engine.Process(tcp.Syn(), 0), Verdict::kDrop);
  EXPECT_EQ(*engine.Process(tcp.Syn(), 1000), Verdict::kDrop);  // the client retries
  v1::Report report;
  filter->TakeReport(report);
  EXPECT_EQ(report.packet_stats().dropped(), 2u);
  EXPECT_EQ(report.packet_stats().counters().at("connections_denied"), 1u);
}

TEST(FirewallFilterTest, AnAllowedConnectionPassesAndIsNotLookedAtAgain) {
  const packet::Endpoint service = At("10.5.0.1", 6379);
  ServiceResolver resolver(service);
  auto* filter = new FirewallFilter(Make({"10.5.0.1"}, {}));
  resolver.chain = ChainOf({{"fw", filter}}, "firewall");
  FlowEngine engine({}, &resolver);
  Conversation tcp(At("10.5.0.2", 40000), service);
  EXPECT_EQ(*engine.Process(tcp.Syn(), 0), Verdict::kAccept);
  EXPECT_EQ(*engine.Process(tcp.SynAck(), 0), Verdict::kAccept);
  EXPECT_EQ(*engine.Process(tcp.Send(true, "PING"), 0), Verdict::kAccept);
  v1::Report report;
  filter->TakeReport(report);
  EXPECT_EQ(report.packet_stats().counters().at("connections_allowed"), 1u);
  EXPECT_EQ(report.packet_stats().dropped(), 0u);
}

}  // namespace
}  // namespace middlepipe::scheduler::firewall

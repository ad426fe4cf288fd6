#include "scheduler/filters/ids/ids_filter.h"

#include <gtest/gtest.h>

#include "scheduler/packet/test_chain.h"
#include "scheduler/packet/test_packets.h"

namespace middlepipe::scheduler::ids {
namespace {

using packet::FlowEngine;
using packet::Verdict;
using packet::testing::At;
using packet::testing::ChainOf;
using packet::testing::Conversation;
using packet::testing::ServiceResolver;

const packet::Endpoint kService = At("10.8.0.1", 80);
const packet::Endpoint kApp = At("10.8.0.2", 45000);

class IdsFilterTest : public ::testing::Test {
 protected:
  IdsFilterTest() : resolver_(kService) {}

  void Use(std::vector<std::string> texts, bool prevent) {
    std::vector<Rule> rules;
    for (const auto& text : texts) {
      absl::StatusOr<Rule> rule = ParseRule(text);
      ASSERT_TRUE(rule.ok()) << rule.status();
      rules.push_back(*rule);
    }
    filter_ = new IdsFilter(rules, prevent, false);
    resolver_.chain = ChainOf({{"ids", filter_}}, "ids");
  }
  Verdict Feed(const std::string& packet) { return engine_.Process(packet, 0).value(); }
  v1::Report Take() {
    v1::Report report;
    filter_->TakeReport(report);
    return report;
  }

  ServiceResolver resolver_;
  IdsFilter* filter_ = nullptr;
  FlowEngine engine_{{}, &resolver_};
};

const char kAttack[] =
    R"(drop tcp any any -> 10.8.0.1 80 (msg:"shell injection"; content:"/bin/sh"; nocase; sid:2001;))";

TEST_F(IdsFilterTest, APatternSplitAcrossSegmentsSentOutOfOrderIsFound) {
  Use({kAttack}, false);
  Conversation tcp(kApp, kService);
  Feed(tcp.Syn());
  Feed(tcp.SynAck());
  // "GET /cgi?x=/BIN" + "/SH HTTP/1.1": the third segment first.
  std::string one = tcp.SendAt(true, 0, "GET /cgi?x=/B");
  std::string two = tcp.SendAt(true, 13, "IN/");
  std::string three = tcp.SendAt(true, 16, "SH HTTP/1.1\r\n");
  tcp.Advance(true, 29);
  EXPECT_EQ(Feed(three), Verdict::kAccept);
  EXPECT_EQ(Feed(one), Verdict::kAccept);
  EXPECT_EQ(Take().alerts_size(), 0);
  EXPECT_EQ(Feed(two), Verdict::kAccept);  // detect mode: alert only
  v1::Report report = Take();
  ASSERT_EQ(report.alerts_size(), 1);
  EXPECT_EQ(report.alerts(0).sid(), 2001u);
  EXPECT_EQ(report.alerts(0).message(), "shell injection");
  EXPECT_EQ(report.alerts(0).action(), "alert");
  EXPECT_EQ(report.alerts(0).source(), "10.8.0.2:45000");
  EXPECT_EQ(report.alerts(0).destination(), "10.8.0.1:80");
  // Once per connection.
  Feed(tcp.Send(true, "/bin/sh again"));
  EXPECT_EQ(Take().alerts_size(), 0);
}

TEST_F(IdsFilterTest, PreventModeDropsTheConnectionFromTheCompletingPacketOn) {
  Use({kAttack}, true);
  Conversation tcp(kApp, kService);
  Conversation other(At("10.8.0.3", 45001), kService);
  Feed(tcp.Syn());
  Feed(other.Syn());
  EXPECT_EQ(Feed(tcp.Send(true, "x=/bi")), Verdict::kAccept);
  EXPECT_EQ(Feed(tcp.Send(true, "n/sh")), Verdict::kDrop);
  EXPECT_EQ(Feed(tcp.Send(false, "reply")), Verdict::kDrop);
  EXPECT_EQ(Feed(other.Send(true, "harmless")), Verdict::kAccept);
  v1::Report report = Take();
  ASSERT_EQ(report.alerts_size(), 1);
  EXPECT_EQ(report.alerts(0).action(), "drop");
  EXPECT_EQ(report.packet_stats().dropped(), 2u);
}

TEST_F(IdsFilterTest, DirectionAndPortsSayWhichSideIsLookedAt) {
  Use({R"(alert tcp 10.8.0.1 80 -> any any (msg:"leak"; content:"password="; sid:7;))"}, false);
  Conversation tcp(kApp, kService);
  Feed(tcp.Syn());
  Feed(tcp.SynAck());
  Feed(tcp.Send(true, "password=hunter2"));  // from the app: not this rule's side
  EXPECT_EQ(Take().alerts_size(), 0);
  Feed(tcp.Send(false, "password=hunter2"));
  EXPECT_EQ(Take().alerts_size(), 1);
}

TEST_F(IdsFilterTest, SeveralContentsMustAppearInOrder) {
  Use({R"(alert tcp any any -> any any (msg:"two"; content:"USER"; content:"PASS"; sid:9;))"}, false);
  Conversation tcp(kApp, kService);
  Feed(tcp.Syn());
  Feed(tcp.Send(true, "PASS x\r\n"));
  EXPECT_EQ(Take().alerts_size(), 0);
  Feed(tcp.Send(true, "USER y\r\n"));
  EXPECT_EQ(Take().alerts_size(), 0);
  Feed(tcp.Send(true, "PASS z\r\n"));
  EXPECT_EQ(Take().alerts_size(), 1);
}

TEST_F(IdsFilterTest, NoMatchAcrossBytesThatWereNeverSeen) {
  Use({kAttack}, false);
  Conversation tcp(kApp, kService);
  Feed(tcp.Syn());
  Feed(tcp.SendAt(true, 0, "/bin"));
  // Bytes 4-13 never pass the queue (it bypassed them while full); "/sh" waits behind them.
  Feed(tcp.SendAt(true, 14, "/sh"));
  // The server acknowledged everything: the engine skips the lost bytes and delivers
  // "/sh" right after "/bin" in the stream it hands on, marked as after a gap. They were
  // never adjacent on the wire, so they must not match.
  tcp.Advance(true, 17);
  Feed(tcp.Ack(false));
  EXPECT_EQ(Take().alerts_size(), 0);
}

TEST(IdsKindTest, CreateNamesTheBadRule) {
  v1::FilterSpec spec;
  spec.set_config_json(R"js({"rules": ["alert tcp any any -> any any (content:\"a\"; sid:1;)",
                                        "alert tcp any any -> any any (content:\"a\")"]})js");
  Clock clock = [] { return int64_t{0}; };
  const std::string app = "web", service = "orders";
  auto filter = IdsFilter::Create(FilterSpecContext{spec, app, service, clock});
  EXPECT_EQ(filter.status().message(), "rules[1]: missing sid");
}

}  // namespace
}  // namespace middlepipe::scheduler::ids

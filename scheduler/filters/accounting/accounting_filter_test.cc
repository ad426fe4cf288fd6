#include "scheduler/filters/accounting/accounting_filter.h"

#include <gtest/gtest.h>

#include "scheduler/packet/test_chain.h"
#include "scheduler/packet/test_packets.h"

namespace middlepipe::scheduler::accounting {
namespace {

using packet::FlowEngine;
using packet::testing::At;
using packet::testing::ChainOf;
using packet::testing::Conversation;
using packet::testing::ServiceResolver;

const packet::Endpoint kService = At("10.7.0.1", 5432);
const packet::Endpoint kApp = At("10.7.0.2", 50000);

class AccountingFilterTest : public ::testing::Test {
 protected:
  AccountingFilterTest() : resolver_(kService) {
    filter_ = new AccountingFilter(false);
    resolver_.chain = ChainOf({{"meter", filter_}}, "accounting");
  }
  void Feed(const std::string& packet) { ASSERT_TRUE(engine_.Process(packet, 0).ok()); }
  v1::Report Take() {
    v1::Report report;
    filter_->TakeReport(report);
    return report;
  }

  ServiceResolver resolver_;
  AccountingFilter* filter_;
  FlowEngine engine_{{}, &resolver_};
};

TEST_F(AccountingFilterTest, CountsEachByteOnceWhateverTheOrderAndRetransmissions) {
  Conversation tcp(kApp, kService);
  Feed(tcp.Syn());
  Feed(tcp.SynAck());
  Feed(tcp.Ack(true));
  const std::string a(1000, 'a'), b(1000, 'b'), c(500, 'c');
  std::string first = tcp.SendAt(true, 0, a);
  std::string second = tcp.SendAt(true, 1000, b);
  std::string third = tcp.SendAt(true, 2000, c);
  tcp.Advance(true, 2500);
  Feed(second);  // early
  Feed(first);
  Feed(first);   // retransmitted
  Feed(third);
  Feed(second);  // retransmitted
  Feed(tcp.Ack(false));
  Feed(tcp.Send(false, std::string(300, 'r')));
  Feed(tcp.Ack(true));

  v1::Report report = Take();
  const v1::PacketStats& stats = report.packet_stats();
  EXPECT_EQ(stats.bytes_out(), 2500u);
  EXPECT_EQ(stats.bytes_in(), 300u);
  EXPECT_EQ(stats.packets_out(), 8u);  // SYN, ACK, 5 data, ACK
  EXPECT_EQ(stats.packets_in(), 3u);   // SYN-ACK, ACK, data
  EXPECT_EQ(stats.retransmissions(), 2u);
  EXPECT_EQ(stats.counters().at("retransmitted_bytes"), 2000u);
  EXPECT_EQ(stats.inconsistent_retransmissions(), 0u);
  EXPECT_EQ(stats.connections_started(), 1u);
  EXPECT_TRUE(report.alerts().empty());

  // Deltas: nothing new, nothing reported.
  EXPECT_FALSE(Take().has_packet_stats());
}

TEST_F(AccountingFilterTest, ARetransmissionThatLiesIsCountedAndAlertedOncePerConnection) {
  Conversation tcp(kApp, kService);
  Feed(tcp.Syn());
  Feed(tcp.SynAck());
  Feed(tcp.Send(true, "0123456789"));
  Feed(tcp.SendAt(true, 0, "SECRET-ONE"));
  Feed(tcp.SendAt(true, 0, "SECRET-TWO"));
  Feed(tcp.Fin(true));
  Feed(tcp.Fin(false));

  v1::Report report = Take();
  EXPECT_EQ(report.packet_stats().bytes_out(), 10u);  // the smuggled 20 bytes are not charged
  EXPECT_EQ(report.packet_stats().inconsistent_retransmissions(), 2u);
  ASSERT_EQ(report.alerts_size(), 1);
  EXPECT_EQ(report.alerts(0).source(), "10.7.0.2:50000");
  EXPECT_EQ(report.alerts(0).destination(), "10.7.0.1:5432");
  EXPECT_EQ(report.alerts(0).action(), "alert");
  ASSERT_EQ(report.packet_stats().connections_size(), 1);
  const v1::ConnectionStats& connection = report.packet_stats().connections(0);
  EXPECT_EQ(connection.client(), "10.7.0.2:50000");
  EXPECT_EQ(connection.bytes_out(), 10u);
  EXPECT_EQ(connection.retransmitted_bytes(), 20u);
  EXPECT_EQ(connection.inconsistent_bytes(), 20u);
  EXPECT_EQ(connection.packets_out(), 5u);
  EXPECT_EQ(connection.end(), "fin");
}

TEST_F(AccountingFilterTest, TotalsSurviveANewEpochAndMoveBetweenInstances) {
  Conversation tcp(kApp, kService);
  Feed(tcp.Syn());
  Feed(tcp.Send(true, "hello"));
  Take();
  AccountingFilter next(false);
  next.AdoptState(*filter_);
  Feed(tcp.Send(true, "world!"));  // still on the old chain: counted in the shared report
  v1::Report report;
  next.TakeReport(report);
  EXPECT_EQ(report.packet_stats().bytes_out(), 6u);

  const std::string exported = next.ExportState();
  AccountingFilter departing(false), staying(false);
  ASSERT_TRUE(departing.ImportState(exported).ok());
  ASSERT_TRUE(staying.MergeState(exported).ok());
  ASSERT_TRUE(staying.MergeState(departing.ExportState()).ok());
  v1::PacketStats totals;
  ASSERT_TRUE(totals.ParseFromString(staying.ExportState()));
  EXPECT_EQ(totals.bytes_out(), 22u);
  EXPECT_EQ(totals.packets_out(), 6u);
  // Imported and merged totals are not reported again.
  v1::Report none;
  staying.TakeReport(none);
  EXPECT_FALSE(none.has_packet_stats());
  EXPECT_EQ(staying.ImportState("\xff garbage").code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(totals.ParseFromString(staying.ExportState()));
  EXPECT_EQ(totals.bytes_out(), 22u);
}

}  // namespace
}  // namespace middlepipe::scheduler::accounting

#include "scheduler/packet/flow_engine.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "scheduler/packet/test_chain.h"
#include "scheduler/packet/test_packets.h"

namespace middlepipe::scheduler::packet {
namespace {

using testing::At;
using testing::ChainOf;
using testing::ServiceResolver;
using testing::Conversation;

const Endpoint kService = At("10.9.0.1", 8080);
const Endpoint kApp = At("10.9.0.2", 41000);

// Writes every event it gets as one line, e.g. "start", "data client abc", "end fin".
class RecordingFilter : public PacketFilter {
 public:
  struct Context : FlowView::State {
    int packets = 0;
  };

  explicit RecordingFilter(std::vector<std::string>* log) : log_(log) {}

  void DefineEvents(EventDefinitions& events) override {
    for (EventId id : {event::kPacket, event::kConnStart, event::kConnEnd, event::kData,
                       event::kRetransmit}) {
      events.Subscribe(id);
    }
    // User events: data from the client that starts with "GET", and, nested on it, such a
    // request on a connection that already carried more than 10 bytes from the client.
    get_ = events.Define(event::kData, [](const FlowView&, const Event& event) {
      return event.side == Side::kClient && absl::StartsWith(event.data, "GET");
    });
    late_get_ = events.Define(get_, [](const FlowView& flow, const Event& event) {
      return event.offset > 10;
    });
    events.Subscribe(get_);
    events.Subscribe(late_get_);
  }

  void OnEvent(FlowView& flow, const Event& event) override {
    const char* side = event.side == Side::kClient ? "client" : "server";
    switch (event.id) {
      case event::kPacket:
        if (flow.state_as<Context>() != nullptr) ++flow.state_as<Context>()->packets;
        if (drop_packets_with_payload_ && !event.packet->payload.empty()) flow.DropPacket();
        return;
      case event::kConnStart:
        flow.set_state(std::make_unique<Context>());
        log_->push_back(event.midstream ? "start midstream" : "start");
        return;
      case event::kConnEnd:
        log_->push_back(absl::StrCat("end ", EndReasonName(event.end_reason), " after ",
                                     flow.state_as<Context>() ? flow.state_as<Context>()->packets : -1,
                                     " packets"));
        return;
      case event::kData:
        log_->push_back(absl::StrCat("data ", side, " ", event.data, event.after_gap ? " (gap)" : ""));
        if (absl::StrContains(event.data, "STOP")) flow.StopMonitoring(event.side);
        if (absl::StrContains(event.data, "KILL")) flow.DropFlow();
        return;
      case event::kRetransmit:
        log_->push_back(absl::StrCat("retransmit ", side, " ", event.retransmission.length,
                                     event.retransmission.differs ? " differs" : " same"));
        return;
    }
    if (event.id == get_) log_->push_back("user: GET");
    if (event.id == late_get_) log_->push_back("user: late GET");
  }

  bool drop_packets_with_payload_ = false;

 private:
  std::vector<std::string>* const log_;
  EventId get_ = 0;
  EventId late_get_ = 0;
};

class FlowEngineTest : public ::testing::Test {
 protected:
  FlowEngineTest() : resolver_(kService) {
    filter_ = new RecordingFilter(&log_);
    resolver_.chain = ChainOf({{"rec", filter_}});
  }

  Verdict Feed(FlowEngine& engine, const std::string& packet, int64_t now = 0) {
    absl::StatusOr<Verdict> verdict = engine.Process(packet, now);
    EXPECT_TRUE(verdict.ok()) << verdict.status();
    return verdict.value_or(Verdict::kAccept);
  }

  std::vector<std::string> log_;
  RecordingFilter* filter_;
  ServiceResolver resolver_;
};

TEST_F(FlowEngineTest, AConnectionFromHandshakeToCloseRaisesEveryEventInOrder) {
  FlowEngine engine({}, &resolver_);
  Conversation tcp(kApp, kService);
  Feed(engine, tcp.Syn());
  Feed(engine, tcp.SynAck());
  Feed(engine, tcp.Ack(true));
  Feed(engine, tcp.Send(true, "GET /a"));
  Feed(engine, tcp.Send(false, "200 OK"));
  Feed(engine, tcp.Fin(true));
  Feed(engine, tcp.Fin(false));
  Feed(engine, tcp.Ack(true));  // the last ACK: a packet of the ended flow
  EXPECT_EQ(log_, (std::vector<std::string>{"start", "data client GET /a", "user: GET",
                                            "data server 200 OK", "end fin after 7 packets"}));
  EXPECT_EQ(engine.stats().flows_ended, 1u);
  EXPECT_EQ(engine.stats().flows_active, 1u);  // lingering for its last packets
  engine.Expire(10'000);
  EXPECT_EQ(engine.stats().flows_active, 0u);
}

TEST_F(FlowEngineTest, ReorderedAndRetransmittedSegmentsBecomeOneStream) {
  FlowEngine engine({}, &resolver_);
  Conversation tcp(kApp, kService, 4294967000u);  // wraps during the stream
  Feed(engine, tcp.Syn());
  Feed(engine, tcp.SynAck());
  std::string first = tcp.SendAt(true, 0, std::string(200, 'a'));
  std::string second = tcp.SendAt(true, 200, std::string(200, 'b'));
  std::string third = tcp.SendAt(true, 400, std::string(200, 'c'));
  tcp.Advance(true, 600);
  Feed(engine, third);
  Feed(engine, first);
  Feed(engine, first);  // retransmitted
  Feed(engine, second);
  Feed(engine, tcp.SendAt(true, 150, std::string(100, 'X')));  // a retransmission that lies
  ASSERT_EQ(log_.size(), 6u);
  EXPECT_EQ(log_[1], "data client " + std::string(200, 'a'));
  EXPECT_EQ(log_[2], "retransmit client 200 same");
  EXPECT_EQ(log_[3], "data client " + std::string(200, 'b'));
  EXPECT_EQ(log_[4], "data client " + std::string(200, 'c'));
  EXPECT_EQ(log_[5], "retransmit client 100 differs");
}

TEST_F(FlowEngineTest, ResetMidStreamEndsTheFlowAndReleasesItsBuffers) {
  FlowEngine engine({}, &resolver_);
  Conversation tcp(kApp, kService);
  Feed(engine, tcp.Syn());
  Feed(engine, tcp.SynAck());
  Feed(engine, tcp.SendAt(true, 100, "early"));  // buffered behind a hole
  EXPECT_GT(engine.stats().memory_used, 0u);
  Feed(engine, tcp.Rst(false));
  EXPECT_EQ(log_.back(), "end reset after 4 packets");
  EXPECT_EQ(log_[log_.size() - 2], "data client early (gap)");
  EXPECT_EQ(engine.stats().memory_used, 0u);
}

TEST_F(FlowEngineTest, AConnectionAlreadyOpenIsPickedUpMidStream) {
  FlowEngine engine({}, &resolver_);
  Conversation tcp(kApp, kService);
  tcp.Advance(true, 5000);
  Feed(engine, tcp.Send(true, "GET /late"));
  Feed(engine, tcp.Send(false, "ok"));
  EXPECT_EQ(log_, (std::vector<std::string>{"start midstream", "data client GET /late",
                                            "user: GET", "data server ok"}));
}

TEST_F(FlowEngineTest, NestedUserEventsFireOnlyWhenEveryPredicateHolds) {
  FlowEngine engine({}, &resolver_);
  Conversation tcp(kApp, kService);
  Feed(engine, tcp.Syn());
  Feed(engine, tcp.SynAck());
  Feed(engine, tcp.Send(true, "GET /1 HTTP/1.1\r\n"));
  Feed(engine, tcp.Send(true, "GET /2 HTTP/1.1\r\n"));
  Feed(engine, tcp.Send(false, "GET is not a request from the server"));
  EXPECT_EQ(std::count(log_.begin(), log_.end(), "user: GET"), 2);
  EXPECT_EQ(std::count(log_.begin(), log_.end(), "user: late GET"), 1);
}

TEST_F(FlowEngineTest, StopMonitoringOneSideSilencesItOnly) {
  FlowEngine engine({}, &resolver_);
  Conversation tcp(kApp, kService);
  Feed(engine, tcp.Syn());
  Feed(engine, tcp.SynAck());
  Feed(engine, tcp.Send(true, "STOP"));
  Feed(engine, tcp.Send(true, "unseen"));
  Feed(engine, tcp.Send(false, "seen"));
  EXPECT_EQ(log_, (std::vector<std::string>{"start", "data client STOP", "data server seen"}));
}

TEST_F(FlowEngineTest, DropFlowDropsThisAndEveryLaterPacketOfTheFlowOnly) {
  FlowEngine engine({}, &resolver_);
  Conversation tcp(kApp, kService);
  Conversation other(At("10.9.0.3", 41001), kService);
  Feed(engine, tcp.Syn());
  Feed(engine, other.Syn());
  EXPECT_EQ(Feed(engine, tcp.Send(true, "ok")), Verdict::kAccept);
  EXPECT_EQ(Feed(engine, tcp.Send(true, "KILL")), Verdict::kDrop);
  EXPECT_EQ(Feed(engine, tcp.Send(false, "anything")), Verdict::kDrop);
  EXPECT_EQ(Feed(engine, other.Send(true, "fine")), Verdict::kAccept);
  EXPECT_EQ(engine.stats().dropped, 2u);
}

TEST_F(FlowEngineTest, DropPacketDropsOnlyThatPacket) {
  filter_->drop_packets_with_payload_ = true;
  FlowEngine engine({}, &resolver_);
  Conversation tcp(kApp, kService);
  EXPECT_EQ(Feed(engine, tcp.Syn()), Verdict::kAccept);
  EXPECT_EQ(Feed(engine, tcp.Send(true, "x")), Verdict::kDrop);
  EXPECT_EQ(Feed(engine, tcp.Ack(true)), Verdict::kAccept);
}

TEST_F(FlowEngineTest, IdleFlowsEndAndTheTableIsBounded) {
  EngineOptions options;
  options.max_flows = 3;
  options.idle_timeout_ms = 1000;
  FlowEngine engine(options, &resolver_);
  for (uint16_t port = 1; port <= 5; ++port) {
    Conversation tcp(At("10.9.0.2", port), kService);
    Feed(engine, tcp.Syn(), port);
  }
  EXPECT_EQ(engine.stats().flows_active, 3u);
  EXPECT_EQ(engine.stats().flows_evicted, 2u);
  EXPECT_EQ(std::count(log_.begin(), log_.end(), "end evicted after 1 packets"), 2);
  engine.Expire(1003);  // flow 3 idle for 1000 ms, 4 and 5 not yet
  EXPECT_EQ(engine.stats().flows_active, 2u);
  engine.Expire(5000);
  EXPECT_EQ(engine.stats().flows_active, 0u);
  EXPECT_EQ(std::count(log_.begin(), log_.end(), "end idle after 1 packets"), 3);
}

TEST_F(FlowEngineTest, ANewEpochCarriesPerFlowContextToTheSameMiddlepipe) {
  FlowEngine engine({}, &resolver_);
  Conversation tcp(kApp, kService);
  Feed(engine, tcp.Syn());
  Feed(engine, tcp.SynAck());
  std::vector<std::string> new_log;
  auto* kept = new RecordingFilter(&log_);
  auto* added = new RecordingFilter(&new_log);
  resolver_.chain = ChainOf({{"rec", kept}, {"added", added}});
  Feed(engine, tcp.Send(true, "hello"));
  Feed(engine, tcp.Rst(true));
  // The carried context counted the old epoch's 2 packets too; the new filter joined.
  EXPECT_EQ(log_.back(), "end reset after 4 packets");
  EXPECT_EQ(new_log.front(), "start midstream");
  EXPECT_EQ(new_log.back(), "end reset after 2 packets");
}

TEST_F(FlowEngineTest, TrafficNoChainHandlesAnyMoreEndsItsFlowAsUnbound) {
  FlowEngine engine({}, &resolver_);
  Conversation tcp(kApp, kService);
  Feed(engine, tcp.Syn());
  resolver_.chain = nullptr;
  Feed(engine, tcp.SynAck());
  EXPECT_EQ(log_.back(), "end unbound after 1 packets");
  EXPECT_EQ(engine.stats().flows_active, 0u);
}

TEST_F(FlowEngineTest, GarbageIsAnErrorAndLeavesOtherFlowsAlone) {
  FlowEngine engine({}, &resolver_);
  Conversation tcp(kApp, kService);
  Feed(engine, tcp.Syn());
  Feed(engine, tcp.SynAck());
  std::string garbage = tcp.Send(true, "abc");
  garbage[32] = 0x10;  // TCP data offset 1
  EXPECT_FALSE(engine.Process(garbage, 0).ok());
  tcp = Conversation(kApp, kService);
  Feed(engine, tcp.SendAt(true, 0, "abc"));
  EXPECT_EQ(log_.back(), "data client abc");
  EXPECT_EQ(engine.stats().unparsable, 1u);
}

TEST_F(FlowEngineTest, APortReusedByANewConnectionStartsANewFlow) {
  FlowEngine engine({}, &resolver_);
  Conversation first(kApp, kService, 100);
  Feed(engine, first.Syn());
  Conversation second(kApp, kService, 777777);
  Feed(engine, second.Syn());
  EXPECT_EQ(log_, (std::vector<std::string>{"start", "end evicted after 1 packets", "start"}));
}

}  // namespace
}  // namespace middlepipe::scheduler::packet

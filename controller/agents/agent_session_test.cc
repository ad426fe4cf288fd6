#include "controller/agents/agent_session.h"

#include <thread>

#include "gtest/gtest.h"

namespace middlepipe::controller {
namespace {

using std::chrono::milliseconds;

v1::ControllerMessage Prepare(uint64_t epoch) {
  v1::ControllerMessage message;
  message.mutable_prepare()->set_epoch(epoch);
  return message;
}

v1::PrepareAck Ack(uint64_t epoch, bool ok) {
  v1::PrepareAck ack;
  ack.set_epoch(epoch);
  ack.set_ok(ok);
  return ack;
}

AgentSession MakeSession(int* sent) {
  v1::Register registration;
  registration.set_app("web");
  registration.set_instance_index(3);
  return AgentSession(
      "alice", registration,
      [sent](const v1::ControllerMessage&) {
        ++*sent;
        return true;
      },
      [](const absl::Status&) {});
}

// The bug this guards against: after an aborted change, the next change prepares the
// same epoch again; the agent's late rejection of the first attempt must not be taken
// as its answer to the second.
TEST(AgentSessionTest, AnswersAreMatchedToTheirPrepareNotToTheEpoch) {
  int sent = 0;
  AgentSession session = MakeSession(&sent);
  std::optional<uint64_t> first = session.SendPrepare(Prepare(2));
  std::optional<uint64_t> second = session.SendPrepare(Prepare(2));
  ASSERT_TRUE(first && second);
  EXPECT_EQ(sent, 2);
  session.OnPrepareAck(Ack(2, false));  // answers the first
  session.OnPrepareAck(Ack(2, true));   // answers the second

  auto answer = session.WaitPrepareAck(*second, AgentSession::Clock::now() + milliseconds(100));
  ASSERT_TRUE(answer.has_value());
  EXPECT_TRUE(answer->ok());
}

TEST(AgentSessionTest, NoAnswerByTheDeadlineOrAfterCloseIsNone) {
  int sent = 0;
  AgentSession session = MakeSession(&sent);
  std::optional<uint64_t> sequence = session.SendPrepare(Prepare(1));
  EXPECT_FALSE(session.WaitPrepareAck(*sequence, AgentSession::Clock::now() + milliseconds(20)));

  std::thread closer([&session] {
    std::this_thread::sleep_for(milliseconds(20));
    session.OnClosed();
  });
  EXPECT_FALSE(session.WaitPrepareAck(*sequence, AgentSession::Clock::now() + milliseconds(5000)));
  closer.join();
  EXPECT_FALSE(session.SendPrepare(Prepare(1)).has_value()) << "sent on a closed stream";
}

TEST(AgentSessionTest, CommitOfEpochZeroNeedsARealAck) {
  int sent = 0;
  AgentSession session = MakeSession(&sent);
  EXPECT_FALSE(session.WaitCommitAck(0, AgentSession::Clock::now() + milliseconds(10)));
  v1::CommitAck ack;
  ack.set_epoch(0);
  session.OnCommitAck(ack);
  EXPECT_TRUE(session.WaitCommitAck(0, AgentSession::Clock::now() + milliseconds(10)));
  EXPECT_EQ(session.Name(), "web/3");
}

}  // namespace
}  // namespace middlepipe::controller

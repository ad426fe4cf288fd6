#include "bench/control_plane/agent_swarm.h"

#include <mutex>

#include "absl/strings/str_cat.h"
#include "tests/support/queued_client_stream.h"

namespace middlepipe::bench {

class SwarmAgent final : public testing::QueuedClientStream<v1::AgentMessage, v1::ControllerMessage> {
 public:
  SwarmAgent(v1::AgentControl::Stub* stub, const std::string& token, const std::string& app,
             uint32_t index) {
    context().AddMetadata("authorization", "Bearer " + token);
    stub->async()->Connect(&context(), this);
    v1::AgentMessage hello;
    hello.mutable_register_()->set_app(app);
    hello.mutable_register_()->set_instance_index(index);
    hello.mutable_register_()->set_address(absl::StrCat("198.18.", index / 250, ".", index % 250 + 1));
    hello.mutable_register_()->set_agent_version("swarm");
    Write(hello);
    StartRead(&incoming_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    v1::AgentMessage reply;
    if (incoming_.has_prepare()) {
      reply.mutable_prepare_ack()->set_epoch(incoming_.prepare().epoch());
      reply.mutable_prepare_ack()->set_ok(true);
    } else if (incoming_.has_commit()) {
      committed_.store(incoming_.commit().epoch());
      has_committed_.store(true);
      reply.mutable_commit_ack()->set_epoch(incoming_.commit().epoch());
    }
    if (reply.body_case() != v1::AgentMessage::BODY_NOT_SET) Write(reply);
    StartRead(&incoming_);
  }

  bool AtEpoch(uint64_t epoch) const { return has_committed_.load() && committed_.load() >= epoch; }

 private:
  v1::ControllerMessage incoming_;
  std::atomic<uint64_t> committed_{0};
  std::atomic<bool> has_committed_{false};
};

AgentSwarm::AgentSwarm(const std::string& target, const std::string& token, const std::string& app,
                       int agents, int connections) {
  for (int i = 0; i < connections; ++i) {
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
    channels_.push_back(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), arguments));
    stubs_.push_back(v1::AgentControl::NewStub(channels_.back()));
  }
  for (int i = 0; i < agents; ++i) {
    agents_.push_back(std::make_unique<SwarmAgent>(stubs_[i % connections].get(), token, app,
                                                   static_cast<uint32_t>(i)));
  }
}

AgentSwarm::~AgentSwarm() {
  for (auto& agent : agents_) agent->Cancel();
  for (auto& agent : agents_) agent->WaitDone();
}

int AgentSwarm::AtEpoch(uint64_t epoch) const {
  int count = 0;
  for (const auto& agent : agents_) count += agent->AtEpoch(epoch) ? 1 : 0;
  return count;
}

int AgentSwarm::Ended() const {
  int count = 0;
  for (const auto& agent : agents_) count += agent->done() ? 1 : 0;
  return count;
}

}  // namespace middlepipe::bench

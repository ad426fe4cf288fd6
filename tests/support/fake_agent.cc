#include "tests/support/fake_agent.h"

#include "absl/strings/str_cat.h"

namespace middlepipe::testing {

FakeAgentOptions AgentOptions(const std::string& target, const std::string& token,
                              const std::string& app, uint32_t index) {
  FakeAgentOptions options;
  options.target = target;
  options.token = token;
  options.app = app;
  options.index = index;
  return options;
}

FakeAgent::FakeAgent(FakeAgentOptions options) : options_(std::move(options)) {
  stub_ = v1::AgentControl::NewStub(
      grpc::CreateChannel(options_.target, grpc::InsecureChannelCredentials()));
  context_.AddMetadata("authorization", "Bearer " + options_.token);
  stream_ = stub_->Connect(&context_);
  v1::AgentMessage hello;
  v1::Register* registration = hello.mutable_register_();
  registration->set_app(options_.app);
  registration->set_instance_index(options_.index);
  registration->set_address(options_.address);
  registration->set_incarnation(options_.incarnation);
  registration->set_agent_version("fake");
  Write(hello);
  reader_ = std::thread([this] { ReadLoop(); });
  heartbeater_ = std::thread([this] { HeartbeatLoop(); });
}

FakeAgent::~FakeAgent() {
  stopping_.store(true);
  context_.TryCancel();
  reader_.join();
  heartbeater_.join();
}

bool FakeAgent::Write(const v1::AgentMessage& message) {
  std::lock_guard<std::mutex> lock(write_mu_);
  return stream_->Write(message);
}

void FakeAgent::ReadLoop() {
  v1::ControllerMessage message;
  while (stream_->Read(&message)) {
    v1::AgentMessage reply;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (message.has_welcome()) {
        aggregator_address_ = message.welcome().aggregator_address();
      } else if (message.has_prepare()) {
        const v1::Prepare& prepare = message.prepare();
        aggregator_address_ = prepare.aggregator_address();
        std::string rejection;
        for (const v1::Chain& chain : prepare.chains()) {
          if (chain.epoch() != prepare.epoch()) {
            violations_.push_back(absl::StrCat("chain stamped ", chain.epoch(), " in prepare of ",
                                               prepare.epoch()));
          }
          for (const v1::FilterSpec& filter : chain.filters()) {
            if (!options_.reject_middlepipe.empty() &&
                filter.middlepipe() == options_.reject_middlepipe) {
              rejection = absl::StrCat(filter.middlepipe(), ": cannot build this filter");
            }
          }
        }
        if (rejection.empty()) {
          prepared_[prepare.epoch()] =
              std::vector<v1::Chain>(prepare.chains().begin(), prepare.chains().end());
        }
        reply.mutable_prepare_ack()->set_epoch(prepare.epoch());
        reply.mutable_prepare_ack()->set_ok(rejection.empty());
        reply.mutable_prepare_ack()->set_error(rejection);
      } else if (message.has_commit()) {
        const uint64_t epoch = message.commit().epoch();
        auto prepared = prepared_.find(epoch);
        if (prepared == prepared_.end()) {
          violations_.push_back(absl::StrCat("commit of epoch ", epoch, " that was never prepared"));
        } else {
          running_epoch_ = epoch;
          running_chains_ = prepared->second;
          committed_.push_back(epoch);
          prepared_.erase(prepared);
        }
        reply.mutable_commit_ack()->set_epoch(epoch);
      } else if (message.has_abort()) {
        prepared_.erase(message.abort().epoch());
      }
      changed_.notify_all();
    }
    if (reply.body_case() != v1::AgentMessage::BODY_NOT_SET && !options_.silent) Write(reply);
  }
  grpc::Status status = stream_->Finish();
  std::lock_guard<std::mutex> lock(mu_);
  ended_ = status;
  changed_.notify_all();
}

void FakeAgent::HeartbeatLoop() {
  while (!stopping_.load()) {
    if (heartbeats_.load()) {
      v1::AgentMessage heartbeat;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (ended_.has_value()) return;
        heartbeat.mutable_heartbeat()->set_applied_epoch(running_epoch_.value_or(0));
      }
      Write(heartbeat);
    }
    std::this_thread::sleep_for(options_.heartbeat_interval);
  }
}

bool FakeAgent::WaitForEpoch(uint64_t epoch, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return changed_.wait_for(lock, timeout, [&] {
    return running_epoch_.has_value() && *running_epoch_ >= epoch;
  });
}

std::optional<grpc::Status> FakeAgent::WaitForStreamEnd(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_for(lock, timeout, [&] { return ended_.has_value(); });
  return ended_;
}

std::optional<uint64_t> FakeAgent::running_epoch() const {
  std::lock_guard<std::mutex> lock(mu_);
  return running_epoch_;
}

std::vector<v1::Chain> FakeAgent::running_chains() const {
  std::lock_guard<std::mutex> lock(mu_);
  return running_chains_;
}

std::vector<uint64_t> FakeAgent::committed_epochs() const {
  std::lock_guard<std::mutex> lock(mu_);
  return committed_;
}

std::string FakeAgent::aggregator_address() const {
  std::lock_guard<std::mutex> lock(mu_);
  return aggregator_address_;
}

std::vector<std::string> FakeAgent::violations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return violations_;
}

}  // namespace middlepipe::testing

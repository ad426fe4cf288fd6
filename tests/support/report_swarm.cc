#include "tests/support/report_swarm.h"

#include <mutex>

#include "tests/support/queued_client_stream.h"

namespace middlepipe::testing {

class SwarmReporter final : public QueuedClientStream<v1::ReportBatch, v1::DecisionBatch> {
 public:
  SwarmReporter(v1::Aggregator::Stub* stub, const std::string& app, uint32_t instance) {
    identity_.set_app(app);
    identity_.set_instance(instance);
    identity_.set_incarnation(1);
    stub->async()->Exchange(&context(), this);
    v1::ReportBatch hello;
    *hello.mutable_agent() = identity_;
    Write(std::move(hello));
    StartRead(&incoming_);
    StartCall();
  }

  void Send(std::vector<v1::Report> reports) {
    v1::ReportBatch batch;
    *batch.mutable_agent() = identity_;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.set_sequence(++sequence_);
    }
    for (v1::Report& report : reports) {
      report.set_instance(identity_.instance());
      *batch.add_reports() = std::move(report);
    }
    Write(std::move(batch));
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    const auto now = ReportSwarm::Clock::now();
    {
      std::lock_guard<std::mutex> lock(mu_);
      acknowledged_ = std::max(acknowledged_, incoming_.acknowledged_sequence());
      for (const v1::Decision& decision : incoming_.decisions()) history_.push_back({now, decision});
    }
    StartRead(&incoming_);
  }

  std::optional<v1::Decision> Latest(const std::string& middlepipe) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = history_.rbegin(); it != history_.rend(); ++it) {
      if (it->decision.middlepipe() == middlepipe) return it->decision;
    }
    return std::nullopt;
  }
  std::vector<ReportSwarm::Received> History() const {
    std::lock_guard<std::mutex> lock(mu_);
    return history_;
  }
  uint64_t Acknowledged() const {
    std::lock_guard<std::mutex> lock(mu_);
    return acknowledged_;
  }

 private:
  v1::AgentIdentity identity_;
  v1::DecisionBatch incoming_;
  mutable std::mutex mu_;  // guards the fields below
  std::vector<ReportSwarm::Received> history_;
  uint64_t sequence_ = 0;
  uint64_t acknowledged_ = 0;
};

ReportSwarm::ReportSwarm(const std::string& target, const std::string& app, int agents, int connections) {
  for (int i = 0; i < connections; ++i) {
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
    channels_.push_back(grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), arguments));
    stubs_.push_back(v1::Aggregator::NewStub(channels_.back()));
  }
  for (int i = 0; i < agents; ++i) {
    agents_.push_back(std::make_unique<SwarmReporter>(stubs_[static_cast<size_t>(i % connections)].get(),
                                                      app, static_cast<uint32_t>(i)));
  }
}

ReportSwarm::~ReportSwarm() {
  for (auto& agent : agents_) agent->Cancel();
  for (auto& agent : agents_) agent->WaitDone();
}

void ReportSwarm::Send(int agent, std::vector<v1::Report> reports) {
  agents_[static_cast<size_t>(agent)]->Send(std::move(reports));
}

void ReportSwarm::Disconnect(int agent) {
  agents_[static_cast<size_t>(agent)]->Cancel();
  agents_[static_cast<size_t>(agent)]->WaitDone();
}

std::optional<v1::Decision> ReportSwarm::Latest(int agent, const std::string& middlepipe) const {
  return agents_[static_cast<size_t>(agent)]->Latest(middlepipe);
}

std::vector<ReportSwarm::Received> ReportSwarm::History(int agent) const {
  return agents_[static_cast<size_t>(agent)]->History();
}

uint64_t ReportSwarm::Acknowledged(int agent) const {
  return agents_[static_cast<size_t>(agent)]->Acknowledged();
}

}  // namespace middlepipe::testing

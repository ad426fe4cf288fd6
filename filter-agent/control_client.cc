#include "filter-agent/control_client.h"

#include "absl/strings/str_cat.h"

namespace middlepipe::agent {

ControlClient::ControlClient(ControlClientOptions options, scheduler::ChainTable* chains,
                             Logger* logger)
    : options_(std::move(options)), chains_(chains), logger_(logger) {
  stub_ = v1::AgentControl::NewStub(
      grpc::CreateChannel(options_.target, grpc::InsecureChannelCredentials()));
}

ControlClient::~ControlClient() { Stop(); }

void ControlClient::Start() { thread_ = std::thread([this] { Run(); }); }

void ControlClient::Stop() {
  loop_.Stop();
  if (thread_.joinable()) thread_.join();
}

std::string ControlClient::aggregator_address() const {
  std::lock_guard<std::mutex> lock(mu_);
  return aggregator_address_;
}

void ControlClient::Run() {
  std::chrono::milliseconds backoff = options_.initial_backoff;
  bool said_refused = false;
  while (!loop_.stopped()) {
    const bool welcomed = RunStream();
    if (refused_.load()) {
      // Another agent holds this instance: retry slowly (it may go away), say it once.
      if (!said_refused) {
        logger_->Error("the controller refused this agent: ", refused_reason(),
                       "; retrying every ", options_.max_backoff.count(), " ms, silently");
        said_refused = true;
      }
      if (!loop_.SleepFor(options_.max_backoff)) return;
      continue;
    }
    if (said_refused && welcomed) logger_->Info("the controller accepted this agent now");
    said_refused = false;
    if (welcomed) backoff = options_.initial_backoff;
    logger_->Warning("controller stream ended; reconnecting in ", backoff.count(), " ms");
    if (!loop_.SleepFor(backoff)) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

std::string ControlClient::refused_reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return refused_reason_;
}

bool ControlClient::Write(Stream& stream, const v1::AgentMessage& message) {
  std::lock_guard<std::mutex> lock(write_mu_);
  return stream.Write(message);
}

bool ControlClient::RunStream() {
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + options_.token);
  if (!loop_.Enter(&context)) return false;
  std::unique_ptr<Stream> stream = stub_->Connect(&context);

  v1::AgentMessage hello;
  *hello.mutable_register_() = options_.registration;
  std::shared_ptr<const scheduler::ChainSet> current = chains_->Current();
  hello.mutable_register_()->set_applied_epoch(current ? current->epoch() : 0);
  bool welcomed = false;
  if (Write(*stream, hello)) {
    // Heartbeats from a thread of their own; the reader below answers the controller.
    std::mutex heartbeat_mu;
    std::condition_variable heartbeat_stop;
    bool reading = true;
    std::thread heartbeats;
    v1::ControllerMessage message;
    while (stream->Read(&message)) {
      if (message.has_welcome()) {
        welcomed = true;
        connected_.store(true);
        {
          std::lock_guard<std::mutex> lock(mu_);
          aggregator_address_ = message.welcome().aggregator_address();
          if (message.welcome().heartbeat_interval_ms() > 0) {
            heartbeat_interval_ = std::chrono::milliseconds(message.welcome().heartbeat_interval_ms());
          }
        }
        logger_->Info("registered as ", options_.registration.app(), "/",
                      options_.registration.instance_index(), " of user ",
                      message.welcome().user());
        if (!heartbeats.joinable()) {
          std::chrono::milliseconds interval;
          {
            std::lock_guard<std::mutex> lock(mu_);
            interval = heartbeat_interval_;
          }
          heartbeats = std::thread([&, interval] {
            // Wakes often enough to tell a change of the aggregator stream promptly.
            const auto tick = std::min(interval, std::chrono::milliseconds(50));
            auto next = std::chrono::steady_clock::now() + interval;
            bool told_connected = options_.aggregator_connected();
            std::unique_lock<std::mutex> lock(heartbeat_mu);
            while (!heartbeat_stop.wait_for(lock, tick, [&] { return !reading; })) {
              const bool aggregator_connected = options_.aggregator_connected();
              const auto now = std::chrono::steady_clock::now();
              if (now < next && aggregator_connected == told_connected) continue;
              v1::AgentMessage heartbeat;
              std::shared_ptr<const scheduler::ChainSet> chains = chains_->Current();
              heartbeat.mutable_heartbeat()->set_applied_epoch(chains ? chains->epoch() : 0);
              heartbeat.mutable_heartbeat()->set_aggregator_connected(aggregator_connected);
              heartbeat.mutable_heartbeat()->set_requests_handled(options_.requests_handled());
              if (!Write(*stream, heartbeat)) break;
              told_connected = aggregator_connected;
              next = now + interval;
            }
          });
        }
        continue;
      }
      Handle(message, *stream);
    }
    {
      std::lock_guard<std::mutex> lock(heartbeat_mu);
      reading = false;
    }
    heartbeat_stop.notify_all();
    if (heartbeats.joinable()) heartbeats.join();
  }
  connected_.store(false);
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    stream->WritesDone();
  }
  grpc::Status status = stream->Finish();
  loop_.Leave();
  const bool refused = status.error_code() == grpc::StatusCode::ALREADY_EXISTS;
  if (refused) {
    std::lock_guard<std::mutex> lock(mu_);
    refused_reason_ = status.error_message();
  }
  refused_.store(refused);
  if (!status.ok() && !refused && status.error_code() != grpc::StatusCode::CANCELLED) {
    logger_->Warning("controller at ", options_.target, ": ", status.error_message());
  }
  return welcomed && !refused;
}

void ControlClient::Handle(const v1::ControllerMessage& message, Stream& stream) {
  v1::AgentMessage reply;
  if (message.has_prepare()) {
    const v1::Prepare& prepare = message.prepare();
    {
      std::lock_guard<std::mutex> lock(mu_);
      aggregator_address_ = prepare.aggregator_address();
    }
    absl::Status built = chains_->Prepare(prepare);
    reply.mutable_prepare_ack()->set_epoch(prepare.epoch());
    reply.mutable_prepare_ack()->set_ok(built.ok());
    reply.mutable_prepare_ack()->set_error(std::string(built.message()));
    if (built.ok()) {
      logger_->Info("epoch ", prepare.epoch(), " prepared (", prepare.chains_size(), " chains)");
    } else {
      logger_->Warning("cannot build epoch ", prepare.epoch(), ": ", built.message());
    }
  } else if (message.has_commit()) {
    absl::Status committed = chains_->Commit(message.commit().epoch());
    if (!committed.ok()) {
      // Acknowledging a commit we cannot run would report an epoch we do not run.
      logger_->Error(committed.message());
      return;
    }
    options_.committed(message.commit().epoch());
    reply.mutable_commit_ack()->set_epoch(message.commit().epoch());
    logger_->Info("running epoch ", message.commit().epoch());
  } else if (message.has_abort()) {
    chains_->Abort(message.abort().epoch());
    logger_->Info("epoch ", message.abort().epoch(), " aborted: ", message.abort().reason());
    return;
  } else {
    return;  // state export/import: not yet
  }
  Write(stream, reply);
}

}  // namespace middlepipe::agent

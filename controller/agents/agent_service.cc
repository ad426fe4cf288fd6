#include "controller/agents/agent_service.h"

#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/names.h"
#include "common/stream_outbox.h"
#include "controller/auth.h"

namespace middlepipe::controller {
namespace {

using Reactor = grpc::ServerBidiReactor<v1::AgentMessage, v1::ControllerMessage>;

using Outbox = StreamOutbox<v1::AgentMessage, v1::ControllerMessage>;

class AgentStream final : public Reactor {
 public:
  AgentStream(grpc::CallbackServerContext* context, const TokenTable& tokens, AgentEvents* events,
              Logger* logger, AgentServiceOptions options)
      : events_(events), logger_(logger), options_(options), outbox_(std::make_shared<Outbox>(this)) {
    grpc::Status authenticated = Authenticate(*context, tokens, &user_);
    if (!authenticated.ok()) {
      outbox_->Finish(authenticated);
      return;
    }
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The agent closed its side or the connection broke.
      EndSession();
      outbox_->Finish(grpc::Status::OK);
      return;
    }
    if (grpc::Status handled = Handle(incoming_); !handled.ok()) {
      logger_->Warning("agent stream of user ", user_, ": ", handled.error_message());
      EndSession();
      outbox_->Finish(handled);
      return;
    }
    StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override { outbox_->OnWriteDone(ok); }

  void OnDone() override {
    outbox_->Detach();
    EndSession();
    delete this;
  }

 private:
  grpc::Status Handle(const v1::AgentMessage& message) {
    if (session_ == nullptr) {
      if (!message.has_register_()) {
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                            "the first message on the stream must be Register");
      }
      return Register(message.register_());
    }
    switch (message.body_case()) {
      case v1::AgentMessage::kPrepareAck:
        session_->OnPrepareAck(message.prepare_ack());
        break;
      case v1::AgentMessage::kCommitAck:
        session_->OnCommitAck(message.commit_ack());
        break;
      case v1::AgentMessage::kHeartbeat:
        session_->OnHeartbeat(message.heartbeat());
        events_->OnHeartbeat(session_);
        break;
      case v1::AgentMessage::kStateExport:
        break;  // state export requests are not sent yet
      case v1::AgentMessage::kRegister:
        return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "Register sent twice");
      case v1::AgentMessage::BODY_NOT_SET:
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty AgentMessage");
    }
    return grpc::Status::OK;
  }

  grpc::Status Register(const v1::Register& registration) {
    if (absl::Status name = ValidateName("app name", registration.app()); !name.ok()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(name.message()));
    }
    std::weak_ptr<Outbox> outbox = outbox_;
    session_ = std::make_shared<AgentSession>(
        user_, registration,
        [outbox](const v1::ControllerMessage& message) {
          std::shared_ptr<Outbox> alive = outbox.lock();
          return alive != nullptr && alive->Send(message);
        },
        [outbox](const absl::Status& why) {
          if (std::shared_ptr<Outbox> alive = outbox.lock()) alive->Finish(ToGrpcStatus(why));
        });
    v1::ControllerMessage welcome;
    welcome.mutable_welcome()->set_user(user_);
    welcome.mutable_welcome()->set_heartbeat_interval_ms(options_.heartbeat_interval_ms);
    welcome.mutable_welcome()->set_aggregator_address(options_.aggregator_address(user_));
    outbox_->Send(welcome);
    events_->OnRegistered(session_);
    return grpc::Status::OK;
  }

  void EndSession() {
    if (session_ != nullptr && !ended_) {
      ended_ = true;
      events_->OnClosed(session_);
    }
  }

  AgentEvents* const events_;
  Logger* const logger_;
  const AgentServiceOptions options_;
  const std::shared_ptr<Outbox> outbox_;
  std::string user_;
  v1::AgentMessage incoming_;
  std::shared_ptr<AgentSession> session_;  // set by Register; read on the reader side only
  bool ended_ = false;
};

}  // namespace

Reactor* AgentService::Connect(grpc::CallbackServerContext* context) {
  return new AgentStream(context, *tokens_, events_, logger_, options_);
}

}  // namespace middlepipe::controller

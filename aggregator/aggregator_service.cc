#include "aggregator/aggregator_service.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "common/stream_outbox.h"
#include "common/grpc_status.h"

namespace middlepipe::aggregator {
namespace {

using Reactor = grpc::ServerBidiReactor<v1::ReportBatch, v1::DecisionBatch>;
using Outbox = StreamOutbox<v1::ReportBatch, v1::DecisionBatch>;

// Decisions and acknowledgements queued beyond this mean the agent is not reading.
constexpr size_t kMaxQueuedBatches = 1024;

grpc::ServerUnaryReactor* Finished(grpc::CallbackServerContext* context, const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

class ExchangeStream final : public Reactor {
 public:
  ExchangeStream(Aggregation* aggregation, Logger* logger)
      : aggregation_(aggregation),
        logger_(logger),
        outbox_(std::make_shared<Outbox>(this, kMaxQueuedBatches)) {
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the agent closed its side or the connection broke
      Disconnect();
      outbox_->Finish(grpc::Status::OK);
      return;
    }
    if (grpc::Status handled = Handle(); !handled.ok()) {
      logger_->Warning("report stream of ", incoming_.agent().app(), "/",
                       incoming_.agent().instance(), " ended: ", handled.error_message());
      Disconnect();
      outbox_->Finish(handled);
      return;
    }
    StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override { outbox_->OnWriteDone(ok); }

  void OnDone() override {
    outbox_->Detach();
    Disconnect();
    delete this;
  }

 private:
  grpc::Status Handle() {
    if (connection_ == 0) {
      identity_ = incoming_.agent();
      std::weak_ptr<Outbox> outbox = outbox_;
      connection_ = aggregation_->Connect(identity_, [outbox](const v1::DecisionBatch& batch) {
        std::shared_ptr<Outbox> alive = outbox.lock();
        return alive != nullptr && alive->Send(batch);
      });
      logger_->Info("agent ", identity_.app(), "/", identity_.instance(), " reporting");
    } else if (incoming_.agent().app() != identity_.app() ||
               incoming_.agent().instance() != identity_.instance()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "a report stream carries one agent; its identity changed");
    }
    absl::StatusOr<uint64_t> applied = aggregation_->Ingest(incoming_);
    if (absl::IsResourceExhausted(applied.status())) return grpc::Status::OK;  // refused, counted
    if (!applied.ok()) return ToGrpcStatus(applied.status());
    v1::DecisionBatch acknowledgement;
    acknowledgement.set_acknowledged_sequence(*applied);
    outbox_->Send(std::move(acknowledgement));
    return grpc::Status::OK;
  }

  void Disconnect() {
    if (connection_ != 0 && !disconnected_) {
      disconnected_ = true;
      logger_->Info("agent ", identity_.app(), "/", identity_.instance(), " stopped reporting");
      aggregation_->Disconnect(identity_, connection_);
    }
  }

  Aggregation* const aggregation_;
  Logger* const logger_;
  const std::shared_ptr<Outbox> outbox_;
  v1::ReportBatch incoming_;
  v1::AgentIdentity identity_;
  uint64_t connection_ = 0;
  bool disconnected_ = false;
};

}  // namespace

Reactor* AggregatorService::Exchange(grpc::CallbackServerContext* context) {
  return new ExchangeStream(aggregation_, logger_);
}

grpc::ServerUnaryReactor* AggregatorService::Configure(grpc::CallbackServerContext* context,
                                                       const v1::ConfigureRequest* request,
                                                       v1::ConfigureResponse* response) {
  absl::Status configured = aggregation_->Configure(*request);
  if (configured.ok()) {
    response->set_epoch(aggregation_->epoch());
  } else {
    logger_->Warning("configuration at epoch ", request->epoch(), " refused: ", configured.message());
  }
  return Finished(context, configured);
}

grpc::ServerUnaryReactor* AggregatorService::Query(grpc::CallbackServerContext* context,
                                                   const v1::QueryRequest* request,
                                                   v1::QueryResponse* response) {
  *response = aggregation_->Query(*request);
  return Finished(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* AggregatorService::MergeState(grpc::CallbackServerContext* context,
                                                        const v1::MergeStateRequest* request,
                                                        v1::MergeStateResponse* response) {
  absl::StatusOr<uint32_t> merged = aggregation_->MergeState(*request);
  if (merged.ok()) response->set_merged(*merged);
  return Finished(context, merged.status());
}

grpc::ServerUnaryReactor* AggregatorService::ExportState(grpc::CallbackServerContext* context,
                                                         const v1::ExportStateRequest* request,
                                                         v1::ExportStateResponse* response) {
  *response = aggregation_->ExportState(*request);
  return Finished(context, absl::OkStatus());
}

}  // namespace middlepipe::aggregator

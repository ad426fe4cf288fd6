// The per-user aggregator's gRPC service (proto/aggregator.proto) over an Aggregation.
//
// Exchange: one stream per agent, served with the callback API (a thousand agents cost
// no thread each). The first batch names the agent; every applied batch is acknowledged
// with its sequence; decisions go out through the stream's outbox whenever the
// aggregation makes them. Configure/Query/MergeState/ExportState map one to one.
#pragma once

#include <string>

#include "aggregator/aggregation.h"
#include "common/logger.h"
#include "proto/aggregator.grpc.pb.h"

namespace middlepipe::aggregator {

class AggregatorService final : public v1::Aggregator::CallbackService {
 public:
  // Not owned; must outlive the service.
  AggregatorService(Aggregation* aggregation, Logger* logger)
      : aggregation_(aggregation), logger_(logger) {}

  grpc::ServerBidiReactor<v1::ReportBatch, v1::DecisionBatch>* Exchange(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* Configure(grpc::CallbackServerContext* context,
                                      const v1::ConfigureRequest* request,
                                      v1::ConfigureResponse* response) override;
  grpc::ServerUnaryReactor* Query(grpc::CallbackServerContext* context,
                                  const v1::QueryRequest* request,
                                  v1::QueryResponse* response) override;
  grpc::ServerUnaryReactor* MergeState(grpc::CallbackServerContext* context,
                                       const v1::MergeStateRequest* request,
                                       v1::MergeStateResponse* response) override;
  grpc::ServerUnaryReactor* ExportState(grpc::CallbackServerContext* context,
                                        const v1::ExportStateRequest* request,
                                        v1::ExportStateResponse* response) override;

 private:
  Aggregation* const aggregation_;
  Logger* const logger_;
};

}  // namespace middlepipe::aggregator

// The northbound gRPC service (proto/controller.proto) the CLI talks to.
//
// Every call is authenticated first; calls the controller does not serve yet answer
// UNIMPLEMENTED (the generated default), never a fake success.
#pragma once

#include "controller/tokens.h"
#include "proto/controller.grpc.pb.h"

namespace middlepipe::controller {

class ControllerService final : public v1::Controller::CallbackService {
 public:
  // `tokens` must outlive the service.
  explicit ControllerService(const TokenTable& tokens) : tokens_(tokens) {}

  grpc::ServerUnaryReactor* GetVersion(grpc::CallbackServerContext* context,
                                       const v1::GetVersionRequest* request,
                                       v1::GetVersionResponse* response) override;

 private:
  const TokenTable& tokens_;
};

}  // namespace middlepipe::controller

// A connection to the controller's northbound API (the Controller gRPC service), below
// everything that drives the controller: the CLI, the local platform, tests and benchmarks.
// One channel, the user's bearer token and a deadline on every call, and gRPC errors turned
// into messages a user can act on.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/address.h"
#include "proto/controller.grpc.pb.h"

namespace middlepipe::controller {

struct ConnectionOptions {
  std::string controller;  // HOST:PORT or unix:///PATH
  std::string token;       // bearer token; may be empty (calls then fail UNAUTHENTICATED)
  std::chrono::milliseconds deadline{10000};
};

class ControllerClient {
 public:
  // Checks the address; does not connect yet (gRPC connects on the first call).
  static absl::StatusOr<ControllerClient> Create(const ConnectionOptions& options);

  // Calls one unary method of the Controller service, e.g.
  //   client.Call(&Stub::GetVersion, request)
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(grpc::Status (v1::Controller::Stub::*method)(grpc::ClientContext*,
                                                                             const Request&,
                                                                             Response*),
                                const Request& request) const {
    grpc::ClientContext context;
    Prepare(&context);
    Response response;
    grpc::Status status = (stub_.get()->*method)(&context, request, &response);
    if (!status.ok()) return ToStatus(status);
    return response;
  }

  const Address& address() const { return address_; }

 private:
  ControllerClient(Address address, ConnectionOptions options,
                   std::unique_ptr<v1::Controller::Stub> stub);

  void Prepare(grpc::ClientContext* context) const;
  absl::Status ToStatus(const grpc::Status& status) const;

  Address address_;
  ConnectionOptions options_;
  std::shared_ptr<v1::Controller::Stub> stub_;
};

}  // namespace middlepipe::controller

#include "controller/aggregator_query.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "proto/aggregator.grpc.pb.h"

namespace middlepipe::controller {

absl::StatusOr<v1::QueryResponse> QueryAggregator(const std::string& address,
                                                  const v1::QueryRequest& request,
                                                  std::chrono::milliseconds timeout) {
  auto stub = v1::Aggregator::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  v1::QueryResponse response;
  grpc::Status status = stub->Query(&context, request, &response);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("aggregator at ", address, " unreachable: ", status.error_message()));
  }
  return response;
}

}  // namespace middlepipe::controller

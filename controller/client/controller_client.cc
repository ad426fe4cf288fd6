#include "controller/client/controller_client.h"

namespace middlepipe::controller {

absl::StatusOr<ControllerClient> ControllerClient::Create(const ConnectionOptions& options) {
  absl::StatusOr<Address> address = ParseAddress(options.controller);
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--controller / MP_CONTROLLER: ", address.status().message()));
  }
  auto channel = grpc::CreateChannel(address->ToGrpcTarget(), grpc::InsecureChannelCredentials());
  return ControllerClient(*address, options, v1::Controller::NewStub(channel));
}

ControllerClient::ControllerClient(Address address, ConnectionOptions options,
                                   std::unique_ptr<v1::Controller::Stub> stub)
    : address_(std::move(address)), options_(std::move(options)), stub_(std::move(stub)) {}

void ControllerClient::Prepare(grpc::ClientContext* context) const {
  context->set_deadline(std::chrono::system_clock::now() + options_.deadline);
  if (!options_.token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", options_.token));
  }
}

absl::Status ControllerClient::ToStatus(const grpc::Status& status) const {
  const std::string where = absl::StrCat("controller at ", address_.ToString());
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return absl::UnavailableError(
          absl::StrCat(where, " is unreachable (is mp-controller running?): ",
                       status.error_message()));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::DeadlineExceededError(absl::StrCat(where, " did not answer within ",
                                                      options_.deadline.count(), " ms"));
    case grpc::StatusCode::UNAUTHENTICATED:
      return absl::UnauthenticatedError(absl::StrCat(where, ": ", status.error_message()));
    default:
      // The controller's own messages already name what is wrong.
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          status.error_message());
  }
}

}  // namespace middlepipe::controller

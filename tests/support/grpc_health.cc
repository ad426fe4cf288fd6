#include "tests/support/grpc_health.h"

#include <future>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"

namespace middlepipe::testing {
namespace {

// HealthCheckResponse{status: SERVING}: field 1, varint 1.
constexpr char kServingResponse[] = {0x08, 0x01};

}  // namespace

absl::StatusOr<bool> IsServing(const std::string& target, std::chrono::milliseconds timeout) {
  auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  context.set_wait_for_ready(true);
  // HealthCheckRequest{} serializes to no bytes; a ByteBuffer with no slice at all would
  // mean "no message", which gRPC refuses.
  grpc::Slice empty("", 0);
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                 &response, [&done](grpc::Status status) { done.set_value(status); });
  grpc::Status status = done.get_future().get();
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat("health check of ", target, ": ",
                                               status.error_message()));
  }
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return absl::InternalError("unreadable health response");
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes == std::string(kServingResponse, sizeof(kServingResponse));
}

}  // namespace middlepipe::testing

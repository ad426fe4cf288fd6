#include "tests/support/aggregator_process.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace middlepipe::testing {

AggregatorProcess::AggregatorProcess(const ScratchDir& scratch, std::string user, std::string binary,
                                     std::vector<std::string> extra_flags)
    : scratch_(scratch),
      user_(std::move(user)),
      binary_(std::move(binary)),
      extra_flags_(std::move(extra_flags)),
      socket_(scratch / "aggregator.sock") {}

absl::Status AggregatorProcess::Start() {
  process_.reset();  // a previous run is killed first
  std::vector<std::string> argv = launcher_;
  for (const std::string& arg : {binary_, std::string("--user"), user_, std::string("--listen"),
                                 target(), std::string("--http-listen"), std::string("127.0.0.1:0")}) {
    argv.push_back(arg);
  }
  argv.insert(argv.end(), extra_flags_.begin(), extra_flags_.end());
  absl::StatusOr<ChildProcess> started = ChildProcess::Start(argv, scratch_.path());
  if (!started.ok()) return started.status();
  process_.emplace(std::move(*started));
  absl::StatusOr<int> port = WaitForHttpPort(*process_, "mp-aggregator");
  if (!port.ok()) return port.status();
  http_port_ = *port;
  stub_ = v1::Aggregator::NewStub(grpc::CreateChannel(target(), grpc::InsecureChannelCredentials()));
  return absl::OkStatus();
}

absl::Status AggregatorProcess::Configure(const std::vector<v1::AggregatedMiddlepipe>& middlepipes) {
  v1::ConfigureRequest request;
  request.set_user(user_);
  request.set_epoch(++epoch_);
  for (const v1::AggregatedMiddlepipe& middlepipe : middlepipes) *request.add_middlepipes() = middlepipe;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::ConfigureResponse response;
  grpc::Status status = stub_->Configure(&context, request, &response);
  if (!status.ok()) return absl::InternalError(absl::StrCat("Configure: ", status.error_message()));
  return absl::OkStatus();
}

}  // namespace middlepipe::testing

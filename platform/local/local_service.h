// The LocalPlatform gRPC service (proto/local.proto) over a Platform.
#pragma once

#include <functional>

#include "platform/local/platform.h"
#include "proto/local.grpc.pb.h"

namespace middlepipe::local {

class LocalService final : public v1::LocalPlatform::Service {
 public:
  // `platform` is not owned. `on_shutdown` runs once a Shutdown call has stopped
  // everything (the process then exits).
  LocalService(Platform* platform, std::function<void()> on_shutdown)
      : platform_(platform), on_shutdown_(std::move(on_shutdown)) {}

  grpc::Status Push(grpc::ServerContext* context, const v1::PushRequest* request,
                    v1::PushResponse* response) override;
  grpc::Status Scale(grpc::ServerContext* context, const v1::ScaleRequest* request,
                     v1::ScaleResponse* response) override;
  grpc::Status Delete(grpc::ServerContext* context, const v1::DeleteRequest* request,
                      v1::DeleteResponse* response) override;
  grpc::Status Status(grpc::ServerContext* context, const v1::StatusRequest* request,
                      v1::StatusResponse* response) override;
  grpc::Status Shutdown(grpc::ServerContext* context, const v1::ShutdownRequest* request,
                        v1::ShutdownResponse* response) override;

 private:
  Platform* const platform_;
  const std::function<void()> on_shutdown_;
};

}  // namespace middlepipe::local

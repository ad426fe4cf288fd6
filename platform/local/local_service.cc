#include "platform/local/local_service.h"

#include "common/grpc_status.h"

namespace middlepipe::local {

grpc::Status LocalService::Push(grpc::ServerContext* context, const v1::PushRequest* request,
                                v1::PushResponse* response) {
  absl::StatusOr<v1::LocalApp> app = platform_->Push(request->app());
  if (!app.ok()) return ToGrpcStatus(app.status());
  *response->mutable_app() = std::move(*app);
  return grpc::Status::OK;
}

grpc::Status LocalService::Scale(grpc::ServerContext* context, const v1::ScaleRequest* request,
                                 v1::ScaleResponse* response) {
  absl::StatusOr<v1::ScaleResponse> scaled = platform_->Scale(request->app(), request->instances());
  if (!scaled.ok()) return ToGrpcStatus(scaled.status());
  *response = std::move(*scaled);
  return grpc::Status::OK;
}

grpc::Status LocalService::Delete(grpc::ServerContext* context, const v1::DeleteRequest* request,
                                  v1::DeleteResponse* response) {
  absl::StatusOr<uint32_t> stopped = platform_->Delete(request->app());
  if (!stopped.ok()) return ToGrpcStatus(stopped.status());
  response->set_stopped(*stopped);
  return grpc::Status::OK;
}

grpc::Status LocalService::Status(grpc::ServerContext* context, const v1::StatusRequest* request,
                                  v1::StatusResponse* response) {
  *response = platform_->Status();
  return grpc::Status::OK;
}

grpc::Status LocalService::Shutdown(grpc::ServerContext* context, const v1::ShutdownRequest* request,
                                    v1::ShutdownResponse* response) {
  response->set_stopped_instances(platform_->Shutdown());
  on_shutdown_();
  return grpc::Status::OK;
}

}  // namespace middlepipe::local

#include "controller/controller_service.h"

#include "common/version.h"
#include "controller/auth.h"

namespace middlepipe::controller {

grpc::ServerUnaryReactor* ControllerService::GetVersion(grpc::CallbackServerContext* context,
                                                        const v1::GetVersionRequest* request,
                                                        v1::GetVersionResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::string user;
  grpc::Status status = Authenticate(*context, tokens_, &user);
  if (status.ok()) {
    response->set_version(kVersion);
    response->set_api(kApiVersion);
    response->set_user(user);
  }
  reactor->Finish(status);
  return reactor;
}

}  // namespace middlepipe::controller

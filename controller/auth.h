// Who is calling: the user of the bearer token in a gRPC call's `authorization` metadata.
#pragma once

#include <string>

#include <grpcpp/grpcpp.h>

#include "controller/tokens.h"

namespace middlepipe::controller {

// OK with `*user` set, or UNAUTHENTICATED saying what is missing or wrong.
grpc::Status Authenticate(const grpc::ServerContextBase& context, const TokenTable& tokens,
                          std::string* user);

}  // namespace middlepipe::controller

#include "controller/auth.h"

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace middlepipe::controller {

grpc::Status Authenticate(const grpc::ServerContextBase& context, const TokenTable& tokens,
                          std::string* user) {
  const auto& metadata = context.client_metadata();
  auto header = metadata.find("authorization");
  if (header == metadata.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "no token: pass --token or set MP_TOKEN");
  }
  absl::string_view value(header->second.data(), header->second.size());
  constexpr absl::string_view kScheme = "Bearer ";
  if (!absl::StartsWithIgnoreCase(value, kScheme)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "authorization metadata must be \"Bearer <token>\"");
  }
  std::optional<std::string> owner = tokens.UserFor(value.substr(kScheme.size()));
  if (!owner.has_value()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown token");
  }
  *user = *owner;
  return grpc::Status::OK;
}

}  // namespace middlepipe::controller

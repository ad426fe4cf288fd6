#include "common/grpc_server.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"

namespace middlepipe {
namespace {

// True if something accepts connections on the Unix socket at `path`.
bool UnixSocketIsLive(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  bool live = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return live;
}

absl::Status PrepareUnixSocketPath(const std::string& path) {
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unix socket path is too long (", path.size(), " > ",
                     sizeof(sockaddr_un{}.sun_path) - 1, " bytes): ", path));
  }
  if (access(path.c_str(), F_OK) != 0) return absl::OkStatus();
  if (UnixSocketIsLive(path)) {
    return absl::AlreadyExistsError(
        absl::StrCat("another process is serving on unix socket ", path));
  }
  if (unlink(path.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot remove stale socket ", path));
  }
  return absl::OkStatus();
}

}  // namespace

void RunningGrpcServer::Stop(std::chrono::milliseconds grace) {
  if (server == nullptr) return;
  server->Shutdown(std::chrono::system_clock::now() + grace);
  server->Wait();
}

absl::StatusOr<RunningGrpcServer> StartGrpcServer(
    const Address& address, const std::vector<grpc::Service*>& services) {
  if (address.family == Address::Family::kUnix) {
    absl::Status prepared = PrepareUnixSocketPath(address.path);
    if (!prepared.ok()) return prepared;
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  int selected_port = 0;
  builder.AddListeningPort(address.ToGrpcTarget(), grpc::InsecureServerCredentials(),
                           &selected_port);
  for (grpc::Service* service : services) builder.RegisterService(service);
  builder.SetMaxReceiveMessageSize(kMaxGrpcReceiveBytes);

  RunningGrpcServer running;
  running.server = builder.BuildAndStart();
  if (running.server == nullptr || selected_port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for gRPC on ", address.ToString(),
                     " (address in use, or not an address of this host?)"));
  }
  running.bound = address;
  if (address.family == Address::Family::kTcp) {
    running.bound.port = static_cast<uint16_t>(selected_port);
  }
  return running;
}

}  // namespace middlepipe

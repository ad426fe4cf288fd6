#include "common/http_server.h"

#include <httplib.h>

#include <chrono>

#include "absl/strings/str_cat.h"

namespace middlepipe {

HttpServer::HttpServer(Logger* logger)
    : logger_(logger), server_(std::make_unique<httplib::Server>()) {
  server_->set_tcp_nodelay(true);
}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<Address> HttpServer::Start(const Address& address) {
  if (address.family != Address::Family::kTcp) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP listen address must be HOST:PORT, got ", address.ToString()));
  }
  Address bound = address;
  if (address.port == 0) {
    int port = server_->bind_to_any_port(address.host);
    if (port < 0) {
      return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", address.ToString()));
    }
    bound.port = static_cast<uint16_t>(port);
  } else if (!server_->bind_to_port(address.host, address.port)) {
    return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", address.ToString(),
                                               " (address in use?)"));
  }
  thread_ = std::thread([this] {
    if (!server_->listen_after_bind()) logger_->Error("HTTP server stopped with an error");
  });
  // cpp-httplib ignores stop() until its listen loop runs; return only once it does, or a
  // Stop() soon after Start() would be lost and its join would wait forever.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!server_->is_running()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return absl::UnavailableError(absl::StrCat("HTTP server on ", bound.ToString(),
                                                 " did not start within 10 s"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return bound;
}

void HttpServer::Stop() {
  if (!thread_.joinable()) return;
  server_->stop();
  thread_.join();
}

}  // namespace middlepipe

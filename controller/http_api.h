// The controller's HTTP side: /healthz and /metrics (Prometheus text format); the Open
// Service Broker API (/v2/..., controller/broker) and the dashboard (/, controller/
// dashboard) mount here too.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "common/address.h"
#include "common/http_server.h"
#include "common/logger.h"

namespace httplib {
class Server;
}

namespace middlepipe::controller {

class HttpApi {
 public:
  // `metrics` renders the controller's figures (Prometheus text) for /metrics.
  HttpApi(Logger* logger, std::function<std::string()> metrics);
  ~HttpApi();

  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // Binds `address` (TCP; port 0 = any free port) and serves on a thread of its own.
  // Returns the bound address.
  absl::StatusOr<Address> Start(const Address& address) { return server_.Start(address); }

  // Stops accepting, finishes in-flight requests, joins the thread. Idempotent.
  void Stop() { server_.Stop(); }

  // For other parts to add their routes (the service broker), before Start().
  httplib::Server& routes() { return server_.routes(); }

 private:
  void Routes();

  const std::function<std::string()> metrics_;
  HttpServer server_;
  std::atomic<uint64_t> requests_served_{0};
};

}  // namespace middlepipe::controller

// The controller's HTTP side: /healthz and /metrics (Prometheus text format) now; the
// Open Service Broker API (/v2/...) and the dashboard (/) mount here too.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "common/address.h"
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
  absl::StatusOr<Address> Start(const Address& address);

  // Stops accepting, finishes in-flight requests, joins the thread. Idempotent.
  void Stop();

 private:
  void Routes();

  Logger* const logger_;
  const std::function<std::string()> metrics_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<uint64_t> requests_served_{0};
};

}  // namespace middlepipe::controller

// An HTTP server on a thread of its own (cpp-httplib), for the binaries' small HTTP sides
// (/healthz, /metrics, the broker API). Register routes on routes() before Start().
#pragma once

#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "common/address.h"
#include "common/logger.h"

namespace httplib {
class Server;
}

namespace middlepipe {

class HttpServer {
 public:
  explicit HttpServer(Logger* logger);
  ~HttpServer();  // Stop()

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  httplib::Server& routes() { return *server_; }

  // Binds `address` (TCP; port 0 = any free port) and serves. Returns the bound address.
  absl::StatusOr<Address> Start(const Address& address);

  // Stops accepting, finishes in-flight requests, joins the thread. Idempotent.
  void Stop();

 private:
  Logger* const logger_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace middlepipe

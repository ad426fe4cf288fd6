// The controller's HTTP side: /healthz (the process and its store) and /metrics
// (Prometheus text format); the Open Service Broker API (/v2/..., controller/broker) and
// the dashboard (/, controller/dashboard) mount here too.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/address.h"
#include "common/http_server.h"
#include "common/logger.h"

namespace middlepipe::controller {

class HttpApi {
 public:
  // `metrics` renders the controller's figures (Prometheus text) for /metrics;
  // `store_health` tells whether the store answers (OK) or why not, for /healthz.
  HttpApi(Logger* logger, std::function<std::string()> metrics,
          std::function<absl::Status()> store_health);
  ~HttpApi();

  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;

  // Binds `address` (TCP; port 0 = any free port) and serves. Returns the bound address.
  absl::StatusOr<Address> Start(const Address& address) { return server_.Start(address); }

  // Stops accepting, ends event streams, finishes in-flight requests. Idempotent.
  void Stop() { server_.Stop(); }

  // For other parts to add their routes (the service broker, the dashboard), before
  // Start().
  HttpServer& routes() { return server_; }

  // /healthz asks the store at most this often; between asks it repeats the last answer.
  static constexpr std::chrono::milliseconds kHealthCacheTime{500};

 private:
  void Routes();
  // The store's health, asked at most once per kHealthCacheTime.
  absl::Status StoreHealth();

  const std::function<std::string()> metrics_;
  const std::function<absl::Status()> store_health_;
  HttpServer server_;

  std::mutex health_mu_;
  std::chrono::steady_clock::time_point health_checked_;
  absl::Status health_ = absl::UnknownError("not checked yet");
};

}  // namespace middlepipe::controller

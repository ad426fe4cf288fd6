#include "controller/http_api.h"

#include <httplib.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/version.h"

namespace middlepipe::controller {

HttpApi::HttpApi(Logger* logger, std::function<std::string()> metrics)
    : logger_(logger), metrics_(std::move(metrics)), server_(std::make_unique<httplib::Server>()) {
  Routes();
}

HttpApi::~HttpApi() { Stop(); }

void HttpApi::Routes() {
  server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& response) {
    ++requests_served_;
    response.set_content("ok\n", "text/plain");
  });
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    ++requests_served_;
    response.set_content(
        absl::StrCat("# HELP mp_build_info Version of the running middlepipe controller.\n",
                     "# TYPE mp_build_info gauge\n", "mp_build_info{version=\"", kVersion,
                     "\",api=\"", kApiVersion, "\"} 1\n",
                     "# HELP mp_http_requests_total HTTP requests the controller served.\n",
                     "# TYPE mp_http_requests_total counter\n",
                     "mp_http_requests_total ", requests_served_.load(), "\n", metrics_()),
        "text/plain; version=0.0.4");
  });
}

absl::StatusOr<Address> HttpApi::Start(const Address& address) {
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

void HttpApi::Stop() {
  if (!thread_.joinable()) return;
  server_->stop();
  thread_.join();
}

}  // namespace middlepipe::controller

#include "controller/http_api.h"

#include "absl/strings/str_cat.h"
#include "common/version.h"

namespace middlepipe::controller {

HttpApi::HttpApi(Logger* logger, std::function<std::string()> metrics,
                 std::function<absl::Status()> store_health)
    : metrics_(std::move(metrics)), store_health_(std::move(store_health)), server_(logger) {
  Routes();
}

HttpApi::~HttpApi() { Stop(); }

absl::Status HttpApi::StoreHealth() {
  std::lock_guard<std::mutex> lock(health_mu_);
  const auto now = std::chrono::steady_clock::now();
  if (health_checked_ == std::chrono::steady_clock::time_point() ||
      now - health_checked_ >= kHealthCacheTime) {
    health_ = store_health_();
    health_checked_ = now;
  }
  return health_;
}

void HttpApi::Routes() {
  server_.Get("/healthz", [this](const HttpRequest&) {
    absl::Status store = StoreHealth();
    if (!store.ok()) return HttpResponse::Text(503, absl::StrCat("store: ", store.message(), "\n"));
    return HttpResponse::Text(200, "ok\n");
  });
  server_.Get("/metrics", [this](const HttpRequest&) {
    HttpResponse response = HttpResponse::Text(
        200, absl::StrCat("# HELP mp_build_info Version of the running middlepipe controller.\n",
                          "# TYPE mp_build_info gauge\n", "mp_build_info{version=\"", kVersion,
                          "\",api=\"", kApiVersion, "\"} 1\n", server_.MetricsText("mp"),
                          "# HELP mp_store_up Whether the store answered its last health check.\n",
                          "# TYPE mp_store_up gauge\n", "mp_store_up ",
                          StoreHealth().ok() ? 1 : 0, "\n", metrics_()));
    response.content_type = "text/plain; version=0.0.4";
    return response;
  });
}

}  // namespace middlepipe::controller

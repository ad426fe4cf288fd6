#include "controller/http_api.h"

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "common/version.h"

namespace middlepipe::controller {

HttpApi::HttpApi(Logger* logger, std::function<std::string()> metrics)
    : metrics_(std::move(metrics)), server_(logger) {
  Routes();
}

HttpApi::~HttpApi() { Stop(); }

void HttpApi::Routes() {
  server_.routes().Get("/healthz", [this](const httplib::Request&, httplib::Response& response) {
    ++requests_served_;
    response.set_content("ok\n", "text/plain");
  });
  server_.routes().Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
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

}  // namespace middlepipe::controller

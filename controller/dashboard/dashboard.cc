#include "controller/dashboard/dashboard.h"

#include <httplib.h>

#include <thread>

#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"

namespace middlepipe::controller {
namespace {

nlohmann::json ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(message, &text, options).ok()) return nullptr;
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

void Refuse(httplib::Response& response, int status, const std::string& message) {
  response.status = status;
  response.set_content(nlohmann::json{{"error", message}}.dump() + "\n", "application/json");
}

constexpr char kNoToken[] =
    "no valid token: open the dashboard as /?token=TOKEN (mp local up and tools/run print "
    "the link)";

}  // namespace

std::optional<std::string> Dashboard::UserOf(const httplib::Request& request) const {
  std::string token = request.get_param_value("token");
  const std::string authorization = request.get_header_value("Authorization");
  if (token.empty() && absl::StartsWith(authorization, "Bearer ")) token = authorization.substr(7);
  if (token.empty()) return std::nullopt;
  return tokens_->UserFor(token);
}

absl::StatusOr<std::string> Dashboard::Snapshot(const std::string& user) {
  v1::ListMiddlepipesResponse middlepipes;
  if (absl::Status listed = controller_->ListMiddlepipesAs(user, &middlepipes); !listed.ok()) {
    return listed;
  }
  v1::ListAppsResponse apps;
  if (absl::Status listed = controller_->ListAppsAs(user, &apps); !listed.ok()) return listed;
  nlohmann::json snapshot = {
      {"user", user},
      {"time_unix_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count()},
      {"middlepipes", ToJson(middlepipes)["middlepipes"]},
      {"apps", ToJson(apps)["apps"]},
      {"live", nlohmann::json::array()},
      {"live_error", ""}};
  if (!middlepipes.middlepipes().empty()) {
    absl::StatusOr<v1::QueryResponse> live = controller_->LiveStateAs(user, v1::QueryRequest());
    if (live.ok()) {
      snapshot["live"] = ToJson(*live)["states"];
    } else {
      snapshot["live_error"] = std::string(live.status().message());
    }
  }
  return snapshot.dump();
}

void Dashboard::Mount(httplib::Server& routes) {
  routes.Get("/", [](const httplib::Request&, httplib::Response& response) {
    response.set_content(kDashboardPage, "text/html; charset=utf-8");
  });
  routes.Get("/dashboard/state", [this](const httplib::Request& request, httplib::Response& response) {
    std::optional<std::string> user = UserOf(request);
    if (!user) return Refuse(response, 401, kNoToken);
    absl::StatusOr<std::string> snapshot = Snapshot(*user);
    if (!snapshot.ok()) return Refuse(response, 503, std::string(snapshot.status().message()));
    response.set_header("Cache-Control", "no-store");
    response.set_content(*snapshot + "\n", "application/json");
  });
  routes.Get("/dashboard/events", [this](const httplib::Request& request, httplib::Response& response) {
    std::optional<std::string> user = UserOf(request);
    if (!user) return Refuse(response, 401, kNoToken);
    if (streams_.fetch_add(1) >= kMaxStreams) {
      streams_.fetch_sub(1);
      return Refuse(response, 503, "too many dashboards are open; close one and reload");
    }
    response.set_header("Cache-Control", "no-store");
    response.set_chunked_content_provider(
        "text/event-stream",
        [this, user = *user](size_t, httplib::DataSink& sink) {
          // One event now, then one per interval, until the browser goes or we stop.
          absl::StatusOr<std::string> snapshot = Snapshot(user);
          const std::string event =
              snapshot.ok() ? "event: snapshot\ndata: " + *snapshot + "\n\n"
                            : "event: failure\ndata: " +
                                  nlohmann::json{{"error", std::string(snapshot.status().message())}}.dump() +
                                  "\n\n";
          if (stopping_.load() || !sink.write(event.data(), event.size())) return false;
          for (auto waited = std::chrono::milliseconds(0); waited < interval && !stopping_.load();
               waited += std::chrono::milliseconds(100)) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
          }
          return !stopping_.load() && sink.is_writable();
        },
        [this](bool) { streams_.fetch_sub(1); });
  });
}

}  // namespace middlepipe::controller

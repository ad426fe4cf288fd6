#include "controller/dashboard/dashboard.h"

#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

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

HttpResponse Refuse(int status, const std::string& message) {
  return HttpResponse::Json(status, nlohmann::json{{"error", message}}.dump() + "\n");
}

constexpr char kNotSignedIn[] =
    "not signed in: sign in at /login with your token (or send Authorization: Bearer TOKEN)";

}  // namespace

std::optional<std::string> Dashboard::UserOf(const HttpRequest& request) {
  const std::string authorization = request.Header("Authorization");
  if (absl::StartsWith(authorization, "Bearer ")) return tokens_->UserFor(authorization.substr(7));
  return sessions_.UserFor(CookieValue(request.Header("Cookie"), kSessionCookie));
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

std::string Dashboard::Event(const std::string& user) {
  absl::StatusOr<std::string> snapshot = Snapshot(user);
  if (snapshot.ok()) return absl::StrCat("event: snapshot\ndata: ", *snapshot, "\n\n");
  return absl::StrCat("event: failure\ndata: ",
                      nlohmann::json{{"error", std::string(snapshot.status().message())}}.dump(),
                      "\n\n");
}

HttpResponse Dashboard::Login(const HttpRequest& request) {
  std::optional<std::string> user = tokens_->UserFor(FormValue(request.body, "token"));
  if (!user) {
    return HttpResponse::Text(303, "").Header("Location", "/?signin=refused");
  }
  absl::StatusOr<std::string> session = sessions_.Open(*user);
  if (!session.ok()) return Refuse(500, std::string(session.status().message()));
  return HttpResponse::Text(303, "")
      .Header("Location", "/")
      .Header("Cache-Control", "no-store")
      .Header("Set-Cookie", absl::StrCat(kSessionCookie, "=", *session,
                                         "; Path=/; HttpOnly; SameSite=Strict; Max-Age=",
                                         std::chrono::seconds(SessionTable::kLifetime).count()));
}

HttpResponse Dashboard::OpenStream(const HttpRequest& request) {
  std::optional<std::string> user = UserOf(request);
  if (!user) return Refuse(401, kNotSignedIn);
  auto stream = std::make_shared<HttpEventStream>();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Refuse(503, "the controller is shutting down");
    if (stream_count_ >= kMaxStreams) {
      return Refuse(503, "too many dashboards are open; close one and reload");
    }
    streams_[*user].push_back(stream);
    ++stream_count_;
  }
  stream->Send(Event(*user));  // the first one now, the rest from the ticker
  HttpResponse response;
  response.content_type = "text/event-stream";
  response.Header("Cache-Control", "no-store");
  response.stream = stream;
  return response;
}

void Dashboard::Mount(HttpServer& routes) {
  HttpRoute page{[](const HttpRequest&) {
    HttpResponse response = HttpResponse::Text(200, kDashboardPage);
    response.content_type = "text/html; charset=utf-8";
    return response.Header("Content-Security-Policy", "frame-ancestors 'none'");
  }};
  page.on_event_loop = true;
  routes.Route("GET", "/", page);
  HttpRoute login{[this](const HttpRequest& request) { return Login(request); }};
  login.max_body_bytes = 4 << 10;
  routes.Route("POST", "/login", login);
  routes.Route("POST", "/logout", HttpRoute{[this](const HttpRequest& request) {
                 sessions_.Close(CookieValue(request.Header("Cookie"), kSessionCookie));
                 return HttpResponse::Text(303, "")
                     .Header("Location", "/")
                     .Header("Set-Cookie",
                             absl::StrCat(kSessionCookie, "=; Path=/; HttpOnly; SameSite=Strict; "
                                                          "Max-Age=0"));
               }});
  routes.Get("/dashboard/state", [this](const HttpRequest& request) {
    std::optional<std::string> user = UserOf(request);
    if (!user) return Refuse(401, kNotSignedIn);
    absl::StatusOr<std::string> snapshot = Snapshot(*user);
    if (!snapshot.ok()) return Refuse(503, std::string(snapshot.status().message()));
    return HttpResponse::Json(200, *snapshot + "\n").Header("Cache-Control", "no-store");
  });
  routes.Get("/dashboard/events", [this](const HttpRequest& request) { return OpenStream(request); });
  std::lock_guard<std::mutex> lock(mu_);
  if (!ticker_.joinable()) ticker_ = std::thread([this] { Tick(); });
}

void Dashboard::Tick() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
    // Forget streams whose browser went away; copy the rest to feed them unlocked.
    std::map<std::string, std::vector<std::shared_ptr<HttpEventStream>>> open;
    for (auto it = streams_.begin(); it != streams_.end();) {
      auto& list = it->second;
      const size_t before = list.size();
      list.erase(std::remove_if(list.begin(), list.end(),
                                [](const auto& stream) { return stream->closed(); }),
                 list.end());
      stream_count_ -= before - list.size();
      if (list.empty()) {
        it = streams_.erase(it);
      } else {
        open[it->first] = list;
        ++it;
      }
    }
    lock.unlock();
    for (const auto& [user, list] : open) {
      const std::string event = Event(user);  // one snapshot per user per tick
      for (const auto& stream : list) stream->Send(event);
    }
    lock.lock();
  }
}

void Dashboard::Stop() {
  std::map<std::string, std::vector<std::shared_ptr<HttpEventStream>>> open;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    open.swap(streams_);
    stream_count_ = 0;
  }
  wake_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  for (const auto& [user, list] : open) {
    for (const auto& stream : list) stream->Close();
  }
}

}  // namespace middlepipe::controller

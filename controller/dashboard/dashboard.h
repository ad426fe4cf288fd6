// The controller's dashboard (DESIGN.md §8: `/`): a page that shows, the way the Hystrix
// dashboard shows circuits, every binding of the user's middlepipes with its request
// rate, error percentage, latency percentiles, breaker state in colour, and the app's
// instances with their applied epochs, refreshed live over server-sent events.
//
//   GET  /                   the page (plain HTML and JS in the binary)
//   POST /login              form field `token`: sets the session cookie, back to /
//   POST /logout             ends the session
//   GET  /dashboard/state    one snapshot as JSON
//   GET  /dashboard/events   a snapshot every interval (text/event-stream)
//
// The two data endpoints take the session cookie or "Authorization: Bearer T"; a token
// in the URL is not accepted (it would end up in history, logs and Referer headers).
// Every open event stream is fed by one ticker thread, one snapshot per user per tick,
// so an open dashboard holds no thread of the HTTP server.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/http_server.h"
#include "controller/controller_service.h"
#include "controller/dashboard/sessions.h"
#include "controller/tokens.h"

namespace middlepipe::controller {

class Dashboard {
 public:
  static constexpr char kSessionCookie[] = "mp_session";
  // At most this many event streams at once (all users); past it, 503.
  static constexpr size_t kMaxStreams = 1000;

  // Not owned; they must outlive the dashboard.
  Dashboard(ControllerService* controller, const TokenTable* tokens,
            std::chrono::milliseconds interval = std::chrono::milliseconds(1000))
      : controller_(controller), tokens_(tokens), interval_(interval) {}
  ~Dashboard() { Stop(); }

  // Registers the routes and starts the ticker.
  void Mount(HttpServer& routes);
  // Ends the event streams and the ticker. Idempotent.
  void Stop();

  // The user's snapshot as JSON text.
  absl::StatusOr<std::string> Snapshot(const std::string& user);

 private:
  // The user of the request's session cookie or bearer token; nullopt without one.
  std::optional<std::string> UserOf(const HttpRequest& request);
  HttpResponse Login(const HttpRequest& request);
  HttpResponse OpenStream(const HttpRequest& request);
  // The event carrying the user's snapshot (or why there is none).
  std::string Event(const std::string& user);
  void Tick();

  ControllerService* const controller_;
  const TokenTable* const tokens_;
  const std::chrono::milliseconds interval_;
  SessionTable sessions_;

  std::mutex mu_;  // guards what follows
  std::condition_variable wake_;
  bool stopping_ = false;
  std::map<std::string, std::vector<std::shared_ptr<HttpEventStream>>> streams_;  // by user
  size_t stream_count_ = 0;
  std::thread ticker_;
};

// The page (dashboard.html), compiled in.
extern const char kDashboardPage[];

}  // namespace middlepipe::controller

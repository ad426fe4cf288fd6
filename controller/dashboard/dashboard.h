// The controller's dashboard (DESIGN.md §8: `/`): a page that shows, the way the Hystrix
// dashboard shows circuits, every binding of the user's middlepipes with its request
// rate, error percentage, latency percentiles, breaker state in colour, and the app's
// instances with their applied epochs, refreshed live over server-sent events.
//
//   GET /                                   the page (plain HTML and JS in the binary)
//   GET /dashboard/state?token=T            one snapshot as JSON
//   GET /dashboard/events?token=T           a snapshot every second (text/event-stream)
//
// The token may also come as "Authorization: Bearer T". EventSource cannot send headers,
// hence the query parameter; the page keeps the token it was opened with.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "controller/controller_service.h"
#include "controller/tokens.h"

namespace httplib {
class Server;
struct Request;
}

namespace middlepipe::controller {

class Dashboard {
 public:
  // Not owned; they must outlive the dashboard.
  Dashboard(ControllerService* controller, const TokenTable* tokens)
      : controller_(controller), tokens_(tokens) {}
  ~Dashboard() { Stop(); }

  void Mount(httplib::Server& routes);
  // Ends the event streams (the HTTP server waits for its handlers when it stops).
  void Stop() { stopping_.store(true); }

  // The user's snapshot as JSON text.
  absl::StatusOr<std::string> Snapshot(const std::string& user);

  static constexpr int kMaxStreams = 4;  // each holds one of the server's threads
  std::chrono::milliseconds interval{1000};

 private:
  // The user of the request's token; nullopt when it has none or an unknown one.
  std::optional<std::string> UserOf(const httplib::Request& request) const;

  ControllerService* const controller_;
  const TokenTable* const tokens_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> streams_{0};
};

// The page (dashboard.html), compiled in.
extern const char kDashboardPage[];

}  // namespace middlepipe::controller

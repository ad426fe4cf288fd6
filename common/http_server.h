// The binaries' HTTP side (/healthz, /metrics, the service broker, the dashboard) on
// GNU libmicrohttpd: one event-loop thread owns every connection, so an idle or slow
// client costs a socket and a bounded buffer, never a thread; handlers run on a small
// worker pool while their connection is parked; event streams are parked between events.
//
// What reaches a handler has been checked first, in this order, each refusal counted:
//   1. the connection limits (total and per client address) and the header size bound
//      (libmicrohttpd answers 431 for headers past it);
//   2. the route (404, or 405 naming the methods the path takes);
//   3. the route's `admit` check on the request line and headers alone — authentication —
//      so an unauthenticated body is never read;
//   4. the body's size: a Content-Length past the route's bound is answered 413 before a
//      byte of it is read; a chunked body is cut off (413) as soon as it passes the bound;
//   5. the worker pool's queue (503 with Retry-After when full).
// Routes are registered before Start(); the server is not changed after.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/address.h"
#include "common/logger.h"

struct MHD_Daemon;
struct MHD_Connection;

namespace middlepipe {

// One request as a handler sees it.
struct HttpRequest {
  std::string method;  // "GET", "PUT", …; a HEAD request is served by the GET route
  std::string path;    // without the query string
  // Header names lower-cased; a repeated header keeps its first value.
  std::map<std::string, std::string> headers;
  std::map<std::string, std::string> query;  // decoded query parameters
  std::vector<std::string> captures;         // the route pattern's groups, in order
  std::string body;

  // The header's value, or "" when absent. `name` in any case.
  std::string Header(const std::string& name) const;
  bool HasHeader(const std::string& name) const;
  // The query parameter's value, or "" when absent.
  std::string Query(const std::string& name) const;
};

class HttpEventStream;

// A handler's answer. With `stream` set, the body is what the stream is sent, as it is
// sent (chunked), until it is closed; `body` is then ignored.
struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::shared_ptr<HttpEventStream> stream;

  HttpResponse& Header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
  static HttpResponse Text(int status, std::string body);
  static HttpResponse Json(int status, std::string body);
};

// The body of a streaming response (text/event-stream): whoever holds it sends chunks
// from any thread; the connection is parked while nothing is waiting to go out, so an
// open stream holds no thread. Closed when the client goes, the server stops, the sender
// calls Close(), or the client reads so slowly that more than kMaxBuffered bytes wait.
class HttpEventStream {
 public:
  static constexpr size_t kMaxBuffered = 1 << 20;

  HttpEventStream() = default;
  HttpEventStream(const HttpEventStream&) = delete;
  HttpEventStream& operator=(const HttpEventStream&) = delete;

  // Queues `chunk`; false (and nothing queued) once the stream is closed.
  bool Send(std::string chunk);
  // Ends the stream after what is queued has gone out. Idempotent.
  void Close();
  bool closed() const;

 private:
  friend class HttpServer;
  // Called by the server's event loop only.
  void Attach(MHD_Connection* connection);
  // Copies up to `max` queued bytes into `out`; 0 after parking the connection when
  // nothing is queued; -1 at the end of the stream.
  long Read(char* out, size_t max);
  // The connection is gone: nothing more is sent.
  void Detach();

  mutable std::mutex mu_;
  std::deque<std::string> queued_;
  size_t queued_bytes_ = 0;
  size_t offset_ = 0;  // bytes of queued_.front() already sent
  bool closed_ = false;
  bool parked_ = false;
  MHD_Connection* connection_ = nullptr;
};

struct HttpRoute {
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // Runs on the event loop with the request line and headers only (body empty); a value
  // refuses the request with it before the body is read. Must be quick and not block.
  using Admit = std::function<std::optional<HttpResponse>(const HttpRequest&)>;

  static constexpr size_t kDefaultMaxBodyBytes = 64 << 10;

  HttpRoute() = default;
  explicit HttpRoute(Handler handler) : handler(std::move(handler)) {}

  Handler handler;
  Admit admit;                                  // none: every request is admitted
  size_t max_body_bytes = kDefaultMaxBodyBytes;  // bodies past it are answered 413
  // True for handlers that never block (health, a static page): they run on the event
  // loop, so they answer even when every worker is busy.
  bool on_event_loop = false;
};

struct HttpServerLimits {
  unsigned max_connections = 2048;
  unsigned max_connections_per_address = 256;
  // A connection with no traffic for this long is closed (idle keep-alive, a stalled
  // sender). Parked event streams are exempt: they are woken by their next event.
  unsigned idle_timeout_seconds = 15;
  size_t max_header_bytes = 32 << 10;  // request line + headers of one request
  unsigned workers = 8;
  size_t max_queued_requests = 256;  // past this many waiting for a worker: 503
};

// What the server refused, for /metrics.
struct HttpServerCounters {
  std::atomic<uint64_t> requests{0};        // answered by a handler
  std::atomic<uint64_t> not_found{0};       // no route, or not the route's method
  std::atomic<uint64_t> refused_admit{0};   // refused by a route's admit check
  std::atomic<uint64_t> body_too_large{0};  // 413
  std::atomic<uint64_t> overloaded{0};      // 503: the workers' queue was full
  std::atomic<uint64_t> streams_open{0};    // event streams now open (a gauge)
};

class HttpServer {
 public:
  explicit HttpServer(Logger* logger, HttpServerLimits limits = {});
  ~HttpServer();  // Stop()

  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // `pattern` is a regular expression matched against the whole path; its groups reach
  // the handler as HttpRequest::captures. Before Start() only.
  void Route(const std::string& method, const std::string& pattern, HttpRoute route);
  void Get(const std::string& pattern, HttpRoute::Handler handler) {
    Route("GET", pattern, HttpRoute{std::move(handler)});
  }

  // Binds `address` (TCP; port 0 = any free port) and serves. Returns the bound address.
  absl::StatusOr<Address> Start(const Address& address);

  // Stops accepting, ends the event streams, lets running handlers finish and answers
  // the queued ones 503, then closes every connection. Idempotent.
  void Stop();

  const HttpServerCounters& counters() const { return counters_; }

  // The Prometheus text lines of the counters above, each metric named
  // `<prefix>_http_…` with its HELP and TYPE lines.
  std::string MetricsText(const std::string& prefix) const;

 private:
  struct RouteEntry {
    std::string method;
    std::string pattern_text;
    std::regex pattern;
    HttpRoute route;
  };
  struct Exchange;  // one request's progress, owned by its connection

  // libmicrohttpd's callbacks (static trampolines call these).
  int OnRequest(MHD_Connection* connection, const char* url, const char* method,
                const char* upload_data, size_t* upload_data_size, void** context);
  void OnCompleted(void** context);

  // The route for (method, path) with its captures; nullptr and the methods the path
  // takes (for 405) when none matches.
  const RouteEntry* Match(const std::string& method, const std::string& path,
                          std::vector<std::string>* captures, std::string* allowed) const;
  int Queue(MHD_Connection* connection, const HttpResponse& response);
  bool Dispatch(MHD_Connection* connection, Exchange* exchange);
  void Work();

  Logger* const logger_;
  const HttpServerLimits limits_;
  std::vector<RouteEntry> routes_;
  HttpServerCounters counters_;
  MHD_Daemon* daemon_ = nullptr;

  std::mutex mu_;  // guards what follows
  std::condition_variable work_ready_;
  std::deque<std::pair<MHD_Connection*, Exchange*>> queue_;
  std::set<std::shared_ptr<HttpEventStream>> streams_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace middlepipe

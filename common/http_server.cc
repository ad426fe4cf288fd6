#include "common/http_server.h"

#include <microhttpd.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace middlepipe {
namespace {

// A chunked body past its route's bound is read and dropped so it can be answered 413;
// past this much, the connection is closed instead.
constexpr uint64_t kMaxDiscardedBytes = 16 << 20;

std::string Lower(const char* text) { return absl::AsciiStrToLower(text ? text : ""); }

enum MHD_Result CollectValue(void* into, enum MHD_ValueKind kind, const char* key,
                             const char* value) {
  auto* values = static_cast<std::map<std::string, std::string>*>(into);
  values->emplace(kind == MHD_HEADER_KIND ? Lower(key) : std::string(key ? key : ""),
                  value ? value : "");
  return MHD_YES;
}

void LogFromLibrary(void* logger, const char* format, va_list arguments) {
  char line[512];
  std::vsnprintf(line, sizeof(line), format, arguments);
  std::string text = line;
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  static_cast<Logger*>(logger)->Warning("http: ", text);
}

// A listening TCP socket on `address`, and the port it got.
absl::StatusOr<std::pair<int, uint16_t>> Listen(const Address& address, bool* ipv6) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(address.port);
  if (int failed = getaddrinfo(address.host.empty() ? nullptr : address.host.c_str(),
                               port.c_str(), &hints, &found);
      failed != 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot listen for HTTP on ",
                                                   address.ToString(), ": ",
                                                   gai_strerror(failed)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> results(found, &freeaddrinfo);
  int fd = socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
  if (fd < 0) return absl::UnavailableError("cannot make a socket for HTTP");
  const int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  if (bind(fd, found->ai_addr, found->ai_addrlen) != 0 || listen(fd, 128) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", address.ToString(),
                                               " (address in use?)"));
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  *ipv6 = bound.ss_family == AF_INET6;
  const uint16_t bound_port =
      *ipv6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
            : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return std::make_pair(fd, bound_port);
}

// What a streaming response's reader callback holds: the stream, and the server that
// must forget it when the connection is done with it.
struct StreamHandle {
  std::shared_ptr<HttpEventStream> stream;
  std::function<void()> forget;
};

}  // namespace

std::string HttpRequest::Header(const std::string& name) const {
  auto found = headers.find(absl::AsciiStrToLower(name));
  return found == headers.end() ? "" : found->second;
}

bool HttpRequest::HasHeader(const std::string& name) const {
  return headers.count(absl::AsciiStrToLower(name)) > 0;
}

std::string HttpRequest::Query(const std::string& name) const {
  auto found = query.find(name);
  return found == query.end() ? "" : found->second;
}

HttpResponse HttpResponse::Text(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(body);
  return response;
}

HttpResponse HttpResponse::Json(int status, std::string body) {
  HttpResponse response;
  response.status = status;
  response.content_type = "application/json";
  response.body = std::move(body);
  return response;
}

bool HttpEventStream::Send(std::string chunk) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return false;
  if (queued_bytes_ + chunk.size() > kMaxBuffered) {
    // The client does not keep up: end the stream rather than buffer without bound.
    closed_ = true;
    queued_.clear();
    queued_bytes_ = offset_ = 0;
  } else {
    queued_bytes_ += chunk.size();
    queued_.push_back(std::move(chunk));
  }
  if (parked_) {
    parked_ = false;
    MHD_resume_connection(connection_);
  }
  return !closed_;
}

void HttpEventStream::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  if (parked_) {
    parked_ = false;
    MHD_resume_connection(connection_);
  }
}

bool HttpEventStream::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

void HttpEventStream::Attach(MHD_Connection* connection) {
  std::lock_guard<std::mutex> lock(mu_);
  connection_ = connection;
}

long HttpEventStream::Read(char* out, size_t max) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t copied = 0;
  while (copied < max && !queued_.empty()) {
    const std::string& front = queued_.front();
    const size_t take = std::min(max - copied, front.size() - offset_);
    std::copy_n(front.data() + offset_, take, out + copied);
    copied += take;
    offset_ += take;
    if (offset_ == front.size()) {
      queued_bytes_ -= front.size();
      queued_.pop_front();
      offset_ = 0;
    }
  }
  if (copied > 0) return static_cast<long>(copied);
  if (closed_) return MHD_CONTENT_READER_END_OF_STREAM;
  // Nothing to send: park the connection until Send() or Close() wakes it.
  parked_ = true;
  MHD_suspend_connection(connection_);
  return 0;
}

void HttpEventStream::Detach() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  parked_ = false;
  connection_ = nullptr;
  queued_.clear();
  queued_bytes_ = offset_ = 0;
}

// One request's progress through OnRequest's calls (headers, body parts, the end, and
// once more after a worker answered).
struct HttpServer::Exchange {
  const RouteEntry* route = nullptr;
  HttpRequest request;
  bool answered = false;                // a response has been queued
  bool dispatched = false;              // handed to a worker
  uint64_t discarded = 0;               // body bytes dropped past the route's bound
  std::optional<HttpResponse> response;  // the worker's answer
};

HttpServer::HttpServer(Logger* logger, HttpServerLimits limits)
    : logger_(logger), limits_(limits) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Route(const std::string& method, const std::string& pattern, HttpRoute route) {
  routes_.push_back(RouteEntry{method, pattern, std::regex(pattern), std::move(route)});
}

absl::StatusOr<Address> HttpServer::Start(const Address& address) {
  if (address.family != Address::Family::kTcp) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP listen address must be HOST:PORT, got ", address.ToString()));
  }
  bool ipv6 = false;
  absl::StatusOr<std::pair<int, uint16_t>> listening = Listen(address, &ipv6);
  if (!listening.ok()) return listening.status();
  Address bound = address;
  bound.port = listening->second;

  auto on_request = [](void* self, MHD_Connection* connection, const char* url,
                       const char* method, const char*, const char* upload_data,
                       size_t* upload_data_size, void** context) -> enum MHD_Result {
    return static_cast<HttpServer*>(self)->OnRequest(connection, url, method, upload_data,
                                                     upload_data_size, context) == MHD_YES
               ? MHD_YES
               : MHD_NO;
  };
  auto on_completed = [](void* self, MHD_Connection*, void** context,
                         enum MHD_RequestTerminationCode) {
    static_cast<HttpServer*>(self)->OnCompleted(context);
  };
  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
                   MHD_USE_ERROR_LOG;
  if (ipv6) flags |= MHD_USE_IPv6;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = false;
  }
  daemon_ = MHD_start_daemon(
      flags, 0, nullptr, nullptr, on_request, this,
      MHD_OPTION_EXTERNAL_LOGGER, &LogFromLibrary, logger_,
      MHD_OPTION_LISTEN_SOCKET, listening->first,
      MHD_OPTION_CONNECTION_LIMIT, limits_.max_connections,
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, limits_.max_connections_per_address,
      MHD_OPTION_CONNECTION_TIMEOUT, limits_.idle_timeout_seconds,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, limits_.max_header_bytes,
      MHD_OPTION_NOTIFY_COMPLETED,
      static_cast<MHD_RequestCompletedCallback>(on_completed), this,
      MHD_OPTION_END);
  if (daemon_ == nullptr) {
    close(listening->first);
    return absl::UnavailableError(absl::StrCat("cannot serve HTTP on ", bound.ToString()));
  }
  for (unsigned i = 0; i < limits_.workers; ++i) workers_.emplace_back([this] { Work(); });
  return bound;
}

void HttpServer::Stop() {
  if (daemon_ == nullptr) return;
  std::deque<std::pair<MHD_Connection*, Exchange*>> waiting;
  std::set<std::shared_ptr<HttpEventStream>> streams;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    waiting.swap(queue_);
    streams = streams_;
  }
  work_ready_.notify_all();
  for (auto& [connection, exchange] : waiting) {
    exchange->response = HttpResponse::Text(503, "the server is shutting down\n");
    MHD_resume_connection(connection);
  }
  for (const auto& stream : streams) stream->Close();
  for (std::thread& worker : workers_) worker.join();
  workers_.clear();
  // Every parked connection has been woken above (libmicrohttpd refuses to stop with one
  // still parked).
  MHD_stop_daemon(daemon_);
  daemon_ = nullptr;
}

void HttpServer::Work() {
  for (;;) {
    std::pair<MHD_Connection*, Exchange*> next;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      next = queue_.front();
      queue_.pop_front();
    }
    auto [connection, exchange] = next;
    try {
      exchange->response = exchange->route->route.handler(exchange->request);
      ++counters_.requests;
    } catch (const std::exception& failure) {
      logger_->Error("http: ", exchange->request.method, " ", exchange->request.path,
                     " failed: ", failure.what());
      exchange->response = HttpResponse::Text(500, "internal error\n");
    }
    MHD_resume_connection(connection);  // OnRequest runs again and queues the answer
  }
}

const HttpServer::RouteEntry* HttpServer::Match(const std::string& method,
                                                const std::string& path,
                                                std::vector<std::string>* captures,
                                                std::string* allowed) const {
  const std::string wanted = method == "HEAD" ? "GET" : method;
  std::vector<std::string> methods;
  for (const RouteEntry& entry : routes_) {
    std::smatch match;
    if (!std::regex_match(path, match, entry.pattern)) continue;
    if (entry.method != wanted) {
      methods.push_back(entry.method);
      continue;
    }
    captures->clear();
    for (size_t i = 1; i < match.size(); ++i) captures->push_back(match[i].str());
    return &entry;
  }
  *allowed = absl::StrJoin(methods, ", ");
  return nullptr;
}

int HttpServer::Queue(MHD_Connection* connection, const HttpResponse& response) {
  MHD_Response* answer;
  if (response.stream) {
    auto* handle = new StreamHandle{response.stream, nullptr};
    handle->forget = [this, stream = response.stream] {
      std::lock_guard<std::mutex> lock(mu_);
      streams_.erase(stream);
      --counters_.streams_open;
    };
    response.stream->Attach(connection);
    {
      std::lock_guard<std::mutex> lock(mu_);
      // A stream answered while Stop() runs would be parked after Stop() closed the
      // others, and libmicrohttpd cannot stop with a parked connection: end it at once.
      if (stopping_) response.stream->Close();
      streams_.insert(response.stream);
      ++counters_.streams_open;
    }
    answer = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, 16 << 10,
        [](void* stream, uint64_t, char* out, size_t max) -> ssize_t {
          return static_cast<StreamHandle*>(stream)->stream->Read(out, max);
        },
        handle,
        [](void* stream) {
          auto* owned = static_cast<StreamHandle*>(stream);
          owned->stream->Detach();
          owned->forget();
          delete owned;
        });
  } else {
    answer = MHD_create_response_from_buffer(response.body.size(),
                                             const_cast<char*>(response.body.data()),
                                             MHD_RESPMEM_MUST_COPY);
  }
  if (answer == nullptr) return MHD_NO;
  MHD_add_response_header(answer, MHD_HTTP_HEADER_CONTENT_TYPE, response.content_type.c_str());
  for (const auto& [name, value] : response.headers) {
    MHD_add_response_header(answer, name.c_str(), value.c_str());
  }
  const int queued = MHD_queue_response(connection, static_cast<unsigned>(response.status), answer);
  MHD_destroy_response(answer);
  return queued;
}

int HttpServer::OnRequest(MHD_Connection* connection, const char* url, const char* method,
                          const char* upload_data, size_t* upload_data_size, void** context) {
  auto* exchange = static_cast<Exchange*>(*context);
  if (exchange == nullptr) {
    // First call: the request line and headers, no body yet.
    exchange = new Exchange;
    *context = exchange;
    HttpRequest& request = exchange->request;
    request.method = method;
    request.path = url;
    MHD_get_connection_values(connection, MHD_HEADER_KIND, &CollectValue, &request.headers);
    MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND, &CollectValue, &request.query);
    std::string allowed;
    exchange->route = Match(request.method, request.path, &request.captures, &allowed);
    std::optional<HttpResponse> refusal;
    if (exchange->route == nullptr) {
      ++counters_.not_found;
      refusal = allowed.empty()
                    ? HttpResponse::Text(404, absl::StrCat("no such page: ", request.path, "\n"))
                    : HttpResponse::Text(405, absl::StrCat(request.path, " takes ", allowed, "\n"))
                          .Header("Allow", allowed);
    } else if (exchange->route->route.admit &&
               (refusal = exchange->route->route.admit(request))) {
      ++counters_.refused_admit;
    } else if (request.HasHeader("Content-Length")) {
      uint64_t length = 0;
      if (!absl::SimpleAtoi(request.Header("Content-Length"), &length)) {
        refusal = HttpResponse::Text(400, "Content-Length is not a number of bytes\n");
      } else if (length > exchange->route->route.max_body_bytes) {
        ++counters_.body_too_large;
        refusal = HttpResponse::Text(
            413, absl::StrCat("the body is ", length, " bytes; at most ",
                              exchange->route->route.max_body_bytes, " are accepted here\n"));
      }
    }
    if (refusal) {
      exchange->answered = true;
      return Queue(connection, *refusal);
    }
    return MHD_YES;
  }
  if (exchange->answered) {  // refused early; the rest of the body is discarded
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    const size_t bound = exchange->route->route.max_body_bytes;
    if (exchange->discarded > 0 || exchange->request.body.size() + *upload_data_size > bound) {
      // A chunked body past the bound: libmicrohttpd answers only once the request is
      // read, so the rest is counted and dropped (no memory held); one that goes on past
      // kMaxDiscardedBytes is cut off without an answer.
      if (exchange->discarded == 0) {
        ++counters_.body_too_large;
        exchange->request.body.clear();
        exchange->request.body.shrink_to_fit();
      }
      exchange->discarded += *upload_data_size;
      *upload_data_size = 0;
      return exchange->discarded > kMaxDiscardedBytes ? MHD_NO : MHD_YES;
    }
    exchange->request.body.append(upload_data, *upload_data_size);
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (exchange->discarded > 0) {
    exchange->answered = true;
    return Queue(connection,
                 HttpResponse::Text(413, absl::StrCat("the body is over ",
                                                      exchange->route->route.max_body_bytes,
                                                      " bytes, which is the most accepted here\n")));
  }
  if (exchange->response) {  // a worker answered and woke the connection
    exchange->answered = true;
    return Queue(connection, *exchange->response);
  }
  if (exchange->dispatched) return MHD_YES;
  return Dispatch(connection, exchange) ? MHD_YES : MHD_NO;
}

bool HttpServer::Dispatch(MHD_Connection* connection, Exchange* exchange) {
  const HttpRoute& route = exchange->route->route;
  if (route.on_event_loop) {
    HttpResponse response;
    try {
      response = route.handler(exchange->request);
      ++counters_.requests;
    } catch (const std::exception& failure) {
      logger_->Error("http: ", exchange->request.path, " failed: ", failure.what());
      response = HttpResponse::Text(500, "internal error\n");
    }
    exchange->answered = true;
    return Queue(connection, response) == MHD_YES;
  }
  std::optional<HttpResponse> refusal;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      refusal = HttpResponse::Text(503, "the server is shutting down\n");
    } else if (queue_.size() >= limits_.max_queued_requests) {
      ++counters_.overloaded;
      refusal = HttpResponse::Text(503, "too many requests are waiting; try again shortly\n")
                    .Header("Retry-After", "1");
    } else {
      exchange->dispatched = true;
      MHD_suspend_connection(connection);
      queue_.emplace_back(connection, exchange);
    }
  }
  if (refusal) {
    exchange->answered = true;
    return Queue(connection, *refusal) == MHD_YES;
  }
  work_ready_.notify_one();
  return true;
}

void HttpServer::OnCompleted(void** context) {
  delete static_cast<Exchange*>(*context);
  *context = nullptr;
}

std::string HttpServer::MetricsText(const std::string& prefix) const {
  std::string text;
  auto add = [&](const char* name, const char* type, const char* help, uint64_t value) {
    absl::StrAppend(&text, "# HELP ", prefix, "_http_", name, " ", help, "\n# TYPE ", prefix,
                    "_http_", name, " ", type, "\n", prefix, "_http_", name, " ", value, "\n");
  };
  add("requests_total", "counter", "HTTP requests answered by a handler.",
      counters_.requests.load());
  add("not_found_total", "counter", "HTTP requests for no route, or a method the path does not take.",
      counters_.not_found.load());
  add("refused_unauthenticated_total", "counter",
      "HTTP requests refused on their headers (credentials), before any body was read.",
      counters_.refused_admit.load());
  add("body_too_large_total", "counter", "HTTP requests refused (413) for a body over the bound.",
      counters_.body_too_large.load());
  add("overloaded_total", "counter",
      "HTTP requests refused (503) because too many were waiting for a worker.",
      counters_.overloaded.load());
  add("event_streams", "gauge", "Event streams (dashboards) open now.",
      counters_.streams_open.load());
  return text;
}

}  // namespace middlepipe

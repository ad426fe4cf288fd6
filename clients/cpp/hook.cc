#include "clients/cpp/hook.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#include <httplib.h>

#include "absl/strings/str_cat.h"
#include "common/frame_codec.h"
#include "common/markers.h"
#include "proto/hook.pb.h"

namespace middlepipe {
namespace {

fastpath::HeaderList Headers(const google::protobuf::RepeatedPtrField<v1::Header>& headers) {
  fastpath::HeaderList list;
  list.reserve(static_cast<size_t>(headers.size()));
  for (const v1::Header& header : headers) list.emplace_back(header.name(), header.value());
  return list;
}

uint64_t MicrosSince(std::chrono::steady_clock::time_point started) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now() - started)
                                   .count());
}

int Connect(const std::string& path, std::string* why) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    *why = std::strerror(errno);
    if (fd >= 0) close(fd);
    return -1;
  }
  return fd;
}

// Exchanges one frame each way on `fd`; false on any failure.
bool Exchange(int fd, const std::string& request, std::string* reply) {
  return WriteFrame(fd, request).ok() && ReadFrame(fd, reply).ok();
}

}  // namespace

std::string HttpResponse::Header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (markers::HeaderNameEquals(key, name)) return value;
  }
  return "";
}

Hook::Hook() : Hook(HookOptions()) {}

Hook::Hook(HookOptions options)
    : socket_path_(markers::AgentSocketPath(options.socket_path)),
      log_(options.log != nullptr ? options.log : &std::cerr),
      retry_after_(options.retry_after) {
  if (options.fast_path) {
    fastpath::ClientOptions fast;
    // Where the agent serving socket_path_ puts its segment (its --shm default).
    fast.path = markers::AgentSegmentPath(options.shm_path, socket_path_);
    fast.retry_after_ms = retry_after_.count();
    fast.log = [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(mu_);
      *log_ << "middlepipe: " << line << std::endl;
    };
    fast_ = std::make_unique<fastpath::Client>(std::move(fast));
  }
}

Hook::~Hook() {
  for (int fd : idle_) close(fd);
}

void Hook::On(const std::string& event, std::function<void(const CallbackEvent&)> callback) {
  std::lock_guard<std::mutex> lock(mu_);
  callbacks_[event].push_back(std::move(callback));
}

void Hook::Unreachable(const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  retry_at_ = std::chrono::steady_clock::now() + retry_after_;
  if (warned_) return;
  warned_ = true;
  *log_ << "middlepipe: agent at " << socket_path_ << " is unreachable (" << why
        << "); calls go through without middlepipes until it is back" << std::endl;
}

std::optional<std::string> Hook::RoundTrip(const std::string& request) {
  int fd = -1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      fd = idle_.back();
      idle_.pop_back();
    } else if (std::chrono::steady_clock::now() < retry_at_) {
      return std::nullopt;  // recently unreachable: do not pay a connect per call
    }
  }
  std::string reply;
  // A pooled socket may be stale (the agent restarted): one retry on a fresh one.
  if (fd >= 0 && !Exchange(fd, request, &reply)) {
    close(fd);
    fd = -1;
  }
  if (fd < 0) {
    std::string why;
    fd = Connect(socket_path_, &why);
    if (fd < 0) {
      Unreachable(why);
      return std::nullopt;
    }
    if (!Exchange(fd, request, &reply)) {
      close(fd);
      Unreachable("the agent closed the connection");
      return std::nullopt;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(fd);
  if (warned_) {
    warned_ = false;
    *log_ << "middlepipe: agent at " << socket_path_ << " is reachable again" << std::endl;
  }
  return reply;
}

void Hook::SendOnly(const std::string& request) {
  int fd = -1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      fd = idle_.back();
      idle_.pop_back();
    }
  }
  std::string why;
  if (fd < 0) fd = Connect(socket_path_, &why);  // another thread holds the pooled one
  if (fd < 0) return;  // the observation is lost; the call is not delayed
  if (!WriteFrame(fd, request).ok()) {
    close(fd);
    return;  // the next RoundTrip reconnects and says so if the agent is gone
  }
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(fd);
}

void Hook::Fire(const std::string& marker_value) {
  std::optional<CallbackEvent> event = ParseCallbackMarker(marker_value);
  if (!event.has_value()) return;
  std::vector<std::function<void(const CallbackEvent&)>> matching;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const char* key : {event->event.c_str(), "*"}) {
      auto found = callbacks_.find(key);
      if (found != callbacks_.end()) {
        matching.insert(matching.end(), found->second.begin(), found->second.end());
      }
    }
  }
  for (const auto& callback : matching) callback(*event);  // outside the lock
}

HttpResponse Hook::Answer(const fastpath::HeaderList& markers, bool raise, HttpResponse synthesized) {
  std::optional<CallbackEvent> first;
  for (const auto& [name, value] : markers) {
    if (name != markers::kCallbackHeader) continue;
    Fire(value);
    if (!first) first = ParseCallbackMarker(value);
  }
  if (!raise) return synthesized;
  const std::string kind = first ? first->kind : "middlepipe";
  const std::string middlepipe = first ? first->middlepipe : "";
  const std::string message =
      absl::StrCat(kind, " ", middlepipe, ": ", first ? first->event : "",
                   first && !first->detail.empty() ? absl::StrCat(" (", first->detail, ")") : "");
  if (kind == "circuit-breaker") throw CircuitOpenError(kind, middlepipe, message);
  if (kind == "rate-limit") throw RateLimitedError(kind, middlepipe, message);
  throw MiddlepipeError(kind, middlepipe, message);
}

void Hook::Mark(const fastpath::HeaderList& markers, HttpResponse& response) {
  for (const auto& [name, value] : markers) {
    response.headers.emplace_back(name, value);
    if (name == markers::kCallbackHeader) Fire(value);
  }
}

HttpResponse Hook::SendAfter(uint32_t delay_ms, const Destination& destination,
                             const HttpRequest& request, const Sender& send, uint64_t* latency_us) {
  // An injected delay stands for a slow service: it counts in the latency reported.
  const auto started = std::chrono::steady_clock::now();
  if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  HttpResponse response = send(destination, request);
  *latency_us = MicrosSince(started);
  return response;
}

std::optional<HttpResponse> Hook::CallFast(const std::string& service, const HttpRequest& request,
                                           const Sender& send) {
  fastpath::Request about;
  about.headers = &request.headers;
  about.applies_delay_and_destination = true;
  fastpath::Verdict verdict = fast_->OnRequest(service, about);
  switch (verdict.action) {
    case fastpath::Action::kAskAgent:
      return std::nullopt;
    case fastpath::Action::kNoChain:
      return send(Destination{service, {}}, request);
    case fastpath::Action::kRespond: {
      HttpResponse synthesized;
      synthesized.status = static_cast<int>(verdict.response.status);
      synthesized.headers = std::move(verdict.response.headers);
      synthesized.body = std::move(verdict.response.body);
      return Answer(verdict.markers, verdict.response.raise, std::move(synthesized));
    }
    case fastpath::Action::kContinue:
      break;
  }
  Destination destination{service, {}};
  if (!verdict.destination_service.empty() && verdict.destination_service != service) {
    destination.service = verdict.destination_service;
    for (const auto& [host, port] : verdict.destination_endpoints) {
      destination.endpoints.emplace_back(host, static_cast<int>(port));
    }
  }
  uint64_t latency_us = 0;
  HttpResponse response = SendAfter(verdict.delay_ms, destination, request, send, &latency_us);
  fast_->OnResponse(verdict, static_cast<uint32_t>(response.status), latency_us,
                    request.body.size(), response.body.size());
  Mark(verdict.markers, response);
  return response;
}

HttpResponse Hook::Call(const std::string& service, const HttpRequest& request,
                        const Sender& send) {
  if (fast_ != nullptr) {
    if (std::optional<HttpResponse> decided = CallFast(service, request, send)) return *std::move(decided);
  }
  v1::HookRequest on_request;
  on_request.set_request_id(next_request_id_++);
  v1::OnRequest* call = on_request.mutable_on_request();
  call->set_service(service);
  call->set_method(request.method);
  call->set_path(request.path);
  for (const auto& [name, value] : request.headers) {
    v1::Header* header = call->add_headers();
    header->set_name(name);
    header->set_value(value);
  }
  std::optional<std::string> reply_bytes = RoundTrip(on_request.SerializeAsString());
  v1::HookReply reply;
  if (!reply_bytes.has_value() || !reply.ParseFromString(*reply_bytes) || !reply.has_verdict()) {
    return send(Destination{service, {}}, request);  // fail open
  }
  const v1::Verdict& verdict = reply.verdict();

  if (verdict.action() == v1::ACTION_RESPOND) {
    HttpResponse synthesized;
    synthesized.status = static_cast<int>(verdict.response().status());
    synthesized.headers = Headers(verdict.response().headers());
    synthesized.body = verdict.response().body();
    return Answer(Headers(verdict.markers()), verdict.response().raise(), std::move(synthesized));
  }

  HttpRequest rewritten = request;
  for (const std::string& name : verdict.remove_headers()) {
    rewritten.headers.erase(std::remove_if(rewritten.headers.begin(), rewritten.headers.end(),
                                           [&](const auto& header) {
                                             return markers::HeaderNameEquals(header.first, name);
                                           }),
                            rewritten.headers.end());
  }
  for (const v1::Header& header : verdict.set_headers()) {
    rewritten.headers.emplace_back(header.name(), header.value());
  }
  Destination destination{service, {}};
  if (!verdict.destination_service().empty() && verdict.destination_service() != service) {
    destination.service = verdict.destination_service();
    for (const v1::Endpoint& endpoint : verdict.destination_endpoints()) {
      destination.endpoints.emplace_back(endpoint.host(), static_cast<int>(endpoint.port()));
    }
  }
  uint64_t latency_us = 0;
  HttpResponse response = SendAfter(verdict.delay_ms(), destination, rewritten, send, &latency_us);

  fastpath::HeaderList markers = Headers(verdict.markers());
  if (verdict.call_id() != 0) {
    v1::HookRequest on_response;
    on_response.set_request_id(next_request_id_++);
    v1::OnResponse* outcome = on_response.mutable_on_response();
    outcome->set_call_id(verdict.call_id());
    outcome->set_status(static_cast<uint32_t>(response.status));
    outcome->set_latency_us(latency_us);
    outcome->set_response_bytes(response.body.size());
    outcome->set_transport_error(response.transport_error);
    if (verdict.await_response_markers()) {
      std::optional<std::string> answer = RoundTrip(on_response.SerializeAsString());
      v1::HookReply answered;
      if (answer.has_value() && answered.ParseFromString(*answer) && answered.has_markers()) {
        fastpath::HeaderList more = Headers(answered.markers().markers());
        markers.insert(markers.end(), more.begin(), more.end());
      }
    } else {
      outcome->set_no_reply(true);  // nothing can come back: do not wait for the agent
      SendOnly(on_response.SerializeAsString());
    }
  }
  Mark(markers, response);
  return response;
}

HttpResponse Hook::Send(httplib::Client& client, const std::string& service,
                        const HttpRequest& request) {
  return Call(service, request, [&](const Destination& to, const HttpRequest& outgoing) {
    httplib::Request http;
    http.method = outgoing.method;
    http.path = outgoing.path;
    http.body = outgoing.body;
    for (const auto& [name, value] : outgoing.headers) http.headers.emplace(name, value);
    HttpResponse response;
    std::optional<httplib::Client> elsewhere;  // a traffic split chose another service
    if (to.service != service) {
      if (to.endpoints.empty()) {
        response.transport_error = "no endpoint of " + to.service + " is reachable";
        return response;
      }
      const auto& [host, port] = to.endpoints[next_endpoint_++ % to.endpoints.size()];
      elsewhere.emplace(host, port);
      elsewhere->set_tcp_nodelay(true);
    }
    httplib::Result result = elsewhere ? elsewhere->send(http) : client.send(http);
    if (!result) {
      response.transport_error = httplib::to_string(result.error());
      return response;
    }
    response.status = result->status;
    response.body = std::move(result->body);
    response.headers.reserve(result->headers.size());
    for (auto& [name, value] : result->headers) response.headers.emplace_back(name, std::move(value));
    return response;
  });
}

HttpResponse Hook::Get(httplib::Client& client, const std::string& service, const std::string& path) {
  HttpRequest request;
  request.path = path;
  return Send(client, service, request);
}

}  // namespace middlepipe

// The C++ client hook: hands each HTTP call of the app to its agent (DESIGN.md §5) and
// applies the verdict, so the app gets middlepipes by wrapping its calls:
//
//   middlepipe::Hook hook;                       // $MP_AGENT_SOCKET, or the default path
//   hook.On("open", [](const middlepipe::CallbackEvent& e) { ... });
//   httplib::Client orders("orders.internal", 8080);
//   try {
//     auto response = hook.Get(orders, "orders", "/orders/42");
//   } catch (const middlepipe::CircuitOpenError& e) { ... }
//
// Per call: the verdict, from the agent's fast-path segment in this process when it can
// decide (fastpath::Client: no system call), else OnRequest to the agent over its
// socket; a synthesized response or a typed error instead of the call when a filter
// says so; otherwise the app's own client does the I/O, and the outcome goes back to the
// agent (the segment's ring, or OnResponse, which may bring back marker headers). Every
// `Middlepipe-Callback` marker fires the callbacks registered for its event. When the
// agent is unreachable the hook lets calls through unfiltered (fail-open), says so once
// on its log stream, and tries the agent again after a second.
//
// Thread-safe: many app threads may call at once (each borrows a socket from a pool).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "clients/cpp/errors.h"
#include "common/markers.h"
#include "clients/cpp/fastpath/client.h"

namespace httplib {
class Client;
}

namespace middlepipe {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string path = "/";
  HttpHeaders headers;
  std::string body;
};

struct HttpResponse {
  int status = 0;  // 0: the call failed at the transport
  HttpHeaders headers;
  std::string body;
  std::string transport_error;
  // The first header of that name (case-insensitive), or "".
  std::string Header(const std::string& name) const;
};

// One `Middlepipe-Callback` marker (its syntax is common/markers.h's).
using CallbackEvent = markers::CallbackEvent;

// Where a call goes. Usually the service the app asked for; a traffic split may choose
// another, and then says where it can be reached.
struct Destination {
  std::string service;
  // (host, port) pairs of `service`; empty when it is the service the app asked for (the
  // app's own client knows where that is).
  std::vector<std::pair<std::string, int>> endpoints;
};

// Parses a Middlepipe-Callback value; nullopt if it is not one.
using markers::ParseCallbackMarker;

struct HookOptions {
  // Empty: $MP_AGENT_SOCKET, else /run/middlepipe/agent.sock.
  std::string socket_path;
  std::ostream* log = nullptr;  // nullptr: std::cerr
  std::chrono::milliseconds retry_after{1000};
  // Decide calls from the agent's shared-memory segment where it can (DESIGN.md §5);
  // false: every call asks the agent over the socket.
  bool fast_path = true;
  // Empty: $MP_AGENT_SHM, else the socket path + ".shm" (where the agent puts it).
  std::string shm_path;
};

class Hook {
 public:
  // Sends `request` to `to` and returns what came back; the app's own HTTP client does
  // this.
  using Sender = std::function<HttpResponse(const Destination& to, const HttpRequest& request)>;

  Hook();
  explicit Hook(HookOptions options);
  ~Hook();
  Hook(const Hook&) = delete;
  Hook& operator=(const Hook&) = delete;

  // Calls `callback` for every marker with this event ("*" for all events).
  void On(const std::string& event, std::function<void(const CallbackEvent&)> callback);

  // One call to `service` through its chain. Throws CircuitOpenError / RateLimitedError /
  // MiddlepipeError when a middlepipe stopped the call and has no fallback.
  HttpResponse Call(const std::string& service, const HttpRequest& request, const Sender& send);

  // Call() with a cpp-httplib client doing the I/O. A call a traffic split sends to another
  // service goes over a connection of its own to one of that service's endpoints (taken
  // in turn), with `client`'s timeouts left at cpp-httplib's defaults.
  HttpResponse Send(httplib::Client& client, const std::string& service, const HttpRequest& request);
  HttpResponse Get(httplib::Client& client, const std::string& service, const std::string& path);

  const std::string& socket_path() const { return socket_path_; }
  // The fast path's client core (decided()/asked() show how calls were decided), or
  // nullptr when HookOptions::fast_path is off.
  const fastpath::Client* fast_path() const { return fast_.get(); }

 private:
  // A round trip to the agent; nullopt when it is unreachable (the call then fails open).
  std::optional<std::string> RoundTrip(const std::string& request);
  // Sends a frame that gets no reply (OnResponse with no_reply), on a pooled connection.
  void SendOnly(const std::string& request);
  void Fire(const std::string& marker_value);
  // A middlepipe answered instead of the service: fires its callbacks, then throws the
  // kind's typed error when `raise`, or returns the synthesized response.
  HttpResponse Answer(const fastpath::HeaderList& markers, bool raise, HttpResponse synthesized);
  // Waits `delay_ms` (an injected fault), sends, and measures the latency from before
  // the wait.
  static HttpResponse SendAfter(uint32_t delay_ms, const Destination& destination,
                                const HttpRequest& request, const Sender& send, uint64_t* latency_us);
  // The call through the fast path; nullopt when the agent must be asked.
  std::optional<HttpResponse> CallFast(const std::string& service, const HttpRequest& request,
                                       const Sender& send);
  // Adds the markers to the response the app sees and fires their callbacks.
  void Mark(const fastpath::HeaderList& markers, HttpResponse& response);
  void Unreachable(const std::string& why);

  const std::string socket_path_;
  std::ostream* const log_;
  std::unique_ptr<fastpath::Client> fast_;  // nullptr: the socket decides every call
  const std::chrono::milliseconds retry_after_;
  std::atomic<uint64_t> next_request_id_{1};
  std::atomic<uint64_t> next_endpoint_{0};

  std::mutex mu_;
  std::vector<int> idle_;  // connected sockets not in use
  std::chrono::steady_clock::time_point retry_at_;
  bool warned_ = false;
  std::map<std::string, std::vector<std::function<void(const CallbackEvent&)>>> callbacks_;
};

}  // namespace middlepipe

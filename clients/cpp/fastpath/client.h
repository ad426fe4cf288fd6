// The client core's C++ API (DESIGN.md §5): evaluates a call's verdict from the agent's
// fast-path segment, in the app's own process, and hands the completed call to the
// agent through the segment's ring. No system call on the way.
//
//   fastpath::Client core;                    // $MP_AGENT_SHM, or the hook socket + ".shm"
//   fastpath::Verdict verdict = core.OnRequest("orders", request);
//   switch (verdict.action) {
//     case Action::kAskAgent:  use the socket protocol for this call (hook.proto)
//     case Action::kNoChain:   send it; nothing to report
//     case Action::kRespond:   hand the app verdict.response (or raise when .raise)
//     case Action::kContinue:  wait verdict.delay_ms, send it (to verdict.destination_*
//                              when set), then core.OnResponse(verdict, status, latency...)
//   }
//
// kAskAgent is the answer whenever the fast path cannot be sure: no segment (an agent
// without one, or none at all), a segment whose agent stopped beating (said once on the
// log), a binding the agent marked as needing the socket, a program whose validity
// ended. The socket path decides then, so both give the same verdicts.
//
// Thread-safe; one per process is enough.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "fastpath/program.h"
#include "fastpath/segment.h"

namespace middlepipe::fastpath {

enum class Action {
  kNoChain,   // no middlepipe on this service: send, report nothing
  kContinue,  // send, then OnResponse
  kRespond,   // do not send: the response is the answer
  kAskAgent,  // the fast path cannot decide: use the socket protocol
};

// What the client core knows of the call it decides.
struct Request {
  // The request's headers (a sticky traffic split and a keyed rate limit read one);
  // nullptr when the caller does not give them: then such chains ask the agent.
  const HeaderList* headers = nullptr;
  // The caller waits Verdict::delay_ms before sending and sends to
  // Verdict::destination_*. A caller that does not (an older hook) gets kAskAgent for
  // chains with a fault-inject or traffic-split, whose socket answers it handles.
  bool applies_delay_and_destination = false;
};

struct Verdict {
  Action action = Action::kAskAgent;
  uint64_t epoch = 0;
  // kContinue: wait this long before sending (fault-inject; the wait counts in the
  // latency reported, as a slow service's would).
  uint32_t delay_ms = 0;
  // kContinue: send to this service, at these endpoints (host, port), instead of the one
  // asked for (a traffic split); empty: unchanged.
  std::string destination_service;
  std::vector<std::pair<std::string, uint32_t>> destination_endpoints;
  // kContinue and kRespond: markers for the response the app sees (Middlepipe-Epoch last).
  HeaderList markers;
  // kRespond: the response (markers included in its headers).
  Response response;
  // For OnResponse.
  std::shared_ptr<Segment> segment;
  uint64_t binding_id = 0;
  uint8_t filter_count = 0;
  uint8_t choices[kChoiceFilters] = {};
  uint16_t key_slot = 0;  // ObservationData::key_slot
};

struct ClientOptions {
  // Empty: $MP_AGENT_SHM, else $MP_AGENT_SOCKET + ".shm", else
  // /run/middlepipe/agent.sock.shm (the agent's default).
  std::string path;
  // Microseconds on CLOCK_MONOTONIC; tests pass a fake.
  std::function<int64_t()> now_us;
  // A segment whose heartbeat is older than this is stale (its agent is gone or hung).
  int64_t stale_after_ms = 2000;
  // How often to look for a (new) segment while there is none usable.
  int64_t retry_after_ms = 1000;
  // One line per change of state (the segment lost, found again); default stderr.
  std::function<void(const std::string&)> log;
  // Seeds the rolls of fault-inject and unkeyed traffic splits; 0: from the system.
  uint64_t seed = 0;
};

// The path a client uses when none is given (see ClientOptions::path).
std::string DefaultSegmentPath();

class Client {
 public:
  Client();
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Verdict OnRequest(const std::string& service, const Request& request = Request());
  // Reports a call OnRequest answered kContinue: its status (0 = transport failure),
  // latency from just before sending, and bytes. Never blocks; a full ring drops it.
  void OnResponse(const Verdict& verdict, uint32_t status, uint64_t latency_us,
                  uint64_t request_bytes = 0, uint64_t response_bytes = 0);

  // Whether a usable segment is attached now.
  bool attached();
  // Observations the segment's ring turned away because it was full (every process's);
  // 0 without a segment.
  uint64_t dropped();
  const std::string& path() const { return options_.path; }
  // Calls OnRequest decided in-process, and calls it said to ask the agent about.
  uint64_t decided() const { return decided_.load(std::memory_order_relaxed); }
  uint64_t asked() const { return asked_.load(std::memory_order_relaxed); }

 private:
  struct Binding {
    uint64_t directory_seq = 0;
    int slot = -1;  // -1: no binding for the service
    uint64_t slot_seq = 0;
    std::shared_ptr<const Program> program;
  };

  Verdict Decide(const std::string& service, const Request& request);
  // A uniform number in [0, 1), lock-free (a splitmix64 stream shared by the threads).
  double Roll();
  // The attached segment if it is usable now (attaching or re-attaching as needed).
  std::shared_ptr<Segment> Usable(int64_t now_ms);
  // The service's program now (nullptr program: no binding); false if undecidable.
  bool Lookup(Segment& segment, const std::string& service, Binding* binding);
  void Say(const std::string& line);

  ClientOptions options_;
  std::mutex mu_;
  std::shared_ptr<Segment> segment_;
  int64_t next_attach_ms_ = 0;
  bool said_unusable_ = false;
  std::map<std::string, Binding> bindings_;
  std::atomic<uint64_t> decided_{0};
  std::atomic<uint64_t> asked_{0};
  std::atomic<uint64_t> random_state_{0};
};

}  // namespace middlepipe::fastpath

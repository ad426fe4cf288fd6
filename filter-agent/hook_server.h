// The agent's hook socket (proto/hook.proto over common/frame_codec.h): client hooks in
// the app call OnRequest before a request and OnResponse after it, and get verdicts and
// marker headers from the app's committed chains.
//
// A call keeps the ChainSet it started on until its OnResponse, so a request is never
// half old epoch, half new. Each connection is served by a thread of its own (an app
// holds a few connections, one per client thread or a small pool), at most
// kMaxConnections at once: past that a connection gets a HookError and is closed, so an
// app that leaks connections cannot make the agent spawn threads without bound (the
// hooks fall open, the fast path still decides). Bad input never
// crashes or hangs the agent: a frame that does not parse gets a HookError reply and the
// connection is closed; an oversized length is refused the same way before its payload
// is read; a connection that ends mid-frame is closed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "common/logger.h"
#include "proto/hook.pb.h"
#include "scheduler/chain_table.h"

namespace middlepipe::agent {

class HookServer {
 public:
  // Calls whose OnResponse never came (the app died mid-call) are forgotten after this.
  static constexpr std::chrono::seconds kCallExpiry{120};

  // Not owned; must outlive the server.
  HookServer(const scheduler::ChainTable* chains, Logger* logger, std::string agent_version);
  ~HookServer();

  static constexpr size_t kMaxConnections = 256;

  // Listens on `socket_path` (a stale socket file is replaced; the directory is created).
  // With `app_uid` (>= 0) only that user (and root, the agent) may connect: the socket
  // is the app user's, mode 0600, in a directory others may enter but not list (0711).
  // Without it, every user of the container may connect (0666), as before.
  absl::Status Start(const std::string& socket_path, int64_t app_uid = -1);
  // Stops accepting, lets connections whose app closed them finish what they read (up
  // to `drain_grace`), closes the rest, joins every thread.
  void Stop();
  void set_drain_grace(std::chrono::milliseconds grace) { drain_grace_ = grace; }

  uint64_t requests_handled() const { return requests_handled_.load(); }
  // Connections refused because kMaxConnections were open.
  uint64_t connections_refused() const { return connections_refused_.load(); }
  size_t calls_in_flight() const;
  // OnResponse frames sent without waiting for a reply that could not be handled (e.g.
  // an unknown call_id).
  uint64_t unanswered_errors() const { return unanswered_errors_.load(); }

  // Handles one request (the socket-free core; tests call it directly).
  // The reply to send; none for an OnResponse sent with no_reply.
  std::optional<v1::HookReply> Handle(const v1::HookRequest& request);

 private:
  struct InFlight {
    std::shared_ptr<const scheduler::ChainSet> chains;
    const scheduler::RequestChain* chain;
    scheduler::RequestCall call;
    size_t request_markers = 0;
    std::chrono::steady_clock::time_point started;
  };

  void AcceptLoop();
  void Serve(int fd);
  v1::HookReply OnRequest(uint64_t request_id, const v1::OnRequest& request);
  v1::HookReply OnResponse(uint64_t request_id, const v1::OnResponse& response);

  const scheduler::ChainTable* const chains_;
  Logger* const logger_;
  const std::string agent_version_;

  std::atomic<uint64_t> connections_refused_{0};
  int listen_fd_ = -1;
  std::string socket_path_;
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};

  // Connection threads are detached (so a finished one frees its stack at once); Stop()
  // waits until none is left.
  std::mutex connections_mu_;
  std::condition_variable connections_changed_;
  std::chrono::milliseconds drain_grace_{1000};
  std::set<int> connection_fds_;
  size_t connection_threads_ = 0;

  mutable std::mutex calls_mu_;
  std::map<uint64_t, InFlight> calls_;
  std::atomic<uint64_t> next_call_id_{1};
  std::atomic<uint64_t> requests_handled_{0};
  std::atomic<uint64_t> unanswered_errors_{0};
};

}  // namespace middlepipe::agent

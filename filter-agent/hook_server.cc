#include "filter-agent/hook_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/frame_codec.h"
#include "common/markers.h"

namespace middlepipe::agent {
namespace {

v1::HookReply Error(uint64_t request_id, const std::string& message) {
  v1::HookReply reply;
  reply.set_request_id(request_id);
  reply.mutable_error()->set_message(message);
  return reply;
}

v1::Header EpochMarker(uint64_t epoch) {
  v1::Header marker;
  marker.set_name(markers::kEpochHeader);
  marker.set_value(std::to_string(epoch));
  return marker;
}

}  // namespace

HookServer::HookServer(const scheduler::ChainTable* chains, Logger* logger,
                       std::string agent_version)
    : chains_(chains), logger_(logger), agent_version_(std::move(agent_version)) {}

HookServer::~HookServer() { Stop(); }

absl::Status HookServer::Start(const std::string& socket_path, int64_t app_uid) {
  sockaddr_un address{};
  if (socket_path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("hook socket path too long: ", socket_path));
  }
  const std::string directory = socket_path.substr(0, socket_path.rfind('/'));
  if (!directory.empty()) {
    if (absl::Status made = MakeDirectories(directory, app_uid >= 0 ? 0711 : 0755); !made.ok()) {
      return made;
    }
    // MakeDirectories leaves an existing directory as it is; the mode is the contract.
    chmod(directory.c_str(), app_uid >= 0 ? 0711 : 0755);
  }
  unlink(socket_path.c_str());  // one agent per container: a leftover file is stale
  listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return absl::ErrnoToStatus(errno, "hook socket");
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_path.c_str(), sizeof(address.sun_path) - 1);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      listen(listen_fd_, 128) != 0) {
    absl::Status error = absl::ErrnoToStatus(errno, absl::StrCat("hook socket ", socket_path));
    close(listen_fd_);
    listen_fd_ = -1;
    return error;
  }
  if (app_uid >= 0) {
    if (chown(socket_path.c_str(), static_cast<uid_t>(app_uid), static_cast<gid_t>(-1)) != 0 ||
        chmod(socket_path.c_str(), 0600) != 0) {
      absl::Status error = absl::ErrnoToStatus(
          errno, absl::StrCat("hook socket ", socket_path, ": cannot hand it to uid ", app_uid));
      close(listen_fd_);
      listen_fd_ = -1;
      return error;
    }
  } else {
    chmod(socket_path.c_str(), 0666);  // the app's user is not known: every user may call
  }
  socket_path_ = socket_path;
  acceptor_ = std::thread([this] { AcceptLoop(); });
  return absl::OkStatus();
}

void HookServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (listen_fd_ >= 0) shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  std::unique_lock<std::mutex> lock(connections_mu_);
  // Connections whose app has gone end by themselves once their reader has taken what
  // the app sent last (its final OnResponse must count); the others are woken after a
  // grace.
  connections_changed_.wait_for(lock, drain_grace_, [this] { return connection_threads_ == 0; });
  for (int fd : connection_fds_) shutdown(fd, SHUT_RDWR);  // wakes their readers
  connections_changed_.wait(lock, [this] { return connection_threads_ == 0; });
  lock.unlock();
  if (!socket_path_.empty()) unlink(socket_path_.c_str());
}

void HookServer::AcceptLoop() {
  while (!stopping_.load()) {
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (!stopping_.load()) logger_->Error("hook socket accept: ", std::strerror(errno));
      return;
    }
    std::lock_guard<std::mutex> lock(connections_mu_);
    if (stopping_.load()) {
      close(fd);
      return;
    }
    if (connection_threads_ >= kMaxConnections) {
      if (connections_refused_++ == 0) {
        logger_->Warning("hook socket: ", kMaxConnections, " connections are open; refusing more "
                         "(said once; the app's hook falls open for those calls)");
      }
      WriteFrame(fd, Error(0, absl::StrCat("the agent serves at most ", kMaxConnections,
                                           " hook connections at once"))
                         .SerializeAsString())
          .IgnoreError();
      close(fd);
      continue;
    }
    connection_fds_.insert(fd);
    ++connection_threads_;
    std::thread([this, fd] { Serve(fd); }).detach();
  }
}

void HookServer::Serve(int fd) {
  std::string payload;
  while (true) {
    absl::Status read = ReadFrame(fd, &payload);
    if (!read.ok()) {
      if (absl::IsOutOfRange(read)) {
        WriteFrame(fd, Error(0, std::string(read.message())).SerializeAsString()).IgnoreError();
      }
      if (!absl::IsNotFound(read) && !stopping_.load()) {
        logger_->Warning("hook connection closed: ", read.message());
      }
      break;
    }
    v1::HookRequest request;
    if (!request.ParseFromString(payload)) {
      WriteFrame(fd, Error(0, "frame is not a HookRequest").SerializeAsString()).IgnoreError();
      logger_->Warning("hook connection closed: frame is not a HookRequest");
      break;
    }
    std::optional<v1::HookReply> reply = Handle(request);
    if (reply.has_value() && !WriteFrame(fd, reply->SerializeAsString()).ok()) break;
  }
  std::lock_guard<std::mutex> lock(connections_mu_);
  connection_fds_.erase(fd);
  close(fd);
  --connection_threads_;
  connections_changed_.notify_all();
}

std::optional<v1::HookReply> HookServer::Handle(const v1::HookRequest& request) {
  switch (request.call_case()) {
    case v1::HookRequest::kOnRequest:
      return OnRequest(request.request_id(), request.on_request());
    case v1::HookRequest::kOnResponse: {
      v1::HookReply reply = OnResponse(request.request_id(), request.on_response());
      if (!request.on_response().no_reply()) return reply;
      if (reply.has_error()) ++unanswered_errors_;  // the hook is not listening: count it
      return std::nullopt;
    }
    case v1::HookRequest::kPing: {
      v1::HookReply reply;
      reply.set_request_id(request.request_id());
      reply.mutable_pong()->set_agent_version(agent_version_);
      std::shared_ptr<const scheduler::ChainSet> current = chains_->Current();
      reply.mutable_pong()->set_epoch(current ? current->epoch() : 0);
      return reply;
    }
    case v1::HookRequest::CALL_NOT_SET:
      break;
  }
  return Error(request.request_id(), "HookRequest has no call");
}

v1::HookReply HookServer::OnRequest(uint64_t request_id, const v1::OnRequest& request) {
  ++requests_handled_;
  v1::HookReply reply;
  reply.set_request_id(request_id);
  v1::Verdict* verdict = reply.mutable_verdict();
  verdict->set_action(v1::ACTION_CONTINUE);
  std::shared_ptr<const scheduler::ChainSet> chains = chains_->Current();
  const scheduler::RequestChain* chain = chains ? chains->Find(request.service()) : nullptr;
  if (chain == nullptr) return reply;  // no filters: straight through, nothing to report

  InFlight flight{chains, chain, {}, 0, std::chrono::steady_clock::now()};
  flight.call.request = request;
  verdict->set_epoch(chains->epoch());
  const scheduler::FilterStatus status = chain->OnRequest(flight.call);
  for (const v1::Header& marker : flight.call.markers) *verdict->add_markers() = marker;
  *verdict->add_markers() = EpochMarker(chains->epoch());
  if (status == scheduler::FilterStatus::kRespond) {
    verdict->set_action(v1::ACTION_RESPOND);
    *verdict->mutable_response() = flight.call.response;
    *verdict->mutable_response()->add_headers() = EpochMarker(chains->epoch());
    return reply;  // no OnResponse follows a synthesized response
  }
  const uint64_t call_id = next_call_id_++;
  verdict->set_call_id(call_id);
  verdict->set_await_response_markers(flight.call.response_may_mark);
  verdict->set_delay_ms(flight.call.delay_ms);
  if (!flight.call.destination_service.empty()) {
    verdict->set_destination_service(flight.call.destination_service);
    for (const v1::Endpoint& endpoint : flight.call.destination_endpoints) {
      *verdict->add_destination_endpoints() = endpoint;
    }
  }
  flight.request_markers = flight.call.markers.size();
  std::lock_guard<std::mutex> lock(calls_mu_);
  // Forget calls whose app never reported back, oldest first (ids grow with time).
  const auto now = std::chrono::steady_clock::now();
  while (!calls_.empty() && now - calls_.begin()->second.started > kCallExpiry) {
    calls_.erase(calls_.begin());
  }
  calls_.emplace(call_id, std::move(flight));
  return reply;
}

v1::HookReply HookServer::OnResponse(uint64_t request_id, const v1::OnResponse& response) {
  v1::HookReply reply;
  reply.set_request_id(request_id);
  reply.mutable_markers();
  if (response.call_id() == 0) return reply;  // the request had no chain
  InFlight flight;
  {
    std::lock_guard<std::mutex> lock(calls_mu_);
    auto found = calls_.find(response.call_id());
    if (found == calls_.end()) {
      return Error(request_id, absl::StrCat("unknown call_id ", response.call_id(),
                                            " (answered already, or expired)"));
    }
    flight = std::move(found->second);
    calls_.erase(found);
  }
  flight.call.status = response.status();
  flight.call.latency_us = response.latency_us();
  flight.call.transport_error = response.transport_error();
  flight.chain->OnResponse(flight.call);
  for (size_t i = flight.request_markers; i < flight.call.markers.size(); ++i) {
    *reply.mutable_markers()->add_markers() = flight.call.markers[i];
  }
  return reply;
}

size_t HookServer::calls_in_flight() const {
  std::lock_guard<std::mutex> lock(calls_mu_);
  return calls_.size();
}

}  // namespace middlepipe::agent

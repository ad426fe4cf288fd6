#include "filter-agent/packet_path.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

// The order matters: libnetfilter_queue's header needs the netlink and netfilter types.
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "absl/strings/str_cat.h"

namespace middlepipe::agent {
namespace {

using scheduler::packet::Endpoint;
using scheduler::packet::Resolution;
using scheduler::packet::Side;

// Room for one GSO super-packet (64 KiB) and its netlink headers.
constexpr size_t kReceiveBuffer = (1 << 17);
// Packets read before the accepted ones are answered with one batch verdict.
constexpr int kBurst = 64;
// Bytes copied per packet when no filter reads payload: IPv4 + TCP headers with options.
constexpr int kHeadersOnly = 120;

uint64_t Pack(uint32_t address, uint16_t port) { return uint64_t{address} << 16 | port; }

int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// An endpoint's host as an IPv4 address in host order: dotted, or a name to look up.
absl::StatusOr<uint32_t> ResolveHost(const std::string& host) {
  in_addr parsed{};
  if (inet_pton(AF_INET, host.c_str(), &parsed) == 1) return ntohl(parsed.s_addr);
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* found = nullptr;
  if (const int error = getaddrinfo(host.c_str(), nullptr, &hints, &found); error != 0) {
    return absl::NotFoundError(absl::StrCat("cannot resolve ", host, ": ", gai_strerror(error)));
  }
  const uint32_t address =
      ntohl(reinterpret_cast<const sockaddr_in*>(found->ai_addr)->sin_addr.s_addr);
  freeaddrinfo(found);
  return address;
}

absl::Status Errno(absl::string_view what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PacketPath>> PacketPath::Open(PacketPathOptions options,
                                                             Logger* logger) {
  absl::StatusOr<bool> host = InHostNetworkNamespace();
  if (!host.ok()) return host.status();
  if (*host) {
    return absl::FailedPreconditionError(
        "the agent runs in the host's network namespace; packet filters run only in a "
        "container's own");
  }
  mnl_socket* socket = mnl_socket_open(NETLINK_NETFILTER);
  if (socket == nullptr) return Errno("netlink socket");
  if (mnl_socket_bind(socket, 0, MNL_SOCKET_AUTOPID) < 0) {
    absl::Status error = Errno("netlink bind");
    mnl_socket_close(socket);
    return error;
  }
  std::unique_ptr<PacketPath> path(new PacketPath(options, logger, socket));
  // Bind the queue, with an acknowledgement: EPERM without CAP_NET_ADMIN, EBUSY when
  // another program has the queue.
  char buffer[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* bind = nfq_nlmsg_put(buffer, NFQNL_MSG_CONFIG, options.queue);
  nfq_nlmsg_cfg_put_cmd(bind, AF_INET, NFQNL_CFG_CMD_BIND);
  if (absl::Status bound = path->Send(bind, true, absl::StrCat("binding NFQUEUE ", options.queue));
      !bound.ok()) {
    return bound;
  }
  if (absl::Status configured = path->Configure(false, true, true); !configured.ok()) {
    return configured;
  }
  // Larger socket buffers ride out bursts; losing a message must not wedge the socket.
  const int size = 8 << 20;
  setsockopt(mnl_socket_get_fd(socket), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size));
  const int on = 1;
  setsockopt(mnl_socket_get_fd(socket), SOL_NETLINK, NETLINK_NO_ENOBUFS, &on, sizeof(on));
  // What an agent killed before it cleaned up left behind.
  if (absl::Status cleared = path->rules_.Clear(); !cleared.ok()) {
    logger->Warning("packet path: could not remove old rules: ", cleared.message());
  }
  return path;
}

PacketPath::PacketPath(PacketPathOptions options, Logger* logger, mnl_socket* socket)
    : options_(options),
      logger_(logger),
      socket_(socket),
      port_id_(mnl_socket_get_portid(socket)),
      rules_(options.queue),
      engine_(options.engine, this) {}

PacketPath::~PacketPath() {
  Stop();
  if (socket_ != nullptr) mnl_socket_close(socket_);
}

absl::Status PacketPath::Configure(bool needs_payload, bool fail_open, bool want_ack) {
  char buffer[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* message = nfq_nlmsg_put(buffer, NFQNL_MSG_CONFIG, options_.queue);
  nfq_nlmsg_cfg_put_params(message, NFQNL_COPY_PACKET, needs_payload ? 0xffff : kHeadersOnly);
  const uint32_t flags = NFQA_CFG_F_GSO | (fail_open ? NFQA_CFG_F_FAIL_OPEN : 0);
  mnl_attr_put_u32(message, NFQA_CFG_FLAGS, htonl(flags));
  mnl_attr_put_u32(message, NFQA_CFG_MASK, htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
  return Send(message, want_ack, "NFQUEUE config");
}

absl::Status PacketPath::Send(nlmsghdr* message, bool want_ack, absl::string_view what) {
  if (want_ack) message->nlmsg_flags |= NLM_F_ACK;
  if (mnl_socket_sendto(socket_, message, message->nlmsg_len) < 0) return Errno(what);
  if (!want_ack) return absl::OkStatus();
  char buffer[MNL_SOCKET_BUFFER_SIZE];
  const ssize_t got = mnl_socket_recvfrom(socket_, buffer, sizeof(buffer));
  if (got < 0 || mnl_cb_run(buffer, static_cast<size_t>(got), 0, port_id_, nullptr, nullptr) < 0) {
    return Errno(what);
  }
  return absl::OkStatus();
}

void PacketPath::Start() {
  thread_ = std::thread([this] { Run(); });
}

absl::Status PacketPath::Apply(const scheduler::ChainSet& chains) {
  std::lock_guard<std::mutex> control(control_mu_);
  if (stopped_) return absl::FailedPreconditionError("the packet path is stopped");
  auto routes = std::make_shared<Routes>();
  std::vector<QueuedEndpoint> queued;
  absl::Status first = absl::OkStatus();
  for (const auto& [service, chain] : chains.packet_chains()) {
    if (chain->endpoints().empty()) {
      first.Update(absl::FailedPreconditionError(
          absl::StrCat(service, ": no known address, so no packets to filter yet")));
    }
    for (const v1::Endpoint& endpoint : chain->endpoints()) {
      absl::StatusOr<uint32_t> address = ResolveHost(endpoint.host());
      if (!address.ok()) {
        first.Update(absl::Status(address.status().code(),
                                  absl::StrCat(service, ": ", address.status().message())));
        continue;
      }
      const auto port = static_cast<uint16_t>(endpoint.port());
      routes->chains[Pack(*address, port)] = chain;
      queued.push_back({scheduler::packet::AddressToString(*address), port, chain->fail_closed()});
    }
    routes->fail_closed = routes->fail_closed || chain->fail_closed();
    routes->needs_payload = routes->needs_payload || chain->needs_payload();
  }
  bool changed_mode = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    changed_mode = routes->needs_payload != routes_->needs_payload ||
                   routes->fail_closed != routes_->fail_closed;
    routes_ = routes;
  }
  if (changed_mode) {
    // Unacknowledged: the queue thread reads the socket; an error comes back to it.
    first.Update(Configure(routes->needs_payload, !routes->fail_closed, false));
  }
  first.Update(rules_.Apply(queued));
  return first;
}

Resolution PacketPath::Resolve(const scheduler::packet::TcpPacket& packet) const {
  const Routes& routes = *burst_routes_;
  auto to = routes.chains.find(Pack(packet.destination.address, packet.destination.port));
  if (to != routes.chains.end()) return {to->second, Side::kClient};
  auto from = routes.chains.find(Pack(packet.source.address, packet.source.port));
  if (from != routes.chains.end()) return {from->second, Side::kServer};
  return {};
}

void PacketPath::Run() {
  std::vector<char> buffer(kReceiveBuffer);
  const int fd = mnl_socket_get_fd(socket_);
  int64_t last_expiry = SteadyMillis();
  bool said_error = false;
  while (!stop_.load()) {
    pollfd ready{fd, POLLIN, 0};
    poll(&ready, 1, 100);
    {
      std::lock_guard<std::mutex> lock(mu_);
      burst_routes_ = routes_;
    }
    for (int i = 0; i < kBurst; ++i) {
      const ssize_t got = recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT);
      if (got < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && !said_error) {
          logger_->Warning("packet path: reading the queue: ", std::strerror(errno));
          said_error = true;
        }
        break;
      }
      const int result = mnl_cb_run(
          buffer.data(), static_cast<size_t>(got), 0, port_id_,
          [](const nlmsghdr* message, void* self) {
            static_cast<PacketPath*>(self)->Handle(message);
            return MNL_CB_OK;
          },
          this);
      if (result < 0 && !said_error) {
        logger_->Warning("packet path: the kernel refused a queue request: ", std::strerror(errno));
        said_error = true;
      }
    }
    if (accept_pending_) {
      SendVerdict(accept_up_to_, NF_ACCEPT, true);
      accept_pending_ = false;
    }
    const int64_t now = SteadyMillis();
    if (now - last_expiry >= 1000) {
      engine_.Expire(now);
      last_expiry = now;
    }
    flows_.store(engine_.stats().flows_active);
  }
}

void PacketPath::Handle(const nlmsghdr* message) {
  nlattr* attributes[NFQA_MAX + 1] = {};
  if (nfq_nlmsg_parse(message, attributes) < 0 || attributes[NFQA_PACKET_HDR] == nullptr) return;
  const auto* header =
      static_cast<const nfqnl_msg_packet_hdr*>(mnl_attr_get_payload(attributes[NFQA_PACKET_HDR]));
  const uint32_t id = ntohl(header->packet_id);
  absl::string_view captured;
  if (attributes[NFQA_PAYLOAD] != nullptr) {
    captured = absl::string_view(static_cast<const char*>(mnl_attr_get_payload(attributes[NFQA_PAYLOAD])),
                                 mnl_attr_get_payload_len(attributes[NFQA_PAYLOAD]));
  }
  packets_.fetch_add(1, std::memory_order_relaxed);
  absl::StatusOr<scheduler::packet::Verdict> verdict = engine_.Process(captured, SteadyMillis());
  bool drop = false;
  if (!verdict.ok()) {
    // Nothing to inspect it with: the fail-open/fail-closed choice of the bound chains.
    unparsable_.fetch_add(1, std::memory_order_relaxed);
    drop = burst_routes_->fail_closed;
  } else {
    drop = *verdict == scheduler::packet::Verdict::kDrop;
  }
  if (drop) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    SendVerdict(id, NF_DROP, false);
    return;
  }
  accept_up_to_ = accept_pending_ ? std::max(accept_up_to_, id) : id;
  accept_pending_ = true;
}

void PacketPath::SendVerdict(uint32_t id, int verdict, bool batch) {
  char buffer[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* message =
      nfq_nlmsg_put(buffer, batch ? NFQNL_MSG_VERDICT_BATCH : NFQNL_MSG_VERDICT, options_.queue);
  nfq_nlmsg_verdict_put(message, static_cast<int>(id), verdict);
  if (mnl_socket_sendto(socket_, message, message->nlmsg_len) >= 0) return;
  // The packets stay queued (the kernel lets later ones pass once the queue is full, when
  // fail-open): counted, and said the first time.
  if (verdicts_lost_.fetch_add(1) == 0) {
    logger_->Warning("packet path: a verdict could not be sent: ", std::strerror(errno));
  }
}

void PacketPath::Stop() {
  std::lock_guard<std::mutex> control(control_mu_);
  if (stopped_) return;
  stopped_ = true;
  if (absl::Status cleared = rules_.Clear(); !cleared.ok()) {
    logger_->Warning("packet path: removing the rules: ", cleared.message());
  }
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  // Packets still queued pass (or, fail-closed, the kernel drops them when we unbind).
  if (accept_pending_) SendVerdict(accept_up_to_, NF_ACCEPT, true);
  engine_.EndAll(scheduler::packet::EndReason::kShutdown);
  char buffer[MNL_SOCKET_BUFFER_SIZE];
  nlmsghdr* unbind = nfq_nlmsg_put(buffer, NFQNL_MSG_CONFIG, options_.queue);
  nfq_nlmsg_cfg_put_cmd(unbind, AF_INET, NFQNL_CFG_CMD_UNBIND);
  mnl_socket_sendto(socket_, unbind, unbind->nlmsg_len);
}

std::string PacketPath::Summary() const {
  return absl::StrCat(packets_.load(), " packets, ", dropped_.load(), " dropped, ",
                      unparsable_.load(), " unparsable, ", flows_.load(), " flows",
                      verdicts_lost_.load() == 0
                          ? ""
                          : absl::StrCat(", ", verdicts_lost_.load(), " verdicts not sent"));
}

}  // namespace middlepipe::agent

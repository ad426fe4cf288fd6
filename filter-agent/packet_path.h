// The agent's packet level (DESIGN.md §5): an NFQUEUE the agent owns, the iptables rules
// that send the bound services' traffic to it (netfilter_rules.h), and the flow engine
// that runs the packet chains of the committed epoch on what arrives.
//
// The queue is read with libmnl/libnetfilter_queue on one thread. It asks the kernel for
// GSO super-packets (NFQA_CFG_F_GSO: one 64 KiB packet instead of ~44 segments), copies
// only the headers when no filter of any chain reads payload, reads every packet that is
// waiting before answering, and answers the accepted ones with one batch verdict (drops
// are answered one by one, at once). Unless a chain asks for fail-closed, the rules carry
// --queue-bypass and the queue NFQA_CFG_F_FAIL_OPEN: a dead agent or a full queue lets
// traffic pass instead of cutting the app off.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "common/logger.h"
#include "filter-agent/netfilter_rules.h"
#include "scheduler/chain_table.h"
#include "scheduler/packet/flow_engine.h"

struct mnl_socket;
struct nlmsghdr;

namespace middlepipe::agent {

struct PacketPathOptions {
  // The NFQUEUE number (per network namespace).
  uint16_t queue = 4242;
  scheduler::packet::EngineOptions engine;
};

class PacketPath : public scheduler::packet::ChainResolver {
 public:
  // Binds the queue; the error says why the agent cannot run packet filters (no
  // CAP_NET_ADMIN, the host's network namespace, the queue taken by another program).
  static absl::StatusOr<std::unique_ptr<PacketPath>> Open(PacketPathOptions options,
                                                          Logger* logger);
  ~PacketPath() override;  // Stop()

  void Start();
  // Takes the packet chains of a committed epoch: flows move onto them with their next
  // packet, and the rules queue exactly their services' traffic. Errors name what failed.
  absl::Status Apply(const scheduler::ChainSet& chains);
  // Removes the rules, ends every flow (its filters see conn_end) and unbinds the queue.
  void Stop();

  // "N packets, D dropped, U unparsable, F flows[, V verdicts not sent]"
  std::string Summary() const;
  uint64_t packets() const { return packets_.load(); }

  scheduler::packet::Resolution Resolve(const scheduler::packet::TcpPacket& packet) const override;

 private:
  // Where each bound service endpoint's traffic goes.
  struct Routes {
    std::unordered_map<uint64_t, std::shared_ptr<const scheduler::packet::PacketChain>> chains;
    bool fail_closed = false;
    bool needs_payload = false;
  };

  PacketPath(PacketPathOptions options, Logger* logger, mnl_socket* socket);
  void Run();
  void Handle(const nlmsghdr* message);
  absl::Status Configure(bool needs_payload, bool fail_open, bool want_ack);
  // Sends a request to the queue; with `want_ack`, waits for the kernel's answer (errors
  // name `what`, e.g. EPERM without CAP_NET_ADMIN).
  absl::Status Send(nlmsghdr* message, bool want_ack, absl::string_view what);
  void SendVerdict(uint32_t id, int verdict, bool batch);

  const PacketPathOptions options_;
  Logger* const logger_;
  mnl_socket* socket_;
  uint32_t port_id_ = 0;
  NetfilterRules rules_;
  scheduler::packet::FlowEngine engine_;

  std::mutex mu_;  // guards routes_
  std::shared_ptr<const Routes> routes_ = std::make_shared<Routes>();
  // The queue thread's copy for the packets of one burst.
  std::shared_ptr<const Routes> burst_routes_;
  uint32_t accept_up_to_ = 0;
  bool accept_pending_ = false;

  std::atomic<bool> stop_{false};
  std::thread thread_;
  // Apply (the control thread, on commit) and Stop (shutdown) never overlap, and nothing
  // is installed after Stop.
  std::mutex control_mu_;
  bool stopped_ = false;
  std::atomic<uint64_t> packets_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> unparsable_{0};
  std::atomic<uint64_t> flows_{0};
  std::atomic<uint64_t> verdicts_lost_{0};
};

}  // namespace middlepipe::agent

// The iptables rules that send the bound services' traffic to the agent's NFQUEUE, in the
// agent's own network namespace (the container's), never the host's: one chain of the
// agent's own (MP-Q<queue>), jumped to from OUTPUT (app -> service) and INPUT
// (service -> app), replaced as a whole by iptables-restore so a change is atomic.
// Rules go when no packet filter needs them any more and when the agent exits.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace middlepipe::agent {

struct QueuedEndpoint {
  std::string address;  // IPv4, dotted
  uint16_t port = 0;
  // No --queue-bypass: while no program listens on the queue, the kernel drops the
  // traffic instead of letting it pass uninspected.
  bool fail_closed = false;
};

// Whether this process runs in the host's network namespace (that of PID 1), where the
// agent must never install rules; an error when it cannot tell.
absl::StatusOr<bool> InHostNetworkNamespace();

class NetfilterRules {
 public:
  explicit NetfilterRules(uint16_t queue);
  ~NetfilterRules();  // Clear(), errors ignored
  NetfilterRules(const NetfilterRules&) = delete;
  NetfilterRules& operator=(const NetfilterRules&) = delete;

  // Makes the chain send exactly these endpoints' traffic (both directions) to the queue.
  // An empty list removes the chain and its jumps.
  absl::Status Apply(const std::vector<QueuedEndpoint>& endpoints);
  absl::Status Clear();

  const std::string& chain() const { return chain_; }
  // The iptables-restore input Apply would use (for tests and logs).
  std::string RestoreInput(const std::vector<QueuedEndpoint>& endpoints) const;

 private:
  absl::Status EnsureJumps();

  const uint16_t queue_;
  const std::string chain_;
  bool installed_ = false;
};

}  // namespace middlepipe::agent

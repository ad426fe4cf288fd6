// Filter factories by kind name (like Envoy's extension registry), request and packet level. A kind whose
// filter this build does not have is refused at PREPARE with a clear error, so a bind
// the agent cannot honour fails visibly instead of silently doing nothing.
#pragma once

#include <map>
#include <string>

#include "scheduler/kind_catalog.h"
#include "scheduler/packet/packet_filter.h"
#include "scheduler/request_filter.h"

namespace middlepipe::scheduler {

using PacketFilterFactory = std::function<absl::StatusOr<std::unique_ptr<packet::PacketFilter>>(
    const FilterSpecContext&)>;

class FilterRegistry {
 public:
  // `kinds` validates every config before a factory sees it; not owned.
  explicit FilterRegistry(const KindCatalog* kinds) : kinds_(kinds) {}

  void Register(const std::string& kind, RequestFilterFactory factory);
  void RegisterPacket(const std::string& kind, PacketFilterFactory factory);

  // Validates the spec's config against its kind and builds the filter; errors name the
  // middlepipe: "orders-breaker: config: field window_ms: must be >= 100".
  absl::StatusOr<std::unique_ptr<RequestFilter>> Build(const FilterSpecContext& context) const;
  absl::StatusOr<std::unique_ptr<packet::PacketFilter>> BuildPacket(
      const FilterSpecContext& context) const;

 private:
  template <typename Filter, typename Factory>
  absl::StatusOr<std::unique_ptr<Filter>> BuildWith(const std::map<std::string, Factory>& factories,
                                                    const FilterSpecContext& context) const;

  const KindCatalog* const kinds_;
  std::map<std::string, RequestFilterFactory> factories_;
  std::map<std::string, PacketFilterFactory> packet_factories_;
};

}  // namespace middlepipe::scheduler

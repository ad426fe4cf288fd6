// Request-filter factories by kind name (like Envoy's extension registry). A kind whose
// filter this build does not have is refused at PREPARE with a clear error, so a bind
// the agent cannot honour fails visibly instead of silently doing nothing.
#pragma once

#include <map>
#include <string>

#include "scheduler/kind_catalog.h"
#include "scheduler/request_filter.h"

namespace middlepipe::scheduler {

class FilterRegistry {
 public:
  // `kinds` validates every config before a factory sees it; not owned.
  explicit FilterRegistry(const KindCatalog* kinds) : kinds_(kinds) {}

  void Register(const std::string& kind, RequestFilterFactory factory);

  // Validates the spec's config against its kind and builds the filter; errors name the
  // middlepipe: "orders-breaker: config: field window_ms: must be >= 100".
  absl::StatusOr<std::unique_ptr<RequestFilter>> Build(const FilterSpecContext& context) const;

 private:
  const KindCatalog* const kinds_;
  std::map<std::string, RequestFilterFactory> factories_;
};

}  // namespace middlepipe::scheduler

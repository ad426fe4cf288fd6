#include "scheduler/filter_registry.h"

#include "absl/strings/str_cat.h"

namespace middlepipe::scheduler {

void FilterRegistry::Register(const std::string& kind, RequestFilterFactory factory) {
  factories_[kind] = std::move(factory);
}

void FilterRegistry::RegisterPacket(const std::string& kind, PacketFilterFactory factory) {
  packet_factories_[kind] = std::move(factory);
}

absl::StatusOr<std::unique_ptr<RequestFilter>> FilterRegistry::Build(
    const FilterSpecContext& context) const {
  return BuildWith<RequestFilter>(factories_, context);
}

absl::StatusOr<std::unique_ptr<packet::PacketFilter>> FilterRegistry::BuildPacket(
    const FilterSpecContext& context) const {
  return BuildWith<packet::PacketFilter>(packet_factories_, context);
}

template <typename Filter, typename Factory>
absl::StatusOr<std::unique_ptr<Filter>> FilterRegistry::BuildWith(
    const std::map<std::string, Factory>& factories, const FilterSpecContext& context) const {
  const v1::FilterSpec& spec = context.spec;
  auto fail = [&spec](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(spec.middlepipe(), ": ", why));
  };
  absl::StatusOr<std::string> config = kinds_->ValidateConfig(spec.kind(), spec.config_json());
  if (!config.ok()) return fail(config.status().message());
  auto factory = factories.find(spec.kind());
  if (factory == factories.end()) {
    return fail(absl::StrCat("this agent has no filter for kind ", spec.kind(), " yet"));
  }
  v1::FilterSpec validated = spec;
  validated.set_config_json(*config);
  FilterSpecContext with_defaults{validated, context.app, context.service, context.clock};
  absl::StatusOr<std::unique_ptr<Filter>> filter = factory->second(with_defaults);
  if (!filter.ok()) return fail(filter.status().message());
  return filter;
}

}  // namespace middlepipe::scheduler

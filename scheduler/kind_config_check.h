// For each kind's config agreement test (scheduler/filters/<kind>/ and aggregator/<kind>/
// config_agreement_test.cc): the controller's view of one kind's configs, i.e. a catalog
// of just that kind, to hold the kind's parser (and aggregate) to what its schema accepts.
#pragma once

#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "scheduler/kind.h"
#include "scheduler/kind_catalog.h"

namespace middlepipe::scheduler {

class KindConfigCheck {
 public:
  // Fails the way KindCatalog::Create does (a schema that does not parse).
  static absl::StatusOr<KindConfigCheck> Create(KindDescriptor kind);

  // What the controller makes of `config_json`: the config with defaults filled in, or
  // the refusal.
  absl::StatusOr<std::string> Validate(const std::string& config_json) const;
  // The names of the schema's top-level properties.
  std::set<std::string> SchemaFields() const;

 private:
  KindConfigCheck(std::string name, std::set<std::string> fields, KindCatalog catalog)
      : name_(std::move(name)), fields_(std::move(fields)), catalog_(std::move(catalog)) {}

  std::string name_;
  std::set<std::string> fields_;
  KindCatalog catalog_;
};

}  // namespace middlepipe::scheduler

#include "scheduler/chain_table.h"

#include "absl/strings/str_cat.h"

namespace middlepipe::scheduler {

FilterStatus RequestChain::OnRequest(RequestCall& call) const {
  call.notes.assign(entries_.size(), 0);
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].filter->OnRequest(call, call.notes[i]) == FilterStatus::kRespond) {
      return FilterStatus::kRespond;
    }
  }
  call.response_may_mark = false;
  for (size_t i = 0; i < entries_.size() && !call.response_may_mark; ++i) {
    call.response_may_mark = entries_[i].filter->MayMarkResponse(call.notes[i]);
  }
  return FilterStatus::kContinue;
}

void RequestChain::OnResponse(RequestCall& call) const {
  call.notes.resize(entries_.size(), 0);
  for (size_t i = 0; i < entries_.size(); ++i) entries_[i].filter->OnResponse(call, call.notes[i]);
}

RequestFilter* RequestChain::Find(const std::string& middlepipe) const {
  for (const Entry& entry : entries_) {
    if (entry.spec.middlepipe() == middlepipe) return entry.filter.get();
  }
  return nullptr;
}

const RequestChain* ChainSet::Find(const std::string& service) const {
  auto found = chains_.find(service);
  return found == chains_.end() ? nullptr : found->second.get();
}

ChainTable::ChainTable(const FilterRegistry* registry, Clock clock, absl::Status packet_support)
    : registry_(registry), clock_(std::move(clock)), packet_support_(std::move(packet_support)) {}

absl::Status ChainTable::Prepare(const v1::Prepare& prepare) {
  std::shared_ptr<const ChainSet> previous = Current();
  std::map<std::string, std::unique_ptr<RequestChain>> chains;
  PacketChains packet_chains;
  for (const v1::Chain& chain : prepare.chains()) {
    std::vector<RequestChain::Entry> entries;
    std::vector<packet::PacketChain::Entry> packet_entries;
    for (const v1::FilterSpec& spec : chain.filters()) {
      const FilterSpecContext context{spec, chain.app(), chain.service(), clock_};
      if (spec.level() == v1::LEVEL_PACKET) {
        if (!packet_support_.ok()) {
          return absl::Status(packet_support_.code(),
                              absl::StrCat(spec.middlepipe(), ": packet-level filters (",
                                           spec.kind(), ") cannot run here: ",
                                           packet_support_.message()));
        }
        absl::StatusOr<std::unique_ptr<packet::PacketFilter>> filter = registry_->BuildPacket(context);
        if (!filter.ok()) return filter.status();
        if (previous != nullptr) {
          auto old_chain = previous->packet_chains().find(chain.service());
          if (old_chain != previous->packet_chains().end()) {
            for (const auto& old : old_chain->second->entries()) {
              if (old.spec.middlepipe() == spec.middlepipe() && old.spec.kind() == spec.kind()) {
                (*filter)->AdoptState(*old.filter);
              }
            }
          }
        }
        packet::PacketChain::Entry entry;
        entry.spec = spec;
        entry.filter = *std::move(filter);
        packet_entries.push_back(std::move(entry));
        continue;
      }
      absl::StatusOr<std::unique_ptr<RequestFilter>> filter = registry_->Build(context);
      if (!filter.ok()) return filter.status();
      if (previous != nullptr) {
        if (const RequestChain* old_chain = previous->Find(chain.service())) {
          for (const RequestChain::Entry& old : old_chain->entries()) {
            if (old.spec.middlepipe() == spec.middlepipe() && old.spec.kind() == spec.kind()) {
              (*filter)->AdoptState(*old.filter);
            }
          }
        }
      }
      entries.push_back({spec, *std::move(filter)});
    }
    chains[chain.service()] = std::make_unique<RequestChain>(std::move(entries));
    if (!packet_entries.empty()) {
      packet_chains[chain.service()] = std::make_shared<const packet::PacketChain>(
          chain.service(), std::move(packet_entries),
          std::vector<v1::Endpoint>(chain.service_endpoints().begin(),
                                    chain.service_endpoints().end()));
    }
  }
  auto built = std::make_shared<const ChainSet>(prepare.epoch(), prepare.aggregator_address(),
                                                std::move(chains), std::move(packet_chains));
  std::lock_guard<std::mutex> lock(mu_);
  prepared_[prepare.epoch()] = std::move(built);
  return absl::OkStatus();
}

absl::Status ChainTable::Commit(uint64_t epoch) {
  std::lock_guard<std::mutex> lock(mu_);
  auto prepared = prepared_.find(epoch);
  if (prepared == prepared_.end()) {
    if (current_ != nullptr && current_->epoch() == epoch) return absl::OkStatus();  // repeated
    return absl::FailedPreconditionError(absl::StrCat("commit of epoch ", epoch,
                                                      ", which was not prepared"));
  }
  current_ = std::move(prepared->second);
  // Anything prepared before this epoch can never be committed now.
  prepared_.erase(prepared_.begin(), std::next(prepared));
  return absl::OkStatus();
}

void ChainTable::Abort(uint64_t epoch) {
  std::lock_guard<std::mutex> lock(mu_);
  prepared_.erase(epoch);
}

std::shared_ptr<const ChainSet> ChainTable::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

}  // namespace middlepipe::scheduler

#include "filter-agent/fast_path_publisher.h"

#include <unistd.h>

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "fastpath/program.h"

namespace middlepipe::agent {

FastPathPublisher::FastPathPublisher(fastpath::Segment* segment, const scheduler::ChainTable* chains,
                                     Logger* logger, scheduler::Clock clock)
    : segment_(segment), chains_(chains), logger_(logger), clock_(std::move(clock)) {}

FastPathPublisher::~FastPathPublisher() { Stop(); }

void FastPathPublisher::Start(std::chrono::milliseconds interval) {
  RunRound();
  thread_ = std::thread([this, interval] {
    std::unique_lock<std::mutex> lock(stop_mu_);
    while (!stopping_) {
      lock.unlock();
      RunRound();
      lock.lock();
      stop_changed_.wait_for(lock, interval, [this] { return stopping_; });
    }
  });
}

void FastPathPublisher::Stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_changed_.notify_all();
  if (thread_.joinable()) thread_.join();
  RunRound();  // the app's last calls count (a scale-down's merge)
  // Clients that still map it see it stale at once and ask the socket (which fails open).
  segment_->header().heartbeat_ms.store(0, std::memory_order_relaxed);
  unlink(segment_->path().c_str());
}

void FastPathPublisher::RunRound() {
  std::lock_guard<std::mutex> lock(round_mu_);
  std::shared_ptr<const scheduler::ChainSet> current = chains_->Current();
  Drain(current.get());
  const int64_t now_ms = clock_();
  Publish(current.get(), now_ms);
  segment_->header().heartbeat_ms.store(static_cast<uint64_t>(now_ms), std::memory_order_relaxed);
  if (const uint64_t lost_now = lost(); lost_now > lost_told_ && now_ms >= next_loss_warning_ms_) {
    logger_->Warning("fast path: ", lost_now, " observations lost so far (",
                     segment_->header().ring_dropped.load(std::memory_order_relaxed), " to a full ring, ",
                     segment_->abandoned(), " abandoned by apps that died mid-append); the filters "
                     "did not count them");
    lost_told_ = lost_now;
    next_loss_warning_ms_ = now_ms + 10'000;
  }
}

uint64_t FastPathPublisher::lost() const {
  return segment_->header().ring_dropped.load(std::memory_order_relaxed) + segment_->abandoned();
}

std::string FastPathPublisher::Summary() const {
  return absl::StrCat(observations(), " on the fast path (", lost(), " lost, ", orphaned(),
                      " of bindings gone)");
}

uint64_t FastPathPublisher::BindingId(const std::string& service) {
  auto [found, added] = binding_ids_.emplace(service, binding_ids_.size() + 1);
  if (added) services_[found->second] = service;
  return found->second;
}

void FastPathPublisher::Drain(const scheduler::ChainSet* current) {
  segment_->Drain([&](const fastpath::ObservationData& observation) {
    ++observations_;
    auto service = services_.find(observation.binding_id);
    const scheduler::RequestChain* chain =
        service != services_.end() && current != nullptr ? current->Find(service->second) : nullptr;
    if (chain == nullptr) {
      ++orphaned_;  // the binding went away since the client decided
      return;
    }
    const auto& entries = chain->entries();
    const size_t reached =
        observation.answered_by == fastpath::kNotAnswered
            ? entries.size()
            : std::min<size_t>(entries.size(), size_t{observation.answered_by} + 1);
    scheduler::RequestCall call;
    call.notes.assign(entries.size(), 0);
    for (size_t i = 0; i < reached; ++i) {
      scheduler::FastPathCall decided;
      decided.answered = i == observation.answered_by;
      decided.choice = i < fastpath::kChoiceFilters ? observation.choices[i] : 0;
      decided.key_slot = observation.key_slot;
      call.notes[i] = entries[i].filter->OnFastPathRequest(decided);
    }
    if (observation.answered_by != fastpath::kNotAnswered) return;
    call.request.set_service(service->second);
    call.status = observation.status;
    call.latency_us = observation.latency_us;
    chain->OnResponse(call);  // markers it may add have no call to go on: by construction none
  });
}

void FastPathPublisher::Publish(const scheduler::ChainSet* current, int64_t now_ms) {
  const fastpath::Geometry& geometry = segment_->geometry();
  const uint64_t capacity = uint64_t{geometry.slot_words} * 8 - 4;
  std::map<std::string, std::string> payloads;
  if (current != nullptr) {
    for (const auto& [service, chain] : current->chains()) {
      const auto& entries = chain->entries();
      fastpath::Program program;
      program.binding_id = BindingId(service);
      program.epoch = current->epoch();
      program.service = service;
      program.fast = entries.size() < fastpath::kNotAnswered;
      program.filter_count = static_cast<uint8_t>(std::min<size_t>(entries.size(), 254));
      program.valid_until_ms = std::numeric_limits<int64_t>::max();
      scheduler::FastPathContext context;
      context.now_ms = now_ms;
      context.cells = [&, service = service](const std::string& name,
                                             uint32_t count) -> std::optional<scheduler::SharedCells> {
        // Ranges are handed out once and kept: a filter of a later epoch asking for the
        // same gets the same cells (its buckets carry on). A range of another size (the
        // config changed) is a new one; the old stays unused.
        const std::string key = absl::StrCat(service, "/", name, "/", count);
        auto found = cells_.find(key);
        if (found == cells_.end()) {
          if (count == 0 || count > geometry.cell_count - next_cell_) {
            // Ranges are never given back, so this holds from now on: say it once.
            if (!warned_cells_) {
              logger_->Warning("fast path: no room left in the segment's ", geometry.cell_count,
                               " cells for ", service, "/", name, " (", count,
                               " asked); its calls go over the socket");
            }
            warned_cells_ = true;
            return std::nullopt;
          }
          found = cells_.emplace(key, next_cell_).first;
          next_cell_ += count;
        }
        return scheduler::SharedCells{found->second, &segment_->cell(found->second), count};
      };
      for (size_t i = 0; program.fast && i < entries.size(); ++i) {
        scheduler::FastPathPlan plan = entries[i].filter->CompileFastPath(context);
        program.fast = plan.possible;
        program.valid_until_ms = std::min(program.valid_until_ms, plan.valid_until_ms);
        if (plan.step.has_value()) {
          plan.step->filter_index = static_cast<uint8_t>(i);
          program.steps.push_back(std::move(*plan.step));
        }
      }
      std::string payload = fastpath::Encode(program);
      if (!program.fast || payload.size() > capacity) {  // too big: the socket answers
        program.fast = false;
        program.steps.clear();
        payload = fastpath::Encode(program);
      }
      payloads[service] = std::move(payload);
    }
  }

  // Services keep their slots; new ones take free slots; gone ones free theirs.
  std::map<std::string, uint32_t> slots;
  std::set<uint32_t> used;
  for (const auto& [service, slot] : slots_) {
    if (payloads.count(service) != 0) {
      slots[service] = slot;
      used.insert(slot);
    }
  }
  uint64_t unlisted = 0;
  uint32_t next_free = 0;
  for (const auto& [service, payload] : payloads) {
    if (slots.count(service) != 0) continue;
    while (next_free < geometry.binding_slots && used.count(next_free) != 0) ++next_free;
    if (next_free >= geometry.binding_slots) {
      ++unlisted;
      continue;
    }
    slots[service] = next_free;
    used.insert(next_free);
  }
  if (unlisted > 0 && !warned_full_) {
    logger_->Warning("fast path: ", payloads.size(), " bindings, ", geometry.binding_slots,
                     " slots; the rest go over the socket");
  }
  warned_full_ = unlisted > 0;

  const bool directory_changed = slots != slots_ || unlisted != unlisted_;
  if (directory_changed) segment_->header().directory_seq.fetch_add(1, std::memory_order_acq_rel);
  for (const auto& [service, slot] : slots_) {
    if (used.count(slot) != 0) continue;  // kept, or taken by a new binding below
    segment_->WriteSlot(slot, "");  // its binding is gone
    written_.erase(slot);
  }
  for (const auto& [service, slot] : slots) {
    const std::string& payload = payloads[service];
    auto written = written_.find(slot);
    if (written != written_.end() && written->second == payload) continue;
    segment_->WriteSlot(slot, payload);
    written_[slot] = payload;
  }
  segment_->header().unlisted.store(unlisted, std::memory_order_relaxed);
  if (directory_changed) segment_->header().directory_seq.fetch_add(1, std::memory_order_acq_rel);
  slots_ = std::move(slots);
  unlisted_ = unlisted;
}

}  // namespace middlepipe::agent

#include "aggregator/aggregation.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <set>


#include "absl/strings/str_cat.h"
#include "common/request_stats.h"
#include "common/names.h"

namespace middlepipe::aggregator {
namespace {

constexpr int64_t kDemandWindowMs = 1000;
// Reports for a (middlepipe, app, service) not configured (yet) wait this long, at most
// this many, before they are refused.
constexpr int64_t kUnplacedGraceMs = 5000;
constexpr size_t kMaxUnplacedReports = 10000;
constexpr size_t kMaxAlerts = 32;
constexpr size_t kMaxConnections = 32;

std::string Describe(const v1::Report& report) {
  return absl::StrCat("a ", report.kind(), " report for ", report.middlepipe(), " on ", report.app(),
                      " -> ", report.service(), " from instance ", report.instance());
}

}  // namespace

UnixClock SystemUnixClock() {
  return [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
}

// One (middlepipe, app, service).
struct Aggregation::Entry {
  struct Instance {
    int64_t last_report_ms = 0;
    RequestWindow demand{kDemandWindowMs};
  };
  // The decision an instance holds (as last sent), re-sent as its lease.
  struct Sent {
    std::string body;  // the kind's part, serialized, to see whether it changed
    v1::Decision decision;
    int64_t sent_ms = 0;
  };

  Entry(std::string middlepipe_, std::string kind_, std::string app_, std::string service_,
        std::string config_json_, int64_t window_ms)
      : middlepipe(std::move(middlepipe_)),
        kind(std::move(kind_)),
        app(std::move(app_)),
        service(std::move(service_)),
        config_json(std::move(config_json_)),
        window(window_ms) {}

  const std::string middlepipe, kind, app, service, config_json;
  std::unique_ptr<KindAggregate> aggregate;  // null: statistics only
  RequestWindow window;
  v1::RequestStats total;
  v1::PacketStats packets;
  std::deque<v1::Alert> alerts;  // newest first
  std::deque<v1::ConnectionStats> connections;  // newest first
  std::map<uint32_t, Instance> instances;
  uint64_t decided_version = 0;  // the kind's version() when decisions were last computed
  std::map<uint32_t, Sent> sent;
};

// What the aggregator knows of one agent (app, instance), connected or not: the
// deduplication state outlives a stream so a resent batch is recognised.
struct Aggregation::AgentLink {
  uint64_t connection = 0;  // 0: not connected
  DecisionSender sender;
  uint64_t incarnation = 0;
  uint64_t applied_sequence = 0;
  int64_t rate_second = 0;
  uint32_t batches_this_second = 0;
};

Aggregation::Aggregation(AggregationOptions options, const scheduler::KindCatalog* catalog,
                         const KindAggregateRegistry* kinds)
    : options_(std::move(options)),
      catalog_(catalog),
      kinds_(kinds),
      sequence_base_(static_cast<uint64_t>(std::max<int64_t>(options_.clock(), 0)) << 16) {}

Aggregation::~Aggregation() = default;

absl::Status Aggregation::Configure(const v1::ConfigureRequest& request) {
  if (request.user() != options_.user) {
    return absl::PermissionDeniedError(absl::StrCat("this aggregator serves user ", options_.user,
                                                    ", not ", request.user()));
  }
  // Build the new table aside; the old one stays untouched if anything is wrong.
  std::vector<std::unique_ptr<Entry>> built;
  for (const v1::AggregatedMiddlepipe& aggregated : request.middlepipes()) {
    const v1::Middlepipe& middlepipe = aggregated.middlepipe();
    absl::StatusOr<std::string> config =
        catalog_->ValidateConfig(middlepipe.kind(), middlepipe.config_json());
    if (!config.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("middlepipe ", middlepipe.name(), ": ", config.status().message()));
    }
    for (const v1::Binding& binding : aggregated.bindings()) {
      if (binding.middlepipe() != middlepipe.name()) {
        return absl::InvalidArgumentError(absl::StrCat("binding of ", binding.middlepipe(),
                                                       " listed under ", middlepipe.name()));
      }
      built.push_back(std::make_unique<Entry>(middlepipe.name(), middlepipe.kind(), binding.app(),
                                              binding.service(), *config,
                                              options_.default_window_ms));
    }
  }
  for (std::unique_ptr<Entry>& entry : built) {
    auto factory = kinds_->find(entry->kind);
    if (factory == kinds_->end()) continue;
    absl::StatusOr<std::unique_ptr<KindAggregate>> aggregate = factory->second(entry->config_json);
    if (!aggregate.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("middlepipe ", entry->middlepipe, ": ", aggregate.status().message()));
    }
    entry->aggregate = *std::move(aggregate);
    // The kind reads its own config: the window is whatever its parser says it is.
    if (std::optional<int64_t> window_ms = entry->aggregate->WindowMs()) {
      entry->window = RequestWindow(*window_ms);
    }
  }

  std::lock_guard<std::mutex> lock(mu_);
  if (request.epoch() < epoch_) return absl::OkStatus();  // a late, older snapshot
  epoch_ = request.epoch();
  counters_.configure_epoch = epoch_;
  decltype(entries_) next;
  for (std::unique_ptr<Entry>& entry : built) {
    auto key = std::make_tuple(entry->middlepipe, entry->app, entry->service);
    auto existing = entries_.find(key);
    if (existing != entries_.end() && existing->second->kind == entry->kind &&
        existing->second->config_json == entry->config_json) {
      next[key] = std::move(existing->second);  // unchanged: keep its state
      continue;
    }
    if (existing != entries_.end() && existing->second->kind == entry->kind) {
      // A new config: the kind decides afresh, but what was counted stays counted (a
      // canary raised from 10% to 20% keeps its history).
      Entry& before = *existing->second;
      entry->total = std::move(before.total);
      entry->packets = std::move(before.packets);
      entry->alerts = std::move(before.alerts);
      entry->connections = std::move(before.connections);
      entry->instances = std::move(before.instances);
      if (before.window.window_ms() == entry->window.window_ms()) {
        entry->window = std::move(before.window);
      }
    }
    next[key] = std::move(entry);
  }
  entries_ = std::move(next);
  PlaceWaitingReports(options_.clock(), /*expire=*/false);
  return absl::OkStatus();
}

uint64_t Aggregation::epoch() const {
  std::lock_guard<std::mutex> lock(mu_);
  return epoch_;
}

uint64_t Aggregation::Connect(const v1::AgentIdentity& agent, DecisionSender sender) {
  const int64_t now = options_.clock();
  std::lock_guard<std::mutex> lock(mu_);
  AgentLink& link = agents_[{agent.app(), agent.instance()}];
  if (link.connection == 0) {
    ++counters_.agents_connected;
    std::vector<uint32_t>& connected = connected_[agent.app()];
    connected.insert(std::lower_bound(connected.begin(), connected.end(), agent.instance()),
                     agent.instance());
  }
  link.connection = next_connection_++;
  link.sender = std::move(sender);
  // A new stream knows none of the decisions: send them all again.
  for (auto& [key, entry] : entries_) {
    if (entry->app == agent.app()) entry->sent.erase(agent.instance());
  }
  RebalanceApp(agent.app(), now, agent.instance());
  return link.connection;
}

void Aggregation::Disconnect(const v1::AgentIdentity& agent, uint64_t connection) {
  const int64_t now = options_.clock();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = agents_.find({agent.app(), agent.instance()});
  if (it == agents_.end() || it->second.connection != connection) return;  // replaced already
  it->second.connection = 0;
  it->second.sender = nullptr;
  --counters_.agents_connected;
  std::vector<uint32_t>& connected = connected_[agent.app()];
  connected.erase(std::lower_bound(connected.begin(), connected.end(), agent.instance()));
  RebalanceApp(agent.app(), now);
}

void Aggregation::Reject(const std::string& reason, const std::string& what, uint64_t count) {
  uint64_t& rejected = counters_.rejected[reason];
  // Said once per reason on the log (the counter tells how often since).
  if (rejected == 0 && options_.logger != nullptr) {
    options_.logger->Warning("refused ", what, ": ", reason, " (counted from now on)");
  }
  rejected += count;
}

absl::StatusOr<uint64_t> Aggregation::Ingest(const v1::ReportBatch& batch) {
  const int64_t now = options_.clock();
  const v1::AgentIdentity& agent = batch.agent();
  if (absl::Status name = ValidateName("app", agent.app()); !name.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    Reject("bad agent identity", absl::StrCat("a batch from ", agent.app(), "/", agent.instance()));
    return name;
  }
  std::lock_guard<std::mutex> lock(mu_);
  AgentLink& link = agents_[{agent.app(), agent.instance()}];
  if (link.incarnation != agent.incarnation()) {
    link.incarnation = agent.incarnation();
    link.applied_sequence = 0;
  }
  if (batch.sequence() != 0 && batch.sequence() <= link.applied_sequence) {
    ++counters_.duplicate_batches;
    return link.applied_sequence;  // resent after a reconnect: applied before
  }
  const int64_t second = now / 1000;
  if (link.rate_second != second) {
    link.rate_second = second;
    link.batches_this_second = 0;
  }
  if (++link.batches_this_second > options_.max_batches_per_second) {
    Reject("flood: too many batches per second", absl::StrCat("a batch of ", agent.app(), "/", agent.instance()));
    return absl::ResourceExhaustedError(absl::StrCat(
        "more than ", options_.max_batches_per_second, " report batches in one second"));
  }
  if (link.applied_sequence != 0 && batch.sequence() > link.applied_sequence + 1) {
    counters_.lost_batches += batch.sequence() - link.applied_sequence - 1;
  }
  link.applied_sequence = std::max(link.applied_sequence, batch.sequence());
  ++counters_.batches;
  counters_.agent_dropped_reports += batch.dropped_reports();

  std::set<Entry*> touched;
  int taken = 0;
  for (const v1::Report& report : batch.reports()) {
    if (++taken > options_.max_reports_per_batch) {
      Reject("flood: too many reports in one batch", absl::StrCat("reports of ", agent.app(), "/", agent.instance()),
             static_cast<uint64_t>(batch.reports_size() - taken + 1));
      break;
    }
    if (report.app() != agent.app()) {
      Reject("report for another app than the agent's", Describe(report));
      continue;
    }
    if (Entry* placed = Place(agent.instance(), report, now, /*may_wait=*/true)) touched.insert(placed);
  }
  Outgoing outgoing;
  for (Entry* entry : touched) DecideIfChanged(*entry, now, outgoing);
  SendAll(outgoing);
  return link.applied_sequence;
}

Aggregation::Entry* Aggregation::Place(uint32_t instance_index, const v1::Report& report, int64_t now,
                                       bool may_wait) {
  auto found = entries_.find(std::make_tuple(report.middlepipe(), report.app(), report.service()));
  if (found == entries_.end()) {
    // A binding reaches agents (two-phase commit) a moment before its configuration
    // reaches the aggregator: hold such reports for a while instead of losing them.
    if (may_wait && unplaced_.size() < kMaxUnplacedReports) {
      unplaced_.push_back({now, instance_index, report});
    } else {
      Reject("unknown middlepipe or binding", Describe(report));
    }
    return nullptr;
  }
  Entry& entry = *found->second;
  if (report.kind() != entry.kind) {
    Reject("kind does not match the middlepipe", Describe(report));
    return nullptr;
  }
  if (!CheckRequestStats(report.request_stats()).ok()) {
    Reject("value out of range", Describe(report));
    return nullptr;
  }
  const v1::RequestStats& stats = report.request_stats();
  entry.window.Add(now, stats);
  AddRequestStats(entry.total, stats);
  Entry::Instance& instance = entry.instances[instance_index];
  instance.last_report_ms = now;
  instance.demand.Add(now, stats);
  if (report.has_packet_stats()) {
    AddPacketStats(entry.packets, report.packet_stats());
    for (const v1::ConnectionStats& connection : report.packet_stats().connections()) {
      entry.connections.push_front(connection);
      if (entry.connections.size() > kMaxConnections) entry.connections.pop_back();
    }
  }
  for (const v1::Alert& alert : report.alerts()) {
    entry.alerts.push_front(alert);
    if (entry.alerts.size() > kMaxAlerts) entry.alerts.pop_back();
  }
  ++counters_.reports;
  counters_.observations += stats.requests();
  if (entry.aggregate == nullptr) return nullptr;
  entry.aggregate->OnReport(instance_index, report, ViewOf(entry, now));
  return &entry;
}

void Aggregation::PlaceWaitingReports(int64_t now, bool expire) {
  std::deque<Unplaced> waiting;
  waiting.swap(unplaced_);
  std::set<Entry*> touched;
  for (Unplaced& held : waiting) {
    const bool expired = expire && now - held.received_ms >= kUnplacedGraceMs;
    if (!expired && entries_.count(std::make_tuple(held.report.middlepipe(), held.report.app(),
                                                   held.report.service())) == 0) {
      unplaced_.push_back(std::move(held));  // still unknown, still within its grace
      continue;
    }
    if (Entry* placed = Place(held.instance, held.report, now, /*may_wait=*/false)) touched.insert(placed);
  }
  Outgoing outgoing;
  for (Entry* entry : touched) DecideIfChanged(*entry, now, outgoing);
  SendAll(outgoing);
}

ClusterView Aggregation::ViewOf(const Entry& entry, int64_t now_ms) const {
  ClusterView view;
  view.now_ms = now_ms;
  if (auto connected = connected_.find(entry.app); connected != connected_.end()) {
    view.instances = connected->second;
  }
  view.demand = [&entry, now_ms](uint32_t instance) {
    auto it = entry.instances.find(instance);
    if (it == entry.instances.end()) return 0.0;
    return static_cast<double>(it->second.demand.Sum(now_ms).requests()) * 1000.0 / kDemandWindowMs;
  };
  return view;
}

void Aggregation::Decide(Entry& entry, int64_t now_ms, std::optional<uint32_t> only,
                         Outgoing& outgoing) {
  for (auto it = agents_.lower_bound({entry.app, 0});
       it != agents_.end() && it->first.first == entry.app; ++it) {
    const uint32_t instance = it->first.second;
    if (it->second.connection == 0 || (only.has_value() && instance != *only)) continue;
    std::optional<v1::Decision> decision = entry.aggregate->DecisionFor(instance);
    if (!decision.has_value()) continue;
    std::string body;
    decision->SerializeToString(&body);
    Entry::Sent& sent = entry.sent[instance];
    if (sent.body == body) continue;  // the instance holds it already
    sent.body = std::move(body);
    decision->set_middlepipe(entry.middlepipe);
    decision->set_app(entry.app);
    decision->set_service(entry.service);
    decision->set_sequence(sequence_base_ + ++last_sequence_);
    decision->set_lease_ms(options_.lease_ms);
    sent.decision = *decision;
    sent.sent_ms = now_ms;
    *outgoing[it->first].add_decisions() = *std::move(decision);
  }
}

void Aggregation::DecideIfChanged(Entry& entry, int64_t now_ms, Outgoing& outgoing) {
  if (entry.aggregate == nullptr || entry.aggregate->version() == entry.decided_version) return;
  entry.decided_version = entry.aggregate->version();
  Decide(entry, now_ms, std::nullopt, outgoing);
}

void Aggregation::RenewLeases(Entry& entry, int64_t now_ms, Outgoing& outgoing) {
  for (auto& [instance, sent] : entry.sent) {
    if (sent.body.empty() || now_ms - sent.sent_ms < options_.lease_ms / 3) continue;
    auto link = agents_.find({entry.app, instance});
    if (link == agents_.end() || link->second.connection == 0) continue;
    sent.sent_ms = now_ms;
    *outgoing[link->first].add_decisions() = sent.decision;  // same sequence: a refresh
  }
}

void Aggregation::SendAll(Outgoing& outgoing) {
  for (auto& [agent, batch] : outgoing) {
    auto link = agents_.find(agent);
    const uint64_t count = static_cast<uint64_t>(batch.decisions_size());
    if (link != agents_.end() && link->second.sender && link->second.sender(batch)) {
      counters_.decisions_sent += count;
    } else {
      counters_.decisions_undeliverable += count;
    }
  }
}

void Aggregation::RebalanceApp(const std::string& app, int64_t now_ms,
                               std::optional<uint32_t> arrived) {
  Outgoing outgoing;
  for (auto& [key, entry] : entries_) {
    if (entry->app != app || entry->aggregate == nullptr) continue;
    entry->aggregate->OnTick(ViewOf(*entry, now_ms));
    const bool changed = entry->aggregate->version() != entry->decided_version;
    DecideIfChanged(*entry, now_ms, outgoing);
    if (!changed && arrived.has_value()) Decide(*entry, now_ms, arrived, outgoing);
  }
  SendAll(outgoing);
}

void Aggregation::Tick() {
  const int64_t now = options_.clock();
  std::lock_guard<std::mutex> lock(mu_);
  if (!unplaced_.empty()) PlaceWaitingReports(now, /*expire=*/true);
  Outgoing outgoing;
  for (auto& [key, entry] : entries_) {
    if (entry->aggregate == nullptr) continue;
    entry->aggregate->OnTick(ViewOf(*entry, now));
    DecideIfChanged(*entry, now, outgoing);
    RenewLeases(*entry, now, outgoing);
  }
  SendAll(outgoing);
}

void Aggregation::FillState(const Entry& entry, int64_t now_ms, v1::MiddlepipeState& state) const {
  state.set_middlepipe(entry.middlepipe);
  state.set_kind(entry.kind);
  state.set_app(entry.app);
  state.set_service(entry.service);
  state.set_state("ok");
  state.set_window_ms(static_cast<uint32_t>(entry.window.window_ms()));
  uint32_t reporting = 0;
  for (const auto& [instance, figures] : entry.instances) {
    if (figures.last_report_ms > now_ms - entry.window.window_ms()) ++reporting;
  }
  state.set_instances_reporting(reporting);
  *state.mutable_window() = entry.window.Sum(now_ms);
  *state.mutable_total() = entry.total;
  *state.mutable_packets() = entry.packets;
  for (const v1::Alert& alert : entry.alerts) *state.add_recent_alerts() = alert;
  for (const auto& connection : entry.connections) *state.add_recent_connections() = connection;
  auto& figures = *state.mutable_figures();
  const v1::RequestStats& window = state.window();
  figures["requests_per_second"] =
      static_cast<double>(window.requests()) * 1000.0 / static_cast<double>(entry.window.window_ms());
  if (const uint64_t completed = CompletedCalls(window); completed > 0) {
    figures["error_percent"] = static_cast<double>(window.failures()) * 100.0 / completed;
  }
  if (window.latency().counts_size() > 0) {
    figures["p50_ms"] = HistogramQuantile(window.latency(), 0.50);
    figures["p90_ms"] = HistogramQuantile(window.latency(), 0.90);
    figures["p99_ms"] = HistogramQuantile(window.latency(), 0.99);
  }
  if (entry.aggregate != nullptr) entry.aggregate->Describe(state);
}

v1::QueryResponse Aggregation::Query(const v1::QueryRequest& request) const {
  const int64_t now = options_.clock();
  std::lock_guard<std::mutex> lock(mu_);
  v1::QueryResponse response;
  for (const auto& [key, entry] : entries_) {
    if ((!request.middlepipe().empty() && request.middlepipe() != entry->middlepipe) ||
        (!request.app().empty() && request.app() != entry->app) ||
        (!request.service().empty() && request.service() != entry->service)) {
      continue;
    }
    FillState(*entry, now, *response.add_states());
  }
  return response;
}

absl::StatusOr<uint32_t> Aggregation::MergeState(const v1::MergeStateRequest& request) {
  const int64_t now = options_.clock();
  std::lock_guard<std::mutex> lock(mu_);
  // Check everything first, so a bad entry merges nothing.
  std::vector<std::pair<Entry*, v1::RequestStats>> merges;
  for (const v1::FilterState& state : request.states()) {
    if (state.app() != request.agent().app()) {
      return absl::InvalidArgumentError(absl::StrCat("state of app ", state.app(),
                                                     " in a merge for app ", request.agent().app()));
    }
    auto found = entries_.find(std::make_tuple(state.middlepipe(), state.app(), state.service()));
    if (found == entries_.end() || found->second->kind != state.kind()) {
      return absl::NotFoundError(absl::StrCat("no ", state.kind(), " middlepipe ", state.middlepipe(),
                                              " bound to ", state.app(), " -> ", state.service()));
    }
    // A deciding kind's state is the cluster's own already; only statistics merge.
    if (found->second->aggregate != nullptr) continue;
    v1::RequestStats stats;
    if (!stats.ParseFromString(state.state()) || !CheckRequestStats(stats).ok()) {
      return absl::InvalidArgumentError(absl::StrCat("state of ", state.middlepipe(),
                                                     " is not valid request statistics"));
    }
    merges.push_back({found->second.get(), std::move(stats)});
  }
  for (auto& [entry, stats] : merges) {
    entry->window.Add(now, stats);
    AddRequestStats(entry->total, stats);
    counters_.observations += stats.requests();
  }
  return static_cast<uint32_t>(merges.size());
}

v1::ExportStateResponse Aggregation::ExportState(const v1::ExportStateRequest& request) const {
  const int64_t now = options_.clock();
  std::lock_guard<std::mutex> lock(mu_);
  v1::ExportStateResponse response;
  for (const auto& [key, entry] : entries_) {
    if (entry->app != request.app() || entry->aggregate == nullptr) continue;
    if (!request.middlepipes().empty() &&
        std::find(request.middlepipes().begin(), request.middlepipes().end(), entry->middlepipe) ==
            request.middlepipes().end()) {
      continue;
    }
    std::optional<std::string> exported = entry->aggregate->ExportState(now);
    if (!exported.has_value()) continue;
    v1::FilterState* state = response.add_states();
    state->set_middlepipe(entry->middlepipe);
    state->set_kind(entry->kind);
    state->set_app(entry->app);
    state->set_service(entry->service);
    state->set_state(*exported);
  }
  return response;
}

AggregatorCounters Aggregation::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counters_;
}

}  // namespace middlepipe::aggregator

#include "filter-agent/reporter.h"

#include "common/logger.h"

namespace middlepipe::agent {

Reporter::Reporter(ReporterOptions options, const scheduler::ChainTable* chains, Logger* logger)
    : options_(std::move(options)),
      chains_(chains),
      logger_(logger),
      incarnation_(static_cast<uint64_t>(NowUnixMillis())) {}

Reporter::~Reporter() { Stop(); }

void Reporter::Start() { thread_ = std::thread([this] { Run(); }); }

void Reporter::Stop() {
  if (!thread_.joinable()) return;
  loop_.Stop(/*cancel_active=*/false);  // let the stream send its last batch
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!finished_changed_.wait_for(lock, options_.drain_timeout, [this] { return finished_; })) {
      logger_->Warning("aggregator did not take the last report batch within ",
                       options_.drain_timeout.count(), " ms");
    }
  }
  loop_.CancelActive();
  thread_.join();
}

size_t Reporter::unacknowledged() const {
  std::lock_guard<std::mutex> lock(mu_);
  return unacknowledged_.size();
}

void Reporter::Run() {
  do {
    const std::string address = options_.aggregator_address();
    if (!address.empty()) RunStream(address);  // none (yet): filters keep their deltas
  } while (loop_.SleepFor(options_.interval));
  std::lock_guard<std::mutex> lock(mu_);
  finished_ = true;
  finished_changed_.notify_all();
}

v1::AgentIdentity Reporter::Identity() const {
  v1::AgentIdentity identity;
  identity.set_app(options_.app);
  identity.set_instance(options_.instance);
  identity.set_incarnation(incarnation_);
  return identity;
}

bool Reporter::Collect() {
  std::shared_ptr<const scheduler::ChainSet> chains = chains_->Current();
  if (chains == nullptr) return false;
  const int64_t now = NowUnixMillis();
  v1::ReportBatch batch;
  auto add = [&](const std::string& service, const v1::FilterSpec& spec, v1::Report report) {
    report.set_middlepipe(spec.middlepipe());
    report.set_kind(spec.kind());
    report.set_app(options_.app);
    report.set_service(service);
    report.set_instance(options_.instance);
    report.set_interval_end_unix_ms(now);
    report.set_interval_start_unix_ms(now - options_.interval.count());
    report.set_epoch(chains->epoch());
    *batch.add_reports() = std::move(report);
  };
  for (const auto& [service, chain] : chains->chains()) {
    for (const auto& entry : chain->entries()) {
      v1::Report report;
      entry.filter->TakeReport(report);
      const v1::RequestStats& stats = report.request_stats();
      if (stats.requests() == 0 && stats.counters().empty() && stats.status_classes().empty()) {
        continue;
      }
      add(service, entry.spec, std::move(report));
    }
  }
  for (const auto& [service, chain] : chains->packet_chains()) {
    for (const auto& entry : chain->entries()) {
      v1::Report report;
      entry.filter->TakeReport(report);
      if (!report.has_packet_stats() && report.alerts().empty()) continue;
      add(service, entry.spec, std::move(report));
    }
  }
  if (batch.reports_size() == 0) return false;
  *batch.mutable_agent() = Identity();
  std::lock_guard<std::mutex> lock(mu_);
  batch.set_sequence(++sequence_);
  batch.set_dropped_reports(dropped_reports_);
  dropped_reports_ = 0;
  unacknowledged_.push_back(std::move(batch));
  if (unacknowledged_.size() > kMaxUnacknowledged) {
    dropped_reports_ += static_cast<uint64_t>(unacknowledged_.front().reports_size());
    unacknowledged_.pop_front();
  }
  return true;
}

void Reporter::Apply(const v1::DecisionBatch& decisions) {
  if (decisions.acknowledged_sequence() != 0) {
    std::lock_guard<std::mutex> lock(mu_);
    while (!unacknowledged_.empty() &&
           unacknowledged_.front().sequence() <= decisions.acknowledged_sequence()) {
      unacknowledged_.pop_front();
    }
  }
  std::shared_ptr<const scheduler::ChainSet> chains = chains_->Current();
  if (chains == nullptr) return;
  for (const v1::Decision& decision : decisions.decisions()) {
    const scheduler::RequestChain* chain = chains->Find(decision.service());
    scheduler::RequestFilter* filter = chain ? chain->Find(decision.middlepipe()) : nullptr;
    if (filter == nullptr || decision.app() != options_.app) continue;  // not (or no longer) ours
    filter->OnDecision(decision);
    ++decisions_applied_;
  }
}

void Reporter::RunStream(const std::string& address) {
  auto stub = v1::Aggregator::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  if (!loop_.Enter(&context)) return;
  auto stream = stub->Exchange(&context);
  // Decisions and acknowledgements arrive whenever the aggregator sends them.
  std::thread reader([&] {
    v1::DecisionBatch decisions;
    while (stream->Read(&decisions)) Apply(decisions);
  });
  // Everything not acknowledged yet goes first, in order; an empty batch (sequence 0)
  // introduces the agent when there is nothing, so decisions reach it before it reports.
  std::deque<v1::ReportBatch> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending = unacknowledged_;
  }
  if (pending.empty()) {
    pending.emplace_back();
    *pending.back().mutable_agent() = Identity();
  }
  bool healthy = true;
  auto write = [&](const v1::ReportBatch& batch) {
    healthy = healthy && stream->Write(batch);
    if (!healthy) return;
    ++batches_sent_;
    if (!connected_.exchange(true)) {
      std::lock_guard<std::mutex> lock(mu_);
      logger_->Info(warned_ ? "aggregator reachable again at " : "reporting to the aggregator at ",
                    address);
      warned_ = false;
    }
  };
  for (const v1::ReportBatch& batch : pending) write(batch);
  auto write_newest = [&] {
    if (!Collect()) return;
    v1::ReportBatch newest;
    {
      std::lock_guard<std::mutex> lock(mu_);
      newest = unacknowledged_.back();
    }
    write(newest);
  };
  while (healthy && loop_.SleepFor(options_.interval)) write_newest();
  if (healthy && loop_.stopped()) write_newest();  // the last deltas before the agent goes
  stream->WritesDone();
  // Finish only once the reader is done: a Read still waiting for the server's initial
  // metadata and Finish's own wait for it may not be in flight together (gRPC aborts the
  // process: "API misuse ... TOO_MANY_OPERATIONS"; seen when the aggregator was killed).
  // The Read ends when the server closes the stream, the call breaks, or Stop() cancels.
  reader.join();
  grpc::Status status = stream->Finish();
  connected_.store(false);
  loop_.Leave();
  std::lock_guard<std::mutex> lock(mu_);
  if (!loop_.stopped() && !warned_) {
    warned_ = true;
    logger_->Warning("aggregator at ", address, " not taking reports (",
                     status.ok() ? "stream ended" : status.error_message(),
                     "); filters decide locally until it is back");
  }
}

}  // namespace middlepipe::agent

#include "filter-agent/reporter.h"

#include "common/logger.h"

namespace middlepipe::agent {

Reporter::Reporter(ReporterOptions options, const scheduler::ChainTable* chains, Logger* logger)
    : options_(std::move(options)), chains_(chains), logger_(logger) {}

Reporter::~Reporter() { Stop(); }

void Reporter::Start() { thread_ = std::thread([this] { Run(); }); }

void Reporter::Stop() {
  loop_.Stop();
  if (thread_.joinable()) thread_.join();
}

void Reporter::Run() {
  while (loop_.SleepFor(options_.interval)) {
    const std::string address = options_.aggregator_address();
    if (address.empty()) continue;  // no aggregator (yet): filters keep their deltas
    RunStream(address);
  }
}

bool Reporter::Collect(v1::ReportBatch& batch) {
  std::shared_ptr<const scheduler::ChainSet> chains = chains_->Current();
  if (chains == nullptr) return false;
  const int64_t now = NowUnixMillis();
  for (const auto& [service, chain] : chains->chains()) {
    for (const auto& entry : chain->entries()) {
      v1::Report report;
      entry.filter->TakeReport(report);
      const v1::RequestStats& stats = report.request_stats();
      if (stats.requests() == 0 && stats.counters().empty() && stats.status_classes().empty()) {
        continue;
      }
      report.set_middlepipe(entry.spec.middlepipe());
      report.set_kind(entry.spec.kind());
      report.set_app(options_.app);
      report.set_service(service);
      report.set_instance(options_.instance);
      report.set_interval_end_unix_ms(now);
      report.set_interval_start_unix_ms(now - options_.interval.count());
      report.set_epoch(chains->epoch());
      *batch.add_reports() = std::move(report);
    }
  }
  return batch.reports_size() > 0;
}

void Reporter::Apply(const v1::DecisionBatch& decisions) {
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
  // Decisions arrive whenever the aggregator decides; a reader thread applies them.
  std::thread reader([&] {
    v1::DecisionBatch decisions;
    while (stream->Read(&decisions)) Apply(decisions);
  });
  bool first = true;
  while (first || loop_.SleepFor(options_.interval)) {
    first = false;
    v1::ReportBatch batch;
    batch.mutable_agent()->set_app(options_.app);
    batch.mutable_agent()->set_instance(options_.instance);
    if (!Collect(batch)) continue;
    batch.set_sequence(++sequence_);
    batch.set_dropped_reports(dropped_reports_);
    if (!stream->Write(batch)) {
      dropped_reports_ += static_cast<uint64_t>(batch.reports_size());
      break;
    }
    dropped_reports_ = 0;
    ++batches_sent_;
    if (!connected_.exchange(true)) {
      std::lock_guard<std::mutex> lock(mu_);
      if (warned_) logger_->Info("aggregator at ", address, " reachable again");
      warned_ = false;
    }
  }
  stream->WritesDone();
  grpc::Status status = stream->Finish();
  reader.join();
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

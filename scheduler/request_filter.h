// The request half of the filter API (DESIGN.md §6).
//
// A request filter sees each call twice: OnRequest before the app's client sends it, and
// OnResponse after it completed. Filters of a chain run in order; the first that answers
// kRespond ends the request phase (later filters do not see the request, and none of the
// chain sees a response from the service). Filters add marker headers to the call; the
// hook puts them on the response the app sees.
//
// Threading: OnRequest/OnResponse run concurrently on many app threads, and a filter's
// state is shared by the chain of the epoch that built it and the chain of the next epoch
// (AdoptState), so filters guard their state themselves. Config is immutable once built.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/hook.pb.h"
#include "proto/middlepipe.pb.h"
#include "scheduler/fast_path.h"

namespace middlepipe::scheduler {

// What a request-level hook returns, for each filter and for the chain.
enum class FilterStatus {
  // Let the request go on to the next filter (and then to the service).
  kContinue,
  // Do not send the request: the call's `response` is the answer (e.g. breaker open).
  kRespond,
};

// Milliseconds on a monotonic clock; tests pass a fake one.
using Clock = std::function<int64_t()>;
Clock SteadyClockMillis();

// One call as it passes through a chain.
struct RequestCall {
  // The request about to be sent.
  v1::OnRequest request;
  // Set by a filter that answers kRespond.
  v1::SynthesizedResponse response;
  // The completed call (for OnResponse): status 0 = transport failure.
  uint32_t status = 0;
  uint64_t latency_us = 0;
  std::string transport_error;
  // Marker headers for the response the app sees, in the order filters added them.
  std::vector<v1::Header> markers;
  // Per-filter notes carried from OnRequest to OnResponse (by position in the chain),
  // e.g. "this call used a half-open trial permit".
  std::vector<uint32_t> notes;
  // Set by the chain after OnRequest: some filter's OnResponse may add markers for this
  // call, so the hook must wait for the OnResponse reply.
  bool response_may_mark = false;
  // Set by a filter that delays the request (fault injection): the hook waits this long
  // before sending, and the wait counts in the call's latency.
  uint32_t delay_ms = 0;
  // Set by a filter that sends the request elsewhere (traffic split): the service the
  // hook sends it to instead of request.service, and where that service can be reached.
  std::string destination_service;
  std::vector<v1::Endpoint> destination_endpoints;

  void AddMarker(const std::string& name, const std::string& value);
  // The value of the request's first header called `name` (case-insensitive), if any.
  std::optional<std::string> RequestHeader(absl::string_view name) const;
};

// Builds `Middlepipe-Callback: <kind>; name="<middlepipe>"; event=<event>[; detail="…"]`.
v1::Header CallbackMarker(absl::string_view kind, absl::string_view middlepipe,
                          absl::string_view event, absl::string_view detail = "");

class RequestFilter {
 public:
  virtual ~RequestFilter() = default;

  // Decides on a request about to be sent. `note` is this filter's slot in call.notes.
  virtual FilterStatus OnRequest(RequestCall& call, uint32_t& note) = 0;
  // Observes the completed call. Only called when the chain continued to the service.
  virtual void OnResponse(RequestCall& call, uint32_t note) {}
  // Whether OnResponse may add markers for a call that OnRequest let through with
  // `note`. When no filter of the chain may, the hook does not wait for the OnResponse
  // reply. Say true unless sure.
  virtual bool MayMarkResponse(uint32_t note) const { return true; }
  // A decision from the user's aggregator for this filter.
  virtual void OnDecision(const v1::Decision& decision) {}

  // The shared-memory fast path (fast_path.h). What this filter would decide for the
  // next call, without seeing it; Ask() (the default) when it cannot say.
  virtual FastPathPlan CompileFastPath(FastPathContext& context) { return FastPathPlan::Ask(); }
  // A call the client core decided from the compiled plan reached this filter: count
  // what OnRequest would have counted, and return the note OnRequest would have left for
  // OnResponse.
  virtual uint32_t OnFastPathRequest(const FastPathCall& call) { return 0; }

  // Takes over the state of the same middlepipe's filter from the previous epoch (same
  // kind guaranteed), so a new epoch does not reset counters or an open breaker.
  virtual void AdoptState(RequestFilter& previous) {}

  // State as the kind serializes it (OpenMB): Export it to clone into a new instance
  // (Import) or to fold a departing instance into one that stays (Merge). Import
  // replaces what the filter holds; Merge combines, never losing what either counted.
  // Both refuse state they cannot read with INVALID_ARGUMENT and change nothing then.
  virtual std::string ExportState() const { return ""; }
  virtual absl::Status ImportState(absl::string_view state) { return absl::OkStatus(); }
  virtual absl::Status MergeState(absl::string_view state) { return absl::OkStatus(); }

  // Moves what was observed since the last call into `report` (a delta).
  virtual void TakeReport(v1::Report& report) {}
};

// What a factory gets to build one filter of one chain.
struct FilterSpecContext {
  const v1::FilterSpec& spec;
  const std::string& app;
  const std::string& service;
  const Clock& clock;
};

using RequestFilterFactory =
    std::function<absl::StatusOr<std::unique_ptr<RequestFilter>>(const FilterSpecContext&)>;

}  // namespace middlepipe::scheduler

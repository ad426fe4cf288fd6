#include "clients/cpp/fastpath/client.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iterator>
#include <random>
#include <cstdio>
#include <cstdlib>

#include "common/markers.h"
#include "fastpath/gcra.h"
#include "fastpath/key_table.h"

namespace middlepipe::fastpath {
namespace {

}  // namespace

std::string DefaultSegmentPath() {
  return markers::AgentSegmentPath({}, markers::AgentSocketPath());
}

Client::Client() : Client(ClientOptions()) {}

Client::Client(ClientOptions options) : options_(std::move(options)) {
  if (options_.path.empty()) options_.path = DefaultSegmentPath();
  if (!options_.now_us) options_.now_us = MonotonicMicros;
  uint64_t seed = options_.seed;
  while (seed == 0) seed = (uint64_t{std::random_device()()} << 32) | std::random_device()();
  random_state_.store(seed, std::memory_order_relaxed);
  if (!options_.log) {
    options_.log = [](const std::string& line) { std::fprintf(stderr, "middlepipe: %s\n", line.c_str()); };
  }
}

Client::~Client() = default;

void Client::Say(const std::string& line) { options_.log(line); }

std::shared_ptr<Segment> Client::Usable(int64_t now_ms) {
  auto fresh = [&](const Segment& segment) {
    const auto beat = static_cast<int64_t>(segment.header().heartbeat_ms.load(std::memory_order_relaxed));
    return now_ms - beat <= options_.stale_after_ms && beat - now_ms <= options_.stale_after_ms;
  };
  if (segment_ != nullptr && fresh(*segment_)) return segment_;
  if (now_ms < next_attach_ms_) return nullptr;
  next_attach_ms_ = now_ms + options_.retry_after_ms;
  // The agent may have restarted with a new segment under the same name.
  std::string error;
  std::shared_ptr<Segment> attached = Segment::Attach(options_.path, &error);
  if (attached != nullptr && fresh(*attached)) {
    segment_ = std::move(attached);
    bindings_.clear();
    if (said_unusable_) Say("fast path " + options_.path + " is back");
    said_unusable_ = false;
    return segment_;
  }
  // No segment at all is an agent that publishes none, or no agent (whose socket says
  // so): nothing to tell. One that is there but unusable is worth a line.
  const bool absent = attached == nullptr && access(options_.path.c_str(), F_OK) != 0 && errno == ENOENT;
  if (!said_unusable_ && !absent) {
    Say("fast path unavailable (" + (attached != nullptr ? options_.path + ": the agent stopped beating" : error) +
        "); calls ask the agent over its socket");
    said_unusable_ = true;
  }
  segment_ = nullptr;
  return nullptr;
}

bool Client::Lookup(Segment& segment, const std::string& service, Binding* binding) {
  const uint64_t directory = segment.header().directory_seq.load(std::memory_order_acquire);
  if (directory % 2 != 0) return false;
  Binding& cached = bindings_[service];
  std::string payload;
  uint64_t seq = 0;
  if (cached.directory_seq == directory && cached.program != nullptr) {
    if (segment.slot(static_cast<uint32_t>(cached.slot)).seq.load(std::memory_order_acquire) == cached.slot_seq) {
      *binding = cached;
      return true;
    }
  } else if (cached.directory_seq == directory && cached.slot == -1 && directory != 0) {
    *binding = cached;  // known: no binding for this service in this directory
    return true;
  }
  // Find the service's slot (the directory changed, or its program did).
  bool unreadable = false;
  Binding found;
  found.directory_seq = directory;
  for (uint32_t index = 0; index < segment.geometry().binding_slots; ++index) {
    if (!segment.ReadSlot(index, &payload, &seq)) {
      unreadable = true;
      continue;
    }
    if (payload.empty()) continue;
    auto program = std::make_shared<Program>();
    std::string error;
    if (!Decode(payload, program.get(), &error)) {
      unreadable = true;
      continue;
    }
    if (program->service != service) continue;
    found.slot = static_cast<int>(index);
    found.slot_seq = seq;
    found.program = std::move(program);
    break;
  }
  if (segment.header().directory_seq.load(std::memory_order_acquire) != directory) return false;
  // Not found: it may be in a slot we could not read, or have no slot at all.
  if (found.program == nullptr &&
      (unreadable || segment.header().unlisted.load(std::memory_order_relaxed) != 0)) {
    return false;
  }
  cached = found;
  *binding = found;
  return true;
}

Verdict Client::OnRequest(const std::string& service, const Request& request) {
  Verdict verdict = Decide(service, request);
  (verdict.action == Action::kAskAgent ? asked_ : decided_).fetch_add(1, std::memory_order_relaxed);
  return verdict;
}

double Client::Roll() {
  uint64_t z = random_state_.fetch_add(0x9e3779b97f4a7c15ull, std::memory_order_relaxed) +
               0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * 0x1.0p-53;
}

namespace {

// `text` with every kKeyPlaceholder replaced by `with`.
std::string WithKey(std::string text, const std::string& with) {
  const std::string placeholder = kKeyPlaceholder;
  for (size_t at = text.find(placeholder); at != std::string::npos; at = text.find(placeholder, at + with.size())) {
    text.replace(at, placeholder.size(), with);
  }
  return text;
}

const std::string* FindHeader(const HeaderList& headers, const std::string& name) {
  for (const auto& [key, value] : headers) {
    if (markers::HeaderNameEquals(key, name)) return &value;
  }
  return nullptr;
}

// What the first pass found out for the second: the keyed limit's key and its slot.
struct KeyedCall {
  std::string key;
  int slot = -1;
};

// Whether the client core can decide the call alone, found out before any step takes a
// token: a call handed to the agent must not have used anything up. A chain has at most
// one keyed limit decided here (the observation has room for one key).
bool Decidable(const Program& program, const Segment& segment, const Request& request, KeyedCall* keyed) {
  const uint64_t cells = segment.geometry().cell_count;
  bool keyed_seen = false;
  for (const Step& step : program.steps) {
    switch (step.kind) {
      case Step::Kind::kRespond:
        break;
      case Step::Kind::kTakeToken:
        if (step.cell >= cells) return false;  // corrupt: the agent decides
        break;
      case Step::Kind::kFault:
      case Step::Kind::kRoute:
        // They change the call: only a caller that applies a delay and a route may have them.
        if (!request.applies_delay_and_destination || step.filter_index >= kChoiceFilters) return false;
        if (!step.sticky_header.empty() && request.headers == nullptr) return false;  // the key is there
        break;
      case Step::Kind::kTakeKeyedToken: {
        if (request.headers == nullptr || keyed_seen) return false;
        if (uint64_t{step.cell} + 2ull * step.key_slots > cells) return false;
        keyed_seen = true;
        const std::string* value = FindHeader(*request.headers, step.key_header);
        keyed->key = value != nullptr ? *value : "";
        keyed->slot = KeyTable(&segment.cell(step.cell), step.key_slots).Find(KeyTag(keyed->key));
        if (keyed->slot < 0) return false;  // a new key: the agent makes its bucket
        break;
      }
    }
  }
  return true;
}

}  // namespace

Verdict Client::Decide(const std::string& service, const Request& request) {
  Verdict verdict;
  const int64_t now_us = options_.now_us();
  const int64_t now_ms = now_us / 1000;
  Binding binding;
  {
    std::lock_guard<std::mutex> lock(mu_);
    verdict.segment = Usable(now_ms);
    if (verdict.segment == nullptr || !Lookup(*verdict.segment, service, &binding)) {
      verdict.segment = nullptr;
      return verdict;  // kAskAgent
    }
  }
  if (binding.program == nullptr) {
    verdict.action = Action::kNoChain;
    verdict.segment = nullptr;
    return verdict;
  }
  const Program& program = *binding.program;
  KeyedCall keyed;
  if (!program.fast || now_ms >= program.valid_until_ms ||
      !Decidable(program, *verdict.segment, request, &keyed)) {
    verdict.segment = nullptr;
    return verdict;  // kAskAgent
  }
  verdict.epoch = program.epoch;
  verdict.binding_id = program.binding_id;
  verdict.filter_count = program.filter_count;
  std::pair<std::string, std::string> epoch_marker{markers::kEpochHeader,
                                                   std::to_string(program.epoch)};
  HeaderList markers;  // of the steps so far, in chain order, as the agent's chain adds them
  // Decidable() checked everything that could send the call to the agent: from here on
  // every step decides.
  for (const Step& step : program.steps) {
    int64_t wait_us = 0;
    bool answer = step.kind == Step::Kind::kRespond;
    std::string key_named;  // what a keyed limit's answer says of the key
    if (step.kind == Step::Kind::kTakeToken) {
      wait_us = TakeToken(verdict.segment->cell(step.cell), step.interval_us, step.tolerance_us, now_us);
      answer = wait_us != 0;
    } else if (step.kind == Step::Kind::kTakeKeyedToken) {
      const KeyTable table(&verdict.segment->cell(step.cell), step.key_slots);
      verdict.key_slot = static_cast<uint16_t>(keyed.slot + 1);
      wait_us = TakeToken(table.bucket(static_cast<uint32_t>(keyed.slot)), step.interval_us, step.tolerance_us,
                          now_us);
      answer = wait_us != 0;
      if (!keyed.key.empty()) key_named = step.key_prefix + keyed.key;
    } else if (step.kind == Step::Kind::kFault) {
      answer = step.abort_percent > 0 && Roll() * 100 < step.abort_percent;
      if (!answer && step.delay_percent > 0 && step.delay_ms > 0 && Roll() * 100 < step.delay_percent) {
        verdict.delay_ms = std::max(verdict.delay_ms, step.delay_ms);
        markers.insert(markers.end(), step.delay_markers.begin(), step.delay_markers.end());
        verdict.choices[step.filter_index] = 1;
      }
    } else if (step.kind == Step::Kind::kRoute) {
      std::optional<size_t> chosen;
      if (step.sticky_header.empty()) {
        chosen = WeightedRoute(step.routes, Roll());
      } else if (const std::string* key = FindHeader(*request.headers, step.sticky_header)) {
        chosen = StickyRoute(step.routes, *key);
      } else {
        chosen = WeightedRoute(step.routes, Roll());
      }
      if (chosen.has_value()) {
        verdict.choices[step.filter_index] = static_cast<uint8_t>(std::min<size_t>(*chosen + 1, 255));
        const RouteTarget& target = step.targets[*chosen];
        verdict.destination_service = target.own ? "" : step.routes[*chosen].service;
        verdict.destination_endpoints = target.own ? decltype(target.endpoints)() : target.endpoints;
      }
    }
    if (!answer) continue;
    markers.insert(markers.end(), step.markers.begin(), step.markers.end());
    verdict.action = Action::kRespond;
    verdict.response = step.response;
    if (step.kind == Step::Kind::kTakeKeyedToken) {
      for (size_t i = markers.size() - step.markers.size(); i < markers.size(); ++i) {
        markers[i].second = WithKey(std::move(markers[i].second), key_named);
      }
      verdict.response.body = WithKey(std::move(verdict.response.body), key_named);
    }
    if (step.kind == Step::Kind::kTakeToken || step.kind == Step::Kind::kTakeKeyedToken) {
      verdict.response.headers.insert(verdict.response.headers.begin(),
                                      {"Retry-After", std::to_string(RetryAfterSeconds(wait_us))});
    }
    verdict.response.headers.insert(verdict.response.headers.end(), markers.begin(), markers.end());
    verdict.response.headers.push_back(epoch_marker);
    verdict.markers = std::move(markers);
    verdict.markers.push_back(epoch_marker);
    verdict.delay_ms = 0;
    verdict.destination_service.clear();
    verdict.destination_endpoints.clear();
    // The agent counts the answered call as its filters would have.
    ObservationData observation;
    observation.binding_id = program.binding_id;
    observation.epoch = program.epoch;
    observation.answered_by = step.filter_index;
    observation.filter_count = program.filter_count;
    observation.key_slot = verdict.key_slot;
    std::copy(std::begin(verdict.choices), std::end(verdict.choices), std::begin(observation.choices));
    verdict.segment->Append(observation);
    verdict.segment = nullptr;
    return verdict;
  }
  verdict.action = Action::kContinue;
  verdict.markers = std::move(markers);
  verdict.markers.push_back(std::move(epoch_marker));
  return verdict;
}

void Client::OnResponse(const Verdict& verdict, uint32_t status, uint64_t latency_us,
                        uint64_t request_bytes, uint64_t response_bytes) {
  if (verdict.action != Action::kContinue || verdict.segment == nullptr) return;
  ObservationData observation;
  observation.binding_id = verdict.binding_id;
  observation.epoch = verdict.epoch;
  observation.latency_us = latency_us;
  observation.request_bytes = request_bytes;
  observation.response_bytes = response_bytes;
  observation.status = status;
  observation.filter_count = verdict.filter_count;
  observation.key_slot = verdict.key_slot;
  std::copy(std::begin(verdict.choices), std::end(verdict.choices), std::begin(observation.choices));
  verdict.segment->Append(observation);
}

bool Client::attached() {
  std::lock_guard<std::mutex> lock(mu_);
  return Usable(options_.now_us() / 1000) != nullptr;
}

uint64_t Client::dropped() {
  std::lock_guard<std::mutex> lock(mu_);
  return segment_ != nullptr ? segment_->header().ring_dropped.load(std::memory_order_relaxed) : 0;
}

}  // namespace middlepipe::fastpath

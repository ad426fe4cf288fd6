#include "fastpath/program.h"

#include <cmath>
#include <cstring>

#include "fastpath/gcra.h"

namespace middlepipe::fastpath {
namespace {

// Field limits a decoded program must respect.
constexpr uint32_t kMaxText = 64 * 1024;
constexpr uint32_t kMaxHeaders = 256;
constexpr uint32_t kMaxSteps = 64;
constexpr uint32_t kMaxRoutes = 256;
constexpr uint32_t kMaxEndpoints = 1024;
// Slots of a key table (ObservationData::key_slot holds slot + 1 in 16 bits).
constexpr uint32_t kMaxKeySlots = 1u << 15;

class Writer {
 public:
  void U8(uint8_t value) { out_.push_back(static_cast<char>(value)); }
  void U32(uint32_t value) {
    for (int i = 0; i < 4; ++i) U8(static_cast<uint8_t>(value >> (8 * i)));
  }
  void U64(uint64_t value) {
    for (int i = 0; i < 8; ++i) U8(static_cast<uint8_t>(value >> (8 * i)));
  }
  void Double(double value) {
    uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    U64(bits);
  }
  void Text(const std::string& text) {
    U32(static_cast<uint32_t>(text.size()));
    out_ += text;
  }
  void Headers(const HeaderList& headers) {
    U32(static_cast<uint32_t>(headers.size()));
    for (const auto& [name, value] : headers) {
      Text(name);
      Text(value);
    }
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(const std::string& bytes) : bytes_(bytes) {}
  bool ok() const { return ok_; }
  bool AtEnd() const { return at_ == bytes_.size(); }

  uint8_t U8() {
    if (!Need(1)) return 0;
    return static_cast<uint8_t>(bytes_[at_++]);
  }
  uint32_t U32() {
    uint32_t value = 0;
    if (!Need(4)) return 0;
    for (int i = 0; i < 4; ++i) value |= uint32_t{static_cast<uint8_t>(bytes_[at_++])} << (8 * i);
    return value;
  }
  uint64_t U64() {
    uint64_t value = 0;
    if (!Need(8)) return 0;
    for (int i = 0; i < 8; ++i) value |= uint64_t{static_cast<uint8_t>(bytes_[at_++])} << (8 * i);
    return value;
  }
  double Double() {
    const uint64_t bits = U64();
    double value = 0;
    std::memcpy(&value, &bits, sizeof value);
    return value;
  }
  std::string Text() {
    const uint32_t length = U32();
    if (length > kMaxText || !Need(length)) {
      ok_ = false;
      return "";
    }
    std::string text = bytes_.substr(at_, length);
    at_ += length;
    return text;
  }
  HeaderList Headers() {
    HeaderList headers;
    const uint32_t count = U32();
    if (count > kMaxHeaders) ok_ = false;
    for (uint32_t i = 0; ok_ && i < count; ++i) {
      std::string name = Text();
      std::string value = Text();
      headers.emplace_back(std::move(name), std::move(value));
    }
    return headers;
  }

 private:
  bool Need(size_t count) {
    if (!ok_ || bytes_.size() - at_ < count) ok_ = false;
    return ok_;
  }

  const std::string& bytes_;
  size_t at_ = 0;
  bool ok_ = true;
};

bool Percent(double value) { return std::isfinite(value) && value >= 0 && value <= 100; }

void EncodeRoutes(const Step& step, Writer& out) {
  out.Text(step.sticky_header);
  out.U32(static_cast<uint32_t>(step.routes.size()));
  for (size_t i = 0; i < step.routes.size(); ++i) {
    const RouteWeight& route = step.routes[i];
    const RouteTarget& target = step.targets[i];
    out.Text(route.service);
    out.Double(route.weight);
    out.U8(static_cast<uint8_t>((route.reachable ? 1 : 0) | (target.own ? 2 : 0)));
    out.U32(static_cast<uint32_t>(target.endpoints.size()));
    for (const auto& [host, port] : target.endpoints) {
      out.Text(host);
      out.U32(port);
    }
  }
}

// False for routes a client must not act on.
bool DecodeRoutes(Reader& in, Step& step) {
  step.sticky_header = in.Text();
  const uint32_t count = in.U32();
  if (count > kMaxRoutes) return false;
  for (uint32_t i = 0; in.ok() && i < count; ++i) {
    RouteWeight& route = step.routes.emplace_back();
    RouteTarget& target = step.targets.emplace_back();
    route.service = in.Text();
    route.weight = in.Double();
    const uint8_t flags = in.U8();
    route.reachable = (flags & 1) != 0;
    target.own = (flags & 2) != 0;
    const uint32_t endpoints = in.U32();
    if (!std::isfinite(route.weight) || route.weight < 0 || endpoints > kMaxEndpoints) return false;
    for (uint32_t e = 0; in.ok() && e < endpoints; ++e) {
      std::string host = in.Text();
      target.endpoints.emplace_back(std::move(host), in.U32());
    }
    // A reachable route goes somewhere: its own service, or an endpoint.
    if (route.reachable && !target.own && target.endpoints.empty()) return false;
  }
  return true;
}

}  // namespace

std::string Encode(const Program& program) {
  Writer out;
  out.U64(program.binding_id);
  out.U64(program.epoch);
  out.Text(program.service);
  out.U8(program.fast ? 1 : 0);
  out.U64(static_cast<uint64_t>(program.valid_until_ms));
  out.U8(program.filter_count);
  out.U32(static_cast<uint32_t>(program.steps.size()));
  for (const Step& step : program.steps) {
    out.U8(static_cast<uint8_t>(step.kind));
    out.U8(step.filter_index);
    out.U32(step.cell);
    out.U64(static_cast<uint64_t>(step.interval_us));
    out.U64(static_cast<uint64_t>(step.tolerance_us));
    out.Headers(step.markers);
    out.U32(step.response.status);
    out.U8(step.response.raise ? 1 : 0);
    out.Headers(step.response.headers);
    out.Text(step.response.body);
    if (step.kind == Step::Kind::kFault) {
      out.Double(step.abort_percent);
      out.Double(step.delay_percent);
      out.U32(step.delay_ms);
      out.Headers(step.delay_markers);
    } else if (step.kind == Step::Kind::kRoute) {
      EncodeRoutes(step, out);
    } else if (step.kind == Step::Kind::kTakeKeyedToken) {
      out.Text(step.key_header);
      out.U32(step.key_slots);
      out.Text(step.key_prefix);
    }
  }
  return out.Take();
}

bool Decode(const std::string& bytes, Program* program, std::string* error) {
  Reader in(bytes);
  Program decoded;
  decoded.binding_id = in.U64();
  decoded.epoch = in.U64();
  decoded.service = in.Text();
  decoded.fast = in.U8() != 0;
  decoded.valid_until_ms = static_cast<int64_t>(in.U64());
  decoded.filter_count = in.U8();
  const uint32_t steps = in.U32();
  if (steps > kMaxSteps) {
    *error = "too many steps";
    return false;
  }
  for (uint32_t i = 0; in.ok() && i < steps; ++i) {
    Step step;
    const uint8_t kind = in.U8();
    if (kind < static_cast<uint8_t>(Step::Kind::kRespond) ||
        kind > static_cast<uint8_t>(Step::Kind::kTakeKeyedToken)) {
      *error = "unknown step kind " + std::to_string(kind);
      return false;
    }
    step.kind = static_cast<Step::Kind>(kind);
    step.filter_index = in.U8();
    step.cell = in.U32();
    step.interval_us = static_cast<int64_t>(in.U64());
    step.tolerance_us = static_cast<int64_t>(in.U64());
    step.markers = in.Headers();
    step.response.status = in.U32();
    step.response.raise = in.U8() != 0;
    step.response.headers = in.Headers();
    step.response.body = in.Text();
    if (step.kind == Step::Kind::kFault) {
      step.abort_percent = in.Double();
      step.delay_percent = in.Double();
      step.delay_ms = in.U32();
      step.delay_markers = in.Headers();
      if (!Percent(step.abort_percent) || !Percent(step.delay_percent)) {
        *error = "fault percentages out of range";
        return false;
      }
    } else if (step.kind == Step::Kind::kRoute && !DecodeRoutes(in, step) && in.ok()) {
      *error = "traffic split routes out of range";
      return false;
    } else if (step.kind == Step::Kind::kTakeKeyedToken) {
      step.key_header = in.Text();
      step.key_slots = in.U32();
      step.key_prefix = in.Text();
      if (in.ok() && (step.key_slots == 0 || step.key_slots > kMaxKeySlots ||
                      (step.key_slots & (step.key_slots - 1)) != 0)) {
        *error = "key table size out of range";
        return false;
      }
    }
    if (step.filter_index >= decoded.filter_count) {
      *error = "step names filter " + std::to_string(step.filter_index) + " of " +
               std::to_string(decoded.filter_count);
      return false;
    }
    if ((step.kind == Step::Kind::kTakeToken || step.kind == Step::Kind::kTakeKeyedToken) &&
        (step.interval_us < kMinIntervalUs || step.interval_us > kMaxIntervalUs ||
         step.tolerance_us < 0 || step.tolerance_us > kMaxToleranceUs)) {
      *error = "token bucket shape out of range";
      return false;
    }
    decoded.steps.push_back(std::move(step));
  }
  if (!in.ok()) {
    *error = "truncated program";
    return false;
  }
  if (!in.AtEnd()) {
    *error = "bytes after the program";
    return false;
  }
  *program = std::move(decoded);
  return true;
}

}  // namespace middlepipe::fastpath

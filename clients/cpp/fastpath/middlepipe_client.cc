// The C ABI over fastpath::Client. No C++ exception crosses it: allocation failures are
// the only ones the core can throw, and each entry point turns them into its "cannot"
// answer (NULL, MP_ASK_AGENT).
#include "clients/cpp/fastpath/middlepipe_client.h"

#include <new>
#include <string>
#include <string_view>

#include "clients/cpp/fastpath/client.h"

struct mp_client {
  middlepipe::fastpath::Client core;
  explicit mp_client(middlepipe::fastpath::ClientOptions options) : core(std::move(options)) {}
};

struct mp_call {
  middlepipe::fastpath::Verdict verdict;
  std::string markers;
  std::string headers;
  std::string endpoints;
};

namespace {

std::string Lines(const middlepipe::fastpath::HeaderList& headers) {
  std::string text;
  for (const auto& [name, value] : headers) text += name + ": " + value + "\n";
  return text;
}

// "Name: value" lines (\n or \r\n ends each; a line without a colon is skipped).
middlepipe::fastpath::HeaderList ParseLines(const char* text) {
  middlepipe::fastpath::HeaderList headers;
  std::string_view rest = text != nullptr ? text : "";
  while (!rest.empty()) {
    const size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  return headers;
}

mp_call* Decide(mp_client* client, const char* service, const middlepipe::fastpath::Request& request,
                int* action) {
  *action = MP_ASK_AGENT;
  if (client == nullptr || service == nullptr) return nullptr;
  try {
    middlepipe::fastpath::Verdict verdict = client->core.OnRequest(service, request);
    switch (verdict.action) {
      case middlepipe::fastpath::Action::kAskAgent:
        return nullptr;
      case middlepipe::fastpath::Action::kNoChain:
        *action = MP_NO_CHAIN;
        return nullptr;
      case middlepipe::fastpath::Action::kContinue:
      case middlepipe::fastpath::Action::kRespond:
        break;
    }
    auto* call = new mp_call{std::move(verdict), "", "", ""};
    call->markers = Lines(call->verdict.markers);
    call->headers = Lines(call->verdict.response.headers);
    for (const auto& [host, port] : call->verdict.destination_endpoints) {
      call->endpoints += host + ":" + std::to_string(port) + "\n";
    }
    *action = call->verdict.action == middlepipe::fastpath::Action::kRespond ? MP_RESPOND : MP_CONTINUE;
    return call;
  } catch (...) {
    *action = MP_ASK_AGENT;
    return nullptr;
  }
}

}  // namespace

extern "C" {

int mp_abi_version(void) { return MP_ABI_VERSION; }

mp_client* mp_client_open(const char* segment_path) {
  try {
    middlepipe::fastpath::ClientOptions options;
    if (segment_path != nullptr) options.path = segment_path;
    return new mp_client(std::move(options));
  } catch (...) {
    return nullptr;
  }
}

void mp_client_close(mp_client* client) { delete client; }

mp_call* mp_on_request(mp_client* client, const char* service, int* action) {
  return Decide(client, service, middlepipe::fastpath::Request(), action);
}

mp_call* mp_on_request_with(mp_client* client, const char* service, const char* headers,
                            int flags, int* action) {
  try {
    const middlepipe::fastpath::HeaderList parsed = ParseLines(headers);
    middlepipe::fastpath::Request request;
    request.headers = &parsed;
    request.applies_delay_and_destination = (flags & MP_APPLIES_DELAY_AND_DESTINATION) != 0;
    return Decide(client, service, request, action);
  } catch (...) {
    *action = MP_ASK_AGENT;
    return nullptr;
  }
}

void mp_on_response(mp_client* client, mp_call* call, uint32_t status, uint64_t latency_us,
                    uint64_t request_bytes, uint64_t response_bytes) {
  if (client != nullptr && call != nullptr) {
    client->core.OnResponse(call->verdict, status, latency_us, request_bytes, response_bytes);
  }
  delete call;
}

void mp_call_free(mp_call* call) { delete call; }

uint64_t mp_call_epoch(const mp_call* call) { return call != nullptr ? call->verdict.epoch : 0; }

const char* mp_call_markers(const mp_call* call) { return call != nullptr ? call->markers.c_str() : ""; }

uint32_t mp_call_status(const mp_call* call) {
  return call != nullptr ? call->verdict.response.status : 0;
}

int mp_call_raise(const mp_call* call) {
  return call != nullptr && call->verdict.response.raise ? 1 : 0;
}

const char* mp_call_headers(const mp_call* call) { return call != nullptr ? call->headers.c_str() : ""; }

const char* mp_call_body(const mp_call* call, size_t* length) {
  if (call == nullptr) {
    if (length != nullptr) *length = 0;
    return "";
  }
  if (length != nullptr) *length = call->verdict.response.body.size();
  return call->verdict.response.body.data();
}

uint32_t mp_call_delay_ms(const mp_call* call) { return call != nullptr ? call->verdict.delay_ms : 0; }

const char* mp_call_destination(const mp_call* call) {
  return call != nullptr ? call->verdict.destination_service.c_str() : "";
}

const char* mp_call_endpoints(const mp_call* call) { return call != nullptr ? call->endpoints.c_str() : ""; }

uint64_t mp_client_dropped(mp_client* client) { return client != nullptr ? client->core.dropped() : 0; }

}  // extern "C"

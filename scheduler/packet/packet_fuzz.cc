// libFuzzer target: the packet parser and the flow engine (one chain that reassembles both
// sides) on arbitrary bytes. Neither may crash, read out of bounds or leak; every packet
// either parses or is refused with an error. Built and run by tools/fuzz/run.
#include <cstddef>
#include <cstdint>

#include "scheduler/packet/flow_engine.h"
#include "scheduler/packet/packet.h"

namespace {

using namespace middlepipe::scheduler::packet;

// Wants every event, so every code path of the engine runs.
class EverythingFilter : public PacketFilter {
 public:
  void DefineEvents(EventDefinitions& events) override {
    for (EventId id = 0; id <= event::kRetransmit; ++id) events.Subscribe(id);
  }
  void OnEvent(FlowView& flow, const Event& event) override {
    if (event.id == event::kData && !event.data.empty() && event.data[0] == 'D') flow.DropFlow();
  }
};

class AnyResolver : public ChainResolver {
 public:
  AnyResolver() {
    std::vector<PacketChain::Entry> entries(1);
    entries[0].spec.set_middlepipe("fuzz");
    entries[0].filter = std::make_unique<EverythingFilter>();
    chain_ = std::make_shared<const PacketChain>("service", std::move(entries));
  }
  Resolution Resolve(const TcpPacket& packet) const override {
    return {chain_, packet.destination.port < packet.source.port ? Side::kClient : Side::kServer};
  }

 private:
  std::shared_ptr<const PacketChain> chain_;
};

}  // namespace

// The input is a sequence of packets, each prefixed by a 2-byte length.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static AnyResolver resolver;
  EngineOptions options;
  options.max_flows = 8;
  options.memory_limit = 1 << 16;
  options.reassembly.max_buffered = 4096;
  options.reassembly.max_history = 1024;
  FlowEngine engine(options, &resolver);
  int64_t now = 0;
  while (size >= 2) {
    const size_t length = std::min<size_t>(size - 2, static_cast<size_t>(data[0] << 8 | data[1]));
    // A copy of exactly the packet, so the sanitizer sees any read past it.
    std::string packet(reinterpret_cast<const char*>(data + 2), length);
    (void)engine.Process(packet, now);
    now += 100;
    data += 2 + length;
    size -= 2 + length;
  }
  engine.Expire(now + 1'000'000);
  return 0;
}

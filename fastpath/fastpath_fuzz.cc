// libFuzzer target: what a client core reads from the agent's shared-memory segment, which
// it must not trust (DESIGN.md §5). The input is laid over a small valid segment (so the
// header checks are reached with plausible sizes, and every byte of header, slots and
// ring can be corrupted) and, with the first byte odd, the file is cut to the input's
// length. Attach must refuse or accept without reading past the mapping; an attached
// segment's slots are read and their programs decoded, and one observation appended. The
// raw input is decoded as a program too. Built and run by tools/fuzz/run.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fastpath/program.h"
#include "fastpath/segment.h"

namespace {

using middlepipe::fastpath::Decode;
using middlepipe::fastpath::ObservationData;
using middlepipe::fastpath::Program;
using middlepipe::fastpath::Segment;

struct Baseline {
  std::string path;
  std::string bytes;
};

// A valid segment with small regions, made once per process.
const Baseline& MakeBaseline() {
  static const Baseline* baseline = [] {
    auto* made = new Baseline;
    const char* tmp = std::getenv("TMPDIR");
    made->path = std::string(tmp != nullptr ? tmp : "/tmp") + "/fastpath_fuzz." +
                 std::to_string(getpid()) + ".shm";
    Segment::Sizes sizes;
    sizes.binding_slots = 4;
    sizes.slot_words = 16;
    sizes.cell_count = 8;
    sizes.ring_capacity = 4;
    std::string error;
    std::unique_ptr<Segment> segment = Segment::Create(made->path, sizes, -1, &error);
    if (segment == nullptr) abort();
    Program program;
    program.service = "orders";
    segment->WriteSlot(0, middlepipe::fastpath::Encode(program));
    segment.reset();
    int fd = open(made->path.c_str(), O_RDONLY);
    char buffer[4096];
    for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) > 0;) made->bytes.append(buffer, n);
    close(fd);
    // The fuzzer exits through exit(); leave no file behind in TMPDIR.
    std::atexit([] { unlink(MakeBaseline().path.c_str()); });
    return made;
  }();
  return *baseline;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  Program program;
  std::string error;
  Decode(input, &program, &error);

  const Baseline& baseline = MakeBaseline();
  std::string file = baseline.bytes;
  const bool cut = size > 0 && (data[0] & 1) != 0;
  for (size_t i = 1; i < size && i - 1 < file.size(); ++i) {
    file[i - 1] = static_cast<char>(data[i]);
  }
  if (cut) file.resize(size - 1);
  int fd = open(baseline.path.c_str(), O_RDWR | O_TRUNC);
  if (fd < 0) abort();
  if (write(fd, file.data(), file.size()) != static_cast<ssize_t>(file.size())) abort();
  close(fd);

  std::unique_ptr<Segment> segment = Segment::Attach(baseline.path, &error);
  if (segment == nullptr) return 0;
  for (uint32_t i = 0; i < segment->geometry().binding_slots; ++i) {
    std::string payload;
    uint64_t seq = 0;
    if (segment->ReadSlot(i, &payload, &seq)) Decode(payload, &program, &error);
  }
  ObservationData observation;
  observation.status = 200;
  segment->Append(observation);
  return 0;
}

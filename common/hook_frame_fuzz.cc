// libFuzzer target: the hook protocol's decoding on the agent's side (DESIGN.md §5), which
// reads what any process in the container writes to its socket: length-prefixed frames
// (common/frame_codec) holding v1::HookRequest messages (proto/hook.proto). The input is
// the byte stream; every frame is read until the stream ends or a frame is refused, and
// each payload parsed as a request (and as a reply, which the hooks read). Nothing may
// crash, read out of bounds or leak. Built and run by tools/fuzz/run.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/frame_codec.h"
#include "proto/hook.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A memory file, so the reader sees a real descriptor and the writer never blocks.
  int fd = memfd_create("hook_frame_fuzz", MFD_CLOEXEC);
  if (fd < 0) abort();
  if (size > 0 && write(fd, data, size) != static_cast<ssize_t>(size)) abort();
  lseek(fd, 0, SEEK_SET);
  std::string payload;
  // A small bound as well as the real one, so the OUT_OF_RANGE path runs too.
  const uint32_t max_bytes = size > 0 && (data[0] & 1) != 0 ? 64 : middlepipe::kMaxFrameBytes;
  while (middlepipe::ReadFrame(fd, &payload, max_bytes).ok()) {
    middlepipe::v1::HookRequest request;
    if (request.ParseFromString(payload)) request.ByteSizeLong();
    middlepipe::v1::HookReply reply;
    reply.ParseFromString(payload);
  }
  close(fd);
  return 0;
}

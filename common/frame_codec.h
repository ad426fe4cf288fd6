// Length-prefixed frames on a stream socket (the hook protocol's transport, see
// proto/hook.proto): a 4-byte unsigned big-endian length N, then N bytes.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace middlepipe {

// The largest frame either side accepts.
inline constexpr uint32_t kMaxFrameBytes = 4 * 1024 * 1024;

// Reads one frame into `payload`. Errors:
//   NOT_FOUND           the peer closed the connection cleanly before a frame began;
//   OUT_OF_RANGE        the length exceeds `max_bytes` (the payload is not read);
//   DATA_LOSS           the connection ended in the middle of a frame;
//   UNAVAILABLE         a socket error.
absl::Status ReadFrame(int fd, std::string* payload, uint32_t max_bytes = kMaxFrameBytes);

// Writes one frame (header and payload in one system call where the kernel allows).
absl::Status WriteFrame(int fd, absl::string_view payload);

}  // namespace middlepipe

#include "common/frame_codec.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/status/statusor.h"

#include "absl/strings/str_cat.h"

namespace middlepipe {
namespace {

// Reads exactly `size` bytes; returns how many it got before EOF (== size on success).
absl::StatusOr<size_t> ReadFully(int fd, char* buffer, size_t size) {
  size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd, buffer + got, size - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("read: ", strerror(errno)));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

}  // namespace

absl::Status ReadFrame(int fd, std::string* payload, uint32_t max_bytes) {
  unsigned char header[4];
  absl::StatusOr<size_t> got = ReadFully(fd, reinterpret_cast<char*>(header), sizeof(header));
  if (!got.ok()) return got.status();
  if (*got == 0) return absl::NotFoundError("connection closed");
  if (*got < sizeof(header)) return absl::DataLossError("connection closed inside a frame header");
  const uint32_t length = (uint32_t{header[0]} << 24) | (uint32_t{header[1]} << 16) |
                          (uint32_t{header[2]} << 8) | uint32_t{header[3]};
  if (length > max_bytes) {
    return absl::OutOfRangeError(
        absl::StrCat("frame too large: ", length, " > ", max_bytes, " bytes"));
  }
  payload->resize(length);
  got = ReadFully(fd, payload->data(), length);
  if (!got.ok()) return got.status();
  if (*got < length) {
    return absl::DataLossError(
        absl::StrCat("connection closed inside a frame (", *got, " of ", length, " bytes)"));
  }
  return absl::OkStatus();
}

absl::Status WriteFrame(int fd, absl::string_view payload) {
  if (payload.size() > kMaxFrameBytes) {
    return absl::OutOfRangeError(absl::StrCat("frame too large: ", payload.size(), " bytes"));
  }
  const uint32_t length = static_cast<uint32_t>(payload.size());
  unsigned char header[4] = {static_cast<unsigned char>(length >> 24),
                             static_cast<unsigned char>(length >> 16),
                             static_cast<unsigned char>(length >> 8),
                             static_cast<unsigned char>(length)};
  iovec parts[2] = {{header, sizeof(header)},
                    {const_cast<char*>(payload.data()), payload.size()}};
  size_t total = sizeof(header) + payload.size();
  size_t sent = 0;
  while (sent < total) {
    // MSG_NOSIGNAL: a hook that went away must not kill the agent with SIGPIPE.
    msghdr message{};
    message.msg_iov = parts;
    message.msg_iovlen = 2;
    ssize_t n = sendmsg(fd, &message, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("write: ", strerror(errno)));
    }
    sent += static_cast<size_t>(n);
    // Advance the iovecs past what was sent.
    size_t skip = static_cast<size_t>(n);
    for (iovec& part : parts) {
      size_t used = std::min(skip, part.iov_len);
      part.iov_base = static_cast<char*>(part.iov_base) + used;
      part.iov_len -= used;
      skip -= used;
    }
  }
  return absl::OkStatus();
}

}  // namespace middlepipe

#include "common/frame_codec.h"

#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "gtest/gtest.h"

namespace middlepipe {
namespace {

class FrameCodecTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0); }
  void TearDown() override {
    close(fds_[0]);
    if (fds_[1] >= 0) close(fds_[1]);
  }
  void SendRaw(const std::string& bytes) {
    ASSERT_EQ(write(fds_[1], bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  void CloseWriter() {
    close(fds_[1]);
    fds_[1] = -1;
  }
  int fds_[2] = {-1, -1};
};

TEST_F(FrameCodecTest, RoundTripsFramesIncludingEmptyAndLarge) {
  const std::string large(1 << 20, 'x');
  std::thread writer([&] {
    EXPECT_TRUE(WriteFrame(fds_[1], "hello").ok());
    EXPECT_TRUE(WriteFrame(fds_[1], "").ok());
    EXPECT_TRUE(WriteFrame(fds_[1], large).ok());
  });
  std::string payload;
  ASSERT_TRUE(ReadFrame(fds_[0], &payload).ok());
  EXPECT_EQ(payload, "hello");
  ASSERT_TRUE(ReadFrame(fds_[0], &payload).ok());
  EXPECT_EQ(payload, "");
  ASSERT_TRUE(ReadFrame(fds_[0], &payload).ok());
  EXPECT_EQ(payload, large);
  writer.join();
}

TEST_F(FrameCodecTest, CleanCloseIsNotFound) {
  CloseWriter();
  std::string payload;
  EXPECT_EQ(ReadFrame(fds_[0], &payload).code(), absl::StatusCode::kNotFound);
}

TEST_F(FrameCodecTest, OversizedLengthIsRefusedWithoutReadingIt) {
  SendRaw(std::string("\x7f\xff\xff\xff", 4));
  std::string payload;
  absl::Status status = ReadFrame(fds_[0], &payload);
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(status.message(), "frame too large: 2147483647 > 4194304 bytes");
}

TEST_F(FrameCodecTest, TruncatedHeaderOrPayloadIsDataLoss) {
  SendRaw(std::string("\x00\x00", 2));
  CloseWriter();
  std::string payload;
  EXPECT_EQ(ReadFrame(fds_[0], &payload).code(), absl::StatusCode::kDataLoss);
}

TEST_F(FrameCodecTest, TruncatedPayloadSaysHowMuchCame) {
  SendRaw(std::string("\x00\x00\x00\x0a" "abc", 7));
  CloseWriter();
  std::string payload;
  absl::Status status = ReadFrame(fds_[0], &payload);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(status.message(), "connection closed inside a frame (3 of 10 bytes)");
}

}  // namespace
}  // namespace middlepipe

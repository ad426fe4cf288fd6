#include "scheduler/packet/packet.h"

#include <random>

#include <gtest/gtest.h>

#include "scheduler/packet/test_packets.h"

namespace middlepipe::scheduler::packet {
namespace {

using testing::At;
using testing::BuildPacket;

const Endpoint kClient = At("10.1.0.2", 40000);
const Endpoint kServer = At("10.1.0.1", 8080);

TEST(ParseTcpPacketTest, ReadsAddressesPortsSequenceFlagsAndPayload) {
  std::string bytes = BuildPacket({kClient, kServer, 4294967290u, 77, tcp_flag::kAck | tcp_flag::kPsh, "hello"});
  absl::StatusOr<TcpPacket> packet = ParseTcpPacket(bytes);
  ASSERT_TRUE(packet.ok()) << packet.status();
  EXPECT_EQ(packet->source, kClient);
  EXPECT_EQ(packet->destination, kServer);
  EXPECT_EQ(packet->source.ToString(), "10.1.0.2:40000");
  EXPECT_EQ(packet->seq, 4294967290u);
  EXPECT_EQ(packet->ack, 77u);
  EXPECT_TRUE(packet->has(tcp_flag::kPsh));
  EXPECT_FALSE(packet->has(tcp_flag::kSyn));
  EXPECT_EQ(packet->payload, "hello");
  EXPECT_EQ(packet->payload_length, 5u);
  EXPECT_EQ(packet->ip_length, 45u);
  EXPECT_TRUE(packet->payload_complete());
}

TEST(ParseTcpPacketTest, APacketCutShortByTheCopyRangeKeepsItsLengths) {
  std::string bytes = BuildPacket({kClient, kServer, 1, 1, tcp_flag::kAck, std::string(1000, 'x')});
  absl::StatusOr<TcpPacket> packet = ParseTcpPacket(absl::string_view(bytes).substr(0, 60));
  ASSERT_TRUE(packet.ok()) << packet.status();
  EXPECT_EQ(packet->payload_length, 1000u);
  EXPECT_EQ(packet->payload.size(), 20u);
  EXPECT_FALSE(packet->payload_complete());
}

TEST(ParseTcpPacketTest, NamesWhatIsWrong) {
  const std::string good = BuildPacket({kClient, kServer, 1, 1, tcp_flag::kAck, "data"});
  auto broken = [&](size_t at, char value) {
    std::string bytes = good;
    bytes[at] = value;
    return std::string(ParseTcpPacket(bytes).status().message());
  };
  EXPECT_EQ(ParseTcpPacket(good.substr(0, 10)).status().message(),
            "captured 10 bytes, an IPv4 header needs 20");
  EXPECT_EQ(broken(0, 0x65), "not IPv4 (version 6)");
  EXPECT_EQ(broken(0, 0x43), "IP header length 12 < 20");
  EXPECT_EQ(broken(9, 17), "not TCP (protocol 17)");
  EXPECT_EQ(broken(6, 0x20), "IP fragment");
  EXPECT_EQ(broken(32, 0x30), "TCP data offset 3 < 5");
  EXPECT_EQ(broken(32, static_cast<char>(0xf0)), "TCP header (60 bytes) runs past the IP total length 44");
  EXPECT_EQ(broken(3, 30), "IP total length 30 < headers 40");
  EXPECT_EQ(ParseTcpPacket(good.substr(0, 30)).status().message(),
            "captured 30 bytes, IP+TCP headers need 40");
  // An IP header claiming more options than the packet holds.
  EXPECT_EQ(broken(0, 0x4f), "IP total length 44 < headers 80");
}

TEST(ParseTcpPacketTest, RandomBytesNeverReadPastTheBuffer) {
  std::mt19937 random(7);
  const std::string good = BuildPacket({kClient, kServer, 1, 1, tcp_flag::kAck, "payload!"});
  for (int round = 0; round < 20000; ++round) {
    std::string bytes = good.substr(0, random() % (good.size() + 1));
    for (int flips = random() % 4; flips > 0 && !bytes.empty(); --flips) {
      bytes[random() % bytes.size()] = static_cast<char>(random());
    }
    // A copy on the heap of exactly the size, so ASan sees any overread.
    std::unique_ptr<char[]> exact(new char[bytes.size() + 1]);
    std::copy(bytes.begin(), bytes.end(), exact.get());
    absl::StatusOr<TcpPacket> packet = ParseTcpPacket(absl::string_view(exact.get(), bytes.size()));
    if (packet.ok()) {
      EXPECT_LE(packet->payload.data() + packet->payload.size(), exact.get() + bytes.size());
      EXPECT_LE(packet->payload.size(), packet->payload_length);
    }
  }
}

}  // namespace
}  // namespace middlepipe::scheduler::packet

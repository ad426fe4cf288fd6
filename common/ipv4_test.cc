#include "common/ipv4.h"

#include "gtest/gtest.h"

namespace middlepipe {
namespace {

TEST(Ipv4Test, ParsesAndFormatsAddresses) {
  absl::StatusOr<uint32_t> address = ParseIpv4Address("10.1.2.3");
  ASSERT_TRUE(address.ok());
  EXPECT_EQ(*address, 0x0A010203u);
  EXPECT_EQ(FormatIpv4Address(*address), "10.1.2.3");
  EXPECT_EQ(ParseIpv4Address("300.1.0.0").status().message(),
            "\"300.1.0.0\" is not an IPv4 address");
}

TEST(Ipv4Test, CidrKeepsHostBitsForTheCallerToJudge) {
  absl::StatusOr<Ipv4Cidr> cidr = ParseIpv4Cidr("198.18.0.1/16");
  ASSERT_TRUE(cidr.ok());
  EXPECT_TRUE(cidr->prefix_given);
  EXPECT_EQ(cidr->prefix_length, 16);
  EXPECT_TRUE(cidr->host_bits_set());
  EXPECT_EQ(FormatIpv4Address(cidr->network()), "198.18.0.0");
  absl::StatusOr<Ipv4Cidr> bare = ParseIpv4Cidr("10.0.0.1");
  ASSERT_TRUE(bare.ok());
  EXPECT_FALSE(bare->prefix_given);
  EXPECT_EQ(bare->prefix_length, 32);
}

TEST(Ipv4Test, PrefixIsCheckedBeforeTheAddress) {
  for (const char* text : {"10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/x", "nonsense/40"}) {
    absl::StatusOr<Ipv4Cidr> cidr = ParseIpv4Cidr(text);
    EXPECT_TRUE(absl::IsOutOfRange(cidr.status())) << text;
  }
  EXPECT_TRUE(absl::IsInvalidArgument(ParseIpv4Cidr("10.0.0/8").status()));
}

TEST(Ipv4Test, NetworkContainsItsAddresses) {
  absl::StatusOr<Ipv4Network> network = ParseIpv4Network("10.1.2.3/8");
  ASSERT_TRUE(network.ok());
  EXPECT_TRUE(network->Contains(0x0AFFFFFFu));
  EXPECT_FALSE(network->Contains(0x0B000000u));
  absl::StatusOr<Ipv4Network> everything = ParseIpv4Network("0.0.0.0/0");
  ASSERT_TRUE(everything.ok());
  EXPECT_TRUE(everything->Contains(0xFFFFFFFFu));
}

}  // namespace
}  // namespace middlepipe

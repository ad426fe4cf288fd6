#include "platform/local/address_pool.h"

#include "gtest/gtest.h"

namespace middlepipe::local {
namespace {

TEST(AddressPoolTest, GivesTheLowestFreeHostAddressSkippingTheFabricsOwn) {
  absl::StatusOr<AddressPool> pool = AddressPool::Parse("198.18.0.0/16");
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_EQ(*pool->Take(), "198.18.0.2");
  EXPECT_EQ(*pool->Take(), "198.18.0.3");
  pool->Release("198.18.0.2");
  EXPECT_EQ(*pool->Take(), "198.18.0.2");
  EXPECT_EQ(*pool->Take(), "198.18.0.4");
}

TEST(AddressPoolTest, RunsOutWithoutGivingTheBroadcastAddress) {
  absl::StatusOr<AddressPool> pool = AddressPool::Parse("10.1.2.0/30");
  ASSERT_TRUE(pool.ok());
  EXPECT_EQ(*pool->Take(), "10.1.2.2");
  absl::StatusOr<std::string> none = pool->Take();
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(), "subnet 10.1.2.0/30 has no free address left");
}

TEST(AddressPoolTest, ClaimsAKnownAddressOnce) {
  absl::StatusOr<AddressPool> pool = AddressPool::Parse("198.18.0.0/24");
  ASSERT_TRUE(pool.ok());
  EXPECT_TRUE(pool->Claim("198.18.0.3").ok());
  EXPECT_EQ(pool->Claim("198.18.0.3").message(), "198.18.0.3 is taken");
  EXPECT_FALSE(pool->Claim("198.18.0.255").ok());  // broadcast
  EXPECT_FALSE(pool->Claim("198.18.0.1").ok());    // the fabric's
  EXPECT_EQ(pool->Claim("10.0.0.5").message(), "10.0.0.5 is not a host address of 198.18.0.0/24");
  EXPECT_EQ(*pool->Take(), "198.18.0.2");
  EXPECT_EQ(*pool->Take(), "198.18.0.4");
}

TEST(AddressPoolTest, BadRangesAreRefusedWithTheReason) {
  EXPECT_EQ(AddressPool::Parse("198.18.0.0").status().message(),
            "subnet \"198.18.0.0\" is not ADDRESS/PREFIX, e.g. 198.18.0.0/16");
  EXPECT_EQ(AddressPool::Parse("198.18.0.1/16").status().message(),
            "subnet \"198.18.0.1/16\" has host bits set; the network is 198.18.0.0/16");
  EXPECT_EQ(AddressPool::Parse("198.18.0.0/31").status().message(),
            "subnet \"198.18.0.0/31\": the prefix length must be 8 to 30");
  EXPECT_EQ(AddressPool::Parse("300.1.0.0/16").status().message(),
            "subnet \"300.1.0.0/16\": \"300.1.0.0\" is not an IPv4 address");
}

}  // namespace
}  // namespace middlepipe::local

#include "common/address.h"

#include "gtest/gtest.h"

namespace middlepipe {
namespace {

TEST(ParseAddressTest, HostAndPort) {
  auto address = ParseAddress("127.0.0.1:7400");
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(address->family, Address::Family::kTcp);
  EXPECT_EQ(address->host, "127.0.0.1");
  EXPECT_EQ(address->port, 7400);
  EXPECT_EQ(address->ToGrpcTarget(), "127.0.0.1:7400");
}

TEST(ParseAddressTest, PortZeroMeansKernelChooses) {
  auto address = ParseAddress("localhost:0");
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(address->port, 0);
}

TEST(ParseAddressTest, BracketedIpv6) {
  auto address = ParseAddress("[::1]:80");
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(address->host, "::1");
  EXPECT_EQ(address->ToGrpcTarget(), "[::1]:80");
}

TEST(ParseAddressTest, UnixSocketBothForms) {
  for (const char* text : {"unix:///run/mp/c.sock", "unix:/run/mp/c.sock"}) {
    auto address = ParseAddress(text);
    ASSERT_TRUE(address.ok()) << text << ": " << address.status();
    EXPECT_EQ(address->family, Address::Family::kUnix);
    EXPECT_EQ(address->path, "/run/mp/c.sock");
    EXPECT_EQ(address->ToGrpcTarget(), "unix:///run/mp/c.sock");
  }
}

TEST(ParseAddressTest, ErrorsNameTheProblem) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const Case& c : {Case{"7400", "expected HOST:PORT"},
                        Case{":7400", "host is empty"},
                        Case{"h:70000", "port \"70000\""},
                        Case{"h:x", "port \"x\""},
                        Case{"::1:80", "IPv6 host must be in brackets"},
                        Case{"[::1]80", "expected [IPv6]:PORT"},
                        Case{"unix://relative", "absolute path"}}) {
    auto address = ParseAddress(c.text);
    ASSERT_FALSE(address.ok()) << c.text;
    EXPECT_NE(address.status().message().find(c.says), std::string::npos)
        << c.text << " -> " << address.status().message();
    EXPECT_NE(address.status().message().find(c.text), std::string::npos)
        << "the error should quote the input: " << address.status().message();
  }
}

}  // namespace
}  // namespace middlepipe

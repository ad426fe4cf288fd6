#include "controller/broker/service_broker.h"

#include "absl/strings/escaping.h"
#include "controller/broker/catalog.h"
#include "gtest/gtest.h"
#include "scheduler/filters/builtin_kinds.h"

namespace middlepipe::controller::broker {
namespace {

TEST(ApiVersionTest, AcceptsEvery2xFrom213) {
  for (const char* version : {"2.13", "2.14", "2.16", "2.17", "2.99"}) {
    EXPECT_TRUE(SupportedApiVersion(version)) << version;
  }
  for (const char* version : {"", "2.12", "2.9", "1.17", "3.0", "2", "2.x", "2.13.1", " 2.14"}) {
    EXPECT_FALSE(SupportedApiVersion(version)) << version;
  }
}

std::string Basic(const std::string& user_and_password) {
  return "Basic " + absl::Base64Escape(user_and_password);
}

TEST(BasicAuthTest, MatchesOnlyTheExactCredentials) {
  const BrokerCredentials credentials{"platform", "s3cret"};
  EXPECT_TRUE(BasicAuthMatches(Basic("platform:s3cret"), credentials));
  for (const std::string& header :
       {Basic("platform:s3cre"), Basic("platform:s3cret2"), Basic("platform:"), Basic(":s3cret"),
        Basic("Platform:s3cret"), std::string("Basic !!!"), std::string("Bearer x"), std::string()}) {
    EXPECT_FALSE(BasicAuthMatches(header, credentials)) << header;
  }
}

TEST(CatalogTest, OneBindableServicePerKindWithStableIdsAndSchemas) {
  const scheduler::KindCatalog kinds = *scheduler::KindCatalog::Create(scheduler::BuiltinKinds());
  const nlohmann::json catalog = Catalog(kinds);
  ASSERT_EQ(catalog["services"].size(), kinds.List().size());
  for (const nlohmann::json& service : catalog["services"]) {
    const std::string kind = service["name"];
    EXPECT_EQ(service["id"], ServiceId(kind));
    EXPECT_EQ(service["bindable"], true);
    EXPECT_FALSE(service["description"].get<std::string>().empty());
    ASSERT_EQ(service["plans"].size(), 1u);
    const nlohmann::json& plan = service["plans"][0];
    EXPECT_EQ(plan["id"], PlanId(kind));
    EXPECT_EQ(plan["name"], "default");
    const nlohmann::json& create = plan["schemas"]["service_instance"]["create"]["parameters"];
    EXPECT_EQ(create["$schema"], "http://json-schema.org/draft-07/schema#");
    EXPECT_EQ(create["type"], "object");
    EXPECT_EQ(plan["schemas"]["service_binding"]["create"]["parameters"]["required"][0], "service");
    EXPECT_EQ(KindOfService(kinds, service["id"])->name, kind);
  }
  EXPECT_EQ(ServiceId("circuit-breaker"), "middlepipe-circuit-breaker");
  EXPECT_EQ(KindOfService(kinds, "middlepipe-nope"), nullptr);
  EXPECT_EQ(KindOfService(kinds, "circuit-breaker"), nullptr);
}

}  // namespace
}  // namespace middlepipe::controller::broker

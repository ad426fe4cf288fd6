// End to end, the Open Service Broker API as a platform drives it: a real mp-controller
// with broker credentials, spoken to over HTTP, its effect checked through the
// controller's own API (what `mp` shows the organization's user).
#include <httplib.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include <signal.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "gtest/gtest.h"
#include "tests/support/controller_process.h"
#include "tests/support/controller_steps.h"
#include "tests/support/wait_for.h"

namespace middlepipe {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Stub = v1::Controller::Stub;

constexpr char kOrg[] = "5f6c1c6b-0f2e-4b8e-9d2a-3c1e2b4a5d6f";  // a platform's GUID
constexpr char kOrgToken[] = "org-token-0123456789";
constexpr char kInstance[] = "0b6b3c5e-instance";
constexpr char kBinding[] = "7d2f9a11-binding";
constexpr char kBreakerService[] = "middlepipe-circuit-breaker";
constexpr char kBreakerPlan[] = "middlepipe-circuit-breaker-default";
// "cloudfoundry" and base64 of {"user_id":"683ea748"}.
constexpr char kIdentity[] = "cloudfoundry eyJ1c2VyX2lkIjoiNjgzZWE3NDgifQ==";

struct Answer {
  int status = 0;
  nlohmann::json body;
};

class BrokerTest : public ::testing::Test {
 protected:
  BrokerTest() {
    EXPECT_TRUE(WriteFileAtomically(scratch_ / "broker-password", "s3cret-pass\n", 0600).ok());
    EXPECT_TRUE(WriteFileAtomically(scratch_ / "tokens", absl::StrCat(kOrg, " ", kOrgToken, "\n"), 0600).ok());
  }

  void SetUp() override {
    ASSERT_TRUE(controller_.Start().ok());
    http_ = std::make_unique<httplib::Client>("127.0.0.1", controller_.http_port());
    http_->set_basic_auth("platform", "s3cret-pass");
    http_->set_read_timeout(seconds(30));
    org_client_.emplace(controller_.Client(kOrgToken));
  }

  // One request as a platform sends it (version 2.17, credentials, identity).
  Answer Send(const std::string& method, const std::string& path, const std::string& body = "",
              httplib::Headers headers = {{"X-Broker-API-Version", "2.17"},
                                          {"X-Broker-API-Originating-Identity", kIdentity}}) {
    httplib::Request request;
    request.method = method;
    request.path = path;
    request.headers = std::move(headers);
    if (!body.empty()) {
      request.body = body;
      request.set_header("Content-Type", "application/json");
    }
    httplib::Result result = http_->send(request);
    EXPECT_TRUE(result) << method << " " << path;
    if (!result) return {};
    Answer answer{result->status, nlohmann::json::parse(result->body, nullptr, false)};
    EXPECT_FALSE(answer.body.is_discarded()) << "not JSON: " << result->body;
    return answer;
  }

  static std::string InstancePath(const std::string& query = "") {
    return absl::StrCat("/v2/service_instances/", kInstance, query);
  }
  static std::string BindingPath(const std::string& query = "") {
    return absl::StrCat("/v2/service_instances/", kInstance, "/service_bindings/", kBinding, query);
  }
  static std::string DeleteQuery() {
    return absl::StrCat("?service_id=", kBreakerService, "&plan_id=", kBreakerPlan);
  }

  static std::string ProvisionBody(const std::string& parameters = R"({"min_requests":5})") {
    return absl::StrCat(R"({"service_id":")", kBreakerService, R"(","plan_id":")", kBreakerPlan,
                        R"(","organization_guid":")", kOrg, R"(","space_guid":"space-1",)",
                        R"("context":{"platform":"cloudfoundry","instance_name":"orders-breaker"},)",
                        R"("parameters":)", parameters, "}");
  }
  static std::string BindBody(const std::string& parameters = R"({"service":"orders"})") {
    return absl::StrCat(R"({"service_id":")", kBreakerService, R"(","plan_id":")", kBreakerPlan,
                        R"(","bind_resource":{"app_guid":"web"},"parameters":)", parameters, "}");
  }

  // The organization's middlepipes as `mp middlepipes` shows them.
  std::vector<v1::MiddlepipeSummary> Middlepipes() {
    auto listed = org_client_->Call(&Stub::ListMiddlepipes, v1::ListMiddlepipesRequest());
    EXPECT_TRUE(listed.ok()) << listed.status();
    return listed.ok() ? std::vector<v1::MiddlepipeSummary>(listed->middlepipes().begin(),
                                                           listed->middlepipes().end())
                       : std::vector<v1::MiddlepipeSummary>();
  }

  void ProvisionAndRegisterOrders() {
    ASSERT_EQ(Send("PUT", InstancePath(), ProvisionBody()).status, 201);
    ASSERT_TRUE(testing::RegisterService(*org_client_, "orders", "127.0.0.1", 9).ok());
  }

  testing::ScratchDir scratch_;
  testing::ControllerProcess controller_{
      scratch_, {"--broker-user", "platform", "--broker-password-file", scratch_ / "broker-password",
                 "--tokens", scratch_ / "tokens"}};
  std::unique_ptr<httplib::Client> http_;
  std::optional<controller::ControllerClient> org_client_;
};

TEST_F(BrokerTest, VersionIsCheckedFirstThenCredentialsThenTheBody) {
  Answer no_version = Send("GET", "/v2/catalog", "", {});
  EXPECT_EQ(no_version.status, 412);
  EXPECT_FALSE(no_version.body["description"].get<std::string>().empty());
  for (const char* old : {"2.12", "1.0", "garbage"}) {
    EXPECT_EQ(Send("GET", "/v2/catalog", "", {{"X-Broker-API-Version", old}}).status, 412) << old;
  }
  for (const char* version : {"2.13", "2.14", "2.15", "2.16", "2.17"}) {
    EXPECT_EQ(Send("GET", "/v2/catalog", "", {{"X-Broker-API-Version", version}}).status, 200) << version;
  }

  http_->set_basic_auth("platform", "wrong");
  EXPECT_EQ(Send("GET", "/v2/catalog").status, 401);
  EXPECT_EQ(Send("PUT", InstancePath(), "{not json").status, 401) << "auth before the body";
  EXPECT_EQ(Send("PUT", InstancePath(), "{not json", {}).status, 412) << "the version before auth";
  http_ = std::make_unique<httplib::Client>("127.0.0.1", controller_.http_port());  // no auth at all
  EXPECT_EQ(Send("DELETE", InstancePath(DeleteQuery())).status, 401);
}

TEST_F(BrokerTest, TheCatalogOffersEveryKindWithSchemas) {
  Answer catalog = Send("GET", "/v2/catalog");
  ASSERT_EQ(catalog.status, 200);
  std::vector<std::string> names;
  for (const nlohmann::json& service : catalog.body["services"]) {
    names.push_back(service["name"]);
    EXPECT_TRUE(service["bindable"].get<bool>());
    EXPECT_FALSE(service["plans"].empty());
  }
  EXPECT_EQ(names.size(), 8u);
  EXPECT_EQ(catalog.body["services"][1]["id"], kBreakerService);
  EXPECT_EQ(catalog.body["services"][1]["plans"][0]["schemas"]["service_instance"]["create"]
                    ["parameters"]["properties"]["open_ms"]["default"],
            5000);
}

TEST_F(BrokerTest, ProvisionRefusesBadRequestsAndTellsRepeatsFromConflicts) {
  const std::string good = ProvisionBody();
  struct Bad {
    std::string body;
    const char* says;
  };
  for (const Bad& bad : {
           Bad{"{nope", "not valid JSON"},
           Bad{"[]", "must be a JSON object"},
           Bad{R"({"plan_id":"x","organization_guid":"o","space_guid":"s"})", "no service_id"},
           Bad{absl::StrCat(R"({"service_id":")", kBreakerService, R"(","organization_guid":"o","space_guid":"s"})"),
               "no plan_id"},
           Bad{R"({"service_id":7,"plan_id":"x","organization_guid":"o","space_guid":"s"})",
               "service_id must be a non-empty string"},
           Bad{absl::StrCat(R"({"service_id":")", kBreakerService, R"(","plan_id":")", kBreakerPlan,
                            R"(","space_guid":"s"})"),
               "no organization_guid"},
           Bad{R"({"service_id":"middlepipe-teleport","plan_id":"x","organization_guid":"o","space_guid":"s"})",
               "not in the catalog"},
           Bad{ProvisionBody(R"({"window_ms":1})"), "window_ms"},
           Bad{ProvisionBody(R"([1])"), "parameters must be a JSON object"},
       }) {
    Answer refused = Send("PUT", InstancePath(), bad.body);
    EXPECT_EQ(refused.status, 400) << bad.body;
    EXPECT_NE(refused.body.value("description", "").find(bad.says), std::string::npos)
        << bad.body << " -> " << refused.body.dump();
  }
  EXPECT_TRUE(Middlepipes().empty()) << "a refused provision stores nothing";

  Answer created = Send("PUT", InstancePath(), good);
  EXPECT_EQ(created.status, 201);
  EXPECT_EQ(created.body, nlohmann::json::object());
  EXPECT_EQ(Send("PUT", InstancePath(), good).status, 200) << "an identical repeat";
  EXPECT_EQ(Send("PUT", InstancePath(), ProvisionBody(R"({"min_requests":6})")).status, 409);

  std::vector<v1::MiddlepipeSummary> made = Middlepipes();
  ASSERT_EQ(made.size(), 1u) << "the organization is a user, and mp shows what the broker made";
  EXPECT_EQ(made[0].middlepipe().name(), "orders-breaker");
  EXPECT_EQ(made[0].middlepipe().kind(), "circuit-breaker");
  EXPECT_NE(made[0].middlepipe().config_json().find("\"min_requests\":5"), std::string::npos);

  Answer fetched = Send("GET", InstancePath());
  EXPECT_EQ(fetched.status, 200);
  EXPECT_EQ(fetched.body["service_id"], kBreakerService);
  EXPECT_EQ(fetched.body["parameters"]["min_requests"], 5);
  EXPECT_EQ(Send("GET", "/v2/service_instances/unknown").status, 404);
  EXPECT_NE(controller_.process().Stderr().find(kIdentity), std::string::npos)
      << "the originating identity is recorded";
}

TEST_F(BrokerTest, UpdateChangesTheConfigOrNothing) {
  ProvisionAndRegisterOrders();
  EXPECT_EQ(Send("PATCH", InstancePath(), R"({"parameters":{}})").status, 400) << "no service_id";
  EXPECT_EQ(Send("PATCH", InstancePath(), absl::StrCat(R"({"service_id":")", kBreakerService,
                                                       R"(","parameters":{"open_ms":0}})"))
                .status,
            400);
  EXPECT_EQ(Send("PATCH", InstancePath(), absl::StrCat(R"({"service_id":")", kBreakerService,
                                                       R"(","plan_id":"gold"})"))
                .status,
            400);
  EXPECT_EQ(Send("PATCH", "/v2/service_instances/unknown",
                 absl::StrCat(R"({"service_id":")", kBreakerService, R"("})"))
                .status,
            404);
  EXPECT_NE(Middlepipes()[0].middlepipe().config_json().find("\"open_ms\":5000"), std::string::npos)
      << "a refused update changes nothing";

  Answer updated = Send("PATCH", InstancePath(), absl::StrCat(R"({"service_id":")", kBreakerService,
                                                              R"(","parameters":{"open_ms":900}})"));
  EXPECT_EQ(updated.status, 200);
  EXPECT_EQ(updated.body, nlohmann::json::object());
  EXPECT_NE(Middlepipes()[0].middlepipe().config_json().find("\"open_ms\":900"), std::string::npos);
  EXPECT_NE(Middlepipes()[0].middlepipe().config_json().find("\"min_requests\":5"), std::string::npos)
      << "an update changes the parameters it names and keeps the others";
  EXPECT_EQ(Send("GET", InstancePath()).body["parameters"]["open_ms"], 900);
}

TEST_F(BrokerTest, BindPutsTheMiddlepipeInTheAppsChainAndUnbindTakesItOut) {
  ProvisionAndRegisterOrders();
  struct Bad {
    std::string body;
    int status;
    const char* says;
  };
  for (const Bad& bad : {
           Bad{absl::StrCat(R"({"service_id":")", kBreakerService, R"(","plan_id":")", kBreakerPlan,
                            R"(","parameters":{"service":"orders"}})"),
               422, "app_guid"},
           Bad{BindBody(R"({})"), 400, "parameters.service"},
           Bad{BindBody(R"({"service":"nowhere"})"), 400, "service \"nowhere\" not found"},
           Bad{R"({"plan_id":"p","bind_resource":{"app_guid":"web"}})", 400, "service_id"},
       }) {
    Answer refused = Send("PUT", BindingPath(), bad.body);
    EXPECT_EQ(refused.status, bad.status) << bad.body;
    EXPECT_NE(refused.body.value("description", "").find(bad.says), std::string::npos)
        << bad.body << " -> " << refused.body.dump();
  }
  EXPECT_EQ(Send("PUT", BindingPath(), BindBody(R"({})")).body.value("error", ""), "");
  EXPECT_EQ(Send("PUT", BindingPath(), absl::StrCat(R"({"service_id":")", kBreakerService,
                                                    R"(","plan_id":")", kBreakerPlan, R"("})"))
                .body["error"],
            "RequiresApp");

  EXPECT_EQ(Send("PUT", BindingPath(), BindBody()).status, 201);
  EXPECT_EQ(Send("PUT", BindingPath(), BindBody()).status, 200) << "an identical repeat";
  EXPECT_EQ(Send("PUT", BindingPath(), BindBody(R"({"service":"orders","position":3})")).status, 409);
  Answer fetched = Send("GET", BindingPath());
  EXPECT_EQ(fetched.status, 200);
  EXPECT_EQ(fetched.body["parameters"]["service"], "orders");

  v1::GetChainRequest chain;
  chain.set_app("web");
  chain.set_service("orders");
  auto shown = org_client_->Call(&Stub::GetChain, chain);
  ASSERT_TRUE(shown.ok()) << shown.status();
  ASSERT_EQ(shown->chain().filters_size(), 1) << "mp chain web orders shows the binding";
  EXPECT_EQ(shown->chain().filters(0).middlepipe(), "orders-breaker");

  EXPECT_EQ(Send("DELETE", InstancePath(DeleteQuery())).status, 422)
      << "an instance with bindings is not deprovisioned";
  EXPECT_EQ(Send("DELETE", BindingPath()).status, 400) << "service_id and plan_id are required";
  Answer unbound = Send("DELETE", BindingPath(DeleteQuery()));
  EXPECT_EQ(unbound.status, 200);
  EXPECT_EQ(unbound.body, nlohmann::json::object());
  EXPECT_EQ(Send("DELETE", BindingPath(DeleteQuery())).status, 410);
  EXPECT_EQ(Send("GET", BindingPath()).status, 404);
  EXPECT_EQ(org_client_->Call(&Stub::GetChain, chain)->chain().filters_size(), 0);

  Answer gone = Send("DELETE", InstancePath(DeleteQuery()));
  EXPECT_EQ(gone.status, 200);
  EXPECT_EQ(gone.body, nlohmann::json::object());
  EXPECT_EQ(Send("DELETE", InstancePath(DeleteQuery())).status, 410);
  EXPECT_TRUE(Middlepipes().empty());
}

TEST_F(BrokerTest, AsynchronousBindIsPolledUntilItSucceeds) {
  ProvisionAndRegisterOrders();
  Answer accepted = Send("PUT", BindingPath("?accepts_incomplete=true"), BindBody());
  ASSERT_EQ(accepted.status, 202);
  const std::string operation = accepted.body["operation"];
  EXPECT_FALSE(operation.empty());
  Answer last;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        last = Send("GET", BindingPath(absl::StrCat("/last_operation?operation=", operation)));
        return last.status == 200 && last.body["state"] != "in progress";
      },
      seconds(20), milliseconds(50)));
  EXPECT_EQ(last.body["state"], "succeeded") << last.body.dump();
  EXPECT_EQ(Send("GET", BindingPath()).status, 200);

  Answer unbinding = Send("DELETE", BindingPath(DeleteQuery() + "&accepts_incomplete=true"));
  ASSERT_EQ(unbinding.status, 202);
  ASSERT_TRUE(testing::WaitFor(
      [&] { return Send("GET", BindingPath("/last_operation")).status == 410; }, seconds(20),
      milliseconds(50)))
      << "a finished unbind is gone";
}

TEST_F(BrokerTest, APlatformsWholeScenarioShowsInMp) {
  auto mp = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "cli/mp");
    absl::StatusOr<testing::Completed> ran =
        testing::RunCommand(args, scratch_.path(), controller_.CliEnv(kOrgToken));
    EXPECT_TRUE(ran.ok() && ran->exit_code == 0) << (ran.ok() ? ran->err : ran.status().ToString());
    return ran.ok() ? ran->out : std::string();
  };
  ASSERT_EQ(Send("GET", "/v2/catalog").status, 200);
  ProvisionAndRegisterOrders();
  ASSERT_EQ(Send("PUT", BindingPath(), BindBody()).status, 201);
  const std::string listed = mp({"middlepipes"});
  EXPECT_NE(listed.find("orders-breaker"), std::string::npos) << listed;
  EXPECT_NE(listed.find("web->orders"), std::string::npos) << listed;
  const std::string chain = mp({"chain", "web", "orders"});
  EXPECT_NE(chain.find("orders-breaker"), std::string::npos) << chain;

  ASSERT_EQ(Send("DELETE", BindingPath(DeleteQuery())).status, 200);
  EXPECT_EQ(mp({"chain", "web", "orders"}).find("orders-breaker"), std::string::npos);
  ASSERT_EQ(Send("DELETE", InstancePath(DeleteQuery())).status, 200);
  EXPECT_EQ(mp({"middlepipes"}).find("orders-breaker"), std::string::npos);
}

TEST_F(BrokerTest, WhatThePlatformMadeSurvivesARestart) {
  ProvisionAndRegisterOrders();
  ASSERT_EQ(Send("PUT", BindingPath(), BindBody()).status, 201);
  controller_.process().Signal(SIGTERM);
  ASSERT_EQ(controller_.process().WaitForExit(seconds(20)), 0);
  ASSERT_TRUE(controller_.Start().ok());
  http_ = std::make_unique<httplib::Client>("127.0.0.1", controller_.http_port());
  http_->set_basic_auth("platform", "s3cret-pass");

  EXPECT_EQ(Send("GET", InstancePath()).status, 200);
  EXPECT_EQ(Send("GET", BindingPath()).status, 200);
  EXPECT_EQ(Send("PUT", InstancePath(), ProvisionBody()).status, 200);
  EXPECT_EQ(Send("PUT", BindingPath(), BindBody()).status, 200);
  EXPECT_EQ(Send("GET", InstancePath("/last_operation")).body["state"], "succeeded");
}


// The bug: a provision whose parameters nested 100,000 arrays deep overflowed the
// controller's stack (segfault), taking every user's aggregator with it.
TEST_F(BrokerTest, DeeplyNestedJsonIsRefusedAndTheControllerStaysUp) {
  for (int levels : {100'000, 1'000'000}) {
    const std::string deep = std::string(levels, '[') + std::string(levels, ']');
    for (const std::string& body :
         {absl::StrCat(R"({"x":)", deep, "}"), ProvisionBody(absl::StrCat(R"({"x":)", deep, "}"))}) {
      Answer refused = Send("PUT", InstancePath(), body);
      EXPECT_EQ(refused.status, 400) << levels;
      EXPECT_NE(refused.body.value("description", "").find("nests deeper than 64 levels"),
                std::string::npos)
          << refused.body.dump();
    }
    // The same config through the northbound API.
    v1::CreateMiddlepipeRequest create;
    create.set_kind("circuit-breaker");
    create.set_name("deep");
    create.set_config_json(absl::StrCat(R"({"x":)", deep, "}"));
    auto created = org_client_->Call(&Stub::CreateMiddlepipe, create);
    ASSERT_FALSE(created.ok());
    EXPECT_NE(created.status().message().find("config nests deeper than 64 levels"),
              std::string::npos)
        << created.status();
  }
  auto health = http_->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(Send("PUT", InstancePath(), ProvisionBody()).status, 201);
}

// The bug: an unauthenticated 200 MB PUT was read whole into memory (467 -> 730 MB) and
// only then answered 401.
TEST_F(BrokerTest, AnUnauthenticatedBodyIsRefusedBeforeItIsRead) {
  signal(SIGPIPE, SIG_IGN);  // the controller closes while the client still sends
  const long before = controller_.process().ResidentKb();
  httplib::Client anonymous("127.0.0.1", controller_.http_port());
  anonymous.set_read_timeout(seconds(30));
  httplib::Headers headers = {{"X-Broker-API-Version", "2.17"}};
  // cpp-httplib sends the body only after the headers; the controller answers first.
  auto answer = anonymous.Put(InstancePath(), headers, std::string(200 << 20, 'x'),
                              "application/json");
  if (answer) {
    EXPECT_EQ(answer->status, 401);
  }
  const long after = controller_.process().ResidentKb();
  EXPECT_LT(after - before, 8 * 1024) << "resident memory grew from " << before << " to " << after
                                      << " kB";
  // And an authenticated body past the bound is refused on its Content-Length.
  auto too_big = http_->Put(InstancePath(), {{"X-Broker-API-Version", "2.17"}},
                            std::string(20 << 20, 'x'), "application/json");
  if (too_big) {
    EXPECT_EQ(too_big->status, 413);
  }
  EXPECT_LT(controller_.process().ResidentKb() - before, 8 * 1024);
}

TEST_F(BrokerTest, RefusesLeniencesTheSpecDoesNotAllow) {
  Answer maybe = Send("PUT", InstancePath("?accepts_incomplete=maybe"), ProvisionBody());
  EXPECT_EQ(maybe.status, 400);
  EXPECT_NE(maybe.body.value("description", "").find("accepts_incomplete must be true or false"),
            std::string::npos);
  const std::string numeric_context =
      absl::StrCat(R"({"service_id":")", kBreakerService, R"(","plan_id":")", kBreakerPlan,
                   R"(","organization_guid":")", kOrg, R"(","space_guid":"s","context":7})");
  Answer context = Send("PUT", InstancePath(), numeric_context);
  EXPECT_EQ(context.status, 400);
  EXPECT_NE(context.body.value("description", "").find("context must be a JSON object"),
            std::string::npos);
  ASSERT_EQ(Send("PUT", InstancePath(), ProvisionBody()).status, 201);
  Answer unknown = Send("GET", InstancePath("/last_operation?operation=update-99"));
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.value("description", "").find("operation \"update-99\" is not known"),
            std::string::npos);
}

}  // namespace
}  // namespace middlepipe

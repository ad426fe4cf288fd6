// End to end: the real `mp` binary against a real mp-controller, as a user types it.
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "gtest/gtest.h"
#include "tests/support/controller_process.h"
#include "tests/support/fake_agent.h"

namespace middlepipe {
namespace {

using std::chrono::seconds;
using testing::Completed;
using testing::ControllerProcess;
using testing::ScratchDir;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(controller_.Start().ok()); }

  Completed Mp(std::vector<std::string> args) {
    args.insert(args.begin(), "cli/mp");
    auto result = testing::RunCommand(args, scratch_.path(), controller_.CliEnv(controller_.AdminToken()));
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? *result : Completed{};
  }

  // Runs a command that must succeed; returns its stdout.
  std::string Ok(std::vector<std::string> args) {
    Completed result = Mp(args);
    EXPECT_EQ(result.exit_code, 0) << args[0] << ": " << result.err;
    return result.out;
  }

  // Runs a command that must fail with `exit_code`; returns its one stderr line.
  std::string Error(std::vector<std::string> args, int exit_code = 1) {
    Completed result = Mp(args);
    EXPECT_EQ(result.exit_code, exit_code) << args[0] << ": " << result.out;
    EXPECT_EQ(result.out, "");
    return result.err;
  }

  ScratchDir scratch_;
  ControllerProcess controller_{scratch_};
};

TEST_F(CliTest, CreateBindChainAndDeleteAsAUserWould) {
  EXPECT_NE(Ok({"marketplace"}).find("circuit-breaker  request  yes"), std::string::npos);
  EXPECT_EQ(Ok({"create-middlepipe", "circuit-breaker", "orders-breaker", "-c",
                R"({"latency_threshold_ms":200})"}),
            "created circuit-breaker middlepipe orders-breaker\n");
  EXPECT_EQ(Ok({"register-service", "orders", "198.18.0.7:8080,198.18.0.8:8080"}),
            "registered service orders at 198.18.0.7:8080,198.18.0.8:8080\n");
  EXPECT_EQ(Ok({"bind-middlepipe", "orders-breaker", "web", "orders"}),
            "bound orders-breaker to web -> orders at position 0: committed at epoch 1; "
            "no instances are running (they get it when they start)\n");
  Ok({"create-middlepipe", "accounting", "acct"});
  Ok({"bind-middlepipe", "acct", "web", "orders", "--position", "0"});

  EXPECT_EQ(Ok({"chain", "web", "orders"}),
            "chain web -> orders at epoch 2\n"
            "#  MIDDLEPIPE      KIND             LEVEL    POSITION\n"
            "1  orders-breaker  circuit-breaker  request  0\n"
            "2  acct            accounting       packet   0\n"
            "no instances of web are running\n");
  EXPECT_EQ(Ok({"middlepipes"}),
            "NAME            KIND             GENERATION  BOUND\n"
            "acct            accounting       1           web->orders\n"
            "orders-breaker  circuit-breaker  1           web->orders\n");

  EXPECT_EQ(Error({"delete-middlepipe", "orders-breaker"}),
            "mp: error: middlepipe \"orders-breaker\" is bound (web -> orders); unbind it first, "
            "or delete with --force to unbind it everywhere\n");
  EXPECT_EQ(Ok({"delete-middlepipe", "orders-breaker", "--force"}),
            "deleted orders-breaker: committed at epoch 3; no instances are running (they get it "
            "when they start)\n");
  EXPECT_EQ(Ok({"middlepipes"}),
            "NAME  KIND        GENERATION  BOUND\n"
            "acct  accounting  1           web->orders\n");
}

TEST_F(CliTest, RolloutLineCountsInstances) {
  std::vector<std::unique_ptr<testing::FakeAgent>> agents;
  for (uint32_t i = 0; i < 3; ++i) {
    agents.push_back(std::make_unique<testing::FakeAgent>(
        testing::AgentOptions(controller_.target(), controller_.AdminToken(), "web", i)));
    ASSERT_TRUE(agents.back()->WaitForEpoch(0, seconds(20)));
  }
  Ok({"create-middlepipe", "monitor", "watch"});
  Ok({"register-service", "orders", "198.18.0.7:8080"});
  EXPECT_EQ(Ok({"bind-middlepipe", "watch", "web", "orders"}),
            "bound watch to web -> orders at position 0: applied to 3/3 instances at epoch 1\n");
  EXPECT_EQ(Ok({"update-middlepipe", "watch", "-c", R"({"buckets_ms":[1,2,3]})"}),
            "updated watch to generation 2: applied to 3/3 instances at epoch 2\n");
  std::string apps = Ok({"apps"});
  EXPECT_NE(apps.find("web  2      0         198.18.0.1  ready  2"), std::string::npos) << apps;
}

TEST_F(CliTest, RefusalsAreOneLineNamingWhatIsWrong) {
  EXPECT_EQ(Error({"create-middlepipe", "circuit-breaker", "b", "-c", R"({"window_ms":"x"})"}),
            "mp: error: config: field window_ms: must be an integer\n");
  EXPECT_EQ(Error({"create-middlepipe", "circuit-breaker", "b", "-c", R"({"windowms":1})"}),
            "mp: error: config: unknown field \"windowms\" (known: error_threshold_percent, "
            "fallback, half_open_requests, latency_threshold_ms, min_requests, open_ms, scope, "
            "window_ms)\n");
  EXPECT_EQ(Error({"create-middlepipe", "circuit-braker", "b"}).substr(0, 44),
            "mp: error: unknown kind \"circuit-braker\" (kn");
  EXPECT_EQ(Error({"create-middlepipe", "monitor", "Bad_Name"}),
            "mp: error: middlepipe name \"Bad_Name\": may only contain lowercase letters, digits "
            "and '-'\n");
  EXPECT_EQ(Error({"bind-middlepipe", "nope", "web", "orders"}),
            "mp: error: middlepipe \"nope\" not found\n");
  EXPECT_EQ(Error({"register-service", "db", "db.internal"}),
            "mp: error: endpoint \"db.internal\": expected HOST:PORT with a port 1-65535\n");
  // Nothing of the refused commands was stored.
  EXPECT_EQ(Ok({"middlepipes"}), "no middlepipes (create one with mp create-middlepipe)\n");
}

TEST_F(CliTest, UsageErrorsExitTwoAndEveryCommandHasHelpWithAnExample) {
  EXPECT_NE(Error({"create-middlepipe", "monitor"}, 2).find("NAME is required"), std::string::npos);
  EXPECT_NE(Error({"chain", "web", "orders", "extra"}, 2).find("extra"), std::string::npos);
  for (const char* command :
       {"marketplace", "create-middlepipe", "update-middlepipe", "delete-middlepipe",
        "middlepipes", "middlepipe", "bind-middlepipe", "unbind-middlepipe", "chain",
        "register-service", "services", "apps", "version"}) {
    std::string help = Ok({command, "--help"});
    EXPECT_NE(help.find(absl::StrCat("Example:\n  mp ", command)), std::string::npos)
        << command << ":\n" << help;
  }
}

TEST_F(CliTest, JsonIsMachineReadableAndConfigCanComeFromAFile) {
  ASSERT_TRUE(WriteFileAtomically(scratch_ / "breaker.json", R"({"open_ms": 750})", 0644).ok());
  std::string created = Ok({"--json", "create-middlepipe", "circuit-breaker", "b", "-c",
                            "@" + (scratch_ / "breaker.json")});
  nlohmann::json parsed = nlohmann::json::parse(created);
  EXPECT_EQ(parsed["middlepipe"]["name"], "b");
  EXPECT_EQ(nlohmann::json::parse(parsed["middlepipe"]["config_json"].get<std::string>())["open_ms"],
            750);
  nlohmann::json kinds = nlohmann::json::parse(Ok({"--json", "marketplace"}));
  EXPECT_EQ(kinds["kinds"].size(), 8u);
}

}  // namespace
}  // namespace middlepipe

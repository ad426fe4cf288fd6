// End to end: the four binaries as a user runs them. Each answers --help and `version`,
// refuses bad usage with exit 2, serves what it says it serves, and exits 0 on SIGTERM
// after a clean shutdown.
#include <signal.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "gtest/gtest.h"
#include "proto/aggregator.grpc.pb.h"
#include "tests/support/child_process.h"
#include "tests/support/controller_process.h"
#include "tests/support/grpc_health.h"

namespace middlepipe {
namespace {

using std::chrono::seconds;
using testing::ChildProcess;
using testing::RunCommand;
using testing::ScratchDir;

constexpr char kController[] = "controller/mp-controller";
constexpr char kAggregator[] = "aggregator/mp-aggregator";
constexpr char kAgent[] = "filter-agent/mp-agent";
constexpr char kCli[] = "cli/mp";

struct Binary {
  const char* path;
  const char* name;
};

void PrintTo(const Binary& binary, std::ostream* out) { *out << binary.name; }

class EveryBinaryTest : public ::testing::TestWithParam<Binary> {
 protected:
  ScratchDir scratch_;
};

TEST_P(EveryBinaryTest, HelpShowsUsageAndExitsZero) {
  auto result = RunCommand({GetParam().path, "--help"}, scratch_.path());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0) << result->err;
  EXPECT_NE(result->out.find(absl::StrCat("Usage: ", GetParam().name)), std::string::npos)
      << result->out;
  EXPECT_NE(result->out.find("version"), std::string::npos) << result->out;
}

TEST_P(EveryBinaryTest, VersionPrintsNameVersionAndApi) {
  auto result = RunCommand({GetParam().path, "version"}, scratch_.path(),
                           // mp also asks a controller; point it at one that is not there.
                           {"MP_CONTROLLER=unix://" + (scratch_ / "nobody.sock")});
  ASSERT_TRUE(result.ok()) << result.status();
  // mp still prints its own version, but a controller that does not answer is a failure.
  EXPECT_EQ(result->exit_code, GetParam().name == std::string("mp") ? 1 : 0) << result->err;
  EXPECT_EQ(result->out.substr(0, result->out.find('\n')),
            absl::StrCat(GetParam().name, " 0.1.0 (middlepipe.v1)"));
}

TEST(CliTest, NoCommandIsAUsageError) {
  ScratchDir scratch;
  auto result = RunCommand({kCli}, scratch.path());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 2);
  EXPECT_EQ(result->err.rfind("mp: error: no command given", 0), 0u) << result->err;
}

TEST_P(EveryBinaryTest, UnknownFlagIsAUsageError) {
  auto result = RunCommand({GetParam().path, "--no-such-flag"}, scratch_.path());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 2);
  EXPECT_EQ(result->err.rfind(absl::StrCat(GetParam().name, ": error: "), 0), 0u) << result->err;
  EXPECT_NE(result->err.find("--no-such-flag"), std::string::npos) << result->err;
}

INSTANTIATE_TEST_SUITE_P(All, EveryBinaryTest,
                         ::testing::Values(Binary{kController, "mp-controller"},
                                           Binary{kAggregator, "mp-aggregator"},
                                           Binary{kAgent, "mp-agent"}, Binary{kCli, "mp"}),
                         [](const auto& info) {
                           std::string name = info.param.name;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(controller_.Start().ok()); }

  std::string Socket() { return scratch_ / "controller.sock"; }

  ScratchDir scratch_;
  testing::ControllerProcess controller_{scratch_};
};

TEST_F(ControllerTest, ServesHealthAndMetricsOverHttp) {
  httplib::Client http("127.0.0.1", controller_.http_port());
  auto health = http.Get("/healthz");
  ASSERT_TRUE(health) << httplib::to_string(health.error());
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok\n");

  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("mp_build_info{version=\"0.1.0\",api=\"middlepipe.v1\"} 1"),
            std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("\nmp_controller_connected_agents 0\n"), std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("# TYPE mp_controller_rollout_seconds histogram"), std::string::npos);
}

TEST_F(ControllerTest, GrpcHealthServiceSaysServing) {
  auto serving = testing::IsServing(controller_.target(), seconds(10));
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_TRUE(*serving);
}

TEST_F(ControllerTest, CreatesAdminTokenReadableOnlyByOwner) {
  struct stat info {};
  ASSERT_EQ(stat((controller_.data_dir() + "/admin-token").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_EQ(controller_.AdminToken().size(), 64u);
}

TEST_F(ControllerTest, CliReachesControllerWithTheAdminToken) {
  auto result = RunCommand({kCli, "version"}, scratch_.path(), controller_.CliEnv(controller_.AdminToken()));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0) << result->err;
  EXPECT_NE(result->out.find("controller 0.1.0 (middlepipe.v1) at unix://"), std::string::npos)
      << result->out;
  EXPECT_NE(result->out.find(", user admin"), std::string::npos) << result->out;
}

TEST_F(ControllerTest, CliWithAWrongTokenIsToldSo) {
  auto result = RunCommand({kCli, "version"}, scratch_.path(),
                           controller_.CliEnv("not-the-token-at-all"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_NE(result->err.find("mp: error: controller at unix://"), std::string::npos) << result->err;
  EXPECT_NE(result->err.find("unknown token"), std::string::npos) << result->err;
  EXPECT_EQ(result->out.find("controller 0.1.0"), std::string::npos) << result->out;
}

TEST_F(ControllerTest, SecondControllerOnTheSameSocketIsRefused) {
  auto result = RunCommand({kController, "--data-dir", scratch_ / "data2", "--grpc-listen",
                            controller_.target(), "--http-listen", "127.0.0.1:0"},
                           scratch_.path());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_NE(result->err.find("mp-controller: error: another process is serving on unix socket"),
            std::string::npos)
      << result->err;
}

TEST_F(ControllerTest, ExitsZeroOnSigtermAfterCleanShutdown) {
  ChildProcess& process = controller_.process();
  process.Signal(SIGTERM);
  std::optional<int> exit_code = process.WaitForExit(seconds(20));
  ASSERT_TRUE(exit_code.has_value()) << "still running 20 s after SIGTERM";
  EXPECT_EQ(*exit_code, 0) << process.Stderr();
  EXPECT_NE(process.Stderr().find("mp-controller INFO stopped"), std::string::npos);
}

TEST(AggregatorTest, ServesHealthAndQueriesAndExitsZeroOnSigterm) {
  ScratchDir scratch;
  const std::string target = "unix://" + (scratch / "a.sock");
  auto aggregator = ChildProcess::Start({kAggregator, "--user", "alice", "--listen", target},
                                        scratch.path());
  ASSERT_TRUE(aggregator.ok()) << aggregator.status();
  ASSERT_TRUE(aggregator->WaitForStderrLine("grpc listening on", seconds(20)))
      << aggregator->Stderr();

  auto serving = testing::IsServing(target, seconds(10));
  ASSERT_TRUE(serving.ok()) << serving.status();
  EXPECT_TRUE(*serving);

  auto stub = v1::Aggregator::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext context;
    v1::QueryResponse response;
    EXPECT_TRUE(stub->Query(&context, v1::QueryRequest(), &response).ok());
    EXPECT_EQ(response.states_size(), 0) << "nothing configured yet";
  }
  {
    grpc::ClientContext context;
    v1::ConfigureRequest request;
    request.set_user("mallory");
    v1::ConfigureResponse response;
    EXPECT_EQ(stub->Configure(&context, request, &response).error_code(),
              grpc::StatusCode::PERMISSION_DENIED)
        << "an aggregator serves one user";
  }

  aggregator->Signal(SIGTERM);
  EXPECT_EQ(aggregator->WaitForExit(seconds(20)), 0) << aggregator->Stderr();
}

TEST(AggregatorTest, RefusesAnInvalidUserName) {
  ScratchDir scratch;
  auto result = RunCommand({kAggregator, "--user", "Bad_User"}, scratch.path());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_NE(result->err.find("mp-aggregator: error: user \"Bad_User\""), std::string::npos)
      << result->err;
}

TEST(AgentTest, StartsWithItsConfigurationAndExitsZeroOnSigterm) {
  ScratchDir scratch;
  ASSERT_TRUE(WriteFileAtomically(scratch / "token", "aaaaaaaaaaaaaaaa\n", 0600).ok());
  auto agent = ChildProcess::Start({kAgent, "--controller", "unix://" + (scratch / "c.sock"),
                                    "--app", "web", "--instance", "2", "--token-file",
                                    scratch / "token"},
                                   scratch.path(), {"MP_AGENT_SOCKET=" + (scratch / "hook.sock")});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto line = agent->WaitForStderrLine("hook socket", seconds(20));
  ASSERT_TRUE(line.has_value()) << agent->Stderr();
  EXPECT_NE(line->find(scratch / "hook.sock"), std::string::npos) << *line;
  EXPECT_TRUE(agent->WaitForStderrLine("app web instance 2", seconds(1))) << agent->Stderr();

  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->WaitForExit(seconds(20)), 0) << agent->Stderr();
}

TEST(AgentTest, MissingTokenFileIsAnErrorNamingIt) {
  ScratchDir scratch;
  auto result = RunCommand({kAgent, "--controller", "127.0.0.1:7400", "--app", "web",
                            "--token-file", scratch / "missing-token"},
                           scratch.path());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_NE(result->err.find("mp-agent: error: cannot open " + (scratch / "missing-token")),
            std::string::npos)
      << result->err;
}

}  // namespace
}  // namespace middlepipe

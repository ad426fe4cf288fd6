#include "common/process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "gtest/gtest.h"

namespace middlepipe {
namespace {

std::string ScratchFile(const std::string& name) {
  return absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
}

int WaitFor(pid_t pid) {
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  return status;
}

TEST(SpawnTest, RunsTheCommandWithItsEnvironmentAndOutputInTheLog) {
  const std::string log = ScratchFile("echo.log");
  SpawnOptions options;
  options.argv = {"sh", "-c", "echo \"hello $GREETED\"; echo oops >&2; exit 3"};
  options.environment = {"GREETED=world"};
  options.output_path = log;
  absl::StatusOr<pid_t> pid = Spawn(options);
  ASSERT_TRUE(pid.ok()) << pid.status();
  const int status = WaitFor(*pid);
  EXPECT_EQ(DescribeExit(status), "exit code 3");
  absl::StatusOr<std::string> output = ReadFile(log);
  ASSERT_TRUE(output.ok());
  EXPECT_EQ(*output, "hello world\noops\n");
}

TEST(SpawnTest, AMissingProgramIsAnErrorNamingItNotAChildThatExits) {
  SpawnOptions options;
  options.argv = {"/nonexistent/program", "--flag"};
  absl::StatusOr<pid_t> pid = Spawn(options);
  ASSERT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().message(), "cannot run /nonexistent/program: No such file or directory");
}

TEST(SpawnTest, AMissingNetworkNamespaceIsAnErrorNamingIt) {
  SpawnOptions options;
  options.argv = {"true"};
  options.network_namespace = "/run/netns/mp-test-no-such-namespace";
  absl::StatusOr<pid_t> pid = Spawn(options);
  ASSERT_FALSE(pid.ok());
  EXPECT_NE(pid.status().message().find("mp-test-no-such-namespace"), std::string::npos)
      << pid.status();
}

TEST(SpawnTest, AnUnwritableLogIsAnError) {
  SpawnOptions options;
  options.argv = {"true"};
  options.output_path = "/nonexistent/dir/out.log";
  EXPECT_FALSE(Spawn(options).ok());
}

TEST(RunToCompletionTest, ReturnsTheOutputOrAnErrorWithIt) {
  absl::StatusOr<std::string> said = RunToCompletion({"sh", "-c", "echo one; echo two"});
  ASSERT_TRUE(said.ok()) << said.status();
  EXPECT_EQ(*said, "one\ntwo\n");
  absl::StatusOr<std::string> failed = RunToCompletion({"sh", "-c", "echo bad thing >&2; exit 2"});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().message(), "sh -c echo bad thing >&2; exit 2: exit code 2: bad thing");
}

TEST(StopProcessGroupTest, StopsTheProcessAndWhatItStarted) {
  const std::string pid_file = ScratchFile("grandchild.pid");
  SpawnOptions options;
  // A shell that starts a grandchild and waits: SIGTERM to the shell alone would leave
  // the grandchild running.
  options.argv = {"sh", "-c", absl::StrCat("sleep 60 & echo $! > ", pid_file, "; wait")};
  absl::StatusOr<pid_t> pid = Spawn(options);
  ASSERT_TRUE(pid.ok()) << pid.status();
  absl::StatusOr<std::string> grandchild;
  for (int i = 0; i < 500; ++i) {
    grandchild = ReadFile(pid_file);
    if (grandchild.ok() && grandchild->find('\n') != std::string::npos) break;
    usleep(10000);
  }
  ASSERT_TRUE(grandchild.ok());
  const pid_t grandchild_pid = std::atoi(grandchild->c_str());
  ASSERT_GT(grandchild_pid, 0);

  const int status = StopProcessGroup(*pid, std::chrono::milliseconds(2000));
  EXPECT_TRUE(WIFSIGNALED(status) || WIFEXITED(status)) << status;
  // The grandchild is gone too (it is not our child, so probe with signal 0; it may
  // linger as a zombie of init for a moment).
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = kill(grandchild_pid, 0) != 0;
    if (!gone) {
      absl::StatusOr<std::string> stat = ReadFile(absl::StrCat("/proc/", grandchild_pid, "/stat"));
      gone = !stat.ok() || stat->find(") Z ") != std::string::npos;
    }
    if (!gone) usleep(10000);
  }
  EXPECT_TRUE(gone);
}

TEST(StopProcessGroupTest, KillsAProcessThatIgnoresSigterm) {
  SpawnOptions options;
  options.argv = {"sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"};
  absl::StatusOr<pid_t> pid = Spawn(options);
  ASSERT_TRUE(pid.ok()) << pid.status();
  usleep(100000);  // let the shell set its trap
  const int status = StopProcessGroup(*pid, std::chrono::milliseconds(200));
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

TEST(StopProcessGroupTest, NotAChildIsMinusOne) {
  EXPECT_EQ(StopProcessGroup(0, std::chrono::milliseconds(10)), -1);
}

}  // namespace
}  // namespace middlepipe

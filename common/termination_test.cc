#include "common/termination.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace middlepipe {
namespace {

// A process that waits for SIGTERM, then takes a while to clean up, must exit 0 even if
// SIGTERM comes again during the cleanup (the bug: the mask was restored on the way out,
// and the second SIGTERM killed the process).
TEST(TerminationSignalsTest, ASecondSigtermDuringShutdownDoesNotKill) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    {
      TerminationSignals termination;
      termination.Wait();
    }
    usleep(200 * 1000);  // cleanup, during which the second SIGTERM arrives
    _exit(0);
  }
  usleep(50 * 1000);
  kill(child, SIGTERM);
  usleep(50 * 1000);
  kill(child, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace middlepipe

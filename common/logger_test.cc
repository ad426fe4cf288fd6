#include "common/logger.h"

#include <sstream>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace middlepipe {
namespace {

TEST(LoggerTest, OneLineWithTimeComponentAndSeverity) {
  std::ostringstream out;
  Logger logger("mp-test", &out, [] { return int64_t{1795321041107}; });
  logger.Info("listening on ", "127.0.0.1:", 7400);
  logger.Error("bad\nthing");
  EXPECT_EQ(out.str(),
            "2026-11-22T04:17:21.107Z mp-test INFO listening on 127.0.0.1:7400\n"
            "2026-11-22T04:17:21.107Z mp-test ERROR bad thing\n");
}

TEST(LoggerTest, LinesFromManyThreadsStayWhole) {
  std::ostringstream out;
  Logger logger("mp-test", &out, [] { return int64_t{0}; });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&logger, t] {
      for (int i = 0; i < 200; ++i) logger.Info("thread ", t, " line ", i);
    });
  }
  for (auto& thread : threads) thread.join();

  std::istringstream lines(out.str());
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    ++count;
    EXPECT_EQ(line.rfind("1970-01-01T00:00:00.000Z mp-test INFO thread ", 0), 0u) << line;
  }
  EXPECT_EQ(count, 800);
}

}  // namespace
}  // namespace middlepipe

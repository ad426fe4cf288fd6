#include "tests/support/sample_service.h"

#include <gtest/gtest.h>

namespace middlepipe::testing {

SampleService::SampleService(const ScratchDir& scratch, const std::string& binary) {
  auto started = ChildProcess::Start({binary, "--listen", "127.0.0.1:0"}, scratch.path());
  EXPECT_TRUE(started.ok()) << started.status();
  if (!started.ok()) return;
  process_.emplace(std::move(*started));
  auto line = process_->WaitForStderrLine("listening on", std::chrono::seconds(20));
  EXPECT_TRUE(line.has_value()) << process_->Stderr();
  port_ = line ? std::stoi(line->substr(line->rfind(':') + 1)) : 0;
  control_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
}

int SampleService::calls() {
  auto stats = control_->Get("/control/stats");
  return stats ? std::stoi(stats->body.substr(stats->body.find(':') + 1)) : -1;
}

void SampleService::Fail(bool failing) {
  auto result = control_->Post(std::string("/control/fail?on=") + (failing ? "1" : "0"));
  EXPECT_TRUE(result && result->status == 200);
}

}  // namespace middlepipe::testing

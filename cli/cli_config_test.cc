#include "cli/cli_config.h"

#include <cstdlib>
#include <string>

#include "common/files.h"
#include "gtest/gtest.h"

namespace middlepipe::cli {
namespace {

std::string Scratch(const std::string& name) { return std::string(std::getenv("TEST_TMPDIR")) + "/" + name; }

TEST(CliConfigTest, WhatIsWrittenIsReadBack) {
  const std::string path = Scratch("nested/dir/cli.conf");
  CliConfig written{"unix:///tmp/x/controller.sock", "/tmp/x/data/admin-token", "/tmp/x"};
  ASSERT_TRUE(WriteCliConfig(path, written).ok());
  absl::StatusOr<CliConfig> read = LoadCliConfig(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->controller, written.controller);
  EXPECT_EQ(read->token_file, written.token_file);
  EXPECT_EQ(read->local_dir, written.local_dir);
}

TEST(CliConfigTest, AMissingFileIsAnEmptyConfig) {
  absl::StatusOr<CliConfig> read = LoadCliConfig(Scratch("absent.conf"));
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(read->controller.empty());
}

TEST(CliConfigTest, CommentsAndBlankLinesAreSkippedAndBadLinesNamed) {
  const std::string path = Scratch("edited.conf");
  ASSERT_TRUE(WriteFileAtomically(path, "# mine\n\n  controller =  10.0.0.1:7400  \n", 0600).ok());
  absl::StatusOr<CliConfig> read = LoadCliConfig(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->controller, "10.0.0.1:7400");

  ASSERT_TRUE(WriteFileAtomically(path, "controller = a\ncontroler = b\n", 0600).ok());
  EXPECT_EQ(LoadCliConfig(path).status().message(),
            path + ":2: unknown key \"controler\" (known: controller, token-file, local-dir)");
  ASSERT_TRUE(WriteFileAtomically(path, "just words\n", 0600).ok());
  EXPECT_EQ(LoadCliConfig(path).status().message(), path + ":1: \"just words\" is not KEY = VALUE");
}

}  // namespace
}  // namespace middlepipe::cli

#include "common/files.h"

#include <sys/stat.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"

namespace middlepipe {
namespace {

std::string TestDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

TEST(FilesTest, WriteThenReadBack) {
  const std::string path = TestDir() + "/round-trip";
  ASSERT_TRUE(WriteFileAtomically(path, "first", 0644).ok());
  ASSERT_TRUE(WriteFileAtomically(path, "second\n", 0644).ok());
  auto contents = ReadFile(path);
  ASSERT_TRUE(contents.ok()) << contents.status();
  EXPECT_EQ(*contents, "second\n");
}

TEST(FilesTest, ModeIsExactWhateverTheUmask) {
  const std::string path = TestDir() + "/secret";
  mode_t previous = umask(0);
  absl::Status written = WriteFileAtomically(path, "token", 0600);
  umask(previous);
  ASSERT_TRUE(written.ok()) << written;
  struct stat info {};
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST(FilesTest, ReadErrorNamesThePath) {
  auto contents = ReadFile(TestDir() + "/does-not-exist");
  ASSERT_FALSE(contents.ok());
  EXPECT_NE(contents.status().message().find("does-not-exist"), std::string::npos);
  EXPECT_EQ(contents.status().code(), absl::StatusCode::kNotFound);
}

TEST(FilesTest, MakeDirectoriesCreatesParentsAndIsIdempotent) {
  const std::string path = TestDir() + "/a/b/c";
  ASSERT_TRUE(MakeDirectories(path, 0755).ok());
  ASSERT_TRUE(MakeDirectories(path, 0755).ok());
  struct stat info {};
  ASSERT_EQ(stat(path.c_str(), &info), 0);
  EXPECT_TRUE(S_ISDIR(info.st_mode));
}

TEST(FilesTest, MakeDirectoriesRefusesAFile) {
  const std::string path = TestDir() + "/plain-file";
  ASSERT_TRUE(WriteFileAtomically(path, "", 0644).ok());
  absl::Status status = MakeDirectories(path, 0755);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("not a directory"), std::string::npos) << status;
}

TEST(LastLinesTest, GivesTheLastLinesWithoutTheFinalNewline) {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/log.txt";
  ASSERT_TRUE(WriteFileAtomically(path, "one\ntwo\nthree\n\n", 0600).ok());
  EXPECT_EQ(LastLines(path, 2), "two\nthree");
  EXPECT_EQ(LastLines(path, 1), "three");
  EXPECT_EQ(LastLines(path, 10), "one\ntwo\nthree");
  EXPECT_EQ(LastLines(path + ".missing", 3), "");
}

}  // namespace
}  // namespace middlepipe

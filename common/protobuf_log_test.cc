#include "common/protobuf_log.h"

#include <google/protobuf/wrappers.pb.h>

#include <sstream>

#include "gtest/gtest.h"

namespace middlepipe {
namespace {

// The bug: invalid UTF-8 on the hook socket put a raw libprotobuf error line into the
// agent's log, outside its one-line-per-event format.
TEST(ProtobufLogTest, InvalidUtf8IsSaidAsALineOfTheLogger) {
  std::ostringstream log;
  Logger logger("test", &log, [] { return int64_t{0}; });
  RouteProtobufLogs(&logger);
  google::protobuf::StringValue value;
  EXPECT_FALSE(value.ParseFromString(std::string("\x0a\x02\xff\xfe", 4)));
  EXPECT_NE(log.str().find("test ERROR protobuf: String field"), std::string::npos) << log.str();
  RouteProtobufLogs(nullptr);
}

}  // namespace
}  // namespace middlepipe

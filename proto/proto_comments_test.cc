// Checks that every message, field, oneof, enum, enum value, service and rpc of the
// project's .proto files has a comment, so the API reads on its own for someone who never
// saw DESIGN.md. Reads the descriptor sets (with source info) that mp_proto_library
// generates next to each .proto.
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "google/protobuf/descriptor.pb.h"
#include "gtest/gtest.h"

namespace middlepipe {
namespace {

using google::protobuf::DescriptorProto;
using google::protobuf::EnumDescriptorProto;
using google::protobuf::FileDescriptorProto;
using google::protobuf::FileDescriptorSet;

// Field numbers inside descriptor.proto, as SourceCodeInfo paths use them.
constexpr int kFileMessageType = 4;
constexpr int kFileEnumType = 5;
constexpr int kFileService = 6;
constexpr int kMessageField = 2;
constexpr int kMessageNestedType = 3;
constexpr int kMessageEnumType = 4;
constexpr int kMessageOneof = 8;
constexpr int kEnumValue = 2;
constexpr int kServiceMethod = 2;

using Path = std::vector<int>;

class CommentChecker {
 public:
  explicit CommentChecker(const FileDescriptorProto& file) : file_(file) {
    for (const auto& location : file.source_code_info().location()) {
      if (!location.leading_comments().empty() || !location.trailing_comments().empty()) {
        commented_.insert(Path(location.path().begin(), location.path().end()));
      }
    }
  }

  // Names of the elements that have no comment.
  std::vector<std::string> Uncommented() {
    for (int i = 0; i < file_.message_type_size(); ++i) {
      CheckMessage(file_.message_type(i), {kFileMessageType, i});
    }
    for (int i = 0; i < file_.enum_type_size(); ++i) {
      CheckEnum(file_.enum_type(i), {kFileEnumType, i});
    }
    for (int i = 0; i < file_.service_size(); ++i) {
      const auto& service = file_.service(i);
      Require({kFileService, i}, "service " + service.name());
      for (int j = 0; j < service.method_size(); ++j) {
        Require({kFileService, i, kServiceMethod, j},
                "rpc " + service.name() + "." + service.method(j).name());
      }
    }
    return missing_;
  }

 private:
  void CheckMessage(const DescriptorProto& message, const Path& path) {
    Require(path, "message " + message.name());
    for (int i = 0; i < message.field_size(); ++i) {
      Require(Extend(path, kMessageField, i),
              "field " + message.name() + "." + message.field(i).name());
    }
    for (int i = 0; i < message.oneof_decl_size(); ++i) {
      // proto3 `optional` makes a synthetic oneof that has no source location.
      const std::string& name = message.oneof_decl(i).name();
      if (!name.empty() && name[0] == '_') continue;
      Require(Extend(path, kMessageOneof, i), "oneof " + message.name() + "." + name);
    }
    for (int i = 0; i < message.nested_type_size(); ++i) {
      const auto& nested = message.nested_type(i);
      if (nested.options().map_entry()) continue;  // generated for map<> fields
      CheckMessage(nested, Extend(path, kMessageNestedType, i));
    }
    for (int i = 0; i < message.enum_type_size(); ++i) {
      CheckEnum(message.enum_type(i), Extend(path, kMessageEnumType, i));
    }
  }

  void CheckEnum(const EnumDescriptorProto& enumeration, const Path& path) {
    Require(path, "enum " + enumeration.name());
    for (int i = 0; i < enumeration.value_size(); ++i) {
      Require(Extend(path, kEnumValue, i),
              "enum value " + enumeration.name() + "." + enumeration.value(i).name());
    }
  }

  void Require(const Path& path, const std::string& what) {
    if (commented_.count(path) == 0) missing_.push_back(file_.name() + ": " + what);
  }

  static Path Extend(Path path, int field, int index) {
    path.push_back(field);
    path.push_back(index);
    return path;
  }

  const FileDescriptorProto& file_;
  std::set<Path> commented_;
  std::vector<std::string> missing_;
};

FileDescriptorSet ReadDescriptorSet(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  FileDescriptorSet set;
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  EXPECT_TRUE(set.ParseFromIstream(&in)) << "cannot parse " << path;
  return set;
}

class ProtoCommentsTest : public testing::TestWithParam<std::string> {};

TEST_P(ProtoCommentsTest, EveryElementHasAComment) {
  FileDescriptorSet set = ReadDescriptorSet("proto/" + GetParam() + ".desc");
  ASSERT_EQ(set.file_size(), 1);
  const FileDescriptorProto& file = set.file(0);
  EXPECT_EQ(file.package(), "middlepipe.v1");
  ASSERT_TRUE(file.has_source_code_info()) << "descriptor lacks source info";

  std::vector<std::string> missing = CommentChecker(file).Uncommented();
  std::ostringstream list;
  for (const auto& name : missing) list << "\n  " << name;
  EXPECT_TRUE(missing.empty()) << "elements without a comment:" << list.str();
}

// The checker itself must catch an uncommented element, or the test above proves nothing.
TEST(CommentCheckerTest, ReportsAnUncommentedField) {
  FileDescriptorProto file;
  file.set_name("x.proto");
  auto* message = file.add_message_type();
  message->set_name("Thing");
  message->add_field()->set_name("size");
  auto* location = file.mutable_source_code_info()->add_location();
  location->add_path(kFileMessageType);
  location->add_path(0);
  location->set_leading_comments(" A thing.\n");

  EXPECT_EQ(CommentChecker(file).Uncommented(),
            std::vector<std::string>{"x.proto: field Thing.size"});
}

INSTANTIATE_TEST_SUITE_P(AllProtos, ProtoCommentsTest,
                         testing::Values("middlepipe", "controller", "agent", "aggregator",
                                         "hook", "local"));

}  // namespace
}  // namespace middlepipe

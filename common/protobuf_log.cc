#include "common/protobuf_log.h"

#include <google/protobuf/stubs/logging.h>

#include <atomic>

namespace middlepipe {
namespace {

// protobuf's handler is a plain function pointer, so the target is process-wide too.
std::atomic<Logger*> routed_to{nullptr};

void Forward(google::protobuf::LogLevel level, const char*, int, const std::string& message) {
  Logger* logger = routed_to.load();
  if (logger == nullptr) return;
  if (level >= google::protobuf::LOGLEVEL_ERROR) {
    logger->Error("protobuf: ", message);
  } else {
    logger->Warning("protobuf: ", message);
  }
}

}  // namespace

void RouteProtobufLogs(Logger* logger) {
  routed_to.store(logger);
  google::protobuf::SetLogHandler(&Forward);
}

}  // namespace middlepipe

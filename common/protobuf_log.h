// libprotobuf writes its own warnings (e.g. "String field … contains invalid UTF-8 data")
// straight to stderr in its own format. A binary calls RouteProtobufLogs once in main()
// so they become ordinary one-line events of its Logger. protobuf keeps one handler per
// process; the logger must outlive every later protobuf call (main's does).
#pragma once

#include "common/logger.h"

namespace middlepipe {

void RouteProtobufLogs(Logger* logger);

}  // namespace middlepipe

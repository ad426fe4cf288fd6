// Finding the other middlepipe binaries from one of them: installed side by side in one
// directory, or in Bazel's output tree where each lives in its package's folder.
#pragma once

#include <string>

namespace middlepipe {

// `name` (e.g. "mp-agent" of package "filter-agent"): $MP_BIN_DIR/name if MP_BIN_DIR is
// set, else beside this process's executable, else PACKAGE/name under the executable's
// folder or one of its parents (Bazel's layout). Empty if none is executable.
std::string FindSiblingBinary(const std::string& package, const std::string& name);

}  // namespace middlepipe

// The one list of the kinds this build offers (like Envoy's extensions list): adding a
// kind means adding its folder and one line in builtin_kinds.cc.
#pragma once

#include <vector>

#include "scheduler/kind.h"

namespace middlepipe::scheduler {

std::vector<KindDescriptor> BuiltinKinds();

}  // namespace middlepipe::scheduler

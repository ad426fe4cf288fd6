// The release version every binary reports with `version` and over its APIs.
#pragma once

namespace middlepipe {

inline constexpr char kVersion[] = "0.1.0";
// The protobuf package of the APIs this build speaks.
inline constexpr char kApiVersion[] = "middlepipe.v1";

}  // namespace middlepipe

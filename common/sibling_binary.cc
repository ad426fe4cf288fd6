#include "common/sibling_binary.h"

#include <unistd.h>

#include <cstdlib>
#include <vector>

namespace middlepipe {

std::string FindSiblingBinary(const std::string& package, const std::string& name) {
  std::vector<std::string> candidates;
  if (const char* bin_dir = std::getenv("MP_BIN_DIR"); bin_dir != nullptr && *bin_dir != '\0') {
    candidates.push_back(std::string(bin_dir) + "/" + name);
    candidates.push_back(std::string(bin_dir) + "/" + package + "/" + name);
  }
  char self[4096];
  const ssize_t length = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (length > 0) {
    std::string directory(self, static_cast<size_t>(length));
    directory.resize(directory.rfind('/'));
    candidates.push_back(directory + "/" + name);
    for (int up = 0; up < 4 && !directory.empty(); ++up) {
      candidates.push_back(directory + "/" + package + "/" + name);
      directory.resize(directory.rfind('/'));
    }
  }
  for (const std::string& candidate : candidates) {
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

}  // namespace middlepipe

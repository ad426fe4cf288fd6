#include "common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace middlepipe {
namespace {

absl::Status SystemError(absl::string_view what, const std::string& path) {
  return absl::ErrnoToStatus(errno, absl::StrCat(what, " ", path));
}

std::string DirectoryOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Closes the descriptor on every path out of the function.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  FileDescriptor fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return SystemError("cannot open", path);
  std::string contents;
  char buffer[8192];
  while (true) {
    ssize_t n = read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return SystemError("cannot read", path);
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  return contents;
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents,
                                 mode_t mode) {
  const std::string temporary = absl::StrCat(path, ".tmp.", getpid());
  {
    FileDescriptor fd(open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
    if (fd.get() < 0) return SystemError("cannot create", temporary);
    // open() applies the umask; the caller's mode (e.g. 0600 for a secret) is exact.
    if (fchmod(fd.get(), mode) != 0) return SystemError("cannot chmod", temporary);
    size_t written = 0;
    while (written < contents.size()) {
      ssize_t n = write(fd.get(), contents.data() + written, contents.size() - written);
      if (n < 0) {
        if (errno == EINTR) continue;
        absl::Status error = SystemError("cannot write", temporary);
        unlink(temporary.c_str());
        return error;
      }
      written += static_cast<size_t>(n);
    }
    if (fsync(fd.get()) != 0) {
      absl::Status error = SystemError("cannot fsync", temporary);
      unlink(temporary.c_str());
      return error;
    }
  }
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    absl::Status error = SystemError("cannot rename to", path);
    unlink(temporary.c_str());
    return error;
  }
  const std::string directory = DirectoryOf(path);
  FileDescriptor dir(open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() < 0 || fsync(dir.get()) != 0) return SystemError("cannot fsync", directory);
  return absl::OkStatus();
}

std::string LastLines(const std::string& path, size_t lines) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return "";
  size_t end = text->size();
  while (end > 0 && (*text)[end - 1] == '\n') --end;
  size_t start = end;
  for (size_t seen = 0; start > 0; --start) {
    if ((*text)[start - 1] == '\n' && ++seen == lines) break;
  }
  return text->substr(start, end - start);
}

absl::Status MakeDirectories(const std::string& path, mode_t mode) {
  if (path.empty()) return absl::InvalidArgumentError("directory path is empty");
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string prefix = path.substr(0, slash);
    if (mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST) {
      return SystemError("cannot create directory", prefix);
    }
    if (slash == std::string::npos) break;
  }
  struct stat info {};
  if (stat(path.c_str(), &info) != 0) return SystemError("cannot stat", path);
  if (!S_ISDIR(info.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path, " exists and is not a directory"));
  }
  return absl::OkStatus();
}

}  // namespace middlepipe

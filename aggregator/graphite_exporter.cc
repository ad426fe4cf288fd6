#include "aggregator/graphite_exporter.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace middlepipe::aggregator {
namespace {

// Graphite splits paths at dots; names are DNS labels already, but be safe.
std::string PathPart(const std::string& name) {
  std::string part = name;
  for (char& c : part) {
    if (c == '.' || c == ' ') c = '_';
  }
  return part;
}

}  // namespace

std::string RenderGraphite(const std::string& user, const v1::QueryResponse& states,
                           int64_t unix_seconds) {
  std::string lines;
  for (const v1::MiddlepipeState& state : states.states()) {
    const std::string prefix =
        absl::StrCat("middlepipe.", PathPart(user), ".", PathPart(state.middlepipe()), ".",
                     PathPart(state.app()), ".", PathPart(state.service()), ".");
    auto line = [&](const std::string& figure, double value) {
      absl::StrAppend(&lines, prefix, figure, " ", absl::StrFormat("%.6g", value), " ", unix_seconds, "\n");
    };
    line("requests", static_cast<double>(state.total().requests()));
    line("failures", static_cast<double>(state.total().failures()));
    line("short_circuited", static_cast<double>(state.total().short_circuited()));
    line("instances_reporting", state.instances_reporting());
    for (const auto& [figure, value] : state.figures()) {
      std::string name = figure;
      for (char& c : name) {
        if (c == ':' || c == '.') c = '_';
      }
      line(name, value);
    }
  }
  return lines;
}

GraphiteExporter::GraphiteExporter(Address carbon, std::string user,
                                   std::chrono::milliseconds interval,
                                   std::function<v1::QueryResponse()> snapshot, Logger* logger)
    : carbon_(std::move(carbon)),
      user_(std::move(user)),
      interval_(interval),
      snapshot_(std::move(snapshot)),
      logger_(logger) {}

GraphiteExporter::~GraphiteExporter() { Stop(); }

void GraphiteExporter::Start() { thread_ = std::thread([this] { Run(); }); }

void GraphiteExporter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void GraphiteExporter::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_changed_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const bool sent = Send(RenderGraphite(user_, snapshot_(), now));
    lock.lock();
    if (!sent && !warned_) {
      logger_->Warning("graphite at ", carbon_.ToString(), " unreachable; retrying every interval");
    } else if (sent && warned_) {
      logger_->Info("graphite at ", carbon_.ToString(), " reachable again");
    }
    warned_ = !sent;
  }
}

bool GraphiteExporter::Send(const std::string& lines) {
  if (lines.empty()) return true;
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(carbon_.host.c_str(), std::to_string(carbon_.port).c_str(), &hints, &found) != 0) {
    return false;
  }
  bool sent = false;
  for (addrinfo* candidate = found; candidate != nullptr && !sent; candidate = candidate->ai_next) {
    const int fd = socket(candidate->ai_family, candidate->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    if (connect(fd, candidate->ai_addr, candidate->ai_addrlen) == 0) {
      size_t offset = 0;
      while (offset < lines.size()) {
        const ssize_t written = send(fd, lines.data() + offset, lines.size() - offset, MSG_NOSIGNAL);
        if (written <= 0) break;
        offset += static_cast<size_t>(written);
      }
      sent = offset == lines.size();
    }
    close(fd);
  }
  freeaddrinfo(found);
  return sent;
}

}  // namespace middlepipe::aggregator

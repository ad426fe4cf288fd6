// Packet-path benchmark: what NFQUEUE interposition costs TCP between two containers,
// side by side with no middlepipe, in one run on one machine (needs root).
//
// Two network namespaces joined by a veth pair (made here, removed on every exit path);
// a receiver in one, a sender in the other, and the agent's packet path (PacketPath, the
// code mp-agent runs) in the sender's namespace. Rows:
//   no-middlepipe          no rules: the kernel alone
//   nfqueue-accept-all     every packet of the flow through the queue and back with an
//                          accept verdict (a firewall that allows everything: headers
//                          copied, no flow state after the first packet)
//   accounting+ids-20      accounting and an ids with 20 rules: full payload copied,
//                          both sides reassembled and scanned
// Figures per row: single-stream throughput (Gbit/s) and its ratio to no-middlepipe in
// the same round; p50 round-trip time of a 64-byte request/response and what the row adds
// to it. Rows alternate within each round; medians over rounds are what bench/report.py
// quotes.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/strings/str_cat.h"
#include "bench/figures.h"
#include "common/logger.h"
#include "common/process.h"
#include "filter-agent/packet_path.h"
#include "scheduler/chain_table.h"
#include "scheduler/filters/builtin_filters.h"
#include "scheduler/filters/builtin_kinds.h"

namespace middlepipe::bench {
namespace {

constexpr char kSenderAddress[] = "10.251.0.1";
constexpr char kReceiverAddress[] = "10.251.0.2";
constexpr uint16_t kBulkPort = 5201;
constexpr uint16_t kEchoPort = 5202;

using Clock = std::chrono::steady_clock;

// Two namespaces and the veth pair between them, gone when this goes.
class Namespaces {
 public:
  Namespaces() : sender_(absl::StrCat("mpbench", getpid(), "a")), receiver_(absl::StrCat("mpbench", getpid(), "b")) {}
  ~Namespaces() {
    RunToCompletion({"ip", "netns", "del", sender_}).IgnoreError();
    RunToCompletion({"ip", "netns", "del", receiver_}).IgnoreError();
  }
  absl::Status Create() {
    const std::vector<std::vector<std::string>> steps = {
        {"ip", "netns", "add", sender_},
        {"ip", "netns", "add", receiver_},
        {"ip", "-n", sender_, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
         "netns", receiver_},
        {"ip", "-n", sender_, "addr", "add", absl::StrCat(kSenderAddress, "/24"), "dev", "veth0"},
        {"ip", "-n", receiver_, "addr", "add", absl::StrCat(kReceiverAddress, "/24"), "dev", "veth1"},
        {"ip", "-n", sender_, "link", "set", "veth0", "up"},
        {"ip", "-n", receiver_, "link", "set", "veth1", "up"},
        {"ip", "-n", sender_, "link", "set", "lo", "up"},
        {"ip", "-n", receiver_, "link", "set", "lo", "up"},
    };
    for (const auto& step : steps) {
      if (absl::StatusOr<std::string> done = RunToCompletion(step); !done.ok()) return done.status();
    }
    return absl::OkStatus();
  }
  // Moves the calling thread into a namespace.
  static absl::Status Enter(const std::string& name) {
    const int fd = open(absl::StrCat("/run/netns/", name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
      if (fd >= 0) close(fd);
      return absl::UnavailableError(absl::StrCat("cannot enter ", name));
    }
    close(fd);
    return absl::OkStatus();
  }
  const std::string& sender() const { return sender_; }
  const std::string& receiver() const { return receiver_; }

 private:
  const std::string sender_;
  const std::string receiver_;
};

int Listen(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  const int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  inet_pton(AF_INET, kReceiverAddress, &address.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 || listen(fd, 16) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int Connect(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  inet_pton(AF_INET, kReceiverAddress, &address.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// The receiver's side: drains bulk connections, echoes echo connections, until stopped.
class Receiver {
 public:
  explicit Receiver(const std::string& name_space) {
    thread_ = std::thread([this, name_space] {
      if (!Namespaces::Enter(name_space).ok()) return;
      bulk_ = Listen(kBulkPort);
      echo_ = Listen(kEchoPort);
      ready_.store(true);
      std::thread echo([this] { Serve(echo_, true); });
      Serve(bulk_, false);
      echo.join();
    });
    while (!ready_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~Receiver() {
    stop_.store(true);
    shutdown(bulk_, SHUT_RDWR);
    shutdown(echo_, SHUT_RDWR);
    thread_.join();
    close(bulk_);
    close(echo_);
  }

 private:
  void Serve(int listener, bool echo) {
    std::vector<char> buffer(1 << 18);
    while (!stop_.load()) {
      const int connection = accept(listener, nullptr, nullptr);
      if (connection < 0) return;
      ssize_t got;
      while ((got = recv(connection, buffer.data(), buffer.size(), 0)) > 0) {
        if (echo && send(connection, buffer.data(), static_cast<size_t>(got), 0) != got) break;
      }
      close(connection);
    }
  }

  std::thread thread_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stop_{false};
  int bulk_ = -1;
  int echo_ = -1;
};

// Single-stream throughput for `seconds`, Gbit/s, sending lowercase pseudo-random text.
double Throughput(double seconds) {
  const int fd = Connect(kBulkPort);
  if (fd < 0) return 0;
  // Text, not one repeated byte: every rule's first byte shows up in it, as in real traffic.
  std::vector<char> buffer(1 << 17);
  uint32_t seed = 12345;
  for (char& c : buffer) {
    seed = seed * 1103515245 + 12345;
    c = static_cast<char>('a' + (seed >> 16) % 26);
  }
  uint64_t sent = 0;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < end) {
    const ssize_t put = send(fd, buffer.data(), buffer.size(), 0);
    if (put <= 0) break;
    sent += static_cast<uint64_t>(put);
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  close(fd);
  return static_cast<double>(sent) * 8 / elapsed / 1e9;
}

// p50 round trip of a 64-byte request and its echo, microseconds.
double RoundTripP50(int count) {
  const int fd = Connect(kEchoPort);
  if (fd < 0) return 0;
  const int on = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  char message[64] = {};
  std::vector<double> samples;
  for (int i = 0; i < count; ++i) {
    const auto start = Clock::now();
    if (send(fd, message, sizeof(message), 0) != sizeof(message)) break;
    size_t got = 0;
    while (got < sizeof(message)) {
      const ssize_t n = recv(fd, message + got, sizeof(message) - got, 0);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  close(fd);
  return Percentile(samples, 50);
}

v1::FilterSpec Spec(const std::string& name, const std::string& kind, const std::string& config) {
  v1::FilterSpec spec;
  spec.set_middlepipe(name);
  spec.set_kind(kind);
  spec.set_level(v1::LEVEL_PACKET);
  spec.set_config_json(config);
  return spec;
}

std::string TwentyRules() {
  std::string rules;
  for (int i = 0; i < 20; ++i) {
    absl::StrAppend(&rules, i == 0 ? "" : ",", "\"alert tcp any any -> any any (msg:\\\"rule ", i,
                    "\\\"; content:\\\"attack-signature-", i, "\\\"; nocase; sid:", 1000 + i, ";)\"");
  }
  return absl::StrCat("{\"rules\":[", rules, "]}");
}

int Run(int rounds, double seconds, int round_trips) {
  if (geteuid() != 0) {
    std::cerr << "packet_throughput: needs root (network namespaces, iptables)\n";
    return 1;
  }
  Namespaces namespaces;
  if (absl::Status made = namespaces.Create(); !made.ok()) {
    std::cerr << "packet_throughput: " << made.message() << "\n";
    return 1;
  }
  Receiver receiver(namespaces.receiver());
  if (absl::Status entered = Namespaces::Enter(namespaces.sender()); !entered.ok()) {
    std::cerr << "packet_throughput: " << entered.message() << "\n";
    return 1;
  }
  Logger logger("packet_throughput", &std::cerr);
  absl::StatusOr<scheduler::KindCatalog> kinds = scheduler::KindCatalog::Create(scheduler::BuiltinKinds());
  scheduler::FilterRegistry registry(&*kinds);
  scheduler::RegisterBuiltinFilters(registry);
  scheduler::ChainTable table(&registry, scheduler::SteadyClockMillis());
  absl::StatusOr<std::unique_ptr<agent::PacketPath>> path = agent::PacketPath::Open({}, &logger);
  if (!path.ok()) {
    std::cerr << "packet_throughput: " << path.status().message() << "\n";
    return 1;
  }
  (*path)->Start();

  struct Row {
    std::string name;
    std::vector<v1::FilterSpec> filters;
  };
  const std::vector<Row> rows = {
      {"no-middlepipe", {}},
      {"nfqueue-accept-all", {Spec("allow-all", "firewall", "{}")}},
      {"accounting+ids-20", {Spec("meter", "accounting", "{}"), Spec("guard", "ids", TwentyRules())}},
  };
  uint64_t epoch = 0;
  auto use = [&](const Row& row) -> absl::Status {
    v1::Prepare prepare;
    prepare.set_epoch(++epoch);
    v1::Chain* chain = prepare.add_chains();
    chain->set_app("sender");
    chain->set_service("receiver");
    for (const v1::FilterSpec& spec : row.filters) *chain->add_filters() = spec;
    for (uint16_t port : {kBulkPort, kEchoPort}) {
      v1::Endpoint* endpoint = chain->add_service_endpoints();
      endpoint->set_host(kReceiverAddress);
      endpoint->set_port(port);
    }
    if (absl::Status prepared = table.Prepare(prepare); !prepared.ok()) return prepared;
    if (absl::Status committed = table.Commit(epoch); !committed.ok()) return committed;
    return (*path)->Apply(*table.Current());
  };

  Figures figures("packet-path");
  for (int round = 0; round < rounds; ++round) {
    double baseline_gbps = 0, baseline_rtt = 0;
    for (const Row& row : rows) {
      if (absl::Status used = use(row); !used.ok()) {
        std::cerr << "packet_throughput: " << row.name << ": " << used.message() << "\n";
        return 1;
      }
      std::cerr << "bench: packet-path " << row.name << ", round " << round + 1 << "/" << rounds << "\n";
      const double gbps = Throughput(seconds);
      const double rtt = RoundTripP50(round_trips);
      if (row.name == "no-middlepipe") {
        baseline_gbps = gbps;
        baseline_rtt = rtt;
      }
      figures.Emit(row.name, "throughput", "Gbit/s", gbps);
      figures.Emit(row.name, "throughput_ratio", "x", baseline_gbps > 0 ? gbps / baseline_gbps : 0);
      figures.Emit(row.name, "rtt_p50", "us", rtt);
      figures.Emit(row.name, "added_rtt_p50", "us", rtt - baseline_rtt);
    }
  }
  (*path)->Stop();
  std::cerr << "bench: packet-path queue: " << (*path)->Summary() << "\n";
  return 0;
}

}  // namespace
}  // namespace middlepipe::bench

int main(int argc, char** argv) {
  int rounds = 3;
  double seconds = 3;
  int round_trips = 2000;
  CLI::App app("Packet-path benchmark: TCP through NFQUEUE middlepipes vs none (root)");
  app.add_option("--rounds", rounds, "Rounds (rows alternate within each)")->check(CLI::Range(1, 100));
  app.add_option("--seconds", seconds, "Seconds of bulk transfer per row and round");
  app.add_option("--round-trips", round_trips, "Request/response round trips per row and round");
  CLI11_PARSE(app, argc, argv);
  return middlepipe::bench::Run(rounds, seconds, round_trips);
}

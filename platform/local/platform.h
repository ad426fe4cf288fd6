// The local platform (mp-local): the controller, and apps in network-namespace containers
// on a fabric of their own, each container running the app's command beside an mp-agent
// (DESIGN.md §2, §4).
//
// Life cycle of an instance. Scale-up: its namespace and address, then its agent; it
// counts as ready once the controller says the agent runs the app's current chains and
// its aggregator stream is up, so it holds the cluster's decisions (an open breaker
// starts open: the state is cloned); only then does the app's command start. Scale-down:
// the command stops first, then the agent, whose last report merges its filters' state
// into the aggregator, then the namespace goes. Every process is restarted with back-off
// when it exits on its own.
//
// What was pushed is kept in DIR/platform.json, so that after a crash of the platform
// the next start cleans up what the old one left and brings the same apps back.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/client/controller_client.h"
#include "common/logger.h"
#include "platform/local/address_pool.h"
#include "platform/local/fabric.h"
#include "platform/local/supervised_process.h"
#include "proto/local.pb.h"

namespace middlepipe::local {

struct PlatformOptions {
  std::string directory;  // state: platform.json, sockets, logs, the controller's data
  std::string name = "mpl";
  std::string subnet = "198.18.0.0/16";
  std::string http_listen = "127.0.0.1:7480";
  // The binaries it runs.
  std::string controller_binary;
  std::string agent_binary;
  // The fast path's C library, handed to apps as $MP_CLIENT_LIBRARY so the Python and
  // Ruby hooks decide calls in-process (empty: they ask the agent's socket).
  std::string client_library;
  // Extra arguments for the controller.
  std::vector<std::string> controller_arguments;
  RestartPolicy restarts;
  // How long an instance may take to become ready.
  std::chrono::milliseconds ready_timeout{20000};
  // How long a command has to keep running after its start to count as started.
  std::chrono::milliseconds exits_at_once{400};
  // SIGTERM to SIGKILL when stopping a process.
  std::chrono::milliseconds stop_grace{5000};
};

// What DIR/platform.json records; empty if there is none, DATA_LOSS naming the file if
// it cannot be read.
absl::StatusOr<v1::LocalPlatformState> LoadState(const std::string& directory);

class Platform {
 public:
  // Cleans up what a crashed run left, creates the fabric, starts the controller and
  // waits until it serves, then brings back the apps of platform.json.
  static absl::StatusOr<std::unique_ptr<Platform>> Start(PlatformOptions options, Logger* logger);
  ~Platform();  // Shutdown()

  absl::StatusOr<v1::LocalApp> Push(const v1::AppSpec& spec);
  absl::StatusOr<v1::ScaleResponse> Scale(const std::string& app, int64_t instances);
  absl::StatusOr<uint32_t> Delete(const std::string& app);
  v1::StatusResponse Status() const;
  // Stops every app (merging state), the controller, and removes every namespace.
  // Forgets the apps. Returns how many instances it stopped; idempotent.
  uint32_t Shutdown();

  std::string controller_address() const;

 private:
  struct Instance {
    uint32_t index = 0;
    std::string address;
    std::string name_space;
    std::string socket;
    std::unique_ptr<SupervisedProcess> agent;
    std::unique_ptr<SupervisedProcess> app;
  };
  struct App {
    v1::AppSpec spec;
    std::vector<std::unique_ptr<Instance>> instances;  // by index
    // Why it does not run as pushed (it could not be brought back after a restart);
    // then spec.instances and these addresses are what it should have.
    std::string problem;
    std::vector<std::string> wanted_addresses;
  };

  Platform(PlatformOptions options, AddressPool pool, Logger* logger);

  // Starts instance `index` of `spec` on `address` and returns once it is ready and its
  // command runs; on failure nothing of it is left.
  absl::StatusOr<std::unique_ptr<Instance>> StartInstance(const v1::AppSpec& spec, uint32_t index,
                                                          const std::string& address);
  // Until the controller says the instance's agent is ready (see the top).
  absl::Status WaitUntilReady(const v1::AppSpec& spec, const Instance& instance);
  // Starts instances [from, to) of `spec` (addresses given, or taken from the pool) and
  // checks none of their commands exits at once; all or nothing.
  absl::StatusOr<std::vector<std::unique_ptr<Instance>>> StartInstances(
      const v1::AppSpec& spec, uint32_t from, uint32_t to, const std::vector<std::string>& addresses);
  // The command, then the agent (its state merges), then the namespace.
  void StopInstance(Instance& instance);
  void StopInstances(std::vector<std::unique_ptr<Instance>> instances);

  absl::Status Persist() const;  // with mu_ held
  void SaveState() const;        // Persist(), logging a failure; with mu_ held
  v1::LocalApp DescribeApp(const App& app, const v1::ListAppsResponse* controller_view) const;
  std::string AppDirectory(const std::string& app) const;
  controller::ControllerClient ControllerFor(const std::string& token) const;
  // What the controller knows of the token's user's apps; empty if it does not answer.
  v1::ListAppsResponse ControllerView(const std::string& token) const;
  void Watch();

  const PlatformOptions options_;
  Logger* const logger_;
  Fabric fabric_;
  std::unique_ptr<SupervisedProcess> controller_;

  std::mutex operations_mu_;  // one Push/Scale/Delete/Shutdown at a time
  mutable std::mutex mu_;     // guards the fields below
  AddressPool pool_;
  std::map<std::string, App> apps_;
  bool shut_down_ = false;

  std::condition_variable stop_watching_;
  std::thread watcher_;
};

}  // namespace middlepipe::local

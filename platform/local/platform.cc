#include "platform/local/platform.h"

#include <sys/un.h>

#include <unistd.h>

#include <optional>

#include <google/protobuf/util/json_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/files.h"
#include "common/names.h"
#include "platform/local/leftovers.h"

namespace middlepipe::local {
namespace {

constexpr char kStateFile[] = "platform.json";
constexpr uint32_t kMaxInstances = 200;
// How long a ready agent may take to open its aggregator stream before the instance
// counts as ready anyway (its filters then decide locally until it is up, and say so).
constexpr std::chrono::milliseconds kAggregatorGrace{3000};

std::string Tail(const std::string& path, size_t lines) {
  std::string tail = LastLines(path, lines);
  return tail.empty() ? "(no output)" : tail;
}

absl::Status CheckSocketPath(const std::string& path) {
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "socket path ", path, " is ", path.size(), " bytes, longer than a Unix socket path may be (",
        sizeof(sockaddr_un::sun_path) - 1, "); use a state directory with a shorter path"));
  }
  return absl::OkStatus();
}

std::string Label(const std::string& app, uint32_t index) { return absl::StrCat(app, "/", index); }

const v1::Instance* FindInstance(const v1::ListAppsResponse& apps, const std::string& app,
                                 uint32_t index, uint64_t* epoch) {
  for (const v1::App& listed : apps.apps()) {
    if (listed.name() != app) continue;
    *epoch = listed.epoch();
    for (const v1::Instance& instance : listed.instances()) {
      if (instance.index() == index) return &instance;
    }
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Platform>> Platform::Start(PlatformOptions options, Logger* logger) {
  if (absl::Status name = ValidateName("platform name", options.name); !name.ok()) return name;
  absl::StatusOr<AddressPool> pool = AddressPool::Parse(options.subnet);
  if (!pool.ok()) return pool.status();
  for (const std::string& directory : {options.directory, options.directory + "/apps"}) {
    if (absl::Status made = MakeDirectories(directory, 0700); !made.ok()) return made;
  }
  if (absl::Status fits = CheckSocketPath(options.directory + "/controller.sock"); !fits.ok()) {
    return fits;
  }
  // What an earlier run left (it crashed, or was killed) goes first.
  if (absl::Status cleaned = RemoveLeftovers(options.name, options.stop_grace, logger);
      !cleaned.ok()) {
    return cleaned;
  }
  // A state file that cannot be read stops the start: carrying on would overwrite it
  // and lose the apps it records.
  absl::StatusOr<v1::LocalPlatformState> saved = LoadState(options.directory);
  if (!saved.ok()) return saved.status();

  std::unique_ptr<Platform> platform(new Platform(options, std::move(*pool), logger));
  if (absl::Status created = platform->fabric_.Create(); !created.ok()) return created;

  SpawnOptions controller;
  controller.argv = {options.controller_binary, "--data-dir", options.directory + "/data",
                     "--grpc-listen", platform->controller_address(), "--http-listen",
                     options.http_listen};
  controller.argv.insert(controller.argv.end(), options.controller_arguments.begin(),
                         options.controller_arguments.end());
  controller.output_path = options.directory + "/controller.log";
  controller.die_with_parent = true;  // started and restarted by long-lived threads only
  platform->controller_ = std::make_unique<SupervisedProcess>("controller", controller,
                                                              options.restarts, logger);
  if (absl::Status started = platform->controller_->Start(); !started.ok()) return started;
  // Until it serves (it writes the admin token on its first start before it does).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    absl::StatusOr<std::string> token = ReadFile(options.directory + "/data/admin-token");
    if (token.ok()) {
      absl::StatusOr<v1::GetVersionResponse> version =
          platform->ControllerFor(*token).Call(&v1::Controller::Stub::GetVersion,
                                               v1::GetVersionRequest());
      if (version.ok()) break;
    }
    if (platform->controller_->Exited() || std::chrono::steady_clock::now() > deadline) {
      return absl::UnavailableError(absl::StrCat("the controller did not start: ",
                                                 Tail(controller.output_path, 5)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  platform->watcher_ = std::thread([raw = platform.get()] { raw->Watch(); });
  logger->Info("controller at ", platform->controller_address(), ", http ", options.http_listen);

  for (const v1::PersistedApp& app : saved->apps()) {
    std::vector<std::string> addresses(app.addresses().begin(), app.addresses().end());
    absl::StatusOr<std::vector<std::unique_ptr<Instance>>> instances =
        platform->StartInstances(app.spec(), 0, app.spec().instances(), addresses);
    std::lock_guard<std::mutex> lock(platform->mu_);
    App& restored = platform->apps_[app.spec().name()];
    restored.spec = app.spec();
    if (!instances.ok()) {
      // Kept, with what went wrong, so the app is not forgotten: status shows it, a
      // scale retries it, the next start tries again.
      restored.problem = absl::StrCat("could not be brought back: ", instances.status().message());
      restored.wanted_addresses = std::move(addresses);
      logger->Error("app ", app.spec().name(), " ", restored.problem);
    } else {
      restored.instances = std::move(*instances);
      logger->Info("app ", app.spec().name(), " brought back with ", restored.instances.size(),
                   " instances");
    }
  }
  std::lock_guard<std::mutex> lock(platform->mu_);
  platform->SaveState();
  return platform;
}

Platform::Platform(PlatformOptions options, AddressPool pool, Logger* logger)
    : options_(std::move(options)),
      logger_(logger),
      fabric_(options_.name, pool.prefix_length()),
      pool_(std::move(pool)) {}

Platform::~Platform() { Shutdown(); }

std::string Platform::controller_address() const {
  return absl::StrCat("unix://", options_.directory, "/controller.sock");
}

std::string Platform::AppDirectory(const std::string& app) const {
  return absl::StrCat(options_.directory, "/apps/", app);
}

controller::ControllerClient Platform::ControllerFor(const std::string& token) const {
  // The address is ours and valid, so Create cannot fail.
  return *controller::ControllerClient::Create(
      {controller_address(), std::string(absl::StripAsciiWhitespace(token)),
       std::chrono::milliseconds(5000)});
}

absl::StatusOr<v1::LocalApp> Platform::Push(const v1::AppSpec& spec) {
  std::lock_guard<std::mutex> operation(operations_mu_);
  if (absl::Status name = ValidateName("app name", spec.name()); !name.ok()) return name;
  if (spec.instances() < 1 || spec.instances() > kMaxInstances) {
    return absl::InvalidArgumentError(
        absl::StrCat("instances: ", spec.instances(), " is not between 1 and ", kMaxInstances));
  }
  if (spec.command().empty() || spec.command(0).empty()) {
    return absl::InvalidArgumentError("no command: give it after --, e.g. -- ./server --port 8080");
  }
  if (spec.port() > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("port: ", spec.port(), " is not a TCP port"));
  }
  if (spec.token().empty()) return absl::UnauthenticatedError("no token to register the app with");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_) return absl::UnavailableError("the platform is shutting down");
    if (apps_.count(spec.name()) > 0) {
      return absl::AlreadyExistsError(absl::StrCat(
          "app \"", spec.name(), "\" is already pushed (scale it with mp local scale, or push it "
          "under another name)"));
    }
  }
  absl::StatusOr<std::vector<std::unique_ptr<Instance>>> instances =
      StartInstances(spec, 0, spec.instances(), {});
  if (!instances.ok()) return instances.status();
  std::lock_guard<std::mutex> lock(mu_);
  App& app = apps_[spec.name()];
  app.spec = spec;
  app.instances = std::move(*instances);
  SaveState();
  logger_->Info("app ", spec.name(), " pushed with ", app.instances.size(), " instances");
  const v1::ListAppsResponse view = ControllerView(spec.token());
  return DescribeApp(app, &view);
}

absl::StatusOr<v1::ScaleResponse> Platform::Scale(const std::string& name, int64_t instances) {
  std::lock_guard<std::mutex> operation(operations_mu_);
  if (instances < 0) {
    return absl::InvalidArgumentError(absl::StrCat("instances: ", instances, " is negative"));
  }
  if (instances > kMaxInstances) {
    return absl::InvalidArgumentError(
        absl::StrCat("instances: ", instances, " is more than ", kMaxInstances));
  }
  v1::AppSpec spec;
  uint32_t current = 0;
  std::vector<std::unique_ptr<Instance>> leaving;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto found = apps_.find(name);
    if (found == apps_.end()) {
      return absl::NotFoundError(absl::StrCat("app \"", name, "\" is not pushed"));
    }
    spec = found->second.spec;
    current = static_cast<uint32_t>(found->second.instances.size());
    // Scale-down takes the highest indexes; the watcher no longer sees them.
    while (found->second.instances.size() > static_cast<size_t>(instances)) {
      leaving.push_back(std::move(found->second.instances.back()));
      found->second.instances.pop_back();
    }
  }
  v1::ScaleResponse response;
  if (!leaving.empty()) {
    response.set_stopped(static_cast<uint32_t>(leaving.size()));
    StopInstances(std::move(leaving));
  } else if (instances > current) {
    absl::StatusOr<std::vector<std::unique_ptr<Instance>>> started =
        StartInstances(spec, current, static_cast<uint32_t>(instances), {});
    if (!started.ok()) return started.status();
    response.set_started(static_cast<uint32_t>(started->size()));
    std::lock_guard<std::mutex> lock(mu_);
    App& app = apps_[name];
    for (auto& instance : *started) app.instances.push_back(std::move(instance));
  }
  std::lock_guard<std::mutex> lock(mu_);
  App& app = apps_[name];
  app.spec.set_instances(static_cast<uint32_t>(instances));
  app.problem.clear();  // it runs as wanted now
  SaveState();
  logger_->Info("app ", name, " scaled from ", current, " to ", instances, " instances");
  const v1::ListAppsResponse view = ControllerView(spec.token());
  *response.mutable_app() = DescribeApp(app, &view);
  return response;
}

absl::StatusOr<uint32_t> Platform::Delete(const std::string& name) {
  std::lock_guard<std::mutex> operation(operations_mu_);
  std::vector<std::unique_ptr<Instance>> leaving;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto found = apps_.find(name);
    if (found == apps_.end()) {
      return absl::NotFoundError(absl::StrCat("app \"", name, "\" is not pushed"));
    }
    leaving = std::move(found->second.instances);
    apps_.erase(found);
    SaveState();
  }
  const uint32_t stopped = static_cast<uint32_t>(leaving.size());
  StopInstances(std::move(leaving));
  logger_->Info("app ", name, " deleted");
  return stopped;
}

uint32_t Platform::Shutdown() {
  std::lock_guard<std::mutex> operation(operations_mu_);
  std::vector<std::unique_ptr<Instance>> leaving;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_) return 0;
    shut_down_ = true;
    for (auto& [name, app] : apps_) {
      for (auto& instance : app.instances) leaving.push_back(std::move(instance));
    }
    apps_.clear();
    SaveState();
  }
  stop_watching_.notify_all();
  if (watcher_.joinable()) watcher_.join();
  const uint32_t stopped = static_cast<uint32_t>(leaving.size());
  StopInstances(std::move(leaving));
  if (controller_ != nullptr) controller_->Stop(options_.stop_grace);
  if (absl::Status removed = Fabric::RemoveAll(options_.name); !removed.ok()) {
    logger_->Error("removing namespaces: ", removed.message());
  }
  logger_->Info("shut down: ", stopped, " instances stopped, namespaces removed");
  return stopped;
}

absl::StatusOr<std::vector<std::unique_ptr<Platform::Instance>>> Platform::StartInstances(
    const v1::AppSpec& spec, uint32_t from, uint32_t to, const std::vector<std::string>& addresses) {
  std::vector<std::unique_ptr<Instance>> started;
  auto fail = [&](const absl::Status& status) {
    StopInstances(std::move(started));
    return status;
  };
  if (absl::Status made = MakeDirectories(AppDirectory(spec.name()), 0700); !made.ok()) return made;
  if (absl::Status written =
          WriteFileAtomically(AppDirectory(spec.name()) + "/token", spec.token() + "\n", 0600);
      !written.ok()) {
    return written;
  }
  for (uint32_t index = from; index < to; ++index) {
    absl::StatusOr<std::string> address;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (index < addresses.size() && pool_.Claim(addresses[index]).ok()) {
        address = addresses[index];
      } else {
        address = pool_.Take();
      }
    }
    if (!address.ok()) return fail(address.status());
    absl::StatusOr<std::unique_ptr<Instance>> instance = StartInstance(spec, index, *address);
    if (!instance.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      pool_.Release(*address);
      return fail(instance.status());
    }
    started.push_back(std::move(*instance));
  }
  // A command that exits at once (a typo, a missing file, a port in use) fails the push
  // rather than leaving the platform restarting it forever.
  std::this_thread::sleep_for(options_.exits_at_once);
  for (const auto& instance : started) {
    if (!instance->app->Exited()) continue;
    const v1::LocalProcess app = instance->app->Describe();
    return fail(absl::FailedPreconditionError(
        absl::StrCat(Label(spec.name(), instance->index), ": the command exited at once with ",
                     app.last_exit(), "; its output: ", Tail(app.log(), 5))));
  }
  return started;
}

absl::StatusOr<std::unique_ptr<Platform::Instance>> Platform::StartInstance(
    const v1::AppSpec& spec, uint32_t index, const std::string& address) {
  auto instance = std::make_unique<Instance>();
  instance->index = index;
  instance->address = address;
  instance->name_space = fabric_.ContainerNamespace(spec.name(), index);
  const std::string directory = absl::StrCat(AppDirectory(spec.name()), "/", index);
  instance->socket = directory + "/agent.sock";
  if (absl::Status fits = CheckSocketPath(instance->socket); !fits.ok()) return fits;
  if (absl::Status made = MakeDirectories(directory, 0700); !made.ok()) return made;
  for (const char* log : {"/agent.log", "/app.log"}) unlink((directory + log).c_str());
  if (absl::Status added = fabric_.AddContainer(instance->name_space, address); !added.ok()) {
    return added;
  }
  const std::string label = Label(spec.name(), index);
  const std::string in_namespace = Fabric::NamespacePath(instance->name_space);

  SpawnOptions agent;
  agent.argv = {options_.agent_binary, "--controller", controller_address(), "--app", spec.name(),
                "--instance", absl::StrCat(index), "--token-file",
                AppDirectory(spec.name()) + "/token", "--socket", instance->socket, "--address",
                address, "--port", absl::StrCat(spec.port())};
  agent.network_namespace = in_namespace;
  agent.output_path = directory + "/agent.log";
  instance->agent =
      std::make_unique<SupervisedProcess>(label + " agent", agent, options_.restarts, logger_);
  absl::Status ready = instance->agent->Start();
  if (ready.ok()) ready = WaitUntilReady(spec, *instance);
  if (ready.ok()) {
    SpawnOptions app;
    app.argv.assign(spec.command().begin(), spec.command().end());
    app.environment = {"MP_AGENT_SOCKET=" + instance->socket, "MP_APP=" + spec.name(),
                       absl::StrCat("MP_INSTANCE=", index), "MP_ADDRESS=" + address};
    if (spec.port() != 0) app.environment.push_back(absl::StrCat("PORT=", spec.port()));
    if (!options_.client_library.empty()) {
      app.environment.push_back("MP_CLIENT_LIBRARY=" + options_.client_library);
    }
    app.network_namespace = in_namespace;
    app.output_path = directory + "/app.log";
    instance->app = std::make_unique<SupervisedProcess>(label, app, options_.restarts, logger_);
    ready = instance->app->Start();
    if (!ready.ok()) ready = absl::Status(ready.code(), absl::StrCat(label, ": ", ready.message()));
  }
  if (!ready.ok()) {
    StopInstance(*instance);
    return ready;
  }
  logger_->Info(label, " ready at ", address, " in namespace ", instance->name_space);
  return instance;
}

absl::Status Platform::WaitUntilReady(const v1::AppSpec& spec, const Instance& instance) {
  const std::string label = Label(spec.name(), instance.index);
  const controller::ControllerClient controller = ControllerFor(spec.token());
  const auto start = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> ready_since;
  std::string last_seen = "its agent has not registered";
  while (std::chrono::steady_clock::now() - start < options_.ready_timeout) {
    if (instance.agent->Exited()) {
      const v1::LocalProcess agent = instance.agent->Describe();
      return absl::FailedPreconditionError(absl::StrCat(label, ": its agent exited with ",
                                                        agent.last_exit(), ": ",
                                                        Tail(agent.log(), 3)));
    }
    absl::StatusOr<v1::ListAppsResponse> apps =
        controller.Call(&v1::Controller::Stub::ListApps, v1::ListAppsRequest());
    if (absl::IsUnauthenticated(apps.status()) || absl::IsPermissionDenied(apps.status())) {
      return absl::UnauthenticatedError(
          absl::StrCat(label, ": the controller refused the token: ", apps.status().message()));
    }
    uint64_t epoch = 0;
    const v1::Instance* seen = apps.ok() ? FindInstance(*apps, spec.name(), instance.index, &epoch)
                                         : nullptr;
    if (seen != nullptr && seen->state() == v1::INSTANCE_STATE_READY &&
        seen->applied_epoch() >= epoch) {
      const auto now = std::chrono::steady_clock::now();
      if (!ready_since) ready_since = now;
      // With chains, the cluster's decisions come over the aggregator stream.
      if (epoch == 0 || seen->aggregator_connected()) return absl::OkStatus();
      if (now - *ready_since >= kAggregatorGrace) {
        logger_->Warning(label, ": ready without its aggregator stream; its filters decide "
                         "locally until it is up");
        return absl::OkStatus();
      }
    } else if (seen != nullptr) {
      last_seen = absl::StrCat("its agent is at epoch ", seen->applied_epoch(), " of ", epoch);
    } else if (!apps.ok()) {
      last_seen = absl::StrCat("the controller does not answer: ", apps.status().message());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      label, ": not ready after ", options_.ready_timeout.count(), " ms: ", last_seen,
      "; agent log: ", Tail(instance.agent->Describe().log(), 3)));
}

void Platform::StopInstance(Instance& instance) {
  if (instance.app != nullptr) instance.app->Stop(options_.stop_grace);
  // SIGTERM makes the agent send its last report, which merges its state.
  if (instance.agent != nullptr) instance.agent->Stop(options_.stop_grace);
  if (absl::Status removed = fabric_.RemoveContainer(instance.name_space); !removed.ok()) {
    logger_->Error("removing ", instance.name_space, ": ", removed.message());
  }
  std::lock_guard<std::mutex> lock(mu_);
  pool_.Release(instance.address);
}

void Platform::StopInstances(std::vector<std::unique_ptr<Instance>> instances) {
  // Apps first, all of them, so no call is made through an agent that is going.
  for (auto& instance : instances) {
    if (instance->app != nullptr) instance->app->Stop(options_.stop_grace);
  }
  for (auto& instance : instances) StopInstance(*instance);
}

void Platform::SaveState() const {
  if (absl::Status saved = Persist(); !saved.ok()) {
    logger_->Error("cannot save the platform's state: ", saved.message());
  }
}

absl::StatusOr<v1::LocalPlatformState> LoadState(const std::string& directory) {
  v1::LocalPlatformState state;
  const std::string path = directory + "/" + kStateFile;
  absl::StatusOr<std::string> text = ReadFile(path);
  if (absl::IsNotFound(text.status())) return state;
  if (!text.ok()) return text.status();
  if (auto parsed = google::protobuf::util::JsonStringToMessage(*text, &state); !parsed.ok()) {
    return absl::DataLossError(absl::StrCat(path, " cannot be read (", parsed.ToString(),
                                            "); fix it, or move it away to start without its apps"));
  }
  return state;
}

absl::Status Platform::Persist() const {
  v1::LocalPlatformState state;
  state.set_name(options_.name);
  state.set_subnet(pool_.cidr());
  for (const auto& [name, app] : apps_) {
    v1::PersistedApp& saved = *state.add_apps();
    *saved.mutable_spec() = app.spec;
    if (!app.problem.empty()) {  // as it was wanted, until it runs again
      for (const std::string& address : app.wanted_addresses) saved.add_addresses(address);
      continue;
    }
    saved.mutable_spec()->set_instances(static_cast<uint32_t>(app.instances.size()));
    for (const auto& instance : app.instances) saved.add_addresses(instance->address);
  }
  std::string text;
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = true;
  print.preserve_proto_field_names = true;
  if (auto printed = google::protobuf::util::MessageToJsonString(state, &text, print); !printed.ok()) {
    return absl::InternalError(printed.ToString());
  }
  return WriteFileAtomically(options_.directory + "/" + kStateFile, text, 0600);
}

v1::LocalApp Platform::DescribeApp(const App& app, const v1::ListAppsResponse* controller_view) const {
  v1::LocalApp described;
  described.set_name(app.spec.name());
  described.set_port(app.spec.port());
  described.set_problem(app.problem);
  *described.mutable_command() = app.spec.command();
  for (const auto& instance : app.instances) {
    v1::LocalInstance& out = *described.add_instances();
    out.set_index(instance->index);
    out.set_address(instance->address);
    out.set_namespace_(instance->name_space);
    out.set_agent_socket(instance->socket);
    if (instance->app != nullptr) *out.mutable_app() = instance->app->Describe();
    if (instance->agent != nullptr) *out.mutable_agent() = instance->agent->Describe();
    uint64_t epoch = 0;
    if (controller_view != nullptr) {
      if (const v1::Instance* seen =
              FindInstance(*controller_view, app.spec.name(), instance->index, &epoch)) {
        *out.mutable_controller_view() = *seen;
        described.set_epoch(epoch);
      }
    }
  }
  return described;
}

v1::ListAppsResponse Platform::ControllerView(const std::string& token) const {
  absl::StatusOr<v1::ListAppsResponse> listed =
      ControllerFor(token).Call(&v1::Controller::Stub::ListApps, v1::ListAppsRequest());
  return listed.ok() ? *std::move(listed) : v1::ListAppsResponse();
}

v1::StatusResponse Platform::Status() const {
  v1::StatusResponse status;
  status.set_controller(controller_address());
  status.set_http(options_.http_listen);
  if (controller_ != nullptr) *status.mutable_controller_process() = controller_->Describe();
  status.set_subnet(options_.subnet);
  status.set_name(options_.name);
  status.set_directory(options_.directory);
  status.set_pid(getpid());
  // The controller's view, per token (apps may belong to different users), asked
  // without holding the lock the watcher needs.
  std::map<std::string, v1::ListAppsResponse> views;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [name, app] : apps_) views[app.spec.token()];
  }
  for (auto& [token, view] : views) view = ControllerView(token);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, app] : apps_) {
    auto view = views.find(app.spec.token());
    *status.add_apps() = DescribeApp(app, view == views.end() ? nullptr : &view->second);
  }
  return status;
}

void Platform::Watch() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_watching_.wait_for(lock, std::chrono::milliseconds(100), [this] { return shut_down_; })) {
    controller_->Poll();
    for (auto& [name, app] : apps_) {
      for (auto& instance : app.instances) {
        instance->agent->Poll();
        instance->app->Poll();
      }
    }
  }
}

}  // namespace middlepipe::local

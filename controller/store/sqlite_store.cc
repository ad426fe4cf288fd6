#include "controller/store/sqlite_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <functional>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace middlepipe::controller {
namespace {

// Schema migrations: kMigrations[i] takes the schema from version i to i + 1. Append
// only; never edit a step that has shipped.
constexpr const char* kMigrations[] = {
    // 0 -> 1: the first schema.
    R"sql(
      CREATE TABLE middlepipes (
        user TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        config_json TEXT NOT NULL,
        generation INTEGER NOT NULL,
        created_unix_ms INTEGER NOT NULL,
        updated_unix_ms INTEGER NOT NULL,
        PRIMARY KEY (user, name)
      ) WITHOUT ROWID;
      CREATE TABLE services (
        user TEXT NOT NULL,
        name TEXT NOT NULL,
        endpoints_json TEXT NOT NULL,
        PRIMARY KEY (user, name)
      ) WITHOUT ROWID;
      CREATE TABLE bindings (
        user TEXT NOT NULL,
        middlepipe TEXT NOT NULL,
        app TEXT NOT NULL,
        service TEXT NOT NULL,
        position INTEGER NOT NULL,
        PRIMARY KEY (user, middlepipe, app, service),
        FOREIGN KEY (user, middlepipe) REFERENCES middlepipes (user, name)
      ) WITHOUT ROWID;
      CREATE TABLE app_epochs (
        user TEXT NOT NULL,
        app TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        PRIMARY KEY (user, app)
      ) WITHOUT ROWID;
    )sql",
    // 1 -> 2: what the Open Service Broker API created, by the ids the platform gave.
    R"sql(
      CREATE TABLE broker_instances (
        instance_id TEXT PRIMARY KEY,
        user TEXT NOT NULL,
        middlepipe TEXT NOT NULL,
        service_id TEXT NOT NULL,
        plan_id TEXT NOT NULL,
        parameters_json TEXT NOT NULL,
        context_json TEXT NOT NULL,
        originating_identity TEXT NOT NULL,
        FOREIGN KEY (user, middlepipe) REFERENCES middlepipes (user, name)
          DEFERRABLE INITIALLY DEFERRED
      ) WITHOUT ROWID;
      CREATE TABLE broker_bindings (
        binding_id TEXT PRIMARY KEY,
        instance_id TEXT NOT NULL REFERENCES broker_instances (instance_id)
            DEFERRABLE INITIALLY DEFERRED,
        app TEXT NOT NULL,
        service TEXT NOT NULL,
        parameters_json TEXT NOT NULL,
        originating_identity TEXT NOT NULL
      ) WITHOUT ROWID;
    )sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == SqliteStore::kSchemaVersion,
              "one migration per schema version");

// Refuses a store whose pages are damaged before anything is served from it: SQLite
// would open it and fail later, call by call ("database disk image is malformed").
absl::Status QuickCheck(sqlite3* db, const std::string& path) {
  std::string problems;
  char* error = nullptr;
  auto collect = [](void* into, int columns, char** values, char**) {
    auto* text = static_cast<std::string*>(into);
    if (columns > 0 && values[0] != nullptr && std::string(values[0]) != "ok") {
      if (!text->empty()) text->append("; ");
      text->append(values[0]);
    }
    return 0;
  };
  if (sqlite3_exec(db, "PRAGMA quick_check(5)", collect, &problems, &error) != SQLITE_OK) {
    problems = error ? error : sqlite3_errmsg(db);
  }
  sqlite3_free(error);
  if (problems.empty()) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(
      "store ", path, " is damaged (", problems, "). Restore it from a backup; nothing was "
      "changed"));
}

absl::Status SqliteError(sqlite3* db, absl::string_view what) {
  return absl::InternalError(absl::StrCat("store: ", what, ": ", sqlite3_errmsg(db)));
}

// One prepared statement, finalized on every path out of scope.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &statement_, nullptr) != SQLITE_OK) statement_ = nullptr;
  }
  ~Statement() { sqlite3_finalize(statement_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& Bind(const std::string& text) {
    sqlite3_bind_text(statement_, ++bound_, text.data(), static_cast<int>(text.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }
  Statement& Bind(int64_t number) {
    sqlite3_bind_int64(statement_, ++bound_, number);
    return *this;
  }

  // Runs a statement that returns no rows.
  absl::Status Execute() {
    if (statement_ == nullptr) return SqliteError(db_, "prepare");
    if (sqlite3_step(statement_) != SQLITE_DONE) return SqliteError(db_, "write");
    return absl::OkStatus();
  }

  // Advances to the next row: true if there is one.
  absl::StatusOr<bool> Next() {
    if (statement_ == nullptr) return SqliteError(db_, "prepare");
    int result = sqlite3_step(statement_);
    if (result == SQLITE_ROW) return true;
    if (result == SQLITE_DONE) return false;
    return SqliteError(db_, "read");
  }

  // Calls `visit` for each row; stops at the first error, from the store or from `visit`.
  absl::Status ForEachRow(const std::function<absl::Status()>& visit) {
    while (true) {
      absl::StatusOr<bool> row = Next();
      if (!row.ok()) return row.status();
      if (!*row) return absl::OkStatus();
      absl::Status visited = visit();
      if (!visited.ok()) return visited;
    }
  }

  std::string Text(int column) const {
    const unsigned char* text = sqlite3_column_text(statement_, column);
    return text == nullptr ? std::string()
                           : std::string(reinterpret_cast<const char*>(text),
                                         static_cast<size_t>(sqlite3_column_bytes(statement_, column)));
  }
  int64_t Int(int column) const { return sqlite3_column_int64(statement_, column); }

 private:
  sqlite3* db_;
  sqlite3_stmt* statement_ = nullptr;
  int bound_ = 0;
};

absl::Status Exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    absl::Status error = absl::InternalError(absl::StrCat("store: ", message ? message : "?"));
    sqlite3_free(message);
    return error;
  }
  return absl::OkStatus();
}

std::string EndpointsToJson(const v1::Service& service) {
  nlohmann::json endpoints = nlohmann::json::array();
  for (const v1::Endpoint& endpoint : service.endpoints()) {
    endpoints.push_back({{"host", endpoint.host()}, {"port", endpoint.port()}});
  }
  return endpoints.dump();
}

absl::Status EndpointsFromJson(const std::string& text, v1::Service* service) {
  nlohmann::json endpoints = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!endpoints.is_array()) {
    return absl::DataLossError(absl::StrCat("store: service ", service->name(),
                                            ": endpoints are not a JSON array"));
  }
  for (const auto& endpoint : endpoints) {
    v1::Endpoint* added = service->add_endpoints();
    added->set_host(endpoint.value("host", ""));
    added->set_port(endpoint.value("port", 0u));
  }
  return absl::OkStatus();
}

class SqliteTransaction final : public StoreTransaction {
 public:
  explicit SqliteTransaction(sqlite3* db) : db_(db) {}

  absl::StatusOr<std::optional<v1::Middlepipe>> GetMiddlepipe(const std::string& user,
                                                              const std::string& name) override {
    Statement select(db_, R"sql(
        SELECT name, kind, config_json, generation, created_unix_ms, updated_unix_ms
        FROM middlepipes WHERE user = ? AND name = ?)sql");
    select.Bind(user).Bind(name);
    absl::StatusOr<bool> row = select.Next();
    if (!row.ok()) return row.status();
    if (!*row) return std::nullopt;
    return MiddlepipeFrom(select);
  }

  absl::StatusOr<std::vector<v1::Middlepipe>> ListMiddlepipes(const std::string& user) override {
    Statement select(db_, R"sql(
        SELECT name, kind, config_json, generation, created_unix_ms, updated_unix_ms
        FROM middlepipes WHERE user = ? ORDER BY name)sql");
    select.Bind(user);
    std::vector<v1::Middlepipe> middlepipes;
    absl::Status read = select.ForEachRow([&] {
      middlepipes.push_back(MiddlepipeFrom(select));
      return absl::OkStatus();
    });
    if (!read.ok()) return read;
    return middlepipes;
  }

  absl::Status PutMiddlepipe(const std::string& user, const v1::Middlepipe& middlepipe) override {
    return Statement(db_, R"sql(
        INSERT OR REPLACE INTO middlepipes
          (user, name, kind, config_json, generation, created_unix_ms, updated_unix_ms)
        VALUES (?, ?, ?, ?, ?, ?, ?))sql")
        .Bind(user)
        .Bind(middlepipe.name())
        .Bind(middlepipe.kind())
        .Bind(middlepipe.config_json())
        .Bind(static_cast<int64_t>(middlepipe.generation()))
        .Bind(middlepipe.created_unix_ms())
        .Bind(middlepipe.updated_unix_ms())
        .Execute();
  }

  absl::Status DeleteMiddlepipe(const std::string& user, const std::string& name) override {
    return Statement(db_, "DELETE FROM middlepipes WHERE user = ? AND name = ?")
        .Bind(user)
        .Bind(name)
        .Execute();
  }

  absl::StatusOr<std::optional<v1::Service>> GetService(const std::string& user,
                                                        const std::string& name) override {
    Statement select(db_, "SELECT name, endpoints_json FROM services WHERE user = ? AND name = ?");
    select.Bind(user).Bind(name);
    absl::StatusOr<bool> row = select.Next();
    if (!row.ok()) return row.status();
    if (!*row) return std::nullopt;
    return ServiceFrom(select);
  }

  absl::StatusOr<std::vector<v1::Service>> ListServices(const std::string& user) override {
    Statement select(db_,
                     "SELECT name, endpoints_json FROM services WHERE user = ? ORDER BY name");
    select.Bind(user);
    std::vector<v1::Service> services;
    absl::Status read = select.ForEachRow([&] {
      absl::StatusOr<v1::Service> service = ServiceFrom(select);
      if (!service.ok()) return service.status();
      services.push_back(*std::move(service));
      return absl::OkStatus();
    });
    if (!read.ok()) return read;
    return services;
  }

  absl::Status PutService(const std::string& user, const v1::Service& service) override {
    return Statement(db_, R"sql(
        INSERT OR REPLACE INTO services (user, name, endpoints_json) VALUES (?, ?, ?))sql")
        .Bind(user)
        .Bind(service.name())
        .Bind(EndpointsToJson(service))
        .Execute();
  }

  absl::StatusOr<std::vector<v1::Binding>> ListBindings(const std::string& user) override {
    Statement select(db_, R"sql(
        SELECT middlepipe, app, service, position FROM bindings WHERE user = ?
        ORDER BY middlepipe, app, service)sql");
    select.Bind(user);
    std::vector<v1::Binding> bindings;
    absl::Status read = select.ForEachRow([&] {
      v1::Binding& binding = bindings.emplace_back();
      binding.set_middlepipe(select.Text(0));
      binding.set_app(select.Text(1));
      binding.set_service(select.Text(2));
      binding.set_position(static_cast<int32_t>(select.Int(3)));
      return absl::OkStatus();
    });
    if (!read.ok()) return read;
    return bindings;
  }

  absl::Status PutBinding(const std::string& user, const v1::Binding& binding) override {
    return Statement(db_, R"sql(
        INSERT OR REPLACE INTO bindings (user, middlepipe, app, service, position)
        VALUES (?, ?, ?, ?, ?))sql")
        .Bind(user)
        .Bind(binding.middlepipe())
        .Bind(binding.app())
        .Bind(binding.service())
        .Bind(binding.position())
        .Execute();
  }

  absl::Status DeleteBinding(const std::string& user, const v1::Binding& binding) override {
    return Statement(db_, R"sql(
        DELETE FROM bindings WHERE user = ? AND middlepipe = ? AND app = ? AND service = ?)sql")
        .Bind(user)
        .Bind(binding.middlepipe())
        .Bind(binding.app())
        .Bind(binding.service())
        .Execute();
  }

  absl::StatusOr<uint64_t> GetEpoch(const std::string& user, const std::string& app) override {
    Statement select(db_, "SELECT epoch FROM app_epochs WHERE user = ? AND app = ?");
    select.Bind(user).Bind(app);
    absl::StatusOr<bool> row = select.Next();
    if (!row.ok()) return row.status();
    return *row ? static_cast<uint64_t>(select.Int(0)) : 0;
  }

  absl::Status SetEpoch(const std::string& user, const std::string& app, uint64_t epoch) override {
    return Statement(db_, "INSERT OR REPLACE INTO app_epochs (user, app, epoch) VALUES (?, ?, ?)")
        .Bind(user)
        .Bind(app)
        .Bind(static_cast<int64_t>(epoch))
        .Execute();
  }

  absl::StatusOr<std::vector<std::string>> ListApps(const std::string& user) override {
    Statement select(db_, "SELECT app FROM app_epochs WHERE user = ? ORDER BY app");
    select.Bind(user);
    std::vector<std::string> apps;
    absl::Status read = select.ForEachRow([&] {
      apps.push_back(select.Text(0));
      return absl::OkStatus();
    });
    if (!read.ok()) return read;
    return apps;
  }

  absl::StatusOr<std::vector<std::string>> ListUsersWithMiddlepipes() override {
    Statement select(db_, "SELECT DISTINCT user FROM middlepipes ORDER BY user");
    std::vector<std::string> users;
    absl::Status read = select.ForEachRow([&] {
      users.push_back(select.Text(0));
      return absl::OkStatus();
    });
    if (!read.ok()) return read;
    return users;
  }

  absl::StatusOr<std::optional<v1::BrokerInstance>> GetBrokerInstance(
      const std::string& instance_id) override {
    Statement select(db_, R"sql(
        SELECT instance_id, user, middlepipe, service_id, plan_id, parameters_json,
               context_json, originating_identity
        FROM broker_instances WHERE instance_id = ?)sql");
    select.Bind(instance_id);
    absl::StatusOr<bool> row = select.Next();
    if (!row.ok()) return row.status();
    if (!*row) return std::nullopt;
    v1::BrokerInstance instance;
    instance.set_instance_id(select.Text(0));
    instance.set_user(select.Text(1));
    instance.set_middlepipe(select.Text(2));
    instance.set_service_id(select.Text(3));
    instance.set_plan_id(select.Text(4));
    instance.set_parameters_json(select.Text(5));
    instance.set_context_json(select.Text(6));
    instance.set_originating_identity(select.Text(7));
    return instance;
  }

  absl::Status PutBrokerInstance(const v1::BrokerInstance& instance) override {
    return Statement(db_, R"sql(
        INSERT OR REPLACE INTO broker_instances
          (instance_id, user, middlepipe, service_id, plan_id, parameters_json, context_json,
           originating_identity)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?))sql")
        .Bind(instance.instance_id())
        .Bind(instance.user())
        .Bind(instance.middlepipe())
        .Bind(instance.service_id())
        .Bind(instance.plan_id())
        .Bind(instance.parameters_json())
        .Bind(instance.context_json())
        .Bind(instance.originating_identity())
        .Execute();
  }

  absl::Status DeleteBrokerInstance(const std::string& instance_id) override {
    return Statement(db_, "DELETE FROM broker_instances WHERE instance_id = ?")
        .Bind(instance_id)
        .Execute();
  }

  absl::StatusOr<std::optional<v1::BrokerBinding>> GetBrokerBinding(
      const std::string& binding_id) override {
    Statement select(db_, R"sql(
        SELECT binding_id, instance_id, app, service, parameters_json, originating_identity
        FROM broker_bindings WHERE binding_id = ?)sql");
    select.Bind(binding_id);
    absl::StatusOr<bool> row = select.Next();
    if (!row.ok()) return row.status();
    if (!*row) return std::nullopt;
    v1::BrokerBinding binding;
    binding.set_binding_id(select.Text(0));
    binding.set_instance_id(select.Text(1));
    binding.set_app(select.Text(2));
    binding.set_service(select.Text(3));
    binding.set_parameters_json(select.Text(4));
    binding.set_originating_identity(select.Text(5));
    return binding;
  }

  absl::Status PutBrokerBinding(const v1::BrokerBinding& binding) override {
    return Statement(db_, R"sql(
        INSERT OR REPLACE INTO broker_bindings
          (binding_id, instance_id, app, service, parameters_json, originating_identity)
        VALUES (?, ?, ?, ?, ?, ?))sql")
        .Bind(binding.binding_id())
        .Bind(binding.instance_id())
        .Bind(binding.app())
        .Bind(binding.service())
        .Bind(binding.parameters_json())
        .Bind(binding.originating_identity())
        .Execute();
  }

  absl::Status DeleteBrokerBinding(const std::string& binding_id) override {
    return Statement(db_, "DELETE FROM broker_bindings WHERE binding_id = ?")
        .Bind(binding_id)
        .Execute();
  }

 private:
  static v1::Middlepipe MiddlepipeFrom(const Statement& row) {
    v1::Middlepipe middlepipe;
    middlepipe.set_name(row.Text(0));
    middlepipe.set_kind(row.Text(1));
    middlepipe.set_config_json(row.Text(2));
    middlepipe.set_generation(static_cast<uint64_t>(row.Int(3)));
    middlepipe.set_created_unix_ms(row.Int(4));
    middlepipe.set_updated_unix_ms(row.Int(5));
    return middlepipe;
  }

  static absl::StatusOr<v1::Service> ServiceFrom(const Statement& row) {
    v1::Service service;
    service.set_name(row.Text(0));
    service.set_type(v1::SERVICE_TYPE_EXTERNAL);
    absl::Status parsed = EndpointsFromJson(row.Text(1), &service);
    if (!parsed.ok()) return parsed;
    return service;
  }

  sqlite3* db_;
};

absl::StatusOr<int> SchemaVersion(sqlite3* db) {
  Statement select(db, "PRAGMA user_version");
  absl::StatusOr<bool> row = select.Next();
  if (!row.ok()) return row.status();
  return static_cast<int>(select.Int(0));
}

absl::Status Migrate(sqlite3* db, const std::string& path) {
  absl::StatusOr<int> version = SchemaVersion(db);
  if (!version.ok()) return version.status();
  if (*version > SqliteStore::kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "store ", path, " has schema version ", *version, ", newer than this controller's ",
        SqliteStore::kSchemaVersion, "; refusing to open it"));
  }
  for (int step = *version; step < SqliteStore::kSchemaVersion; ++step) {
    // Each step and its version bump commit together: a crash mid-migration leaves the
    // previous version, and the step runs again on the next start.
    absl::Status migrated = Exec(db, "BEGIN IMMEDIATE");
    if (migrated.ok()) migrated = Exec(db, kMigrations[step]);
    if (migrated.ok()) {
      migrated = Exec(db, absl::StrCat("PRAGMA user_version = ", step + 1).c_str());
    }
    if (migrated.ok()) migrated = Exec(db, "COMMIT");
    if (!migrated.ok()) {
      Exec(db, "ROLLBACK").IgnoreError();
      return absl::InternalError(absl::StrCat("store ", path, ": migration to schema version ",
                                              step + 1, " failed: ", migrated.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path) {
  // SQLite takes a zero-length file for a new, empty database: a store truncated by a
  // full disk or a bad copy would start with every middlepipe gone and no word said.
  struct stat file;
  if (stat(path.c_str(), &file) == 0 && S_ISREG(file.st_mode) && file.st_size == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "store ", path, " is empty (0 bytes): it was truncated or never written. Restore it "
        "from a backup, or remove it to start with an empty store"));
  }
  sqlite3* db = nullptr;
  int opened = sqlite3_open_v2(path.c_str(), &db,
                               SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                               nullptr);
  if (opened != SQLITE_OK) {
    absl::Status error = absl::UnavailableError(
        absl::StrCat("store ", path, ": cannot open: ", db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return error;
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(db, path));
  for (const char* pragma : {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL",
                             "PRAGMA foreign_keys = ON", "PRAGMA busy_timeout = 5000"}) {
    absl::Status set = Exec(db, pragma);
    if (!set.ok()) return absl::UnavailableError(absl::StrCat("store ", path, ": ", set.message()));
  }
  if (absl::Status checked = QuickCheck(db, path); !checked.ok()) return checked;
  absl::Status migrated = Migrate(db, path);
  if (!migrated.ok()) return migrated;
  return store;
}

SqliteStore::~SqliteStore() { sqlite3_close(db_); }

absl::Status SqliteStore::Transact(const Body& body) { return Run(body, /*commit=*/true); }

absl::Status SqliteStore::DryRun(const Body& body) { return Run(body, /*commit=*/false); }

absl::Status SqliteStore::Run(const Body& body, bool commit) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status begun = Exec(db_, "BEGIN IMMEDIATE");
  if (!begun.ok()) return begun;
  SqliteTransaction transaction(db_);
  absl::Status result = body(transaction);
  if (result.ok() && commit) {
    absl::Status committed = Exec(db_, "COMMIT");
    if (committed.ok()) return absl::OkStatus();
    result = committed;
  }
  Exec(db_, "ROLLBACK").IgnoreError();
  return result;
}

}  // namespace middlepipe::controller

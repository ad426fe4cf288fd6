#include "controller/store/etcd_store.h"

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "controller/store/etcd_client.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"

namespace middlepipe::controller {
namespace {

namespace pb = ::etcdserverpb;

// Key components are escaped so that a '/' in a name can never make one object's key
// look like another's (or like a prefix of another collection).
std::string Escape(absl::string_view component) {
  std::string escaped;
  for (char c : component) {
    if (c == '%') {
      escaped += "%25";
    } else if (c == '/') {
      escaped += "%2F";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

std::string Unescape(absl::string_view escaped) {
  std::string component;
  for (size_t i = 0; i < escaped.size(); ++i) {
    absl::string_view rest = escaped.substr(i);
    if (absl::StartsWith(rest, "%25")) {
      component += '%';
      i += 2;
    } else if (absl::StartsWith(rest, "%2F")) {
      component += '/';
      i += 2;
    } else {
      component += escaped[i];
    }
  }
  return component;
}

// The smallest key greater than every key starting with `prefix` (etcd's range_end).
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    unsigned char last = static_cast<unsigned char>(prefix.back());
    if (last < 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');  // every key
}

// Where each object lives, under the store's prefix. Stamps are written with every write
// into their collection, so a list read can be guarded by one compare.
class Keys {
 public:
  explicit Keys(std::string prefix) : p_(std::move(prefix)) {}

  std::string Middlepipes(const std::string& user) const { return p_ + "mp/" + Escape(user) + "/"; }
  std::string Middlepipe(const std::string& user, const std::string& name) const {
    return Middlepipes(user) + Escape(name);
  }
  std::string AllMiddlepipes() const { return p_ + "mp/"; }
  std::string Services(const std::string& user) const { return p_ + "svc/" + Escape(user) + "/"; }
  std::string Service(const std::string& user, const std::string& name) const {
    return Services(user) + Escape(name);
  }
  std::string Bindings(const std::string& user) const { return p_ + "bind/" + Escape(user) + "/"; }
  std::string BindingsOf(const std::string& user, const std::string& middlepipe) const {
    return Bindings(user) + Escape(middlepipe) + "/";
  }
  std::string Binding(const std::string& user, const v1::Binding& binding) const {
    return BindingsOf(user, binding.middlepipe()) + Escape(binding.app()) + "/" +
           Escape(binding.service());
  }
  std::string Epochs(const std::string& user) const { return p_ + "epoch/" + Escape(user) + "/"; }
  std::string Epoch(const std::string& user, const std::string& app) const {
    return Epochs(user) + Escape(app);
  }
  std::string BrokerInstances() const { return p_ + "broker-instance/"; }
  std::string BrokerInstance(const std::string& id) const { return BrokerInstances() + Escape(id); }
  std::string BrokerBindings() const { return p_ + "broker-binding/"; }
  std::string BrokerBinding(const std::string& id) const { return BrokerBindings() + Escape(id); }
  std::string Writer(const std::string& id) const { return p_ + "writer/" + id; }

  // The stamp of a collection, named by the collection's key prefix.
  std::string Stamp(const std::string& collection) const {
    return p_ + "stamp/" + collection.substr(p_.size());
  }

 private:
  const std::string p_;
};

absl::Status ForeignKeyError(absl::string_view what) {
  return absl::InternalError(absl::StrCat("store: write: FOREIGN KEY constraint failed: ", what));
}

template <typename Message>
absl::StatusOr<Message> Parse(const std::string& key, const std::string& value) {
  Message message;
  if (!message.ParseFromString(value)) {
    return absl::DataLossError(
        absl::StrCat("store: etcd key ", key, " does not hold a ", Message::descriptor()->name()));
  }
  return message;
}

// One run of a body: a snapshot, the reads it made and the writes it buffered.
class EtcdTransaction final : public StoreTransaction {
 public:
  // `high_water` is the newest revision the store has seen (no snapshot may be older).
  EtcdTransaction(EtcdClient* client, const Keys* keys, int64_t high_water)
      : client_(client), keys_(keys), high_water_(high_water) {}

  // --- StoreTransaction -------------------------------------------------------------

  absl::StatusOr<std::optional<v1::Middlepipe>> GetMiddlepipe(const std::string& user,
                                                              const std::string& name) override {
    return GetMessage<v1::Middlepipe>(keys_->Middlepipe(user, name));
  }

  absl::StatusOr<std::vector<v1::Middlepipe>> ListMiddlepipes(const std::string& user) override {
    absl::StatusOr<std::vector<v1::Middlepipe>> middlepipes =
        ListMessages<v1::Middlepipe>(keys_->Middlepipes(user));
    if (middlepipes.ok()) {
      std::sort(
          middlepipes->begin(), middlepipes->end(),
          [](const v1::Middlepipe& a, const v1::Middlepipe& b) { return a.name() < b.name(); });
    }
    return middlepipes;
  }

  absl::Status PutMiddlepipe(const std::string& user, const v1::Middlepipe& middlepipe) override {
    Write(keys_->Middlepipe(user, middlepipe.name()), middlepipe.SerializeAsString(),
          {keys_->Middlepipes(user), keys_->AllMiddlepipes()});
    return absl::OkStatus();
  }

  absl::Status DeleteMiddlepipe(const std::string& user, const std::string& name) override {
    // As SQLite's immediate foreign key: a middlepipe with bindings stays.
    absl::StatusOr<std::map<std::string, std::string>> bindings =
        ReadPrefix(keys_->BindingsOf(user, name), keys_->Bindings(user));
    if (!bindings.ok()) return bindings.status();
    if (!bindings->empty()) {
      return ForeignKeyError(absl::StrCat("middlepipe ", name, " of ", user, " still has ",
                                          bindings->size(), " binding(s)"));
    }
    Write(keys_->Middlepipe(user, name), std::nullopt,
          {keys_->Middlepipes(user), keys_->AllMiddlepipes()});
    deleted_middlepipes_.insert({user, name});
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<v1::Service>> GetService(const std::string& user,
                                                        const std::string& name) override {
    return GetMessage<v1::Service>(keys_->Service(user, name));
  }

  absl::StatusOr<std::vector<v1::Service>> ListServices(const std::string& user) override {
    absl::StatusOr<std::vector<v1::Service>> services =
        ListMessages<v1::Service>(keys_->Services(user));
    if (services.ok()) {
      std::sort(services->begin(), services->end(),
                [](const v1::Service& a, const v1::Service& b) { return a.name() < b.name(); });
    }
    return services;
  }

  absl::Status PutService(const std::string& user, const v1::Service& service) override {
    // What SQLite keeps of a service: its name and endpoints, as a registered service.
    v1::Service stored;
    stored.set_name(service.name());
    stored.set_type(v1::SERVICE_TYPE_EXTERNAL);
    for (const v1::Endpoint& endpoint : service.endpoints()) {
      v1::Endpoint* kept = stored.add_endpoints();
      kept->set_host(endpoint.host());
      kept->set_port(endpoint.port());
    }
    Write(keys_->Service(user, service.name()), stored.SerializeAsString(),
          {keys_->Services(user)});
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<v1::Binding>> ListBindings(const std::string& user) override {
    absl::StatusOr<std::vector<v1::Binding>> bindings =
        ListMessages<v1::Binding>(keys_->Bindings(user));
    if (bindings.ok()) {
      std::sort(bindings->begin(), bindings->end(), [](const v1::Binding& a, const v1::Binding& b) {
        return std::tie(a.middlepipe(), a.app(), a.service()) <
               std::tie(b.middlepipe(), b.app(), b.service());
      });
    }
    return bindings;
  }

  absl::Status PutBinding(const std::string& user, const v1::Binding& binding) override {
    // As SQLite's immediate foreign key: a binding needs its middlepipe now.
    absl::StatusOr<std::optional<std::string>> middlepipe =
        ReadKey(keys_->Middlepipe(user, binding.middlepipe()));
    if (!middlepipe.ok()) return middlepipe.status();
    if (!middlepipe->has_value()) {
      return ForeignKeyError(absl::StrCat("binding of ", user, "'s middlepipe ",
                                          binding.middlepipe(), ", which does not exist"));
    }
    v1::Binding stored;
    stored.set_middlepipe(binding.middlepipe());
    stored.set_app(binding.app());
    stored.set_service(binding.service());
    stored.set_position(binding.position());
    Write(keys_->Binding(user, binding), stored.SerializeAsString(), {keys_->Bindings(user)});
    return absl::OkStatus();
  }

  absl::Status DeleteBinding(const std::string& user, const v1::Binding& binding) override {
    Write(keys_->Binding(user, binding), std::nullopt, {keys_->Bindings(user)});
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> GetEpoch(const std::string& user, const std::string& app) override {
    const std::string key = keys_->Epoch(user, app);
    absl::StatusOr<std::optional<std::string>> value = ReadKey(key);
    if (!value.ok()) return value.status();
    if (!value->has_value()) return 0;
    uint64_t epoch = 0;
    if (!absl::SimpleAtoi(**value, &epoch)) {
      return absl::DataLossError(absl::StrCat("store: etcd key ", key, " is not an epoch"));
    }
    return epoch;
  }

  absl::Status SetEpoch(const std::string& user, const std::string& app, uint64_t epoch) override {
    Write(keys_->Epoch(user, app), absl::StrCat(epoch), {keys_->Epochs(user)});
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::string>> ListApps(const std::string& user) override {
    const std::string prefix = keys_->Epochs(user);
    absl::StatusOr<std::map<std::string, std::string>> epochs = ReadPrefix(prefix, prefix);
    if (!epochs.ok()) return epochs.status();
    std::vector<std::string> apps;
    for (const auto& [key, value] : *epochs) apps.push_back(Unescape(key.substr(prefix.size())));
    std::sort(apps.begin(), apps.end());
    return apps;
  }

  absl::StatusOr<std::optional<v1::BrokerInstance>> GetBrokerInstance(
      const std::string& instance_id) override {
    return GetMessage<v1::BrokerInstance>(keys_->BrokerInstance(instance_id));
  }

  absl::Status PutBrokerInstance(const v1::BrokerInstance& instance) override {
    Write(keys_->BrokerInstance(instance.instance_id()), instance.SerializeAsString(),
          {keys_->BrokerInstances()});
    return absl::OkStatus();
  }

  absl::Status DeleteBrokerInstance(const std::string& instance_id) override {
    Write(keys_->BrokerInstance(instance_id), std::nullopt, {keys_->BrokerInstances()});
    deleted_broker_instances_.insert(instance_id);
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<v1::BrokerBinding>> GetBrokerBinding(
      const std::string& binding_id) override {
    return GetMessage<v1::BrokerBinding>(keys_->BrokerBinding(binding_id));
  }

  absl::Status PutBrokerBinding(const v1::BrokerBinding& binding) override {
    Write(keys_->BrokerBinding(binding.binding_id()), binding.SerializeAsString(),
          {keys_->BrokerBindings()});
    return absl::OkStatus();
  }

  absl::Status DeleteBrokerBinding(const std::string& binding_id) override {
    Write(keys_->BrokerBinding(binding_id), std::nullopt, {keys_->BrokerBindings()});
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::string>> ListUsersWithMiddlepipes() override {
    const std::string prefix = keys_->AllMiddlepipes();
    absl::StatusOr<std::map<std::string, std::string>> all = ReadPrefix(prefix, prefix);
    if (!all.ok()) return all.status();
    std::set<std::string> users;
    for (const auto& [key, value] : *all) {
      absl::string_view rest = absl::string_view(key).substr(prefix.size());
      users.insert(Unescape(rest.substr(0, rest.find('/'))));
    }
    return std::vector<std::string>(users.begin(), users.end());
  }

  // --- Commit -----------------------------------------------------------------------

  // The checks SQLite defers to COMMIT: what broker records point at exists at the end.
  // The reads they make join the transaction's compares, so they hold at commit too.
  absl::Status CheckDeferredReferences() {
    for (const auto& [key, value] : writes_) {
      if (!value.has_value()) continue;
      if (absl::StartsWith(key, keys_->BrokerInstances())) {
        absl::StatusOr<v1::BrokerInstance> instance = Parse<v1::BrokerInstance>(key, *value);
        if (!instance.ok()) return instance.status();
        absl::StatusOr<std::optional<std::string>> middlepipe =
            ReadKey(keys_->Middlepipe(instance->user(), instance->middlepipe()));
        if (!middlepipe.ok()) return middlepipe.status();
        if (!middlepipe->has_value()) {
          return ForeignKeyError(absl::StrCat("broker instance ", instance->instance_id(),
                                              " names middlepipe ", instance->middlepipe(), " of ",
                                              instance->user(), ", which does not exist"));
        }
      } else if (absl::StartsWith(key, keys_->BrokerBindings())) {
        absl::StatusOr<v1::BrokerBinding> binding = Parse<v1::BrokerBinding>(key, *value);
        if (!binding.ok()) return binding.status();
        absl::StatusOr<std::optional<std::string>> instance =
            ReadKey(keys_->BrokerInstance(binding->instance_id()));
        if (!instance.ok()) return instance.status();
        if (!instance->has_value()) {
          return ForeignKeyError(absl::StrCat("broker binding ", binding->binding_id(),
                                              " names broker instance ", binding->instance_id(),
                                              ", which does not exist"));
        }
      }
    }
    if (!deleted_middlepipes_.empty()) {
      absl::StatusOr<std::vector<v1::BrokerInstance>> instances =
          ListMessages<v1::BrokerInstance>(keys_->BrokerInstances());
      if (!instances.ok()) return instances.status();
      for (const v1::BrokerInstance& instance : *instances) {
        if (deleted_middlepipes_.count({instance.user(), instance.middlepipe()}) == 0) continue;
        absl::StatusOr<std::optional<std::string>> still =
            ReadKey(keys_->Middlepipe(instance.user(), instance.middlepipe()));
        if (!still.ok()) return still.status();
        if (!still->has_value()) {
          return ForeignKeyError(
              absl::StrCat("middlepipe ", instance.middlepipe(), " of ", instance.user(),
                           " is still named by broker instance ", instance.instance_id()));
        }
      }
    }
    if (!deleted_broker_instances_.empty()) {
      absl::StatusOr<std::vector<v1::BrokerBinding>> bindings =
          ListMessages<v1::BrokerBinding>(keys_->BrokerBindings());
      if (!bindings.ok()) return bindings.status();
      for (const v1::BrokerBinding& binding : *bindings) {
        if (deleted_broker_instances_.count(binding.instance_id()) == 0) continue;
        absl::StatusOr<std::optional<std::string>> still =
            ReadKey(keys_->BrokerInstance(binding.instance_id()));
        if (!still.ok()) return still.status();
        if (!still->has_value()) {
          return ForeignKeyError(absl::StrCat("broker instance ", binding.instance_id(),
                                              " is still named by broker binding ",
                                              binding.binding_id()));
        }
      }
    }
    return absl::OkStatus();
  }

  bool HasWrites() const { return !writes_.empty(); }
  // The snapshot's revision (0 if the body read nothing).
  int64_t revision() const { return revision_; }
  // Why reads fell back to a member's own state (no quorum); empty if they did not.
  const std::string& no_quorum() const { return no_quorum_; }

  // The one Txn: compares on everything read, then every write and every touched stamp.
  void BuildCommit(pb::TxnRequest* txn) const {
    for (const auto& [key, mod_revision] : reads_) {
      pb::Compare* compare = txn->add_compare();
      compare->set_result(pb::Compare::EQUAL);
      compare->set_target(pb::Compare::MOD);
      compare->set_key(key);
      compare->set_mod_revision(mod_revision);
    }
    for (const auto& [key, value] : writes_) {
      pb::RequestOp* op = txn->add_success();
      if (value.has_value()) {
        op->mutable_request_put()->set_key(key);
        op->mutable_request_put()->set_value(*value);
      } else {
        op->mutable_request_delete_range()->set_key(key);
      }
    }
    for (const std::string& stamp : stamps_) {
      pb::PutRequest* put = txn->add_success()->mutable_request_put();
      put->set_key(stamp);
    }
  }

 private:
  // Every read is at the snapshot's revision, fixed by the first one. Reads are
  // linearizable while the cluster has a leader. Without one, they fall back to what the
  // member that answers has applied, so reads keep working (a commit made on such a
  // snapshot fails on its own) but never older than what this store has already seen:
  // a member further behind is "store unavailable", not a silent step back in time.
  absl::Status Read(pb::RangeRequest& request, pb::RangeResponse* response) {
    if (revision_ != 0) request.set_revision(revision_);
    absl::Status read = absl::UnavailableError(no_quorum_);
    // Once one read found no quorum, the others need not wait for it again.
    if (no_quorum_.empty()) read = client_->Range(request, response, /*require_leader=*/true);
    if (absl::IsUnavailable(read)) {
      no_quorum_ = std::string(read.message());
      request.set_serializable(true);
      read = client_->Range(request, response, /*require_leader=*/false);
      if (!read.ok() && absl::StrContains(read.message(), "future revision")) {
        return absl::UnavailableError(absl::StrCat(
            "store unavailable: etcd at ", client_->endpoints(),
            ": no quorum, and the member that answered is behind revision ", revision_));
      }
      if (read.ok() && revision_ == 0 && response->header().revision() < high_water_) {
        return absl::UnavailableError(absl::StrCat(
            "store unavailable: etcd at ", client_->endpoints(),
            ": no quorum, and the member that answered is at revision ",
            response->header().revision(), ", behind this controller's ", high_water_));
      }
    }
    if (read.ok() && revision_ == 0) revision_ = response->header().revision();
    return read;
  }

  // The value of `key` as this transaction sees it; records what the snapshot held.
  absl::StatusOr<std::optional<std::string>> ReadKey(const std::string& key) {
    if (auto written = writes_.find(key); written != writes_.end()) return written->second;
    if (auto cached = snapshot_.find(key); cached != snapshot_.end()) return cached->second;
    pb::RangeRequest request;
    request.set_key(key);
    pb::RangeResponse response;
    absl::Status read = Read(request, &response);
    if (!read.ok()) return read;
    std::optional<std::string> value;
    int64_t mod_revision = 0;
    if (response.kvs_size() > 0) {
      value = response.kvs(0).value();
      mod_revision = response.kvs(0).mod_revision();
    }
    reads_[key] = mod_revision;
    snapshot_[key] = value;
    return value;
  }

  // Every key under `prefix` with its value as this transaction sees it, guarded by the
  // stamp of `collection` (the prefix itself or the collection that holds it).
  absl::StatusOr<std::map<std::string, std::string>> ReadPrefix(const std::string& prefix,
                                                                const std::string& collection) {
    absl::StatusOr<std::optional<std::string>> stamp = ReadKey(keys_->Stamp(collection));
    if (!stamp.ok()) return stamp.status();
    pb::RangeRequest request;
    request.set_key(prefix);
    request.set_range_end(PrefixEnd(prefix));
    pb::RangeResponse response;
    absl::Status read = Read(request, &response);
    if (!read.ok()) return read;
    std::map<std::string, std::string> found;
    for (const auto& kv : response.kvs()) found[kv.key()] = kv.value();
    for (auto written = writes_.lower_bound(prefix);
         written != writes_.end() && absl::StartsWith(written->first, prefix); ++written) {
      if (written->second.has_value()) {
        found[written->first] = *written->second;
      } else {
        found.erase(written->first);
      }
    }
    return found;
  }

  template <typename Message>
  absl::StatusOr<std::optional<Message>> GetMessage(const std::string& key) {
    absl::StatusOr<std::optional<std::string>> value = ReadKey(key);
    if (!value.ok()) return value.status();
    if (!value->has_value()) return std::nullopt;
    absl::StatusOr<Message> message = Parse<Message>(key, **value);
    if (!message.ok()) return message.status();
    return *std::move(message);
  }

  template <typename Message>
  absl::StatusOr<std::vector<Message>> ListMessages(const std::string& prefix) {
    absl::StatusOr<std::map<std::string, std::string>> values = ReadPrefix(prefix, prefix);
    if (!values.ok()) return values.status();
    std::vector<Message> messages;
    for (const auto& [key, value] : *values) {
      absl::StatusOr<Message> message = Parse<Message>(key, value);
      if (!message.ok()) return message.status();
      messages.push_back(*std::move(message));
    }
    return messages;
  }

  // Buffers a put (or, with no value, a delete) and the stamps of the collections
  // it lies in.
  void Write(const std::string& key, std::optional<std::string> value,
             std::initializer_list<std::string> collections) {
    writes_[key] = std::move(value);
    for (const std::string& collection : collections) stamps_.insert(keys_->Stamp(collection));
  }

  EtcdClient* const client_;
  const Keys* const keys_;
  const int64_t high_water_;
  std::string no_quorum_;
  int64_t revision_ = 0;                                        // 0 until the first read
  std::map<std::string, std::optional<std::string>> snapshot_;  // point reads, at revision_
  std::map<std::string, int64_t> reads_;                        // key -> mod revision (0: absent)
  std::map<std::string, std::optional<std::string>> writes_;    // nullopt: delete
  std::set<std::string> stamps_;
  std::set<std::pair<std::string, std::string>> deleted_middlepipes_;  // (user, name)
  std::set<std::string> deleted_broker_instances_;
};

std::string RandomWriterId() {
  std::random_device random;
  std::uniform_int_distribution<uint64_t> bits;
  return absl::StrCat(absl::Hex(bits(random), absl::kZeroPad16),
                      absl::Hex(bits(random), absl::kZeroPad16));
}

}  // namespace

absl::StatusOr<std::vector<std::string>> EtcdStore::ParseEndpoints(const std::string& list) {
  std::vector<std::string> endpoints;
  for (absl::string_view endpoint : absl::StrSplit(list, ',')) {
    if (endpoint.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("etcd endpoints \"", list, "\": an empty entry (want URL[,URL...])"));
    }
    endpoints.emplace_back(endpoint);
  }
  return endpoints;
}

absl::StatusOr<std::unique_ptr<EtcdStore>> EtcdStore::Open(EtcdStoreOptions options) {
  if (options.key_prefix.empty() || options.key_prefix.back() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd store: key prefix \"", options.key_prefix, "\" must end in '/'"));
  }
  if (options.max_attempts < 1) options.max_attempts = 1;
  absl::StatusOr<std::unique_ptr<EtcdClient>> client =
      EtcdClient::Connect(options.endpoints, options.call_timeout, options.unavailable_budget);
  if (!client.ok()) return client.status();
  std::string writer_key = Keys(options.key_prefix).Writer(RandomWriterId());
  return std::unique_ptr<EtcdStore>(
      new EtcdStore(*std::move(client), std::move(options), std::move(writer_key)));
}

EtcdStore::EtcdStore(std::unique_ptr<EtcdClient> client, EtcdStoreOptions options,
                     std::string writer_key)
    : client_(std::move(client)),
      options_(std::move(options)),
      writer_key_(std::move(writer_key)) {}

EtcdStore::~EtcdStore() = default;

const std::string& EtcdStore::endpoints() const { return client_->endpoints(); }

uint64_t EtcdStore::conflicts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return conflicts_;
}

void EtcdStore::SetFence(std::optional<EtcdFence> fence) {
  std::lock_guard<std::mutex> lock(mu_);
  fence_ = std::move(fence);
}

absl::Status EtcdStore::Transact(const Body& body) { return Run(body, /*commit=*/true); }

absl::Status EtcdStore::DryRun(const Body& body) { return Run(body, /*commit=*/false); }

absl::Status EtcdStore::Run(const Body& body, bool commit) {
  std::lock_guard<std::mutex> lock(mu_);
  const Keys keys(options_.key_prefix);
  std::minstd_rand jitter(std::random_device{}());
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    EtcdTransaction transaction(client_.get(), &keys, high_water_revision_);
    absl::Status result = body(transaction);
    high_water_revision_ = std::max(high_water_revision_, transaction.revision());
    if (!result.ok() || !commit) return result;
    if (!transaction.HasWrites()) return absl::OkStatus();
    // Its reads found no quorum: a commit would wait out the same budget to fail.
    if (!transaction.no_quorum().empty()) {
      return absl::UnavailableError(
          absl::StrCat(transaction.no_quorum(), " (nothing was changed)"));
    }
    absl::Status checked = transaction.CheckDeferredReferences();
    if (!checked.ok()) return checked;

    // Numbered per attempt, not per success: an attempt reported as failed may still be
    // applied later (a proposal the old leader had logged, committed once quorum is back),
    // and must never be taken for a later one.
    const uint64_t sequence = ++commits_;
    pb::TxnRequest txn;
    transaction.BuildCommit(&txn);
    pb::Compare* mine = txn.add_compare();
    mine->set_result(pb::Compare::EQUAL);
    mine->set_target(pb::Compare::MOD);
    mine->set_key(writer_key_);
    mine->set_mod_revision(writer_mod_revision_);
    pb::PutRequest* put = txn.add_success()->mutable_request_put();
    put->set_key(writer_key_);
    put->set_value(absl::StrCat(sequence));
    txn.add_failure()->mutable_request_range()->set_key(writer_key_);
    if (fence_.has_value()) {
      // Only while this controller's leadership key is the one it created.
      pb::Compare* leading = txn.add_compare();
      leading->set_result(pb::Compare::EQUAL);
      leading->set_target(pb::Compare::CREATE);
      leading->set_key(fence_->key);
      leading->set_create_revision(fence_->create_revision);
      txn.add_failure()->mutable_request_range()->set_key(fence_->key);
    }

    pb::TxnResponse response;
    absl::Status sent = client_->Txn(txn, &response);
    if (absl::IsUnavailable(sent)) {
      return absl::UnavailableError(
          absl::StrCat(sent.message(),
                       " (the change was not acknowledged; a member may still apply it "
                       "once quorum is back)"));
    }
    if (!sent.ok()) return sent;
    high_water_revision_ = std::max(high_water_revision_, response.header().revision());
    if (response.succeeded()) {
      writer_mod_revision_ = response.header().revision();
      return absl::OkStatus();
    }
    // Either another writer changed what the body read, or an earlier copy of this very
    // commit (sent to a member that then failed) was applied: the writer key tells.
    if (response.responses_size() >= 1 && response.responses(0).response_range().kvs_size() == 1) {
      const auto& kv = response.responses(0).response_range().kvs(0);
      writer_mod_revision_ = kv.mod_revision();  // whichever attempt of ours wrote it last
      if (kv.value() == absl::StrCat(sequence)) return absl::OkStatus();
    }
    if (fence_.has_value() && response.responses_size() >= 2) {
      const auto& leader = response.responses(1).response_range();
      if (leader.kvs_size() == 0 || leader.kvs(0).create_revision() != fence_->create_revision) {
        return absl::FailedPreconditionError(absl::StrCat(
            "store: not the leader: leadership key ", fence_->key, " of revision ",
            fence_->create_revision, " is gone", leader.kvs_size() == 0 ? "" : " (another leads)",
            "; this controller's writes are refused"));
      }
    }
    ++conflicts_;
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(1, 5 * attempt)(jitter)));
  }
  return absl::AbortedError(absl::StrCat("store: transaction conflicted with other writers ",
                                         options_.max_attempts, " times; giving up"));
}

}  // namespace middlepipe::controller

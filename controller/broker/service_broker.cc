#include "controller/broker/service_broker.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/json.h"
#include "common/names.h"
#include "controller/broker/catalog.h"

namespace middlepipe::controller::broker {
namespace {

using Reply = ServiceBroker::Reply;

constexpr int kMinimumMinorVersion = 13;
constexpr char kInstancePath[] = R"(/v2/service_instances/([^/]+))";
constexpr char kBindingPath[] = R"(/v2/service_instances/([^/]+)/service_bindings/([^/]+))";

Reply Error(int status, const std::string& description, const std::string& error = "") {
  Reply reply;
  reply.status = status;
  if (!error.empty()) reply.body["error"] = error;
  reply.body["description"] = description;
  return reply;
}

// What a failed change means to a platform.
Reply FromStatus(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
      return Error(400, std::string(status.message()));
    case absl::StatusCode::kAlreadyExists:
      return Error(409, std::string(status.message()));
    case absl::StatusCode::kFailedPrecondition:
      return Error(422, std::string(status.message()));
    default:
      return Error(500, std::string(status.message()));
  }
}

// Operations are kept by the resource they change; instance and binding ids are the
// platform's and may look alike, so each kind has its own prefix.
std::string InstanceKey(const std::string& id) { return "instance/" + id; }
std::string BindingKey(const std::string& id) { return "binding/" + id; }

Reply Ok(int status, nlohmann::json body = nlohmann::json::object()) { return Reply{status, std::move(body)}; }

// A required non-empty string field of the body; nullopt with `error` set otherwise.
std::optional<std::string> RequiredString(const nlohmann::json& body, const char* field, Reply* error) {
  auto found = body.find(field);
  if (found == body.end()) {
    *error = Error(400, absl::StrCat("the request body has no ", field));
    return std::nullopt;
  }
  if (!found->is_string() || found->get<std::string>().empty()) {
    *error = Error(400, absl::StrCat(field, " must be a non-empty string"));
    return std::nullopt;
  }
  return found->get<std::string>();
}

// `parameters` of a body: absent = nullopt (and no error), present = must be an object.
std::optional<nlohmann::json> Parameters(const nlohmann::json& body, Reply* error) {
  auto found = body.find("parameters");
  if (found == body.end() || found->is_null()) return std::nullopt;
  if (!found->is_object()) {
    *error = Error(400, "parameters must be a JSON object");
    return std::nullopt;
  }
  return *found;
}

// The kind of a (service_id, plan_id) pair from the catalog, or an error reply.
const scheduler::KindDescriptor* KindOf(const scheduler::KindCatalog& kinds,
                                        const std::string& service_id, const std::string& plan_id,
                                        Reply* error) {
  const scheduler::KindDescriptor* kind = KindOfService(kinds, service_id);
  if (kind == nullptr) {
    *error = Error(400, absl::StrCat("service_id \"", service_id, "\" is not in the catalog"));
    return nullptr;
  }
  if (plan_id != PlanId(kind->name)) {
    *error = Error(400, absl::StrCat("plan_id \"", plan_id, "\" is not a plan of ", kind->name));
    return nullptr;
  }
  return kind;
}

// The middlepipe name for a new instance: the platform's name for it when that is a
// valid name, else "si-" and the instance id's first letters and digits.
std::string MiddlepipeName(const std::string& instance_id, const nlohmann::json& context) {
  if (context.is_object() && context.contains("instance_name") && context["instance_name"].is_string()) {
    std::string name = context["instance_name"].get<std::string>();
    if (ValidateName("name", name).ok()) return name;
  }
  std::string name = "si-";
  for (char c : instance_id) {
    if (name.size() >= 27) break;
    if (std::isalnum(static_cast<unsigned char>(c))) name += absl::ascii_tolower(static_cast<unsigned char>(c));
  }
  return name;
}

// A poll for an operation this broker does not know (never started, or started before
// the controller restarted) is answered 400 rather than "succeeded": it cannot say.
std::optional<Reply> UnknownOperation(const HttpRequest& request) {
  if (!request.query.count("operation")) return std::nullopt;
  return Error(400, absl::StrCat("operation \"", request.Query("operation"),
                                 "\" is not known here (it may have been started before the "
                                 "controller restarted); fetch the resource to see what is stored"));
}

// The query parameters service_id and plan_id (REQUIRED on deletes) match `instance`.
std::optional<Reply> CheckQueryIds(const HttpRequest& request, const v1::BrokerInstance& instance) {
  for (const auto& [field, expected] :
       {std::pair<std::string, std::string>{"service_id", instance.service_id()},
        std::pair<std::string, std::string>{"plan_id", instance.plan_id()}}) {
    if (request.Query(field).empty()) {
      return Error(400, absl::StrCat("the query has no ", field));
    }
    if (request.Query(field) != expected) {
      return Error(400, absl::StrCat(field, " \"", request.Query(field),
                                     "\" is not the instance's (\"", expected, "\")"));
    }
  }
  return std::nullopt;
}

// The body's service_id and plan_id (REQUIRED on bind) match `instance`.
std::optional<Reply> CheckBodyIds(const nlohmann::json& body, const v1::BrokerInstance& instance) {
  Reply error;
  std::optional<std::string> service_id = RequiredString(body, "service_id", &error);
  if (!service_id) return error;
  std::optional<std::string> plan_id = RequiredString(body, "plan_id", &error);
  if (!plan_id) return error;
  if (*service_id != instance.service_id() || *plan_id != instance.plan_id()) {
    return Error(400, absl::StrCat("service_id and plan_id must be the instance's (",
                                   instance.service_id(), ", ", instance.plan_id(), ")"));
  }
  return std::nullopt;
}

}  // namespace

bool SupportedApiVersion(const std::string& header) {
  std::vector<std::string> parts = absl::StrSplit(header, '.');
  int major = 0;
  int minor = 0;
  for (char c : header) {
    if (c != '.' && !absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return parts.size() == 2 && absl::SimpleAtoi(parts[0], &major) &&
         absl::SimpleAtoi(parts[1], &minor) && major == 2 && minor >= kMinimumMinorVersion;
}

bool BasicAuthMatches(const std::string& header, const BrokerCredentials& credentials) {
  std::string given;
  if (!absl::StartsWith(header, "Basic ") ||
      !absl::Base64Unescape(absl::string_view(header).substr(6), &given)) {
    return false;
  }
  const std::string expected = absl::StrCat(credentials.user, ":", credentials.password);
  // Every byte of the longer string is looked at whatever matches, so the time taken
  // says nothing about where a guess went wrong.
  unsigned char difference = given.size() == expected.size() ? 0 : 1;
  const size_t length = std::max(given.size(), expected.size());
  for (size_t i = 0; i < length; ++i) {
    const unsigned char a = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    const unsigned char b = i < expected.size() ? static_cast<unsigned char>(expected[i]) : 0;
    difference |= a ^ b;
  }
  return difference == 0;
}

ServiceBroker::ServiceBroker(BrokerCredentials credentials, ControllerService* service, Store* store,
                             const scheduler::KindCatalog* kinds, Logger* logger)
    : credentials_(std::move(credentials)),
      service_(service),
      store_(store),
      kinds_(kinds),
      logger_(logger) {}

ServiceBroker::~ServiceBroker() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [this] { return workers_ == 0; });
}

void MountDisabledBroker(HttpServer& server) {
  auto disabled = [](const HttpRequest&) {
    return HttpResponse::Json(
        404, nlohmann::json{{"description",
                             "the service broker is off: start mp-controller with --broker-user "
                             "and --broker-password-file"}}
                 .dump());
  };
  HttpRoute route(disabled);
  route.on_event_loop = true;
  for (const char* method : {"GET", "PUT", "PATCH", "DELETE"}) server.Route(method, "/v2/.*", route);
}

std::optional<HttpResponse> ServiceBroker::Admit(const HttpRequest& request) const {
  std::optional<Reply> refused;
  std::optional<std::pair<std::string, std::string>> header;
  if (!request.HasHeader("X-Broker-API-Version")) {
    refused = Error(412, "X-Broker-API-Version is missing; this broker speaks 2.13 to 2.17",
                    "PreconditionFailed");
  } else if (!SupportedApiVersion(request.Header("X-Broker-API-Version"))) {
    refused = Error(412,
                    absl::StrCat("X-Broker-API-Version ", request.Header("X-Broker-API-Version"),
                                 " is not supported; use 2.13 or later"),
                    "PreconditionFailed");
  } else if (!BasicAuthMatches(request.Header("Authorization"), credentials_)) {
    refused = Error(401, "wrong or missing broker credentials (HTTP basic auth)", "Unauthorized");
    header.emplace("WWW-Authenticate", "Basic realm=\"middlepipe service broker\"");
  }
  if (!refused) return std::nullopt;
  HttpResponse response = Answer(request, *refused);
  if (header) response.Header(header->first, header->second);
  return response;
}

HttpResponse ServiceBroker::Answer(const HttpRequest& request, const Reply& reply) {
  HttpResponse response = HttpResponse::Json(reply.status, reply.body.dump());
  if (request.HasHeader("X-Broker-API-Request-Identity")) {  // for the platform's tracing
    response.Header("X-Broker-API-Request-Identity",
                    request.Header("X-Broker-API-Request-Identity"));
  }
  return response;
}

void ServiceBroker::Mount(HttpServer& server) {
  auto route = [this](Handler handler, bool has_body) {
    HttpRoute route;
    route.handler = [this, handler, has_body](const HttpRequest& request) {
      return Serve(request, handler, has_body);
    };
    // Version and credentials are checked on the headers, before any body is read.
    route.admit = [this](const HttpRequest& request) { return Admit(request); };
    route.max_body_bytes = has_body ? kMaxBodyBytes : HttpRoute::kDefaultMaxBodyBytes;
    return route;
  };
  server.Route("GET", "/v2/catalog", route(&ServiceBroker::GetCatalog, false));
  server.Route("PUT", kInstancePath, route(&ServiceBroker::Provision, true));
  server.Route("PATCH", kInstancePath, route(&ServiceBroker::Update, true));
  server.Route("DELETE", kInstancePath, route(&ServiceBroker::Deprovision, false));
  server.Route("GET", kInstancePath, route(&ServiceBroker::FetchInstance, false));
  server.Route("GET", R"(/v2/service_instances/([^/]+)/last_operation)",
               route(&ServiceBroker::InstanceLastOperation, false));
  server.Route("PUT", kBindingPath, route(&ServiceBroker::Bind, true));
  server.Route("DELETE", kBindingPath, route(&ServiceBroker::Unbind, false));
  server.Route("GET", kBindingPath, route(&ServiceBroker::FetchBinding, false));
  server.Route("GET", R"(/v2/service_instances/([^/]+)/service_bindings/([^/]+)/last_operation)",
               route(&ServiceBroker::BindingLastOperation, false));
}

HttpResponse ServiceBroker::Serve(const HttpRequest& request, Handler handler, bool has_body) {
  Reply reply;
  Call call{request, nlohmann::json::object(), request.Header("X-Broker-API-Originating-Identity"),
            request.Query("accepts_incomplete") == "true"};
  const std::string accepts_incomplete = request.Query("accepts_incomplete");
  if (request.query.count("accepts_incomplete") && accepts_incomplete != "true" &&
      accepts_incomplete != "false") {
    reply = Error(400, absl::StrCat("accepts_incomplete must be true or false, not \"",
                                    accepts_incomplete, "\""));
  } else if (has_body) {
    absl::StatusOr<nlohmann::json> body = ParseJson(request.body, "the request body");
    if (!body.ok()) {
      reply = Error(400, std::string(body.status().message()));
    } else if (!body->is_object()) {
      reply = Error(400, "the request body must be a JSON object");
    } else if (body->contains("context") && !(*body)["context"].is_object()) {
      reply = Error(400, "context must be a JSON object");
    } else {
      call.body = *std::move(body);
    }
  }
  if (reply.status == 200) {
    reply = (this->*handler)(call);
    logger_->Info("broker ", request.method, " ", request.path, " -> ", reply.status,
                  call.originating_identity.empty() ? "" : " for ", call.originating_identity);
  }
  return Answer(request, reply);
}

ServiceBroker::Reply ServiceBroker::GetCatalog(const Call&) { return Ok(200, Catalog(*kinds_)); }

std::optional<v1::BrokerInstance> ServiceBroker::FindInstance(const std::string& id, Reply* failed) {
  std::optional<v1::BrokerInstance> found;
  absl::Status read = store_->DryRun([&](StoreTransaction& tx) {
    absl::StatusOr<std::optional<v1::BrokerInstance>> instance = tx.GetBrokerInstance(id);
    if (!instance.ok()) return instance.status();
    found = *instance;
    return absl::OkStatus();
  });
  if (!read.ok()) *failed = FromStatus(read);
  return found;
}

std::optional<v1::BrokerBinding> ServiceBroker::FindBinding(const std::string& id, Reply* failed) {
  std::optional<v1::BrokerBinding> found;
  absl::Status read = store_->DryRun([&](StoreTransaction& tx) {
    absl::StatusOr<std::optional<v1::BrokerBinding>> binding = tx.GetBrokerBinding(id);
    if (!binding.ok()) return binding.status();
    found = *binding;
    return absl::OkStatus();
  });
  if (!read.ok()) *failed = FromStatus(read);
  return found;
}

ServiceBroker::Reply ServiceBroker::Provision(const Call& call) {
  const std::string id = call.http.captures[0];
  Reply error;
  std::optional<std::string> service_id = RequiredString(call.body, "service_id", &error);
  if (!service_id) return error;
  std::optional<std::string> plan_id = RequiredString(call.body, "plan_id", &error);
  if (!plan_id) return error;
  std::optional<std::string> organization = RequiredString(call.body, "organization_guid", &error);
  if (!organization) return error;
  if (!RequiredString(call.body, "space_guid", &error)) return error;
  const scheduler::KindDescriptor* kind = KindOf(*kinds_, *service_id, *plan_id, &error);
  if (kind == nullptr) return error;
  if (absl::Status user = ValidateName("organization_guid", *organization); !user.ok()) {
    return Error(400, std::string(user.message()));
  }
  std::optional<nlohmann::json> parameters = Parameters(call.body, &error);
  if (!parameters && error.status != 200) return error;
  const nlohmann::json context = call.body.value("context", nlohmann::json::object());

  v1::BrokerInstance instance;
  instance.set_instance_id(id);
  instance.set_user(*organization);
  instance.set_middlepipe(MiddlepipeName(id, context));
  instance.set_service_id(*service_id);
  instance.set_plan_id(*plan_id);
  instance.set_parameters_json(parameters.value_or(nlohmann::json::object()).dump());
  instance.set_context_json(context.dump());
  instance.set_originating_identity(call.originating_identity);

  std::optional<v1::BrokerInstance> existing = FindInstance(id, &error);
  if (error.status != 200) return error;
  if (existing.has_value()) {
    const bool identical = existing->service_id() == instance.service_id() &&
                           existing->plan_id() == instance.plan_id() &&
                           existing->user() == instance.user() &&
                           existing->parameters_json() == instance.parameters_json();
    if (!identical) {
      return Error(409, absl::StrCat("service instance ", id, " exists with other attributes"));
    }
    return Ok(200);
  }
  v1::CreateMiddlepipeRequest create;
  create.set_kind(kind->name);
  create.set_name(instance.middlepipe());
  create.set_config_json(instance.parameters_json());
  v1::CreateMiddlepipeResponse created;
  absl::Status done = service_->CreateMiddlepipeAs(
      instance.user(), &create, &created,
      [&instance](StoreTransaction& tx) { return tx.PutBrokerInstance(instance); });
  if (!done.ok()) return FromStatus(done);
  return Ok(201);
}

ServiceBroker::Reply ServiceBroker::Update(const Call& call) {
  const std::string id = call.http.captures[0];
  Reply error;
  std::optional<std::string> service_id = RequiredString(call.body, "service_id", &error);
  if (!service_id) return error;
  std::optional<nlohmann::json> parameters = Parameters(call.body, &error);
  if (!parameters && error.status != 200) return error;
  std::optional<v1::BrokerInstance> instance = FindInstance(id, &error);
  if (error.status != 200) return error;
  if (!instance.has_value()) return Error(404, absl::StrCat("service instance ", id, " does not exist"));
  if (*service_id != instance->service_id()) {
    return Error(400, absl::StrCat("service_id must be the instance's (", instance->service_id(), ")"));
  }
  if (call.body.contains("plan_id")) {
    std::optional<std::string> plan_id = RequiredString(call.body, "plan_id", &error);
    if (!plan_id) return error;
    if (*plan_id != instance->plan_id()) {
      return Error(400, absl::StrCat("plan_id \"", *plan_id, "\" is not a plan of this service (",
                                     instance->plan_id(), ")"));
    }
  }
  if (!parameters.has_value()) return Ok(200);  // only context changed, or nothing
  if (std::optional<Operation> running = Running(InstanceKey(id)); running && running->type != "update") {
    return Error(422, absl::StrCat("a ", running->type, " of this instance is in progress"),
                 "ConcurrencyError");
  }
  // The parameters given replace those of the same name and keep the others, as
  // `cf update-service -c` users expect: an update names what changes.
  nlohmann::json merged = nlohmann::json::parse(instance->parameters_json(), nullptr, false);
  if (!merged.is_object()) merged = nlohmann::json::object();
  merged.update(*parameters);
  // Validated before anything runs, so a bad config is a 400 now and not a failed poll.
  absl::StatusOr<std::string> config = kinds_->ValidateConfig(
      KindOfService(*kinds_, instance->service_id())->name, merged.dump());
  if (!config.ok()) return FromStatus(config.status());

  v1::BrokerInstance updated = *instance;
  updated.set_parameters_json(merged.dump());
  updated.set_originating_identity(call.originating_identity);
  return RunOperation(
      InstanceKey(id), "update", updated.parameters_json(), call.accepts_incomplete,
      [this, updated] {
        v1::UpdateMiddlepipeRequest update;
        update.set_name(updated.middlepipe());
        update.set_config_json(updated.parameters_json());
        v1::UpdateMiddlepipeResponse response;
        return service_->UpdateMiddlepipeAs(
            updated.user(), &update, &response,
            [&updated](StoreTransaction& tx) { return tx.PutBrokerInstance(updated); });
      },
      Ok(200));
}

ServiceBroker::Reply ServiceBroker::Deprovision(const Call& call) {
  const std::string id = call.http.captures[0];
  Reply error;
  std::optional<v1::BrokerInstance> instance = FindInstance(id, &error);
  if (error.status != 200) return error;
  if (!instance.has_value()) {
    // Still check the query, so a malformed request is a 400 whatever the id.
    if (!call.http.query.count("service_id") || !call.http.query.count("plan_id")) {
      return Error(400, "the query must have service_id and plan_id");
    }
    return Error(410, absl::StrCat("service instance ", id, " does not exist"));
  }
  if (std::optional<Reply> wrong = CheckQueryIds(call.http, *instance)) return *wrong;
  if (std::optional<Operation> running = Running(InstanceKey(id))) {
    return Error(422, absl::StrCat("a ", running->type, " of this instance is in progress"),
                 "ConcurrencyError");
  }
  v1::DeleteMiddlepipeRequest remove;
  remove.set_name(instance->middlepipe());
  v1::DeleteMiddlepipeResponse removed;
  absl::Status done = service_->DeleteMiddlepipeAs(
      instance->user(), &remove, &removed,
      [&id](StoreTransaction& tx) { return tx.DeleteBrokerInstance(id); });
  if (!done.ok()) return FromStatus(done);
  return Ok(200);
}

ServiceBroker::Reply ServiceBroker::FetchInstance(const Call& call) {
  const std::string id = call.http.captures[0];
  Reply error;
  std::optional<v1::BrokerInstance> instance = FindInstance(id, &error);
  if (error.status != 200) return error;
  if (!instance.has_value()) return Error(404, absl::StrCat("service instance ", id, " does not exist"));
  if (std::optional<Operation> running = Running(InstanceKey(id)); running && running->type == "update") {
    return Error(422, "the instance is being updated", "ConcurrencyError");
  }
  return Ok(200, {{"service_id", instance->service_id()},
                  {"plan_id", instance->plan_id()},
                  {"parameters", nlohmann::json::parse(instance->parameters_json(), nullptr, false)}});
}

ServiceBroker::Reply ServiceBroker::InstanceLastOperation(const Call& call) {
  const std::string id = call.http.captures[0];
  Reply error;
  std::optional<v1::BrokerInstance> instance = FindInstance(id, &error);
  if (error.status != 200) return error;
  if (std::optional<Reply> polled = PolledState(call, InstanceKey(id))) return *polled;
  if (!instance.has_value()) return Error(410, absl::StrCat("service instance ", id, " does not exist"));
  if (std::optional<Reply> unknown = UnknownOperation(call.http)) return *unknown;
  // No such operation in memory (e.g. the controller restarted): what is stored is done.
  return Ok(200, {{"state", "succeeded"}});
}

ServiceBroker::Reply ServiceBroker::Bind(const Call& call) {
  const std::string instance_id = call.http.captures[0];
  const std::string binding_id = call.http.captures[1];
  Reply error;
  std::optional<v1::BrokerInstance> instance = FindInstance(instance_id, &error);
  if (error.status != 200) return error;
  if (!instance.has_value()) {
    return Error(404, absl::StrCat("service instance ", instance_id, " does not exist"));
  }
  if (std::optional<Reply> wrong = CheckBodyIds(call.body, *instance)) return *wrong;
  std::string app;
  if (call.body.contains("bind_resource") && call.body["bind_resource"].is_object() &&
      call.body["bind_resource"].contains("app_guid") && call.body["bind_resource"]["app_guid"].is_string()) {
    app = call.body["bind_resource"]["app_guid"].get<std::string>();
  } else if (call.body.contains("app_guid") && call.body["app_guid"].is_string()) {
    app = call.body["app_guid"].get<std::string>();
  }
  if (app.empty()) {
    return Error(422, "a middlepipe binds between an app and a service: bind_resource.app_guid is required",
                 "RequiresApp");
  }
  if (absl::Status valid = ValidateName("app_guid", app); !valid.ok()) {
    return Error(400, std::string(valid.message()));
  }
  std::optional<nlohmann::json> parameters = Parameters(call.body, &error);
  if (!parameters && error.status != 200) return error;
  if (!parameters || !parameters->contains("service") || !(*parameters)["service"].is_string()) {
    return Error(400, "parameters.service must name the service the app's calls go to, e.g. "
                      "{\"service\":\"orders\"}");
  }
  if (parameters->contains("position") && !(*parameters)["position"].is_number_integer()) {
    return Error(400, "parameters.position must be an integer");
  }
  v1::BrokerBinding binding;
  binding.set_binding_id(binding_id);
  binding.set_instance_id(instance_id);
  binding.set_app(app);
  binding.set_service((*parameters)["service"].get<std::string>());
  binding.set_parameters_json(parameters->dump());
  binding.set_originating_identity(call.originating_identity);
  const std::string fingerprint = absl::StrCat(instance_id, "\n", app, "\n", binding.parameters_json());

  if (std::optional<Operation> running = Running(BindingKey(binding_id))) {
    if (running->type == "bind" && running->fingerprint == fingerprint) {
      return Ok(202, {{"operation", running->id}});  // re-sent while in progress
    }
    return Error(422, absl::StrCat("a ", running->type, " of this binding is in progress"),
                 "ConcurrencyError");
  }
  std::optional<v1::BrokerBinding> existing = FindBinding(binding_id, &error);
  if (error.status != 200) return error;
  if (existing.has_value()) {
    if (existing->instance_id() != instance_id || existing->app() != app ||
        existing->parameters_json() != binding.parameters_json()) {
      return Error(409, absl::StrCat("service binding ", binding_id, " exists with other attributes"));
    }
    return Ok(200);
  }
  const std::string user = instance->user();
  const std::string middlepipe = instance->middlepipe();
  return RunOperation(
      BindingKey(binding_id), "bind", fingerprint, call.accepts_incomplete,
      [this, user, middlepipe, binding, parameters] {
        v1::BindMiddlepipeRequest bind;
        bind.set_name(middlepipe);
        bind.set_app(binding.app());
        bind.set_service(binding.service());
        if (parameters->contains("position")) bind.set_position((*parameters)["position"].get<int32_t>());
        v1::BindMiddlepipeResponse response;
        return service_->BindMiddlepipeAs(
            user, &bind, &response,
            [&binding](StoreTransaction& tx) { return tx.PutBrokerBinding(binding); });
      },
      Ok(201));
}

ServiceBroker::Reply ServiceBroker::Unbind(const Call& call) {
  const std::string instance_id = call.http.captures[0];
  const std::string binding_id = call.http.captures[1];
  Reply error;
  std::optional<v1::BrokerInstance> instance = FindInstance(instance_id, &error);
  if (error.status != 200) return error;
  std::optional<v1::BrokerBinding> binding = FindBinding(binding_id, &error);
  if (error.status != 200) return error;
  if (!instance.has_value() || !binding.has_value() || binding->instance_id() != instance_id) {
    if (!call.http.query.count("service_id") || !call.http.query.count("plan_id")) {
      return Error(400, "the query must have service_id and plan_id");
    }
    return Error(410, absl::StrCat("service binding ", binding_id, " does not exist"));
  }
  if (std::optional<Reply> wrong = CheckQueryIds(call.http, *instance)) return *wrong;
  if (std::optional<Operation> running = Running(BindingKey(binding_id))) {
    if (running->type == "unbind") return Ok(202, {{"operation", running->id}});
    return Error(422, absl::StrCat("a ", running->type, " of this binding is in progress"),
                 "ConcurrencyError");
  }
  const std::string user = instance->user();
  const std::string middlepipe = instance->middlepipe();
  return RunOperation(
      BindingKey(binding_id), "unbind", "", call.accepts_incomplete,
      [this, user, middlepipe, binding = *binding] {
        v1::UnbindMiddlepipeRequest unbind;
        unbind.set_name(middlepipe);
        unbind.set_app(binding.app());
        unbind.set_service(binding.service());
        v1::UnbindMiddlepipeResponse response;
        return service_->UnbindMiddlepipeAs(user, &unbind, &response, [&binding](StoreTransaction& tx) {
          return tx.DeleteBrokerBinding(binding.binding_id());
        });
      },
      Ok(200));
}

ServiceBroker::Reply ServiceBroker::FetchBinding(const Call& call) {
  const std::string instance_id = call.http.captures[0];
  const std::string binding_id = call.http.captures[1];
  Reply error;
  std::optional<v1::BrokerBinding> binding = FindBinding(binding_id, &error);
  if (error.status != 200) return error;
  std::optional<Operation> running = Running(BindingKey(binding_id));
  if (!binding.has_value() || binding->instance_id() != instance_id ||
      (running && running->type == "bind")) {
    return Error(404, absl::StrCat("service binding ", binding_id, " does not exist"));
  }
  return Ok(200, {{"credentials", nlohmann::json::object()},
                  {"parameters", nlohmann::json::parse(binding->parameters_json(), nullptr, false)}});
}

ServiceBroker::Reply ServiceBroker::BindingLastOperation(const Call& call) {
  const std::string binding_id = call.http.captures[1];
  Reply error;
  std::optional<v1::BrokerBinding> binding = FindBinding(binding_id, &error);
  if (error.status != 200) return error;
  if (std::optional<Reply> polled = PolledState(call, BindingKey(binding_id))) return *polled;
  if (!binding.has_value()) return Error(410, absl::StrCat("service binding ", binding_id, " does not exist"));
  if (std::optional<Reply> unknown = UnknownOperation(call.http)) return *unknown;
  return Ok(200, {{"state", "succeeded"}});
}

ServiceBroker::Reply ServiceBroker::RunOperation(const std::string& resource, const std::string& type,
                                                 const std::string& fingerprint, bool async,
                                                 std::function<absl::Status()> change, Reply done) {
  std::string operation_id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto running = operations_.find(resource);
    if (running != operations_.end() && running->second.state == "in progress") {
      if (running->second.type == type && running->second.fingerprint == fingerprint) {
        return Ok(202, {{"operation", running->second.id}});
      }
      return Error(422, absl::StrCat("a ", running->second.type, " is in progress"), "ConcurrencyError");
    }
    if (!async) {
      operations_.erase(resource);  // a synchronous change supersedes what was polled before
    } else {
      operation_id = absl::StrCat(type, "-", next_operation_++);
      operations_[resource] = Operation{operation_id, type, fingerprint, "in progress", ""};
    }
  }
  if (!async) {
    absl::Status status = change();
    return status.ok() ? done : FromStatus(status);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++workers_;
  }
  std::thread([this, resource, operation_id, change = std::move(change)] {
    absl::Status status = change();
    std::lock_guard<std::mutex> lock(mu_);
    auto operation = operations_.find(resource);
    if (operation != operations_.end() && operation->second.id == operation_id) {
      operation->second.state = status.ok() ? "succeeded" : "failed";
      operation->second.description = status.ok() ? "" : std::string(status.message());
    }
    --workers_;
    idle_.notify_all();  // under the lock: the destructor may free idle_ once it sees 0
  }).detach();
  return Ok(202, {{"operation", operation_id}});
}

std::optional<ServiceBroker::Reply> ServiceBroker::PolledState(const Call& call,
                                                               const std::string& resource) const {
  std::optional<Operation> last = Last(resource);
  if (!last.has_value() ||
      (call.http.query.count("operation") && call.http.Query("operation") != last->id)) {
    return std::nullopt;
  }
  if ((last->type == "unbind" || last->type == "deprovision") && last->state == "succeeded") {
    return Error(410, "it is gone");  // a finished delete: the platform forgets it
  }
  Reply reply = Ok(200, {{"state", last->state}});
  if (!last->description.empty()) reply.body["description"] = last->description;
  return reply;
}

std::optional<ServiceBroker::Operation> ServiceBroker::Running(const std::string& resource) const {
  std::optional<Operation> last = Last(resource);
  if (last && last->state == "in progress") return last;
  return std::nullopt;
}

std::optional<ServiceBroker::Operation> ServiceBroker::Last(const std::string& resource) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = operations_.find(resource);
  if (found == operations_.end()) return std::nullopt;
  return found->second;
}

}  // namespace middlepipe::controller::broker

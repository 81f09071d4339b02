#include "adapters/voltha/adapter.hpp"

#include "adapters/voltha/detail/onos_http.hpp"
#include "adapters/voltha/detail/worker_pool.hpp"
#include "adapters/voltha/device_client.hpp"
#include "common/log.hpp"
#include "events/errc.hpp"

#include <algorithm>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <charconv>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <variant>

namespace ispflow::adapters::voltha {

using events::adapter_outcome;
using events::adapter_reply;
using events::adapter_request;
using events::reply_failed;
using events::reply_succeeded;

namespace {

constexpr std::string_view log_name = "voltha";

const std::string* input_of(const adapter_request& req, const char* key) {
  if (auto i = req.input.find(key); i != req.input.end() && !i->second.empty())
    return &i->second;
  return nullptr;
}

// Parses an optional unsigned input; nullopt + error text when malformed.
template <class T>
bool read_number(const adapter_request& req, const char* key, T& out,
                 std::string& error) {
  auto* text = input_of(req, key);
  if (text == nullptr)
    return true;
  T value{};
  auto* first = text->data();
  auto* last = first + text->size();
  auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec != std::errc{} || ptr != last) {
    error = std::string{"input "} + key + " is not a number";
    return false;
  }
  out = value;
  return true;
}

std::string brief(std::string_view text) {
  constexpr size_t max_len = 200;
  if (text.size() <= max_len)
    return std::string{text};
  return std::string{text.substr(0, max_len)} + "...";
}

adapter_reply rpc_failure(const rpc_status& st, call_effect effect,
                          std::string_view what) {
  std::string msg{what};
  msg += ": ";
  msg += to_string(st.code);
  if (!st.message.empty()) {
    msg += ": ";
    msg += brief(st.message);
  }
  return reply_failed(outcome_of(st.code, effect), std::move(msg));
}

adapter_reply http_failure(const http_answer& a, adapter_outcome outcome,
                           std::string_view what) {
  std::string msg{what};
  if (a.transport == http_transport::completed) {
    msg += ": HTTP ";
    msg += std::to_string(a.status);
    if (!a.body.empty()) {
      msg += ": ";
      msg += brief(a.body);
    }
  } else {
    msg += a.transport == http_transport::not_sent ? ": not sent: "
                                                   : ": no answer: ";
    msg += a.error;
  }
  return reply_failed(outcome, std::move(msg));
}

// Finds the ONU by "onu_id" (GetDevice) if given, else by serial. An
// "onu_id" that no longer names the ONU with the input's serial (the core
// re-created it) falls back to the serial.
rpc_result<device> lookup_onu(const tenant_settings& s, device_client& dc,
                              const adapter_request& req) {
  auto* serial = input_of(req, "access.onu_serial");
  if (auto* id = input_of(req, "onu_id")) {
    auto got = dc.get_device(*id, s.read_deadline);
    if (!got.status.ok() && got.status.code != grpc_code::not_found)
      return got;
    if (got.status.ok()
        && (serial == nullptr || got.value.serial_number == *serial))
      return got;
    if (serial == nullptr)
      return got;
  }
  return dc.find_onu(serial != nullptr ? *serial : std::string{}, s.olt_id,
                     s.read_deadline);
}

// Brings the ONU `onu` to `target` (enabled or disabled); idempotent.
adapter_reply set_admin(const tenant_settings& s, device_client& dc,
                        const device& onu, admin_state target) {
  if (onu.admin == target)
    return reply_succeeded({{"onu_id", onu.id}});
  auto enable = target == admin_state::enabled;
  auto st = enable ? dc.enable_device(onu.id, s.write_deadline)
                   : dc.disable_device(onu.id, s.write_deadline);
  if (st.ok())
    return reply_succeeded({{"onu_id", onu.id}});
  const char* rpc = enable ? "EnableDevice " : "DisableDevice ";
  if (st.code == grpc_code::failed_precondition) {
    // The core refuses to enable an enabled device (and the like); the
    // state may have changed since we read it.
    auto now = dc.get_device(onu.id, s.read_deadline);
    if (now.status.ok() && now.value.admin == target)
      return reply_succeeded({{"onu_id", onu.id}});
  }
  return rpc_failure(st, call_effect::write, rpc + onu.id);
}

// One subscriber service as the inputs and the tenant's defaults name it.
struct service_ref {
  std::string serial;
  std::string port;
  service_tags tags;
  std::string path;

  std::string describe() const {
    std::string res = port;
    if (tags.s_tag != 0 || tags.c_tag != 0)
      res += " (S-tag " + std::to_string(tags.s_tag) + ", C-tag "
             + std::to_string(tags.c_tag) + ", TP " + std::to_string(tags.tp_id)
             + ")";
    return res;
  }
};

// Reads the service from the inputs; a failure reply if they are bad.
std::variant<service_ref, adapter_reply>
service_of(const tenant_settings& s, const adapter_request& req) {
  auto* serial = input_of(req, "access.onu_serial");
  if (serial == nullptr)
    return reply_failed(adapter_outcome::permanent_failure,
                        "input access.onu_serial is missing");
  auto uni = s.uni;
  service_ref res;
  res.serial = *serial;
  res.tags = s.tags;
  std::string error;
  if (!read_number(req, "access.uni", uni, error)
      || !read_number(req, "access.s_tag", res.tags.s_tag, error)
      || !read_number(req, "access.c_tag", res.tags.c_tag, error)
      || !read_number(req, "access.tp_id", res.tags.tp_id, error))
    return reply_failed(adapter_outcome::permanent_failure, error);
  res.port = port_name(*serial, uni);
  res.path = service_path(res.port, res.tags);
  return res;
}

adapter_reply parked(const tenant_settings& s, std::string why) {
  auto rep = reply_failed(adapter_outcome::parked, std::move(why));
  rep.retry_after_ms = std::max<int64_t>(s.confirm_interval.count(), 1);
  return rep;
}

// Whether the olt app lists `svc` among its programmed subscribers
// (opencord/olt OltWebResource.java programmed-subscribers/{deviceId}/{port},
// with the UNI's connect point read from VOLTHA's logical device). A UNI
// port that VOLTHA does not list cannot have flows: false.
std::variant<bool, adapter_reply>
programmed(const tenant_settings& s, device_client& dc, const device& onu,
           const service_ref& svc, const std::string& traceparent) {
  auto cp = dc.find_uni_port(onu.parent_id, svc.port, s.read_deadline, onu.id,
                             s.connect_point_ttl);
  if (cp.status.code == grpc_code::not_found)
    return false;
  if (!cp.status.ok())
    return rpc_failure(cp.status, call_effect::read,
                       "connect point of " + svc.port);
  auto path = programmed_path(cp.value);
  auto answer = detail::onos_request(s, "GET", path, traceparent);
  auto outcome = outcome_of(answer, service_call::read);
  if (outcome != adapter_outcome::succeeded)
    return http_failure(answer, outcome, "olt app GET " + path);
  auto listed = lists_service(answer.body, cp.value, svc.tags);
  if (!listed)
    return reply_failed(adapter_outcome::retryable_failure,
                        "olt app GET " + path
                          + ": not a programmed-subscribers answer: "
                          + brief(answer.body));
  return *listed;
}

adapter_reply provision(const tenant_settings& s, device_client& dc,
                        const adapter_request& req) {
  auto ref = service_of(s, req);
  if (auto* failed = std::get_if<adapter_reply>(&ref))
    return std::move(*failed);
  auto& svc = std::get<service_ref>(ref);
  auto onu = lookup_onu(s, dc, req);
  if (!onu.status.ok())
    return rpc_failure(onu.status, call_effect::read, "find ONU " + svc.serial);
  auto enabled = set_admin(s, dc, onu.value, admin_state::enabled);
  if (enabled.outcome != adapter_outcome::succeeded)
    return enabled;
  adapter_reply done = reply_succeeded({{"onu_id", onu.value.id}});
  // A reconciling attempt reads first: a service already programmed (by an
  // earlier attempt whose outcome is unknown, or the POST a park waited
  // for) needs no POST. A first attempt posts at once: the olt app skips a
  // port that already has the service and answers 204 for tags already
  // provisioned (contracts.md), so a repeat does nothing twice.
  if (req.reconcile) {
    auto before = programmed(s, dc, onu.value, svc, req.traceparent);
    if (auto* failed = std::get_if<adapter_reply>(&before))
      return std::move(*failed);
    if (std::get<bool>(before))
      return done;
  }
  auto answer = detail::onos_request(s, "POST", svc.path, req.traceparent);
  if (answer.transport == http_transport::completed && answer.status == 500
      && is_connect_point_not_found(answer.body)) {
    // ONOS has no such UNI port yet: fine while the ONU is activating.
    auto now = dc.get_device(onu.value.id, s.read_deadline);
    if (!now.status.ok())
      return rpc_failure(now.status, call_effect::read,
                         "GetDevice " + onu.value.id);
    auto outcome = connect_point_missing(now.value.oper);
    auto why = "olt app POST " + svc.path + ": ConnectPoint not found for "
               + svc.port + " (ONU " + svc.serial + " is "
               + std::string{to_string(now.value.oper)}
               + (outcome == adapter_outcome::permanent_failure
                    ? ": the ONU is active and has no such UNI)"
                    : ": ONOS learns its UNI ports when it activates)");
    return reply_failed(outcome, std::move(why));
  }
  auto outcome = outcome_of(answer, service_call::provision);
  if (outcome != adapter_outcome::succeeded)
    return http_failure(answer, outcome, "olt app POST " + svc.path);
  // 200 or 204 only say the request was taken in (204 also answers tags
  // that match no SADIS uniTag): the service counts once it is listed.
  auto after = programmed(s, dc, onu.value, svc, req.traceparent);
  if (auto* failed = std::get_if<adapter_reply>(&after))
    return std::move(*failed);
  if (std::get<bool>(after))
    return done;
  // The park names its effect under way (the ONU): the engine's next
  // attempt reconciles, so it looks before it posts again.
  auto waiting = parked(s, "olt app has not programmed " + svc.describe()
                             + " yet (POST answered HTTP "
                             + std::to_string(answer.status)
                             + "; 204 may mean no SADIS uniTag has these"
                               " tags)");
  waiting.outputs = done.outputs;
  return waiting;
}

adapter_reply remove(const tenant_settings& s, device_client& dc,
                     const adapter_request& req) {
  auto ref = service_of(s, req);
  if (auto* failed = std::get_if<adapter_reply>(&ref))
    return std::move(*failed);
  auto& svc = std::get<service_ref>(ref);
  auto onu = lookup_onu(s, dc, req);
  if (onu.status.code == grpc_code::not_found)
    return reply_succeeded();
  if (!onu.status.ok())
    return rpc_failure(onu.status, call_effect::read, "find ONU " + svc.serial);
  auto answer = detail::onos_request(s, "DELETE", svc.path, req.traceparent);
  auto outcome = outcome_of(answer, service_call::remove);
  if (outcome != adapter_outcome::succeeded)
    return http_failure(answer, outcome, "olt app DELETE " + svc.path);
  if (answer.status == 500)
    return reply_succeeded(); // ConnectPoint not found: nothing to remove
  // The olt app removes the flows after answering (Olt.java
  // removeSubscriber queues the work): done once the service is no longer
  // listed.
  auto still = programmed(s, dc, onu.value, svc, req.traceparent);
  if (auto* failed = std::get_if<adapter_reply>(&still))
    return std::move(*failed);
  if (!std::get<bool>(still))
    return reply_succeeded();
  return parked(s, "olt app still lists " + svc.describe()
                     + " as programmed (DELETE answered HTTP "
                     + std::to_string(answer.status) + ")");
}

adapter_reply admin_change(const tenant_settings& s, device_client& dc,
                           const adapter_request& req, admin_state target) {
  if (input_of(req, "onu_id") == nullptr
      && input_of(req, "access.onu_serial") == nullptr)
    return reply_failed(adapter_outcome::permanent_failure,
                        "input onu_id and access.onu_serial are missing");
  auto onu = lookup_onu(s, dc, req);
  if (!onu.status.ok())
    return rpc_failure(onu.status, call_effect::read, "find ONU");
  return set_admin(s, dc, onu.value, target);
}

} // namespace

adapter_reply run_operation(const tenant_settings& settings,
                            device_client& devices,
                            const adapter_request& req) {
  device_client::trace_scope trace{req.traceparent};
  const auto& op = req.operation;
  if (op == "voltha.provision_service")
    return provision(settings, devices, req);
  if (op == "voltha.remove_service")
    return remove(settings, devices, req);
  if (op == "voltha.disable_onu")
    return admin_change(settings, devices, req, admin_state::disabled);
  if (op == "voltha.enable_onu")
    return admin_change(settings, devices, req, admin_state::enabled);
  return reply_failed(adapter_outcome::permanent_failure,
                      "unsupported operation " + op);
}

adapter_reply run_probe(const tenant_settings& settings,
                        device_client& devices) {
  auto res = devices.list_devices(settings.probe_deadline);
  if (!res.status.ok())
    return rpc_failure(res.status, call_effect::read, "ListDevices");
  return reply_succeeded({{"devices", std::to_string(res.value.size())}});
}

// -- the actor ----------------------------------------------------------------

namespace {

using impl_actor = adapter_actor::extend<
  caf::reacts_to<reply_atom, uint64_t, events::adapter_reply>>;

struct adapter_state {
  adapter_options opts;
  std::map<std::string, std::shared_ptr<device_client>> clients;
  std::map<uint64_t, caf::typed_response_promise<adapter_reply>> pending;
  uint64_t next_id = 1;
  std::unique_ptr<detail::worker_pool> pool;
  static inline const char* name = "ispflow.voltha";
};

using self_ptr = impl_actor::stateful_pointer<adapter_state>;

// Runs `job` (returning an adapter_reply) on a worker; the reply comes back
// as a message and is delivered to the request's promise.
template <class Job>
caf::result<adapter_reply> dispatch(self_ptr self, Job job) {
  auto& st = self->state;
  auto rp = self->make_response_promise<adapter_reply>();
  auto id = st.next_id++;
  st.pending.emplace(id, rp);
  caf::weak_actor_ptr weak{self->ctrl()};
  st.pool->post([weak, id, job = std::move(job)]() mutable {
    auto rep = job();
    if (auto strong = weak.lock())
      caf::anon_send(caf::actor_cast<impl_actor>(strong), reply_atom_v, id,
                     std::move(rep));
  });
  return rp;
}

// The tenant's settings and client, or a failure reply.
std::variant<std::pair<tenant_settings, std::shared_ptr<device_client>>,
             adapter_reply>
tenant_of(self_ptr self, const std::string& tenant_id) {
  auto& st = self->state;
  auto i = st.opts.tenants.find(tenant_id);
  if (i == st.opts.tenants.end())
    return reply_failed(adapter_outcome::permanent_failure,
                        "voltha: unknown tenant " + tenant_id);
  auto& client = st.clients[tenant_id];
  if (!client) {
    auto made = device_client::make(
      i->second.grpc_address, client_options{i->second.grpc_max_receive_bytes});
    if (!made) {
      st.clients.erase(tenant_id);
      return reply_failed(adapter_outcome::permanent_failure,
                          "voltha: " + ispflow::render_error(made.error()));
    }
    client = std::shared_ptr<device_client>{std::move(*made)};
  }
  return std::make_pair(i->second, client);
}

impl_actor::behavior_type adapter_fn(self_ptr self, adapter_options opts) {
  auto workers = std::clamp<size_t>(opts.workers, 1, 64);
  self->state.opts = std::move(opts);
  self->state.pool = std::make_unique<detail::worker_pool>(workers);
  return {
    [self](invoke_atom, adapter_request& req) -> caf::result<adapter_reply> {
      auto t = tenant_of(self, req.tenant_id);
      if (auto* failed = std::get_if<adapter_reply>(&t))
        return std::move(*failed);
      auto [settings, client] = std::move(std::get<0>(t));
      return dispatch(self, [settings = std::move(settings),
                             client = std::move(client), req = std::move(req)] {
        auto rep = run_operation(settings, *client, req);
        if (rep.outcome != adapter_outcome::succeeded)
          common::log_info(log_name, "operation failed",
                           {{"tenant", req.tenant_id},
                            {"operation", req.operation},
                            {"outcome", events::to_string(rep.outcome)},
                            {"error", rep.error}});
        return rep;
      });
    },
    [self](health_atom, std::string& tenant_id) -> caf::result<adapter_reply> {
      auto t = tenant_of(self, tenant_id);
      if (auto* failed = std::get_if<adapter_reply>(&t))
        return std::move(*failed);
      auto [settings, client] = std::move(std::get<0>(t));
      return dispatch(self, [settings = std::move(settings),
                             client = std::move(client)] {
        return run_probe(settings, *client);
      });
    },
    [self](reply_atom, uint64_t id, adapter_reply& rep) {
      auto& pending = self->state.pending;
      if (auto i = pending.find(id); i != pending.end()) {
        i->second.deliver(std::move(rep));
        pending.erase(i);
      }
    },
  };
}

} // namespace

adapter_actor spawn_adapter(caf::actor_system& sys, adapter_options opts) {
  auto hdl = sys.spawn(adapter_fn, std::move(opts));
  return caf::actor_cast<adapter_actor>(hdl);
}

} // namespace ispflow::adapters::voltha

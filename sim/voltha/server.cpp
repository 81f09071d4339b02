#include "sim/voltha/server.hpp"

#include "adapters/voltha/grpc_runtime.hpp"
#include "events/errc.hpp"
#include "sim/common/call_log.hpp"
#include "sim/common/host.hpp"
#include "voltha_subset.grpc.pb.h"

#include <array>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <thread>
#include <unordered_map>

namespace ispflow::sim::voltha {

namespace pb = ::voltha;

namespace {

using clock_type = std::chrono::steady_clock;

// `s` escaped for a JSON string.
std::string json_text(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// One device of the simulated core, with its pending timed transition.
struct sim_device {
  pb::Device d;
  // When set, the device becomes ACTIVE/REACHABLE at this time.
  std::optional<clock_type::time_point> active_at;
  // OLTs only: ONUs are discovered when it first becomes active.
  bool children_discovered = false;
  // OLTs only: index in the OpenFlow id.
  int olt_index = 0;
  // OLTs only: the logical device's datapath id, set when the logical
  // device is created (first activation).
  uint64_t datapath_id = 0;
  // ONUs only: the UNI ports exist (in VOLTHA's logical device, hence in
  // ONOS) once the ONU has been ACTIVE; the ONU adapter creates them at the
  // end of its activation and they stay until the device is deleted.
  bool uni_ports = false;
};

// One olt app service: a ServiceKey (port + uniTag) the operator asked
// for. opencord/olt impl/.../OltFlowService.java keeps it in
// provisionedSubscribers ("requested") at once and reports it in
// getProgrammedSubscribers() once its flows are being programmed, until
// their removal starts (PENDING_REMOVE and REMOVED are left out).
struct service_entry {
  std::string port;
  std::string serial;
  uint32_t uni = 0;
  int s_tag = 0;
  int c_tag = 0;
  int tp_id = 64;
  // ConnectPoint.toString(): "of:<datapath id, 16 hex>/<port number>".
  std::string location;
  std::string device_id;
  uint32_t port_no = 0;
  // Listed by programmed-subscribers from this time on.
  std::chrono::steady_clock::time_point visible_at;
  // Set by a removal: no longer requested; listed until this time.
  std::optional<std::chrono::steady_clock::time_point> gone_at;
};

std::string base64(std::string_view in) {
  static constexpr char tbl[]
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    auto n = (uint32_t(uint8_t(in[i])) << 16)
             | (uint32_t(uint8_t(in[i + 1])) << 8)
             | uint32_t(uint8_t(in[i + 2]));
    out += tbl[(n >> 18) & 63];
    out += tbl[(n >> 12) & 63];
    out += tbl[(n >> 6) & 63];
    out += tbl[n & 63];
  }
  if (i + 1 == in.size()) {
    auto n = uint32_t(uint8_t(in[i])) << 16;
    out += tbl[(n >> 18) & 63];
    out += tbl[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    auto n = (uint32_t(uint8_t(in[i])) << 16)
             | (uint32_t(uint8_t(in[i + 1])) << 8);
    out += tbl[(n >> 18) & 63];
    out += tbl[(n >> 12) & 63];
    out += tbl[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string admin_name(int x) {
  return pb::AdminState::Types_Name(static_cast<pb::AdminState::Types>(x));
}

} // namespace

// -- the simulated core and olt app
// --------------------------------------------

struct server::impl final : pb::VolthaService::Service {
  options opts;
  mutable std::mutex mx;
  std::condition_variable_any wake;
  std::atomic<bool> stopping{false};
  // Devices in creation order (ListDevices answers in this order).
  std::vector<sim_device> devices;
  // Indexes into `devices`: by device id, and ONUs by serial number (the
  // first one created). Rebuilt when a device is deleted.
  std::unordered_map<std::string, size_t> device_at;
  std::unordered_map<std::string, size_t> onu_at;
  // The earliest `active_at` of any device, or later (never earlier):
  // until then `advance` has nothing to do and visits no device.
  std::optional<clock_type::time_point> next_due;
  std::vector<service_entry> services;
  // Indexes into `services`, in its order: by port name, and by location
  // (what programmed-subscribers/<device>/<port> filters on). A long run
  // requests tens of thousands of services, and every POST and read of one
  // port scanned them all. Rebuilt when withdrawn entries are dropped.
  std::unordered_map<std::string, std::vector<size_t>> services_at_port;
  std::unordered_map<std::string, std::vector<size_t>> services_at_location;
  // The earliest `gone_at` of any service entry, or later (never earlier).
  std::optional<clock_type::time_point> next_gone;
  faults active;
  std::map<std::string, int> counters;
  // Contract checks the client made (shown under "contract_checks").
  int programmed_reads = 0;
  int programmed_filtered_reads = 0;
  int onu_status_reads = 0;
  int refused_415 = 0;
  /// (method, path, traceparent) of the last 1,000 REST requests that had
  /// a traceparent header and gRPC calls that had that metadata (method
  /// "grpc", path the gRPC method), oldest first (GET /_sim/traces).
  std::deque<std::array<std::string, 3>> traces;
  /// Every gRPC and REST call with its time and calling instance (gRPC
  /// metadata `ispflow-instance`, the REST User-Agent's comment):
  /// GET /_sim/calls.
  common::call_log calls;
  std::map<std::string, int> tagged_content_types;
  std::mt19937 rng{42};
  uint64_t next_uuid = 1;
  int next_serial = 1;
  int next_olt = 1;

  std::unique_ptr<grpc::Server> grpc_server;
  int grpc_bound = 0;
  adapters::http::router http;
  int rest_bound = 0;
  std::unique_ptr<adapters::http::front> http_front;

  // -- model (call with mx held) ----------------------------------------------

  std::string make_id() {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%08llx-5a5a-4000-8000-%012llx",
                  static_cast<unsigned long long>(next_uuid),
                  static_cast<unsigned long long>(next_uuid));
    ++next_uuid;
    return buf;
  }

  sim_device* find(const std::string& id) {
    auto i = device_at.find(id);
    return i == device_at.end() ? nullptr : &devices[i->second];
  }

  sim_device* find_onu(const std::string& serial) {
    auto i = onu_at.find(serial);
    return i == onu_at.end() ? nullptr : &devices[i->second];
  }

  void index(size_t i) {
    auto& x = devices[i];
    device_at.emplace(x.d.id(), i);
    if (!x.d.root())
      onu_at.emplace(x.d.serial_number(), i);
    if (x.active_at)
      due(*x.active_at);
  }

  void add(sim_device x) {
    devices.push_back(std::move(x));
    index(devices.size() - 1);
  }

  void reindex() {
    device_at.clear();
    onu_at.clear();
    for (size_t i = 0; i < devices.size(); ++i)
      index(i);
  }

  // A device's transition is due at `at`.
  void due(clock_type::time_point at) {
    if (!next_due || at < *next_due)
      next_due = at;
  }

  void set_active_at(sim_device& x, clock_type::time_point at) {
    x.active_at = at;
    due(at);
  }

  void discover_children(sim_device& olt, clock_type::time_point at) {
    olt.children_discovered = true;
    auto olt_id = olt.d.id();
    for (int i = 0; i < opts.onus_per_olt; ++i) {
      sim_device onu;
      char serial[64];
      std::snprintf(serial, sizeof serial, "%s%08d", opts.serial_prefix.c_str(),
                    next_serial++);
      auto& d = onu.d;
      d.set_id(make_id());
      d.set_type("brcm_openomci_onu");
      d.set_root(false);
      d.set_parent_id(olt_id);
      // openolt numbers PON port 0 as 0x20000000 (536870912).
      d.set_parent_port_no(536870912);
      d.set_vendor("BBSM");
      d.set_model("BBSM_ONU");
      d.set_serial_number(serial);
      d.set_vendor_id("BBSM");
      auto* proxy = d.mutable_proxy_address();
      proxy->set_device_id(olt_id);
      proxy->set_device_type("openolt");
      proxy->set_channel_id(0);
      proxy->set_onu_id(static_cast<uint32_t>(i + 1));
      proxy->set_onu_session_id(static_cast<uint32_t>(i + 1));
      d.set_admin_state(pb::AdminState::ENABLED);
      d.set_oper_status(pb::OperStatus::DISCOVERED);
      d.set_connect_status(pb::ConnectStatus::REACHABLE);
      d.set_reason("initial-mib-downloaded");
      // What a real core carries besides (a real Device also has ports,
      // flows, images and PM configs, so it is larger still).
      d.set_hardware_version("to-be-filled-by-onu-adapter");
      d.set_firmware_version("BBSM_IMG_00001");
      d.set_adapter_endpoint("brcm-openomci-onu-1");
      onu.active_at
        = at + opts.onu_activation_delay.value_or(opts.transition_delay);
      add(std::move(onu));
    }
  }

  // Applies every transition due by `now` (lazily, on each access).
  void advance(clock_type::time_point now) {
    if (next_due && *next_due <= now)
      apply_due(now);
    expire(now);
  }

  void apply_due(clock_type::time_point now) {
    bool changed = true;
    while (changed) {
      changed = false;
      for (size_t i = 0; i < devices.size(); ++i) {
        auto& x = devices[i];
        if (!x.active_at || *x.active_at > now)
          continue;
        auto at = *x.active_at;
        x.active_at.reset();
        x.d.set_oper_status(pb::OperStatus::ACTIVE);
        x.d.set_connect_status(pb::ConnectStatus::REACHABLE);
        x.d.set_reason(x.d.root() ? "" : "onu-reenabled");
        if (!x.d.root())
          x.uni_ports = true;
        if (x.d.root() && !x.children_discovered) {
          x.d.set_parent_id(make_id());
          x.datapath_id = 0x00000a0a0a0a0000ULL
                          + static_cast<uint64_t>(x.olt_index);
          discover_children(devices[i], at);
        }
        changed = true;
      }
    }
    next_due.reset();
    for (auto& x : devices)
      if (x.active_at)
        due(*x.active_at);
  }

  void advance() {
    advance(clock_type::now());
  }

  sim_device& add_olt(const std::string& host_and_port) {
    sim_device olt;
    olt.olt_index = next_olt++;
    auto& d = olt.d;
    d.set_id(make_id());
    d.set_type("openolt");
    d.set_root(true);
    d.set_host_and_port(host_and_port);
    d.set_admin_state(pb::AdminState::PREPROVISIONED);
    d.set_oper_status(pb::OperStatus::UNKNOWN);
    d.set_connect_status(pb::ConnectStatus::UNKNOWN);
    add(std::move(olt));
    return devices.back();
  }

  // Enables `x`; the caller checked that it is not ENABLED.
  void enable(sim_device& x) {
    auto first = x.d.admin_state() == pb::AdminState::PREPROVISIONED;
    x.d.set_admin_state(pb::AdminState::ENABLED);
    x.d.set_oper_status(pb::OperStatus::ACTIVATING);
    if (first) {
      x.d.set_vendor("BBSim");
      x.d.set_model("asfvolt16");
      char serial[32];
      std::snprintf(serial, sizeof serial, "BBSIM_OLT_%d", x.olt_index);
      x.d.set_serial_number(serial);
    }
    set_active_at(x, clock_type::now() + opts.transition_delay);
  }

  void disable(sim_device& x) {
    x.active_at.reset();
    x.d.set_admin_state(pb::AdminState::DISABLED);
    x.d.set_oper_status(pb::OperStatus::UNKNOWN);
    x.d.set_reason("omci-admin-lock");
  }

  void seed() {
    std::lock_guard guard{mx};
    for (int i = 0; i < opts.olts; ++i) {
      // 10.0.0.1, ... 10.0.0.255, 10.0.1.0, ...
      char hp[32];
      std::snprintf(hp, sizeof hp, "10.0.%d.%d:50060", (i + 1) >> 8,
                    (i + 1) & 0xff);
      auto& olt = add_olt(hp);
      enable(olt);
      set_active_at(olt, clock_type::time_point{});
    }
    advance(clock_type::time_point{});
    // Seeded ONUs are ACTIVE at once.
    for (auto& x : devices)
      if (x.active_at)
        set_active_at(x, clock_type::time_point{});
    advance(clock_type::time_point{});
  }

  // -- faults
  // ------------------------------------------------------------------

  // Sleeps `ms` unless the server stops first.
  void sleep_ms(int ms) {
    if (ms <= 0)
      return;
    std::unique_lock guard{mx};
    wake.wait_for(guard, std::chrono::milliseconds{ms},
                  [this] { return stopping.load(); });
  }

  // Holds the caller while `hang` is set, until `gone()` or stop.
  template <class Gone>
  void hold(Gone gone) {
    auto until = clock_type::now()
                 + std::chrono::milliseconds{opts.max_hang_ms};
    std::unique_lock guard{mx};
    while (active.hang && !stopping && !gone() && clock_type::now() < until)
      wake.wait_for(guard, std::chrono::milliseconds{10});
  }

  bool hits(const std::string& side, const std::string& method) {
    if (active.target != "all" && active.target != side)
      return false;
    if (side == "grpc" && !active.methods.empty()) {
      bool listed = false;
      for (auto& m : active.methods)
        listed = listed || m == method;
      if (!listed)
        return false;
    }
    if (active.error_rate >= 1.0)
      return true;
    std::uniform_real_distribution<double> dist{0.0, 1.0};
    return dist(rng) < active.error_rate;
  }

  // Runs one gRPC method with the faults applied.
  template <class Body>
  grpc::Status serve(grpc::ServerContext* ctx, const char* method, Body body) {
    faults f;
    bool hit = false;
    {
      std::lock_guard guard{mx};
      ++counters[method];
      // W3C trace context as gRPC metadata (lower-case key, as HTTP/2
      // carries it), kept with the REST ones under the method "grpc".
      const auto& md = ctx->client_metadata();
      std::string caller;
      if (auto id = md.find("ispflow-instance"); id != md.end())
        caller.assign(id->second.data(), id->second.size());
      calls.record(std::move(caller), "grpc", method);
      if (auto tp = md.find("traceparent"); tp != md.end()) {
        traces.push_back(
          {"grpc", method, std::string{tp->second.data(), tp->second.size()}});
        if (traces.size() > 1000)
          traces.pop_front();
      }
      f = active;
      hit = hits("grpc", method)
            && (f.grpc_code != 0 || f.hang || f.latency_ms > 0);
    }
    if (!hit)
      return run_locked(body);
    sleep_ms(f.latency_ms);
    std::optional<grpc::Status> applied;
    if (f.apply)
      applied = run_locked(body);
    if (f.hang) {
      hold([ctx] { return ctx->IsCancelled(); });
      // The client gave up: a call that was not applied stays unapplied.
      if (ctx->IsCancelled() && !applied)
        return grpc::Status{grpc::StatusCode::CANCELLED, "client gone"};
    }
    if (f.grpc_code != 0)
      return grpc::Status{static_cast<grpc::StatusCode>(f.grpc_code),
                          "injected fault"};
    if (applied)
      return *applied;
    return run_locked(body);
  }

  template <class Body>
  grpc::Status run_locked(Body& body) {
    std::lock_guard guard{mx};
    advance();
    return body();
  }

  // -- gRPC methods
  // ------------------------------------------------------------

  static grpc::Status not_found(const std::string& id) {
    return grpc::Status{grpc::StatusCode::NOT_FOUND, "device-id:" + id};
  }

  grpc::Status ListDevices(grpc::ServerContext* ctx,
                           const google::protobuf::Empty*,
                           pb::Devices* resp) override {
    return serve(ctx, "ListDevices", [&] {
      resp->Clear();
      for (auto& x : devices)
        *resp->add_items() = x.d;
      return grpc::Status::OK;
    });
  }

  grpc::Status GetDevice(grpc::ServerContext* ctx, const pb::ID* req,
                         pb::Device* resp) override {
    return serve(ctx, "GetDevice", [&] {
      auto* x = find(req->id());
      if (x == nullptr)
        return not_found(req->id());
      if (!x->d.root())
        ++onu_status_reads;
      *resp = x->d;
      return grpc::Status::OK;
    });
  }

  // The OLT whose logical device is `id`.
  sim_device* olt_of_logical(const std::string& id) {
    if (id.empty())
      return nullptr;
    for (auto& x : devices)
      if (x.d.root() && x.children_discovered && x.d.parent_id() == id)
        return &x;
    return nullptr;
  }

  // openolt's UNI port number (voltha-openolt-adapter
  // pkg/platform/platform.go MkUniPortNum): intf << 12 | onu << 4 | uni,
  // with the UNI counted from 0 (port name "<serial>-1" is UNI 0).
  static uint32_t uni_port_no(const sim_device& onu, uint32_t uni) {
    auto& proxy = onu.d.proxy_address();
    return (proxy.channel_id() << 12) | (proxy.onu_id() << 4) | (uni - 1);
  }

  static std::string onos_device_id(const sim_device& olt) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "of:%016llx",
                  static_cast<unsigned long long>(olt.datapath_id));
    return buf;
  }

  // voltha-protos voltha.proto GetLogicalDevice: NOT_FOUND for an unknown
  // logical device id.
  grpc::Status GetLogicalDevice(grpc::ServerContext* ctx, const pb::ID* req,
                                pb::LogicalDevice* resp) override {
    return serve(ctx, "GetLogicalDevice", [&] {
      auto* olt = olt_of_logical(req->id());
      if (olt == nullptr)
        return grpc::Status{grpc::StatusCode::NOT_FOUND,
                            "logical-device-id:" + req->id()};
      resp->set_id(req->id());
      resp->set_datapath_id(olt->datapath_id);
      resp->set_root_device_id(olt->d.id());
      return grpc::Status::OK;
    });
  }

  // voltha-protos voltha.proto ListLogicalDevicePorts: the NNI, then the
  // UNI ports of every ONU that has them, named "<serial>-<uni>" as ONOS
  // sees them.
  grpc::Status ListLogicalDevicePorts(grpc::ServerContext* ctx,
                                      const pb::ID* req,
                                      pb::LogicalPorts* resp) override {
    return serve(ctx, "ListLogicalDevicePorts", [&] {
      auto* olt = olt_of_logical(req->id());
      if (olt == nullptr)
        return grpc::Status{grpc::StatusCode::NOT_FOUND,
                            "logical-device-id:" + req->id()};
      resp->Clear();
      auto* nni = resp->add_items();
      nni->set_id("nni-1048576");
      nni->mutable_ofp_port()->set_port_no(1048576);
      nni->mutable_ofp_port()->set_name("nni-1048576");
      nni->set_device_id(olt->d.id());
      nni->set_device_port_no(1048576);
      nni->set_root_port(true);
      auto olt_id = olt->d.id();
      for (auto& x : devices) {
        if (x.d.root() || !x.uni_ports || x.d.parent_id() != olt_id)
          continue;
        for (int u = 1; u <= opts.unis_per_onu; ++u) {
          auto no = uni_port_no(x, static_cast<uint32_t>(u));
          auto* p = resp->add_items();
          p->set_id("uni-" + std::to_string(no));
          p->mutable_ofp_port()->set_port_no(no);
          p->mutable_ofp_port()->set_name(x.d.serial_number() + "-"
                                          + std::to_string(u));
          p->set_device_id(x.d.id());
          p->set_device_port_no(no);
        }
      }
      return grpc::Status::OK;
    });
  }

  grpc::Status CreateDevice(grpc::ServerContext* ctx, const pb::Device* req,
                            pb::Device* resp) override {
    return serve(ctx, "CreateDevice", [&] {
      if (req->type().empty())
        return grpc::Status{grpc::StatusCode::INVALID_ARGUMENT,
                            "device type is required"};
      if (!req->has_host_and_port() && !req->has_ipv4_address()
          && !req->has_ipv6_address())
        return grpc::Status{grpc::StatusCode::INVALID_ARGUMENT,
                            "no-device-info-present; MAC or HOSTIP&PORT"};
      auto address = req->has_host_and_port()  ? req->host_and_port()
                     : req->has_ipv4_address() ? req->ipv4_address()
                                               : req->ipv6_address();
      for (auto& x : devices) {
        auto other = x.d.has_host_and_port()  ? x.d.host_and_port()
                     : x.d.has_ipv4_address() ? x.d.ipv4_address()
                                              : x.d.ipv6_address();
        if (x.d.root() && other == address)
          return grpc::Status{grpc::StatusCode::UNKNOWN,
                              "Device is already pre-provisioned"};
      }
      auto& olt = add_olt(address);
      olt.d.set_type(req->type());
      *resp = olt.d;
      return grpc::Status::OK;
    });
  }

  grpc::Status EnableDevice(grpc::ServerContext* ctx, const pb::ID* req,
                            google::protobuf::Empty*) override {
    return serve(ctx, "EnableDevice", [&] {
      auto* x = find(req->id());
      if (x == nullptr)
        return not_found(req->id());
      if (x->d.admin_state() == pb::AdminState::ENABLED
          && x->d.oper_status() != pb::OperStatus::FAILED)
        return grpc::Status{grpc::StatusCode::FAILED_PRECONDITION,
                            "cannot-enable-an-already-enabled-device: "
                              + req->id()};
      enable(*x);
      return grpc::Status::OK;
    });
  }

  grpc::Status DisableDevice(grpc::ServerContext* ctx, const pb::ID* req,
                             google::protobuf::Empty*) override {
    return serve(ctx, "DisableDevice", [&] {
      auto* x = find(req->id());
      if (x == nullptr)
        return not_found(req->id());
      auto st = x->d.admin_state();
      if (st == pb::AdminState::DISABLED
          || st == pb::AdminState::PREPROVISIONED)
        return grpc::Status{grpc::StatusCode::FAILED_PRECONDITION,
                            "deviceId:" + req->id()
                              + ", invalid-admin-state:" + admin_name(st)};
      disable(*x);
      // Disabling an OLT makes its ONUs unreachable.
      if (x->d.root())
        for (auto& c : devices)
          if (c.d.parent_id() == req->id())
            c.d.set_connect_status(pb::ConnectStatus::UNREACHABLE);
      return grpc::Status::OK;
    });
  }

  grpc::Status RebootDevice(grpc::ServerContext* ctx, const pb::ID* req,
                            google::protobuf::Empty*) override {
    return serve(ctx, "RebootDevice", [&] {
      auto* x = find(req->id());
      if (x == nullptr)
        return not_found(req->id());
      if (x->d.admin_state() == pb::AdminState::ENABLED) {
        x->d.set_oper_status(pb::OperStatus::ACTIVATING);
        x->d.set_reason("rebooting");
        set_active_at(*x, clock_type::now() + opts.transition_delay);
      }
      return grpc::Status::OK;
    });
  }

  grpc::Status DeleteDevice(grpc::ServerContext* ctx, const pb::ID* req,
                            google::protobuf::Empty*) override {
    return serve(ctx, "DeleteDevice", [&] {
      auto* x = find(req->id());
      if (x == nullptr)
        return not_found(req->id());
      auto id = req->id();
      std::erase_if(devices, [&](const sim_device& y) {
        return y.d.id() == id || y.d.parent_id() == id;
      });
      reindex();
      return grpc::Status::OK;
    });
  }

  // -- olt app
  // -----------------------------------------------------------------

  bool authorized(const httplib::Request& req) const {
    auto expected = "Basic "
                    + base64(opts.onos_user + ":" + opts.onos_password);
    return req.get_header_value("Authorization") == expected;
  }

  // Runs one olt app route with the faults applied.
  template <class Body>
  void serve_rest(const httplib::Request& req, httplib::Response& res,
                  const std::string& route, Body body) {
    faults f;
    bool hit = false;
    {
      std::lock_guard guard{mx};
      ++counters[route];
      calls.record(common::caller_of(req.get_header_value("User-Agent")),
                   req.method, req.path);
      // W3C Trace Context:
      // https://www.w3.org/TR/trace-context/#traceparent-header
      if (req.has_header("traceparent")) {
        traces.push_back(
          {req.method, req.path, req.get_header_value("traceparent")});
        if (traces.size() > 1000)
          traces.pop_front();
      }
      f = active;
      hit = hits("rest", route)
            && (f.http_status != 0 || f.hang || f.latency_ms > 0);
    }
    if (!authorized(req)) {
      res.status = 401;
      res.set_header("WWW-Authenticate", "Basic realm=\"karaf\"");
      return;
    }
    if (!hit) {
      std::lock_guard guard{mx};
      advance();
      body(res);
      return;
    }
    sleep_ms(f.latency_ms);
    bool applied = false;
    if (f.apply) {
      std::lock_guard guard{mx};
      advance();
      body(res);
      applied = true;
    }
    if (f.hang) {
      hold([] { return false; });
      std::lock_guard guard{mx};
      if (active.hang && !applied) {
        res.status = 504;
        return;
      }
    }
    if (f.http_status != 0) {
      res.status = f.http_status;
      res.set_content("injected fault", "text/plain");
      return;
    }
    if (!applied) {
      std::lock_guard guard{mx};
      advance();
      body(res);
    }
  }

  // opencord/olt impl/.../Olt.java findSubscriberConnectPoint: the port
  // whose portName annotation is "<serial>-<uni>". UNI ports exist only once
  // the ONU has activated (uni_ports); null -> "ConnectPoint not found".
  sim_device* connect_point(const std::string& port, uint32_t& uni) {
    auto dash = port.rfind('-');
    if (dash == std::string::npos || dash + 1 >= port.size())
      return nullptr;
    uni = 0;
    for (auto c : port.substr(dash + 1)) {
      if (c < '0' || c > '9' || uni > 1000)
        return nullptr;
      uni = uni * 10 + static_cast<uint32_t>(c - '0');
    }
    if (uni < 1 || uni > static_cast<uint32_t>(opts.unis_per_onu))
      return nullptr;
    auto* onu = find_onu(port.substr(0, dash));
    if (onu == nullptr || !onu->uni_ports)
      return nullptr;
    return onu;
  }

  void connect_point_not_found(httplib::Response& res,
                               const std::string& port) {
    res.status = 500;
    res.set_content("ConnectPoint not found for " + port, "text/plain");
  }

  // The subscriber's SADIS entry (uniTagList): its own service (S-tag
  // 900 + PON, C-tag 100 + ONU id, TP 64) and `opts.sadis_services`.
  std::vector<sadis_service> sadis_of(const sim_device& onu) const {
    std::vector<sadis_service> res;
    auto& proxy = onu.d.proxy_address();
    res.push_back(sadis_service{900 + static_cast<int>(proxy.channel_id()),
                                100 + static_cast<int>(proxy.onu_id()), 64});
    for (auto& x : opts.sadis_services)
      res.push_back(x);
    return res;
  }

  // The entries of `port`, in request order (none: an empty list).
  const std::vector<size_t>& at_port(const std::string& port) const {
    static const std::vector<size_t> none;
    auto i = services_at_port.find(port);
    return i == services_at_port.end() ? none : i->second;
  }

  service_entry* requested(const std::string& port, const sadis_service& t) {
    for (auto k : at_port(port)) {
      auto& x = services[k];
      if (!x.gone_at && x.s_tag == t.s_tag && x.c_tag == t.c_tag
          && x.tp_id == t.tp_id)
        return &x;
    }
    return nullptr;
  }

  bool any_requested(const std::string& port) {
    for (auto k : at_port(port))
      if (!services[k].gone_at)
        return true;
    return false;
  }

  void index_service(size_t k) {
    services_at_port[services[k].port].push_back(k);
    services_at_location[services[k].location].push_back(k);
  }

  // Adds the ServiceKey: requested now, listed once its flows are being
  // programmed (after `program_delay`, like the olt app's subscriber queue).
  void request(const sim_device& onu, const std::string& port, uint32_t uni,
               const sadis_service& t) {
    service_entry e;
    e.port = port;
    e.serial = onu.d.serial_number();
    e.uni = uni;
    e.s_tag = t.s_tag;
    e.c_tag = t.c_tag;
    e.tp_id = t.tp_id;
    e.port_no = uni_port_no(onu, uni);
    if (auto* olt = find(onu.d.parent_id()))
      e.device_id = onos_device_id(*olt);
    e.location = e.device_id + "/" + std::to_string(e.port_no);
    e.visible_at = clock_type::now() + opts.program_delay;
    services.push_back(std::move(e));
    index_service(services.size() - 1);
  }

  void withdraw(service_entry& e) {
    set_gone_at(e, clock_type::now() + opts.program_delay);
  }

  void set_gone_at(service_entry& e, clock_type::time_point at) {
    e.gone_at = at;
    if (!next_gone || at < *next_gone)
      next_gone = at;
  }

  // opencord/olt web/.../OltWebResource.java: provisionServices (POST
  // services/{portName}) answers 200 whenever the connect point exists --
  // Olt.java provisionSubscriber(cp) only queues the work ("this only means
  // we have taken the request in") and later skips a port that already has a
  // service or has no SADIS entry. provisionAdditionalVlans (POST
  // services/{portName}/{sTag}/{cTag}/{tpId}) answers 204 when no uniTag of
  // the SADIS entry has these tags (getUniTagInformation), on an NNI, or
  // when that ServiceKey is already provisioned; else 200, flows queued.
  void post_service(httplib::Response& res, const std::string& port,
                    std::optional<std::array<int, 3>> tags) {
    uint32_t uni = 0;
    auto* onu = connect_point(port, uni);
    if (onu == nullptr)
      return connect_point_not_found(res, port);
    auto sadis = sadis_of(*onu);
    if (!tags) {
      if (!any_requested(port))
        for (auto& t : sadis)
          request(*onu, port, uni, t);
      res.status = 200;
      return;
    }
    sadis_service want{(*tags)[0], (*tags)[1], (*tags)[2]};
    bool known = false;
    for (auto& t : sadis)
      known = known
              || (t.s_tag == want.s_tag && t.c_tag == want.c_tag
                  && t.tp_id == want.tp_id);
    if (!known || requested(port, want) != nullptr) {
      res.status = 204;
      return;
    }
    request(*onu, port, uni, want);
    res.status = 200;
  }

  // OltWebResource.java deleteServices answers 200 whenever the connect
  // point exists (Olt.java removeSubscriber(cp) queues the work);
  // removeAdditionalVlans answers 204 when the tags match no uniTag or that
  // ServiceKey is not provisioned, else 200. Either way the flows go later.
  void delete_service(httplib::Response& res, const std::string& port,
                      std::optional<std::array<int, 3>> tags) {
    uint32_t uni = 0;
    auto* onu = connect_point(port, uni);
    if (onu == nullptr)
      return connect_point_not_found(res, port);
    if (!tags) {
      for (auto k : at_port(port))
        if (!services[k].gone_at)
          withdraw(services[k]);
      res.status = 200;
      return;
    }
    sadis_service want{(*tags)[0], (*tags)[1], (*tags)[2]};
    auto* e = requested(port, want);
    if (e == nullptr) {
      res.status = 204;
      return;
    }
    withdraw(*e);
    res.status = 200;
  }

  bool listed(const service_entry& e, clock_type::time_point now) const {
    return now >= e.visible_at && (!e.gone_at || now < *e.gone_at);
  }

  // Drops withdrawn entries whose removal is done.
  void expire(clock_type::time_point now) {
    if (!next_gone || *next_gone > now)
      return;
    std::erase_if(services, [now](const service_entry& e) {
      return e.gone_at && now >= *e.gone_at;
    });
    services_at_port.clear();
    services_at_location.clear();
    for (size_t k = 0; k < services.size(); ++k)
      index_service(k);
    next_gone.reset();
    for (auto& e : services)
      if (e.gone_at && (!next_gone || *e.gone_at < *next_gone))
        next_gone = *e.gone_at;
  }

  // OltWebResource.java getProgrammedSubscribers(deviceId, port):
  // {"entries":[{"location": ConnectPoint, "tagInfo": UniTagInformation}]},
  // filtered by device id and then port number when given.
  std::string subscribers_json(const std::string& device_id,
                               const std::string& port) {
    auto now = clock_type::now();
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w{sb};
    w.StartObject();
    w.Key("entries");
    w.StartArray();
    auto entry = [&](const service_entry& e) {
      w.StartObject();
      w.Key("location");
      w.String(e.location);
      w.Key("tagInfo");
      w.StartObject();
      w.Key("uniTagMatch");
      w.Int(4096);
      w.Key("ponCTag");
      w.Int(e.c_tag);
      w.Key("ponSTag");
      w.Int(e.s_tag);
      w.Key("technologyProfileId");
      w.Int(e.tp_id);
      w.Key("upstreamBandwidthProfile");
      w.String("Default");
      w.Key("downstreamBandwidthProfile");
      w.String("Default");
      w.Key("serviceName");
      w.String("hsia");
      w.Key("isDhcpRequired");
      w.Bool(true);
      w.Key("isPppoeRequired");
      w.Bool(false);
      w.EndObject();
      w.EndObject();
    };
    if (!device_id.empty() && !port.empty()) {
      // One port of one device: its location ("<device>/<port number>").
      if (auto i = services_at_location.find(device_id + "/" + port);
          i != services_at_location.end())
        for (auto k : i->second)
          if (listed(services[k], now))
            entry(services[k]);
    } else {
      for (auto& e : services)
        if (listed(e, now) && (device_id.empty() || e.device_id == device_id)
            && (port.empty() || std::to_string(e.port_no) == port))
          entry(e);
    }
    w.EndArray();
    w.EndObject();
    return sb.GetString();
  }

  std::string state_json_locked() {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w{sb};
    w.StartObject();
    w.Key("devices");
    w.StartArray();
    for (auto& x : devices) {
      w.StartObject();
      w.Key("id");
      w.String(x.d.id());
      w.Key("type");
      w.String(x.d.type());
      w.Key("root");
      w.Bool(x.d.root());
      w.Key("parent_id");
      w.String(x.d.parent_id());
      w.Key("serial_number");
      w.String(x.d.serial_number());
      w.Key("admin_state");
      w.String(pb::AdminState::Types_Name(x.d.admin_state()));
      w.Key("oper_status");
      w.String(pb::OperStatus::Types_Name(x.d.oper_status()));
      w.Key("connect_status");
      w.String(pb::ConnectStatus::Types_Name(x.d.connect_status()));
      w.EndObject();
    }
    w.EndArray();
    w.Key("subscribers");
    w.StartArray();
    auto now = clock_type::now();
    for (auto& e : services) {
      if (!listed(e, now))
        continue;
      w.StartObject();
      w.Key("port");
      w.String(e.port);
      w.Key("sTag");
      w.Int(e.s_tag);
      w.Key("cTag");
      w.Int(e.c_tag);
      w.Key("tpId");
      w.Int(e.tp_id);
      w.EndObject();
    }
    w.EndArray();
    w.Key("faults");
    w.StartObject();
    w.Key("grpc_code");
    w.Int(active.grpc_code);
    w.Key("http_status");
    w.Int(active.http_status);
    w.Key("latency_ms");
    w.Int(active.latency_ms);
    w.Key("hang");
    w.Bool(active.hang);
    w.Key("error_rate");
    w.Double(active.error_rate);
    w.Key("apply");
    w.Bool(active.apply);
    w.Key("target");
    w.String(active.target);
    w.Key("methods");
    w.StartArray();
    for (auto& m : active.methods)
      w.String(m);
    w.EndArray();
    w.EndObject();
    w.Key("calls");
    w.StartObject();
    for (auto& [k, v] : counters) {
      w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
      w.Int(v);
    }
    w.EndObject();
    w.Key("contract_checks");
    w.StartObject();
    w.Key("programmed_subscribers_reads");
    w.Int(programmed_reads);
    w.Key("programmed_subscribers_filtered_reads");
    w.Int(programmed_filtered_reads);
    w.Key("onu_status_reads");
    w.Int(onu_status_reads);
    w.Key("tagged_route_content_types");
    w.StartObject();
    for (auto& [k, v] : tagged_content_types) {
      w.Key(k.c_str(), static_cast<rapidjson::SizeType>(k.size()));
      w.Int(v);
    }
    w.EndObject();
    w.Key("tagged_route_refused_415");
    w.Int(refused_415);
    w.EndObject();
    w.EndObject();
    return sb.GetString();
  }

  void set_faults(faults f) {
    {
      std::lock_guard guard{mx};
      active = std::move(f);
    }
    wake.notify_all();
  }

  static std::optional<std::array<int, 3>>
  tags_of(const httplib::Request& req) {
    if (req.matches.size() < 5)
      return std::nullopt;
    std::array<int, 3> res{};
    for (size_t i = 0; i < 3; ++i) {
      try {
        res[i] = std::stoi(req.matches[i + 2].str());
      } catch (const std::exception&) {
        res[i] = -1;
      }
    }
    return res;
  }

  // Jersey's @Consumes(MediaType.APPLICATION_JSON) on the tagged routes
  // (OltWebResource.java provisionAdditionalVlans, removeAdditionalVlans):
  // a request without Content-Type is accepted, any media type other than
  // application/json (parameters such as charset aside) gets 415 before the
  // method runs. Counts what was seen.
  bool consumes_json(const httplib::Request& req, httplib::Response& res) {
    auto ct = req.get_header_value("Content-Type");
    std::string media = ct.substr(0, ct.find(';'));
    while (!media.empty() && media.back() == ' ')
      media.pop_back();
    for (auto& c : media)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::lock_guard guard{mx};
    ++tagged_content_types[media.empty() ? "none" : media];
    if (media.empty() || media == "application/json")
      return true;
    ++refused_415;
    res.status = 415;
    res.set_content("Unsupported Media Type", "text/plain");
    return false;
  }

  void routes() {
    const char* with_tags
      = R"(/onos/olt/oltapp/services/([^/]+)/(\d+)/(\d+)/(\d+))";
    const char* port_only = R"(/onos/olt/oltapp/services/([^/]+))";
    auto post = [this](const httplib::Request& req, httplib::Response& res) {
      auto port = req.matches[1].str();
      auto tags = tags_of(req);
      serve_rest(req, res, "POST services",
                 [&](httplib::Response& r) { post_service(r, port, tags); });
    };
    auto del = [this](const httplib::Request& req, httplib::Response& res) {
      auto port = req.matches[1].str();
      auto tags = tags_of(req);
      serve_rest(req, res, "DELETE services",
                 [&](httplib::Response& r) { delete_service(r, port, tags); });
    };
    auto tagged = [this](auto handler) {
      return
        [this, handler](const httplib::Request& req, httplib::Response& res) {
          if (!authorized(req)) {
            res.status = 401;
            res.set_header("WWW-Authenticate", "Basic realm=\"karaf\"");
            return;
          }
          if (consumes_json(req, res))
            handler(req, res);
        };
    };
    http.Post(with_tags, tagged(post));
    http.Post(port_only, post);
    http.Delete(with_tags, tagged(del));
    http.Delete(port_only, del);
    // OltWebResource.java: programmed-subscribers, .../{deviceId} and
    // .../{deviceId}/{port}.
    auto programmed = [this](const httplib::Request& req,
                             httplib::Response& res) {
      std::string device_id = req.matches.size() > 1 ? req.matches[1].str()
                                                     : std::string{};
      std::string port = req.matches.size() > 2 ? req.matches[2].str()
                                                : std::string{};
      serve_rest(
        req, res, "GET programmed-subscribers", [&](httplib::Response& r) {
          ++programmed_reads;
          if (!device_id.empty())
            ++programmed_filtered_reads;
          r.status = 200;
          r.set_content(subscribers_json(device_id, port), "application/json");
        });
    };
    http.Get("/onos/olt/oltapp/programmed-subscribers", programmed);
    http.Get(R"(/onos/olt/oltapp/programmed-subscribers/([^/]+))", programmed);
    http.Get(R"(/onos/olt/oltapp/programmed-subscribers/([^/]+)/([^/]+))",
             programmed);
    http.Post("/_sim/faults",
              [this](const httplib::Request& req, httplib::Response& res) {
                auto f = parse_faults(req.body);
                if (!f) {
                  res.status = 400;
                  res.set_content(render_error(f.error()), "text/plain");
                  return;
                }
                set_faults(std::move(*f));
                res.status = 204;
              });
    http.Delete("/_sim/faults",
                [this](const httplib::Request&, httplib::Response& res) {
                  set_faults(faults{});
                  res.status = 204;
                });
    auto serve_calls = [this](const httplib::Request& req,
                              httplib::Response& res) {
      calls.serve(req, res);
    };
    http.Get("/_sim/calls", serve_calls);
    http.Delete("/_sim/calls", serve_calls);
    http.Get("/_sim/traces", [this](const httplib::Request&,
                                    httplib::Response& res) {
      std::string body = R"({"traces":[)";
      std::lock_guard guard{mx};
      for (size_t i = 0; i < traces.size(); ++i) {
        if (i > 0)
          body += ',';
        body += R"({"method":")" + json_text(traces[i][0]) + R"(","path":")"
                + json_text(traces[i][1]) + R"(","traceparent":")"
                + json_text(traces[i][2]) + "\"}";
      }
      body += "]}";
      res.status = 200;
      res.set_content(body, "application/json");
    });
    // Changes behind the orchestrator's back (drift tests): the ONU with
    // `serial` is deleted and discovered again under a new device id, as
    // the core does when an ONU is deleted (DeleteDevice) or swapped and its
    // serial shows up again on the PON (a new Device from the ONU adapter's
    // discovery, voltha-go rw_core/core/device/manager.go
    // ChildDeviceDetected). Body {"serial":"BBSM00000001"}; answers
    // {"old_id":...,"new_id":...}, 404 for an unknown serial.
    http.Post("/_sim/onus/replace", [this](const httplib::Request& req,
                                           httplib::Response& res) {
      rapidjson::Document doc;
      doc.Parse(req.body.c_str(), req.body.size());
      if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("serial")
          || !doc["serial"].IsString()) {
        res.status = 400;
        res.set_content("body must be {\"serial\":\"...\"}", "text/plain");
        return;
      }
      std::lock_guard guard{mx};
      advance();
      auto* onu = find_onu(doc["serial"].GetString());
      if (onu == nullptr) {
        res.status = 404;
        res.set_content("no ONU with that serial", "text/plain");
        return;
      }
      auto old_id = onu->d.id();
      onu->d.set_id(make_id());
      reindex();
      res.status = 200;
      res.set_content(R"({"old_id":")" + json_text(old_id) + R"(","new_id":")"
                        + json_text(onu->d.id()) + "\"}",
                      "application/json");
    });
    http.Get("/_sim/state",
             [this](const httplib::Request&, httplib::Response& res) {
               std::lock_guard guard{mx};
               advance();
               res.status = 200;
               res.set_content(state_json_locked(), "application/json");
             });
  }
};

caf::expected<sadis_service> parse_sadis_service(const std::string& text) {
  sadis_service res;
  char extra = 0;
  if (std::sscanf(text.c_str(), "%d/%d/%d%c", &res.s_tag, &res.c_tag,
                  &res.tp_id, &extra)
        != 3
      || res.s_tag < 0 || res.s_tag > 4095 || res.c_tag < 0 || res.c_tag > 4095
      || res.tp_id < 0 || res.tp_id > 65535)
    return caf::make_error(errc::invalid_input,
                           "sadis service: expected S/C/TP, e.g. 100/0/64, "
                           "got "
                             + text);
  return res;
}

caf::expected<faults> parse_faults(const std::string& text) {
  auto bad = [](std::string what) {
    return caf::make_error(errc::invalid_input, "faults: " + what);
  };
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  if (doc.HasParseError() || !doc.IsObject())
    return bad("expected a JSON object");
  faults f;
  for (auto& m : doc.GetObject()) {
    std::string key{m.name.GetString(), m.name.GetStringLength()};
    auto& v = m.value;
    if (key == "grpc_code") {
      if (!v.IsInt() || v.GetInt() < 0 || v.GetInt() > 16)
        return bad("grpc_code must be an integer 0..16");
      f.grpc_code = v.GetInt();
    } else if (key == "http_status") {
      if (!v.IsInt()
          || (v.GetInt() != 0 && (v.GetInt() < 100 || v.GetInt() > 599)))
        return bad("http_status must be 0 or 100..599");
      f.http_status = v.GetInt();
    } else if (key == "latency_ms") {
      if (!v.IsInt() || v.GetInt() < 0)
        return bad("latency_ms must be a non-negative integer");
      f.latency_ms = v.GetInt();
    } else if (key == "hang") {
      if (!v.IsBool())
        return bad("hang must be a boolean");
      f.hang = v.GetBool();
    } else if (key == "apply") {
      if (!v.IsBool())
        return bad("apply must be a boolean");
      f.apply = v.GetBool();
    } else if (key == "error_rate") {
      if (!v.IsNumber() || v.GetDouble() < 0.0 || v.GetDouble() > 1.0)
        return bad("error_rate must be a number in 0..1");
      f.error_rate = v.GetDouble();
    } else if (key == "target") {
      if (!v.IsString())
        return bad("target must be grpc, rest or all");
      f.target = v.GetString();
      if (f.target != "grpc" && f.target != "rest" && f.target != "all")
        return bad("target must be grpc, rest or all");
    } else if (key == "methods") {
      if (!v.IsArray())
        return bad("methods must be an array of strings");
      for (auto& x : v.GetArray()) {
        if (!x.IsString())
          return bad("methods must be an array of strings");
        f.methods.emplace_back(x.GetString());
      }
    } else {
      return bad("unknown field " + key);
    }
  }
  return f;
}

// -- server ------------------------------------------------------------------

server::server(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

server::~server() {
  stop();
}

caf::expected<std::unique_ptr<server>> server::start(options opts) {
  adapters::voltha::prepare_grpc_runtime();
  try {
    auto ptr = std::make_unique<impl>();
    ptr->opts = std::move(opts);
    ptr->active = ptr->opts.initial_faults;
    ptr->seed();
    grpc::ServerBuilder builder;
    auto addr = ptr->opts.host + ":" + std::to_string(ptr->opts.grpc_port);
    builder.AddListeningPort(addr, grpc::InsecureServerCredentials(),
                             &ptr->grpc_bound);
    builder.RegisterService(ptr.get());
    ptr->grpc_server = builder.BuildAndStart();
    if (!ptr->grpc_server || ptr->grpc_bound == 0)
      return caf::make_error(errc::invalid_config,
                             "voltha sim: cannot listen on " + addr);
    ptr->routes();
    auto served = common::serve_http(ptr->http, ptr->opts.host,
                                     ptr->opts.rest_port);
    if (!served) {
      ptr->grpc_server->Shutdown();
      return caf::make_error(errc::invalid_config,
                             "voltha sim: cannot listen on REST port "
                               + std::to_string(ptr->opts.rest_port));
    }
    ptr->http_front = std::move(served->front);
    ptr->rest_bound = served->port;
    return std::unique_ptr<server>{new server(std::move(ptr))};
  } catch (const std::exception& e) {
    return caf::make_error(errc::invalid_config,
                           std::string{"voltha sim: "} + e.what());
  }
}

uint16_t server::grpc_port() const {
  return static_cast<uint16_t>(impl_->grpc_bound);
}

uint16_t server::rest_port() const {
  return static_cast<uint16_t>(impl_->rest_bound);
}

void server::set_faults(faults f) {
  impl_->set_faults(std::move(f));
}

void server::clear_faults() {
  impl_->set_faults(faults{});
}

std::string server::state_json() const {
  std::lock_guard guard{impl_->mx};
  impl_->advance();
  return impl_->state_json_locked();
}

int server::calls(const std::string& name) const {
  std::lock_guard guard{impl_->mx};
  auto i = impl_->counters.find(name);
  return i == impl_->counters.end() ? 0 : i->second;
}

void server::program_pending() {
  std::lock_guard guard{impl_->mx};
  auto now = clock_type::now();
  for (auto& e : impl_->services) {
    if (e.visible_at > now)
      e.visible_at = now;
    if (e.gone_at && *e.gone_at > now)
      impl_->set_gone_at(e, now);
  }
  impl_->expire(now);
}

int server::contract_check(const std::string& name) const {
  std::lock_guard guard{impl_->mx};
  auto& st = *impl_;
  if (name == "programmed_subscribers_reads")
    return st.programmed_reads;
  if (name == "programmed_subscribers_filtered_reads")
    return st.programmed_filtered_reads;
  if (name == "onu_status_reads")
    return st.onu_status_reads;
  if (name == "tagged_route_refused_415")
    return st.refused_415;
  constexpr std::string_view prefix = "content_type:";
  if (name.rfind(prefix, 0) == 0) {
    auto i = st.tagged_content_types.find(name.substr(prefix.size()));
    return i == st.tagged_content_types.end() ? 0 : i->second;
  }
  return 0;
}

void server::stop() {
  if (!impl_ || impl_->stopping.exchange(true))
    return;
  impl_->wake.notify_all();
  impl_->grpc_server->Shutdown(std::chrono::system_clock::now()
                               + std::chrono::seconds{1});
  if (impl_->http_front)
    impl_->http_front->stop();
}

} // namespace ispflow::sim::voltha

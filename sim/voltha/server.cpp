#include "sim/voltha/server.hpp"

#include "events/errc.hpp"
#include "voltha_subset.grpc.pb.h"

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdio>
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

namespace ispflow::sim::voltha {

namespace pb = ::voltha;

namespace {

using clock_type = std::chrono::steady_clock;

// One device of the simulated core, with its pending timed transition.
struct sim_device {
  pb::Device d;
  // When set, the device becomes ACTIVE/REACHABLE at this time.
  std::optional<clock_type::time_point> active_at;
  // OLTs only: ONUs are discovered when it first becomes active.
  bool children_discovered = false;
  // OLTs only: index in the OpenFlow id.
  int olt_index = 0;
};

// One olt app service (a programmed subscriber).
struct service_entry {
  std::string port;
  std::string serial;
  uint32_t uni = 0;
  int s_tag = 0;
  int c_tag = 0;
  int tp_id = 64;
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
  std::vector<service_entry> services;
  faults active;
  std::map<std::string, int> counters;
  std::mt19937 rng{42};
  uint64_t next_uuid = 1;
  int next_serial = 1;
  int next_olt = 1;

  std::unique_ptr<grpc::Server> grpc_server;
  int grpc_bound = 0;
  httplib::Server http;
  int rest_bound = 0;
  std::thread http_thread;

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
    for (auto& x : devices)
      if (x.d.id() == id)
        return &x;
    return nullptr;
  }

  sim_device* find_onu(const std::string& serial) {
    for (auto& x : devices)
      if (!x.d.root() && x.d.serial_number() == serial)
        return &x;
    return nullptr;
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
      onu.active_at = at + opts.transition_delay;
      devices.push_back(std::move(onu));
    }
  }

  // Applies every transition due by `now` (lazily, on each access).
  void advance(clock_type::time_point now) {
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
        if (x.d.root() && !x.children_discovered) {
          x.d.set_parent_id(make_id());
          discover_children(devices[i], at);
        }
        changed = true;
      }
    }
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
    devices.push_back(std::move(olt));
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
    x.active_at = clock_type::now() + opts.transition_delay;
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
      char hp[32];
      std::snprintf(hp, sizeof hp, "10.0.0.%d:50060", i + 1);
      auto& olt = add_olt(hp);
      enable(olt);
      olt.active_at = clock_type::time_point{};
    }
    advance(clock_type::time_point{});
    // Seeded ONUs are ACTIVE at once.
    for (auto& x : devices)
      if (x.active_at)
        x.active_at = clock_type::time_point{};
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
      *resp = x->d;
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
        x->active_at = clock_type::now() + opts.transition_delay;
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

  // Splits "<serial>-<uni>"; false if it does not name a known ONU.
  bool parse_port(const std::string& port, std::string& serial, uint32_t& uni) {
    auto dash = port.rfind('-');
    if (dash == std::string::npos || dash + 1 >= port.size())
      return false;
    serial = port.substr(0, dash);
    uni = 0;
    for (auto c : port.substr(dash + 1)) {
      if (c < '0' || c > '9')
        return false;
      uni = uni * 10 + static_cast<uint32_t>(c - '0');
    }
    return uni >= 1 && uni <= 16 && find_onu(serial) != nullptr;
  }

  void connect_point_not_found(httplib::Response& res,
                               const std::string& port) {
    res.status = 500;
    res.set_content("ConnectPoint not found for " + port, "text/plain");
  }

  void post_service(httplib::Response& res, const std::string& port,
                    std::optional<std::array<int, 3>> tags) {
    std::string serial;
    uint32_t uni = 0;
    if (!parse_port(port, serial, uni))
      return connect_point_not_found(res, port);
    auto* onu = find_onu(serial);
    service_entry e{port, serial, uni, 0, 0, 64};
    if (tags) {
      e.s_tag = (*tags)[0];
      e.c_tag = (*tags)[1];
      e.tp_id = (*tags)[2];
    } else {
      // What a SADIS entry would hold for this ONU.
      e.s_tag = 900 + static_cast<int>(onu->d.proxy_address().channel_id());
      e.c_tag = 100 + static_cast<int>(onu->d.proxy_address().onu_id());
    }
    for (auto& x : services)
      if (x.port == e.port && x.s_tag == e.s_tag && x.c_tag == e.c_tag
          && x.tp_id == e.tp_id) {
        res.status = 204;
        return;
      }
    services.push_back(e);
    res.status = 200;
  }

  void delete_service(httplib::Response& res, const std::string& port,
                      std::optional<std::array<int, 3>> tags) {
    std::string serial;
    uint32_t uni = 0;
    if (!parse_port(port, serial, uni))
      return connect_point_not_found(res, port);
    auto n = std::erase_if(services, [&](const service_entry& x) {
      return x.port == port
             && (!tags
                 || (x.s_tag == (*tags)[0] && x.c_tag == (*tags)[1]
                     && x.tp_id == (*tags)[2]));
    });
    res.status = n > 0 ? 200 : 204;
  }

  std::string location_of(const service_entry& e) {
    auto* onu = find_onu(e.serial);
    int olt_index = 0;
    uint32_t onu_id = 0;
    if (onu != nullptr) {
      onu_id = onu->d.proxy_address().onu_id();
      if (auto* olt = find(onu->d.parent_id()))
        olt_index = olt->olt_index;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "of:%016x/%u", olt_index,
                  256 + onu_id * 16 + e.uni);
    return buf;
  }

  std::string subscribers_json() {
    rapidjson::StringBuffer sb;
    rapidjson::Writer<rapidjson::StringBuffer> w{sb};
    w.StartObject();
    w.Key("entries");
    w.StartArray();
    for (auto& e : services) {
      w.StartObject();
      w.Key("location");
      w.String(location_of(e));
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
    for (auto& e : services) {
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
    http.Post(with_tags, post);
    http.Post(port_only, post);
    http.Delete(with_tags, del);
    http.Delete(port_only, del);
    http.Get("/onos/olt/oltapp/programmed-subscribers",
             [this](const httplib::Request& req, httplib::Response& res) {
               serve_rest(req, res, "GET programmed-subscribers",
                          [&](httplib::Response& r) {
                            r.status = 200;
                            r.set_content(subscribers_json(),
                                          "application/json");
                          });
             });
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
    http.Get("/_sim/state",
             [this](const httplib::Request&, httplib::Response& res) {
               std::lock_guard guard{mx};
               advance();
               res.status = 200;
               res.set_content(state_json_locked(), "application/json");
             });
  }
};

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
    ptr->http.new_task_queue = [] { return new httplib::ThreadPool(32); };
    ptr->http.set_keep_alive_timeout(1);
    if (ptr->opts.rest_port == 0) {
      ptr->rest_bound = ptr->http.bind_to_any_port(ptr->opts.host);
    } else if (ptr->http.bind_to_port(ptr->opts.host, ptr->opts.rest_port)) {
      ptr->rest_bound = ptr->opts.rest_port;
    } else {
      ptr->rest_bound = -1;
    }
    if (ptr->rest_bound <= 0) {
      ptr->grpc_server->Shutdown();
      return caf::make_error(errc::invalid_config,
                             "voltha sim: cannot listen on REST port "
                               + std::to_string(ptr->opts.rest_port));
    }
    auto* raw = ptr.get();
    ptr->http_thread = std::thread{[raw] { raw->http.listen_after_bind(); }};
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

void server::stop() {
  if (!impl_ || impl_->stopping.exchange(true))
    return;
  impl_->wake.notify_all();
  impl_->grpc_server->Shutdown(std::chrono::system_clock::now()
                               + std::chrono::seconds{1});
  impl_->http.stop();
  if (impl_->http_thread.joinable())
    impl_->http_thread.join();
}

} // namespace ispflow::sim::voltha

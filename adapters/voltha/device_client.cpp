#include "adapters/voltha/device_client.hpp"

#include "adapters/http/trace.hpp"
#include "adapters/voltha/grpc_runtime.hpp"
#include "common/effect_gate.hpp"
#include "common/log.hpp"
#include "events/errc.hpp"
#include "voltha_subset.grpc.pb.h"

#include <atomic>
#include <grpcpp/grpcpp.h>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

namespace ispflow::adapters::voltha {

namespace {

device from_proto(const ::voltha::Device& p) {
  device d;
  d.id = p.id();
  d.type = p.type();
  d.root = p.root();
  d.parent_id = p.parent_id();
  d.parent_port_no = p.parent_port_no();
  d.vendor = p.vendor();
  d.model = p.model();
  d.serial_number = p.serial_number();
  d.admin = static_cast<admin_state>(p.admin_state());
  d.oper = static_cast<oper_status>(p.oper_status());
  d.connect = static_cast<connect_status>(p.connect_status());
  d.reason = p.reason();
  if (p.has_host_and_port())
    d.host_and_port = p.host_and_port();
  if (p.has_proxy_address()) {
    d.proxy_device_id = p.proxy_address().device_id();
    d.proxy_channel_id = p.proxy_address().channel_id();
    d.proxy_onu_id = p.proxy_address().onu_id();
  }
  return d;
}

::voltha::Device to_proto(const device& d) {
  ::voltha::Device p;
  p.set_id(d.id);
  p.set_type(d.type);
  p.set_root(d.root);
  p.set_parent_id(d.parent_id);
  p.set_parent_port_no(d.parent_port_no);
  p.set_vendor(d.vendor);
  p.set_model(d.model);
  p.set_serial_number(d.serial_number);
  p.set_admin_state(static_cast<::voltha::AdminState::Types>(d.admin));
  p.set_oper_status(static_cast<::voltha::OperStatus::Types>(d.oper));
  p.set_connect_status(static_cast<::voltha::ConnectStatus::Types>(d.connect));
  p.set_reason(d.reason);
  if (!d.host_and_port.empty())
    p.set_host_and_port(d.host_and_port);
  if (!d.proxy_device_id.empty()) {
    auto* proxy = p.mutable_proxy_address();
    proxy->set_device_id(d.proxy_device_id);
    proxy->set_channel_id(d.proxy_channel_id);
    proxy->set_onu_id(d.proxy_onu_id);
  }
  return p;
}

rpc_status from_grpc(const grpc::Status& st) {
  auto code = static_cast<int>(st.error_code());
  if (code < 0 || code > 16)
    code = static_cast<int>(grpc_code::unknown);
  return rpc_status{static_cast<grpc_code>(code), st.error_message()};
}

// `id` as an ASCII gRPC metadata value: printable characters only.
std::string metadata_value(std::string id) {
  for (auto& c : id)
    if (static_cast<unsigned char>(c) < 0x20
        || static_cast<unsigned char>(c) > 0x7e)
      c = '_';
  return id;
}

// The trace context of the adapter call this thread runs (trace_scope).
thread_local std::string current_trace;

// Every call: its deadline, the instance that makes it (metadata
// `ispflow-instance`, as the HTTP calls name it in their User-Agent), and the
// trace context if there is one.
void set_deadline(grpc::ClientContext& ctx, std::chrono::milliseconds d) {
  ctx.set_deadline(std::chrono::system_clock::now() + d);
  // While this instance's leases are unconfirmed nothing goes out: the
  // call ends as cancelled before it starts.
  if (!common::effect_gate::open())
    ctx.TryCancel();
  if (auto id = common::current_log_instance(); !id.empty())
    ctx.AddMetadata("ispflow-instance", metadata_value(id));
  if (!current_trace.empty())
    if (auto tp = http::child_traceparent(current_trace); !tp.empty())
      ctx.AddMetadata("traceparent", tp);
}

} // namespace

device_client::trace_scope::trace_scope(const std::string& parent)
  : previous_(std::exchange(current_trace, parent)) {
  // nop
}

device_client::trace_scope::~trace_scope() {
  current_trace = std::move(previous_);
}

struct device_client::impl {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<::voltha::VolthaService::Stub> stub;
  // ONU serial -> device id, from the last ListDevices; a hint only, every
  // use is checked by GetDevice.
  std::mutex mx;
  std::unordered_map<std::string, std::string> onu_ids;
  // The UNI ports of each OLT (by OLT device id) at its last
  // ListLogicalDevicePorts.
  struct uni_port {
    uint32_t port_no = 0;
    std::string onu_id;
  };
  struct olt_ports {
    std::string onos_device;
    std::chrono::steady_clock::time_point read_at;
    std::unordered_map<std::string, uni_port> by_name;
  };
  std::unordered_map<std::string, olt_ports> uni_ports;
  std::atomic<uint64_t> port_listings{0};
};

device_client::device_client(std::unique_ptr<impl> ptr)
  : impl_(std::move(ptr)) {
  // nop
}

device_client::~device_client() = default;

caf::expected<std::unique_ptr<device_client>>
device_client::make(const std::string& address, client_options opts) {
  if (address.empty())
    return caf::make_error(errc::invalid_config,
                           std::string{"voltha: empty gRPC address"});
  if (opts.max_receive_bytes < 4 * 1024 * 1024)
    return caf::make_error(errc::invalid_config,
                           std::string{"voltha: max_receive_bytes below the "
                                       "gRPC default of 4 MiB"});
  prepare_grpc_runtime();
  try {
    auto ptr = std::make_unique<impl>();
    grpc::ChannelArguments args;
    // Fail fast while the core is down instead of waiting for the deadline
    // inside a long reconnect backoff.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetMaxReceiveMessageSize(opts.max_receive_bytes);
    ptr->channel = grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args);
    ptr->stub = ::voltha::VolthaService::NewStub(ptr->channel);
    return std::unique_ptr<device_client>{new device_client(std::move(ptr))};
  } catch (const std::exception& e) {
    return caf::make_error(errc::invalid_config,
                           std::string{"voltha: "} + e.what());
  }
}

rpc_result<std::vector<device>>
device_client::list_devices(std::chrono::milliseconds deadline) {
  grpc::ClientContext ctx;
  set_deadline(ctx, deadline);
  google::protobuf::Empty req;
  ::voltha::Devices resp;
  rpc_result<std::vector<device>> res;
  res.status = from_grpc(impl_->stub->ListDevices(&ctx, req, &resp));
  if (res.status.ok()) {
    res.value.reserve(static_cast<size_t>(resp.items_size()));
    for (const auto& p : resp.items())
      res.value.push_back(from_proto(p));
  }
  return res;
}

rpc_result<device>
device_client::get_device(const std::string& id,
                          std::chrono::milliseconds deadline) {
  grpc::ClientContext ctx;
  set_deadline(ctx, deadline);
  ::voltha::ID req;
  req.set_id(id);
  ::voltha::Device resp;
  rpc_result<device> res;
  res.status = from_grpc(impl_->stub->GetDevice(&ctx, req, &resp));
  if (res.status.ok())
    res.value = from_proto(resp);
  return res;
}

rpc_result<device>
device_client::create_device(const device& d,
                             std::chrono::milliseconds deadline) {
  grpc::ClientContext ctx;
  set_deadline(ctx, deadline);
  auto req = to_proto(d);
  ::voltha::Device resp;
  rpc_result<device> res;
  res.status = from_grpc(impl_->stub->CreateDevice(&ctx, req, &resp));
  if (res.status.ok())
    res.value = from_proto(resp);
  return res;
}

namespace {

template <class Call>
rpc_status
id_call(const std::string& id, std::chrono::milliseconds deadline, Call call) {
  grpc::ClientContext ctx;
  set_deadline(ctx, deadline);
  ::voltha::ID req;
  req.set_id(id);
  google::protobuf::Empty resp;
  return from_grpc(call(&ctx, req, &resp));
}

} // namespace

rpc_status device_client::enable_device(const std::string& id,
                                        std::chrono::milliseconds deadline) {
  return id_call(id, deadline, [this](auto* ctx, auto& req, auto* resp) {
    return impl_->stub->EnableDevice(ctx, req, resp);
  });
}

rpc_status device_client::disable_device(const std::string& id,
                                         std::chrono::milliseconds deadline) {
  return id_call(id, deadline, [this](auto* ctx, auto& req, auto* resp) {
    return impl_->stub->DisableDevice(ctx, req, resp);
  });
}

rpc_status device_client::reboot_device(const std::string& id,
                                        std::chrono::milliseconds deadline) {
  return id_call(id, deadline, [this](auto* ctx, auto& req, auto* resp) {
    return impl_->stub->RebootDevice(ctx, req, resp);
  });
}

rpc_status device_client::delete_device(const std::string& id,
                                        std::chrono::milliseconds deadline) {
  return id_call(id, deadline, [this](auto* ctx, auto& req, auto* resp) {
    return impl_->stub->DeleteDevice(ctx, req, resp);
  });
}

rpc_result<device> device_client::find_onu(const std::string& serial,
                                           const std::string& parent_id,
                                           std::chrono::milliseconds deadline) {
  rpc_result<device> res;
  auto matches = [&](const device& d) {
    return !d.root && d.serial_number == serial
           && (parent_id.empty() || d.parent_id == parent_id);
  };
  std::string hint;
  {
    std::lock_guard guard{impl_->mx};
    if (auto i = impl_->onu_ids.find(serial); i != impl_->onu_ids.end())
      hint = i->second;
  }
  if (!hint.empty()) {
    auto got = get_device(hint, deadline);
    if (got.status.ok() && matches(got.value))
      return got;
    if (!got.status.ok() && got.status.code != grpc_code::not_found)
      return got;
  }
  auto all = list_devices(deadline);
  if (!all.status.ok()) {
    res.status = std::move(all.status);
    return res;
  }
  std::optional<device> found;
  {
    std::lock_guard guard{impl_->mx};
    impl_->onu_ids.clear();
    for (auto& d : all.value) {
      if (d.root)
        continue;
      impl_->onu_ids.emplace(d.serial_number, d.id);
      if (!found && matches(d))
        found = std::move(d);
    }
  }
  if (found) {
    res.value = std::move(*found);
    return res;
  }
  res.status = rpc_status{grpc_code::not_found, "no ONU with serial " + serial};
  return res;
}

uint64_t device_client::port_listings() const {
  return impl_->port_listings.load();
}

rpc_result<uni_connect_point>
device_client::find_uni_port(const std::string& olt_id,
                             const std::string& port_name,
                             std::chrono::milliseconds deadline,
                             const std::string& onu_id,
                             std::chrono::milliseconds max_age) {
  rpc_result<uni_connect_point> res;
  if (max_age.count() > 0 && !onu_id.empty()) {
    std::lock_guard guard{impl_->mx};
    auto i = impl_->uni_ports.find(olt_id);
    if (i != impl_->uni_ports.end()
        && std::chrono::steady_clock::now() - i->second.read_at < max_age) {
      auto p = i->second.by_name.find(port_name);
      if (p != i->second.by_name.end() && p->second.onu_id == onu_id) {
        res.value.device_id = i->second.onos_device;
        res.value.port_no = p->second.port_no;
        return res;
      }
    }
  }
  auto olt = get_device(olt_id, deadline);
  if (!olt.status.ok()) {
    res.status = std::move(olt.status);
    return res;
  }
  if (olt.value.parent_id.empty()) {
    res.status = rpc_status{grpc_code::not_found,
                            "OLT " + olt_id + " has no logical device"};
    return res;
  }
  ::voltha::ID req;
  req.set_id(olt.value.parent_id);
  ::voltha::LogicalDevice logical;
  {
    grpc::ClientContext ctx;
    set_deadline(ctx, deadline);
    res.status = from_grpc(impl_->stub->GetLogicalDevice(&ctx, req, &logical));
    if (!res.status.ok())
      return res;
  }
  ::voltha::LogicalPorts ports;
  auto read_at = std::chrono::steady_clock::now();
  {
    grpc::ClientContext ctx;
    set_deadline(ctx, deadline);
    ++impl_->port_listings;
    res.status
      = from_grpc(impl_->stub->ListLogicalDevicePorts(&ctx, req, &ports));
    if (!res.status.ok())
      return res;
  }
  impl::olt_ports seen;
  seen.onos_device = onos_device_id(logical.datapath_id());
  seen.read_at = read_at;
  std::optional<uint32_t> found;
  for (const auto& p : ports.items()) {
    if (p.root_port())
      continue;
    seen.by_name[p.ofp_port().name()] = impl::uni_port{p.ofp_port().port_no(),
                                                       p.device_id()};
    if (p.ofp_port().name() == port_name)
      found = p.ofp_port().port_no();
  }
  if (found) {
    res.value.device_id = seen.onos_device;
    res.value.port_no = *found;
  }
  {
    std::lock_guard guard{impl_->mx};
    impl_->uni_ports[olt_id] = std::move(seen);
  }
  if (found)
    return res;
  res.status
    = rpc_status{grpc_code::not_found,
                 "no logical port " + port_name + " on " + olt.value.parent_id};
  return res;
}

} // namespace ispflow::adapters::voltha

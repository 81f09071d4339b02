#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

// A contract-faithful simulator of VOLTHA's northbound gRPC API (our subset
// of voltha.VolthaService, contracts.md §3) and of the ONOS olt app's REST
// API, with fault injection. gRPC and cpp-httplib stay out of this header.

namespace ispflow::sim::voltha {

/// Faults applied to calls; settable at start-up and at run time through
/// `POST /_sim/faults` (JSON with these field names) on the REST port.
struct faults {
  /// gRPC status code returned instead of the answer (0 = none), e.g. 14
  /// for UNAVAILABLE.
  int grpc_code = 0;
  /// HTTP status the olt app returns instead of its answer (0 = none).
  int http_status = 0;
  /// Delay added before every answer, in milliseconds.
  int latency_ms = 0;
  /// Never answer: hold each call until the client gives up (or the faults
  /// are cleared, or the server stops).
  bool hang = false;
  /// Fraction (0..1) of calls that get the fault; 1 = every call.
  double error_rate = 1.0;
  /// Apply the call's effect before failing or hanging (the change is made,
  /// then the answer is lost).
  bool apply = false;
  /// Only these gRPC methods (e.g. "EnableDevice") get gRPC faults; empty =
  /// all methods.
  std::vector<std::string> methods;
  /// Which side the faults hit: "grpc", "rest" or "all".
  std::string target = "all";
};

/// Parses the JSON of `POST /_sim/faults`, e.g.
/// `{"grpc_code":14,"methods":["EnableDevice"],"apply":true}`; unknown
/// fields and out-of-range values are `errc::invalid_input`.
caf::expected<faults> parse_faults(const std::string& json);

/// One service (uniTag) of a subscriber's SADIS entry: the tags the olt
/// app's tagged route must be given to find it.
struct sadis_service {
  /// ponSTag.
  int s_tag = 0;
  /// ponCTag.
  int c_tag = 0;
  /// technologyProfileId.
  int tp_id = 64;
};

/// Parses "S/C/TP" (e.g. "100/0/64"); `errc::invalid_input` otherwise.
caf::expected<sadis_service> parse_sadis_service(const std::string& text);

/// How the simulator starts.
struct options {
  /// Address both servers listen on.
  std::string host = "127.0.0.1";
  /// gRPC port; 0 picks a free one.
  uint16_t grpc_port = 0;
  /// REST port (olt app and /_sim); 0 picks a free one.
  uint16_t rest_port = 0;
  /// OLTs created and enabled at start-up (already ACTIVE).
  int olts = 1;
  /// ONUs discovered under each OLT when it becomes active.
  int onus_per_olt = 4;
  /// ONU serial prefix; serials are <prefix><8 digits>, counting from 1
  /// (BBSM00000001, ...).
  std::string serial_prefix = "BBSM";
  /// Time a device spends ACTIVATING (and an OLT's ONUs DISCOVERED) before
  /// it becomes ACTIVE. An ONU's UNI ports (and so its olt app connect
  /// points) exist once it has been ACTIVE.
  std::chrono::milliseconds transition_delay{100};
  /// Time a discovered ONU takes to become ACTIVE, if not
  /// `transition_delay`.
  std::optional<std::chrono::milliseconds> onu_activation_delay;
  /// UNI ports per ONU: "<serial>-1" .. "<serial>-<n>".
  int unis_per_onu = 4;
  /// Services in every UNI's SADIS entry besides the UNI's own (S-tag
  /// 900 + PON, C-tag 100 + ONU id, TP 64).
  std::vector<sadis_service> sadis_services;
  /// Time between the olt app's answer to a provision (removal) and the
  /// service appearing in (leaving) programmed-subscribers.
  std::chrono::milliseconds program_delay{100};
  /// Basic-auth user of the olt app.
  std::string onos_user = "karaf";
  /// Basic-auth password of the olt app. Never printed.
  std::string onos_password = "karaf";
  /// Faults active from the start.
  faults initial_faults;
  /// Longest a hanging call is held, in milliseconds.
  int max_hang_ms = 30000;
};

/// The running simulator: a gRPC server and an HTTP server on loopback.
class server {
public:
  /// Starts both servers; fails if a port cannot be bound.
  static caf::expected<std::unique_ptr<server>> start(options opts);

  /// Stops both servers (same as `stop()`).
  ~server();

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// The bound gRPC port.
  uint16_t grpc_port() const;

  /// The bound REST port.
  uint16_t rest_port() const;

  /// Replaces the active faults.
  void set_faults(faults f);

  /// Clears the active faults.
  void clear_faults();

  /// The state as served by `GET /_sim/state` (JSON): devices, programmed
  /// subscribers, faults and call counters.
  std::string state_json() const;

  /// Calls received per gRPC method or REST route ("POST services").
  int calls(const std::string& name) const;

  /// Ends every pending programming and removal now, as if
  /// `program_delay` had passed.
  void program_pending();

  /// A contract check the client made, as in `GET /_sim/state`'s
  /// "contract_checks": "programmed_subscribers_reads",
  /// "programmed_subscribers_filtered_reads", "onu_status_reads",
  /// "tagged_route_refused_415", or "content_type:<media type>" (e.g.
  /// "content_type:application/json", "content_type:none") for the tagged
  /// olt app routes.
  int contract_check(const std::string& name) const;

  /// Stops both servers and releases held calls; idempotent.
  void stop();

private:
  struct impl;
  explicit server(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::sim::voltha

#pragma once

#include "adapters/voltha/mapping.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace ispflow::adapters::voltha {

/// One tenant's VOLTHA and ONOS endpoints, credentials and service policy.
struct tenant_settings {
  /// VOLTHA northbound gRPC endpoint ("host:port", plaintext), usually
  /// voltha-api on :55555.
  std::string grpc_address = "127.0.0.1:55555";
  /// ONOS base URL, e.g. "http://127.0.0.1:8181".
  std::string onos_url = "http://127.0.0.1:8181";
  /// ONOS user (basic auth).
  std::string onos_user = "karaf";
  /// ONOS password (basic auth). Never logged.
  std::string onos_password;
  /// If set, ONUs are only looked for among this OLT's children.
  std::string olt_id;
  /// The UNI used when the input has no "access.uni" (olt app port names
  /// are "<serial>-<uni>").
  uint32_t uni = 1;
  /// Default S-tag, C-tag and TP id; inputs "access.s_tag", "access.c_tag"
  /// and "access.tp_id" override them per subscriber. With both tags 0 the
  /// olt app takes them from its SADIS entry.
  service_tags tags;
  /// Deadline of a reading gRPC call (ListDevices, GetDevice).
  std::chrono::milliseconds read_deadline{3000};
  /// Deadline of a state-changing gRPC call (EnableDevice, ...).
  std::chrono::milliseconds write_deadline{5000};
  /// Timeout of one olt app HTTP request (connect included).
  std::chrono::milliseconds http_timeout{5000};
  /// Deadline of the health probe (ListDevices).
  std::chrono::milliseconds probe_deadline{1000};
  /// How long a step waits (parked, on the engine's durable timer) before
  /// looking again at programmed-subscribers: the olt app answers a POST or
  /// DELETE before it programs (or removes) the flows.
  std::chrono::milliseconds confirm_interval{1000};
  /// How long the UNI ports listed by one ListLogicalDevicePorts of an OLT
  /// are trusted for finding a UNI's connect point (a cached port counts
  /// only while VOLTHA gave it to the same ONU device); 0 = list them for
  /// every look-up.
  std::chrono::milliseconds connect_point_ttl{300'000};
  /// The largest gRPC answer accepted (ListDevices of a large core exceeds
  /// gRPC's 4 MiB default).
  int grpc_max_receive_bytes = 64 * 1024 * 1024;
};

/// What the VOLTHA adapter actor needs.
struct adapter_options {
  /// By tenant id.
  std::map<std::string, tenant_settings> tenants;
  /// Worker threads that run the blocking gRPC and HTTP calls (1..64).
  size_t workers = 4;
};

} // namespace ispflow::adapters::voltha

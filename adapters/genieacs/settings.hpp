#pragma once

#include "adapters/resilience/clock.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ispflow::adapters::genieacs {

/// Parameter paths of a TR-098 (InternetGatewayDevice) CPE.
inline constexpr const char* tr098_pppoe_username
  = "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1."
    "WANPPPConnection.1.Username";
/// See `tr098_pppoe_username`.
inline constexpr const char* tr098_pppoe_password
  = "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1."
    "WANPPPConnection.1.Password";
/// See `tr098_pppoe_username`.
inline constexpr const char* tr098_ssid
  = "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID";

/// One tenant's GenieACS NBI and what configure_cpe writes to a CPE.
struct tenant_settings {
  /// NBI base URL, e.g. "http://genieacs:7557".
  std::string base_url = "http://127.0.0.1:7557";
  /// Sent as `Authorization` when not empty (the NBI itself has no
  /// authentication; a protecting proxy may want one). Never logged.
  std::string authorization;
  /// Timeout of one ordinary HTTP exchange (queries, connect included).
  std::chrono::milliseconds call_timeout{10'000};
  /// Timeout of the TCP (and TLS) connect phase.
  std::chrono::milliseconds connect_timeout{3'000};
  /// `?timeout=` of a task POST: how long GenieACS waits for the device to
  /// start a session after the connection request.
  std::chrono::milliseconds connection_request_timeout{3'000};
  /// Added to `connection_request_timeout` for the task POST's HTTP
  /// timeout: the session itself (GenieACS may hold the answer up to 120 s
  /// after the session starts; keep the sum below the step's attempt
  /// timeout, a lost answer is reconciled by `uniqueKey`).
  std::chrono::milliseconds session_allowance{15'000};
  /// Where input "credentials.username" is written.
  std::string pppoe_username_path = tr098_pppoe_username;
  /// Where input "credentials.password" is written.
  std::string pppoe_password_path = tr098_pppoe_password;
  /// Where the SSID is written.
  std::string ssid_path = tr098_ssid;
  /// SSID to set, "{subscriber_id}" replaced by the subscriber id; empty =
  /// the SSID is left alone (input "wifi.ssid", when given, wins).
  std::string ssid_template;
  /// Further (path, value) pairs set on every configure_cpe.
  std::vector<std::pair<std::string, std::string>> extra_parameters;
  /// Keep connections to this system open between requests. Off by
  /// default: libcurl silently re-sends a request (a POST included) that
  /// failed on a reused connection before any response byte arrived, so a
  /// server that applied a POST and then dropped the connection would see it
  /// twice (a second NetBox allocation, a second CPE task). With it off every
  /// request says `Connection: close` and goes out on a fresh connection,
  /// which libcurl never re-sends.
  bool reuse_connections = false;
  /// configure_cpe without input "access.cpe.serial" succeeds doing
  /// nothing (a subscriber with an unmanaged CPE); false = permanent
  /// failure.
  bool skip_without_cpe = true;
};

/// What the GenieACS adapter actor needs.
struct adapter_settings {
  /// By ispflow tenant id.
  std::map<std::string, tenant_settings> tenants;
  /// Time for the guard (breaker decisions, call durations); null = the
  /// steady clock.
  std::shared_ptr<resilience::clock> clock;
};

} // namespace ispflow::adapters::genieacs

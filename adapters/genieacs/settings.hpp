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

/// Parameter paths of a TR-181 (Device) CPE.
inline constexpr const char* tr181_pppoe_username
  = "Device.PPP.Interface.1.Username";
/// See `tr181_pppoe_username`.
inline constexpr const char* tr181_pppoe_password
  = "Device.PPP.Interface.1.Password";
/// See `tr181_pppoe_username`.
inline constexpr const char* tr181_ssid = "Device.WiFi.SSID.1.SSID";

/// A CPE's data model root: TR-098 (`InternetGatewayDevice.`) or TR-181
/// (`Device.`); `unknown` in settings means "detect it from the device
/// record".
enum class data_model : uint8_t { unknown, tr098, tr181 };

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
  /// Where input "credentials.username" is written on a TR-098 CPE.
  std::string pppoe_username_path = tr098_pppoe_username;
  /// Where input "credentials.password" is written on a TR-098 CPE.
  std::string pppoe_password_path = tr098_pppoe_password;
  /// Where the SSID is written on a TR-098 CPE.
  std::string ssid_path = tr098_ssid;
  /// The same three on a TR-181 CPE.
  std::string tr181_pppoe_username_path = tr181_pppoe_username;
  /// See `tr181_pppoe_username_path`.
  std::string tr181_pppoe_password_path = tr181_pppoe_password;
  /// See `tr181_pppoe_username_path`.
  std::string tr181_ssid_path = tr181_ssid;
  /// The data model of this tenant's CPEs; `unknown` = detect it per device
  /// from its record (the root that holds
  /// `ManagementServer.ConnectionRequestURL`, as GenieACS's own connection
  /// request does).
  data_model model = data_model::unknown;
  /// Per product class (`_deviceId._ProductClass`), wins over `model`.
  std::map<std::string, data_model> product_class_models;
  /// How far GenieACS's clock may run behind ours: a session or boot up to
  /// this long before our recorded post time still counts as after it when
  /// a restart reconciles a task (erring towards "may have run", which never
  /// posts again).
  std::chrono::milliseconds clock_skew_allowance{5'000};
  /// SSID to set, "{subscriber_id}" replaced by the subscriber id; empty =
  /// the SSID is left alone (input "wifi.ssid", when given, wins).
  std::string ssid_template;
  /// Further (path, value) pairs set on every configure_cpe.
  std::vector<std::pair<std::string, std::string>> extra_parameters;
  /// Keep connections to this system open between requests. A POST is
  /// still sent at most once: the HTTP client stops libcurl's own resend
  /// after a reused connection died without an answer (adapters/http). Off:
  /// every request says `Connection: close` and opens a connection of its
  /// own. `tenants[i].genieacs.keep_alive`.
  bool reuse_connections = true;
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

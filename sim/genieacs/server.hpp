#pragma once

#include "sim/common/faults.hpp"

#include <caf/expected.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ispflow::sim::genieacs {

/// A CPE to register at start-up or at run time.
struct device_seed {
  /// OUI, e.g. "202BC1".
  std::string oui;
  /// Product class; may be empty (the id is then `<OUI>-<Serial>`).
  std::string product_class;
  /// Serial number.
  std::string serial;
  /// Manufacturer.
  std::string manufacturer = "ispflow-sim";
  /// Whether the device answers connection requests.
  bool online = true;
  /// Data model root: "tr098" (InternetGatewayDevice.*, the default) or
  /// "tr181" (Device.*). The device only has the parameters of its model.
  std::string data_model = "tr098";
  /// Parameter values (path, string value), e.g.
  /// {"InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID", "x"}.
  std::vector<std::pair<std::string, std::string>> parameters;
};

/// Start-up options of the GenieACS NBI simulator.
struct options {
  /// TCP port on 127.0.0.1; 0 picks an ephemeral one.
  uint16_t port = 0;
  /// YAML or JSON seed file (`devices: [...]`); empty = built-in devices.
  std::string seed_file;
  /// Faults in force from the start (common::fault_config JSON).
  std::string faults_json;
  /// Value of the `GenieACS-Version` header.
  std::string version = "1.2.9";
  /// How long a task with `connection_request` waits for the session of a
  /// device that accepted the connection request but starts no session,
  /// when the request has no `timeout` (cwmp.deviceOnlineThreshold).
  uint32_t online_threshold_ms = 4000;
  /// How long a connection request to an offline device takes to fail
  /// (cwmp.connectionRequestTimeout; genieacs/genieacs lib/config.ts
  /// CONNECTION_REQUEST_TIMEOUT defaults to 2000 ms).
  uint32_t connection_request_timeout_ms = 2000;
};

/// How often the adapter checked a contract through the NBI (for the demo
/// summary); `GET /_sim/stats` and `GET /_sim/state` ("stats") show them.
struct contract_stats {
  /// Device-record reads by `_id` projecting parameter paths: values read
  /// back after a task.
  uint64_t value_readbacks = 0;
  /// Device-record reads by `_id` projecting `_lastInform`/`_lastBoot`:
  /// reconciles deciding whether a task already ran.
  uint64_t reconcile_reads = 0;
  /// Task look-ups (`GET /tasks/`), polls and `uniqueKey` reconciles.
  uint64_t task_queries = 0;
  /// Task POSTs.
  uint64_t task_posts = 0;
  /// Task POST answers held by the `hold_task_reply_ms` fault.
  uint64_t held_replies = 0;
};

/// A task as stored (for test inspection).
struct task_view {
  /// ObjectId, 24 hex digits.
  std::string id;
  /// Device id.
  std::string device;
  /// Task name, e.g. "setParameterValues".
  std::string name;
  /// `uniqueKey`, empty when none.
  std::string unique_key;
};

/// Encodes one part of a device id as GenieACS does (genieacs/genieacs
/// `lib/util.ts` generateDeviceId, `lib/common.ts` in v1.2): every character
/// outside [A-Za-z0-9_] becomes '%' plus the upper-case hex of each of its
/// UTF-8 bytes, without zero padding (`b.toString(16)`: a tab is "%9").
std::string encode_id_part(std::string_view part);

/// `<OUI>-<ProductClass>-<Serial>`, or `<OUI>-<Serial>` without a product
/// class, each part encoded with `encode_id_part`.
std::string device_id(std::string_view oui, std::string_view product_class,
                      std::string_view serial);

/// A GenieACS NBI subset (devices, tasks, faults, presets) on loopback with
/// the status/reason-phrase matrix of contracts.md 2; thread-safe.
class server {
public:
  /// Loads the seed and starts serving; the port is bound on return.
  static caf::expected<std::unique_ptr<server>> start(options opts);

  ~server();

  /// The bound port.
  uint16_t port() const noexcept;

  /// Stops serving; idempotent.
  void stop();

  /// Registers a device; returns its id.
  std::string add_device(const device_seed& seed);

  /// Sets whether a device answers connection requests; going online runs
  /// its queued tasks (an inform). False for an unknown device.
  bool set_online(const std::string& device, bool online);

  /// Sets whether an online device starts a session after a connection
  /// request (false: it accepts the request but never informs, so the task
  /// POST ends "Task queued but not processed"). False for an unknown device.
  bool set_starts_sessions(const std::string& device, bool starts);

  /// Makes every task the device runs fault with `code`/`message`; an empty
  /// code clears it. False for an unknown device.
  bool set_task_fault(const std::string& device, std::string code,
                      std::string message);

  /// Makes connection requests to the device fail with `text` (the reason
  /// phrase of the 202); empty clears it.
  bool set_connection_request_error(const std::string& device,
                                    std::string text);

  /// The queued (not yet executed) tasks.
  std::vector<task_view> tasks() const;

  /// Names of the tasks the device executed, in order.
  std::vector<std::string> executed(const std::string& device) const;

  /// A parameter's value, if the device has it.
  std::optional<std::string> parameter(const std::string& device,
                                       const std::string& path) const;

  /// Number of fault documents.
  std::size_t fault_count() const;

  /// The contract checks counted so far.
  contract_stats stats() const;

  /// Names of the stored presets.
  std::vector<std::string> presets() const;

  /// Replaces the injected faults.
  void set_faults(common::fault_config cfg);

  /// Holds the answer of every task POST with `connection_request` whose
  /// task (named `task_name`, any when empty) ran, for up to `ms` or until
  /// called again with 0; the same as the fault keys `hold_task_reply_ms`
  /// and `hold_task_name` of `POST /_sim/faults`.
  void set_hold(uint32_t ms, std::string task_name);

  /// The injected faults now in force.
  common::fault_config faults() const;

  struct impl;

private:
  explicit server(std::unique_ptr<impl> ptr);

  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::sim::genieacs

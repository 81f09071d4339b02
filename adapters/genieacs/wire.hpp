#pragma once

#include "adapters/genieacs/settings.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <rapidjson/fwd.h>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// The GenieACS NBI wire format as pure functions (no I/O): URLs, task
// bodies, and the reading of answers, including the outcome carried in a
// 202's reason phrase (contracts.md 2).

namespace ispflow::adapters::genieacs {

/// Percent-encodes every byte outside RFC 3986's unreserved set.
std::string url_encode(std::string_view text);

/// The device id as a URL path segment: GenieACS ids are already
/// percent-encoded once (`SR552NA084%2D0003269`); the path needs them
/// encoded again (`SR552NA084%252D0003269`).
std::string path_id(std::string_view device_id);

/// The task's `uniqueKey`: "ispflow:<operation>:<idempotency key>". The same
/// request always gets the same key, so a re-POST replaces a queued task
/// instead of adding one.
std::string unique_key_for(std::string_view operation,
                           std::string_view idempotency_key);

/// `<base>/<collection>/?query=<json>[&projection=<p>]`.
std::string query_url(std::string_view base_url, std::string_view collection,
                      std::string_view query_json,
                      std::string_view projection = {});

/// `<base>/devices/<path_id>/tags/<tag>`: the tag percent-encoded outside
/// `[A-Za-z0-9_-]` (the NBI's route accepts only those and `%`, and
/// decodes the segment once).
std::string tag_url(std::string_view base_url, std::string_view device_id,
                    std::string_view tag);

/// The `_tags` of the first device of a query answer: nothing when the
/// body is not a JSON array; an empty inner value when it holds no device.
std::optional<std::optional<std::vector<std::string>>>
parse_tags(std::string_view body);

/// `<base>/tasks/<task id>` (for DELETE).
std::string task_item_url(std::string_view base_url, std::string_view task_id);

/// `<base>/devices/<path_id>/tasks?connection_request&timeout=<ms>`.
std::string task_url(std::string_view base_url, std::string_view device_id,
                     std::chrono::milliseconds timeout);

/// `{"_deviceId._SerialNumber":serial[,"_deviceId._OUI":oui]
/// [,"_deviceId._ProductClass":pc]}` (empty parts left out).
std::string device_query(std::string_view serial, std::string_view oui,
                         std::string_view product_class);

/// `{"<field>":"<value>"}`.
std::string field_query(std::string_view field, std::string_view value);

/// `{"device":<device>,"uniqueKey":<key>}`.
std::string unique_key_query(std::string_view device, std::string_view key);

/// A setParameterValues task with `uniqueKey`; values are xsd:string.
std::string set_parameters_task(
  const std::vector<std::pair<std::string, std::string>>& values,
  std::string_view unique_key);

/// A factoryReset task with `uniqueKey`.
std::string factory_reset_task(std::string_view unique_key);

/// What a task POST's status and reason phrase mean.
enum class task_result : uint8_t {
  /// 200: executed without a fault.
  done,
  /// 202 "Task queued but not processed": waits for the next inform.
  queued,
  /// 202 "Task faulted": a fault document exists.
  faulted,
  /// Any other 202 phrase: the connection request failed (the phrase is the
  /// error); the task stays queued.
  connection_error,
  /// 202 "Device is offline" (genieacs/genieacs lib/connection-request.ts:
  /// the connection request was refused, reset or timed out): the task stays
  /// queued and runs at the device's next inform.
  offline,
  /// 404: no such device.
  no_device,
  /// Another 4xx.
  rejected,
  /// 5xx or 429.
  server_error,
  /// Anything else (1xx, 3xx, another 2xx).
  unexpected,
};

/// Stable lower-case name, e.g. "connection_error".
std::string_view to_string(task_result x) noexcept;

/// Reads a task POST answer.
task_result classify_task_reply(int status, std::string_view reason) noexcept;

/// The `_id`s of a JSON array of documents; nothing if the body is not one.
std::optional<std::vector<std::string>> parse_ids(std::string_view body);

/// The `_id` of a single JSON document (the echoed task), or nothing.
std::optional<std::string> parse_id(std::string_view body);

/// "<code>: <message>" of the first fault in a JSON array of faults, or
/// nothing when there is none.
std::optional<std::string> first_fault(std::string_view body);

/// The text body, shortened to 300 bytes, or "HTTP <status>" when empty.
std::string error_text(int status, std::string_view body);

/// "tr098", "tr181" or "auto" (for `unknown`).
std::string_view to_string(data_model x) noexcept;

/// Reads "tr098"/"tr-098", "tr181"/"tr-181" or "auto"; nothing otherwise.
std::optional<data_model> parse_data_model(std::string_view text) noexcept;

/// The projection of the device look-up: the id, the product class and the
/// one parameter whose root tells the data model.
std::string device_lookup_projection();

/// A device found by the look-up.
struct device_info {
  /// `_id`.
  std::string id;
  /// `_deviceId._ProductClass`, empty when absent.
  std::string product_class;
  /// The root holding `ManagementServer.ConnectionRequestURL`, `unknown`
  /// when neither does (genieacs/genieacs lib/api-functions.ts
  /// connectionRequest makes the same choice).
  data_model model = data_model::unknown;
};

/// The devices of a JSON array; nothing if the body is not one.
std::optional<std::vector<device_info>> parse_devices(std::string_view body);

/// The data model configure_cpe writes to: the product class's, else the
/// tenant's, else the detected one, else TR-098.
data_model choose_data_model(const tenant_settings& ts,
                             const std::string& product_class,
                             data_model detected);

/// Milliseconds since the epoch of an ISO 8601 UTC time as GenieACS writes
/// it ("2026-12-03T06:50:28.123Z"); nothing when unreadable.
std::optional<int64_t> parse_time_ms(std::string_view text) noexcept;

/// `_lastInform`, `_lastBoot`, `_lastBootstrap` of a device record (ms since
/// the epoch; 0 when absent).
struct device_times {
  int64_t last_inform = 0;
  int64_t last_boot = 0;
  int64_t last_bootstrap = 0;
};

/// The times of the first device of a JSON array; an empty optional inside
/// when the array is empty (no such device); nothing if unreadable.
std::optional<std::optional<device_times>>
parse_device_times(std::string_view body);

/// The `_value`s (as text) of `paths` in the first device of a JSON array;
/// a path the record lacks is absent from the map. An empty optional inside
/// when the array is empty; nothing if unreadable.
std::optional<std::optional<std::map<std::string, std::string>>>
parse_values(std::string_view body, const std::vector<std::string>& paths);

/// The member of a device document at a dotted parameter path (GenieACS
/// nests parameters: {"InternetGatewayDevice":{"WANDevice":{"1":...}}}),
/// or null.
const rapidjson::Value* at_path(const rapidjson::Value& doc,
                                std::string_view path);

} // namespace ispflow::adapters::genieacs

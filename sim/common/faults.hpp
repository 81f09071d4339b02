#pragma once

#include <caf/expected.hpp>
#include <cstdint>
#include <string>
#include <string_view>

namespace ispflow::sim::common {

/// Faults a simulator injects into the requests whose path starts with
/// `path_prefix` (every request when empty). Control paths under `/_sim/`
/// are never affected. JSON form, all keys optional:
/// `{"latency_ms":0,"error_rate":0.0,"status":503,"hang":false,
///   "hang_ms":60000,"reset":false,"apply_then_reset":false,
///   "path_prefix":"","method":"","seed":1,"count":0}`.
struct fault_config {
  /// Delay added before each matching request is handled.
  uint32_t latency_ms = 0;
  /// Fraction (0..1) of matching requests that fail with `status`, or that
  /// are reset / hang when `reset` / `hang` is set. 0 means "all of them"
  /// when `status`, `reset` or `hang` is set.
  double error_rate = 0.0;
  /// Status code of injected failures; 0 = none (503 when only
  /// `error_rate` is given).
  int status = 0;
  /// Hold the request for `hang_ms` (or until the simulator stops), then
  /// reset the connection without an answer.
  bool hang = false;
  /// How long a hang lasts.
  uint32_t hang_ms = 60000;
  /// Reset the connection (TCP RST) before handling the request.
  bool reset = false;
  /// Handle the request (the change is applied), then reset the connection
  /// instead of answering: the unknown-outcome case. Only for methods other
  /// than GET and HEAD.
  bool apply_then_reset = false;
  /// Only requests whose path starts with this are affected.
  std::string path_prefix;
  /// Only requests with this method are affected (any when empty).
  std::string method;
  /// Seed of the random generator behind `error_rate`.
  uint64_t seed = 1;
  /// Number of requests to affect before the faults clear themselves;
  /// 0 = unlimited.
  uint32_t count = 0;

  /// True when no fault is configured.
  bool empty() const noexcept;
};

/// Parses the JSON form; unknown keys are ignored so that a simulator can
/// add its own (e.g. NetBox's `full_prefixes`).
caf::expected<fault_config> parse_faults(std::string_view json);

/// Renders the JSON form.
std::string to_json(const fault_config& cfg);

} // namespace ispflow::sim::common

#pragma once

#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>
#include <cstdint>
#include <string>

namespace ispflow {

/// Error codes that cross ispflow's actor and adapter boundaries.
/// Inside actors, failures travel as `caf::error{errc::…, "detail"}`.
enum class errc : uint8_t {
  /// Must stay distinct from CAF's "no error" (0).
  unspecified = 1,
  /// A configuration key is missing, unknown or of the wrong type.
  invalid_config,
  /// No connection to PostgreSQL, or it broke.
  database_unavailable,
  /// PostgreSQL refused a statement.
  database_error,
  /// A schema migration failed; start-up stops.
  migration_failed,
  /// librdkafka reported an error.
  kafka_error,
  /// An input could not be parsed or failed its schema.
  invalid_input,
  /// The operation did not finish in time.
  timeout,
  /// The component is shutting down.
  shutting_down,
  /// A write made under a partition epoch that another instance has since
  /// claimed (a fenced zombie): refused, nothing written.
  stale_epoch,
};

/// Stable lower-case name of a code, e.g. "database_unavailable".
std::string to_string(errc x);

/// Renders an error of our category with its context for logs.
std::string render_error(const caf::error& err);

} // namespace ispflow

CAF_ERROR_CODE_ENUM(ispflow::errc, "ispflow")

#pragma once

// Private to ispflow_events: RapidJSON-level access to the schema registry.

#include "events/schema_registry.hpp"

#include <optional>
#include <rapidjson/document.h>
#include <string_view>

namespace ispflow::events::detail {

/// Lets our own sources validate an already parsed value (no re-parse).
struct schema_access {
  /// Validates `value` against `type`'s schema; nullopt when valid, else
  /// "unknown_type" or "schema_violation" as schema_registry::validate.
  static std::optional<intake_error> validate(const schema_registry& reg,
                                              std::string_view type,
                                              const rapidjson::Value& value);
};

} // namespace ispflow::events::detail

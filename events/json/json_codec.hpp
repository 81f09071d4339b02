#pragma once

#include <caf/expected.hpp>
#include <string_view>

namespace ispflow::events::json {

/// Decodes the JSON payload of an event of type `T`. The text must be UTF-8
/// JSON that satisfies `T`'s schema (events/schemas); otherwise the error is
/// `errc::invalid_input` with "malformed_json: …" or "schema_violation:
/// <pointer>: <why>". Specialized for each event struct in billing_json.hpp
/// and lifecycle_json.hpp.
template <class T>
caf::expected<T> from_json(std::string_view json);

} // namespace ispflow::events::json

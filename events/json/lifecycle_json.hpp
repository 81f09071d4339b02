#pragma once

#include "events/json/json_codec.hpp"
#include "events/lifecycle_events.hpp"

#include <caf/expected.hpp>
#include <string>
#include <string_view>

// JSON codecs of the lifecycle outputs. `to_json` writes compact JSON that
// validates against the type's schema and omits empty optional fields.

namespace ispflow::events::json {

/// Decodes `subscriber.activated`.
template <>
caf::expected<subscriber_activated>
from_json<subscriber_activated>(std::string_view json);

/// Decodes `subscriber.suspended`.
template <>
caf::expected<subscriber_suspended>
from_json<subscriber_suspended>(std::string_view json);

/// Decodes `subscriber.resumed`.
template <>
caf::expected<subscriber_resumed>
from_json<subscriber_resumed>(std::string_view json);

/// Decodes `subscriber.plan_changed`.
template <>
caf::expected<subscriber_plan_changed>
from_json<subscriber_plan_changed>(std::string_view json);

/// Decodes `subscriber.terminated`.
template <>
caf::expected<subscriber_terminated>
from_json<subscriber_terminated>(std::string_view json);

/// Decodes any `subscriber.<verb>_failed` (they share one schema).
template <>
caf::expected<subscriber_failed>
from_json<subscriber_failed>(std::string_view json);

/// Encodes `subscriber.activated`.
std::string to_json(const subscriber_activated& x);

/// Encodes `subscriber.suspended`.
std::string to_json(const subscriber_suspended& x);

/// Encodes `subscriber.resumed`.
std::string to_json(const subscriber_resumed& x);

/// Encodes `subscriber.plan_changed`.
std::string to_json(const subscriber_plan_changed& x);

/// Encodes `subscriber.terminated`.
std::string to_json(const subscriber_terminated& x);

/// Encodes any `subscriber.<verb>_failed`.
std::string to_json(const subscriber_failed& x);

} // namespace ispflow::events::json

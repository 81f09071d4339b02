#pragma once

#include "events/billing_events.hpp"
#include "events/json/json_codec.hpp"

#include <caf/expected.hpp>
#include <string>
#include <string_view>

// JSON codecs of the billing input payloads. `to_json` writes compact JSON
// that validates against the type's schema and omits empty optional fields.

namespace ispflow::events::json {

/// Decodes `billing.subscription.activated`.
template <>
caf::expected<subscription_activated>
from_json<subscription_activated>(std::string_view json);

/// Decodes `billing.subscription.suspended`.
template <>
caf::expected<subscription_suspended>
from_json<subscription_suspended>(std::string_view json);

/// Decodes `billing.subscription.resumed`.
template <>
caf::expected<subscription_resumed>
from_json<subscription_resumed>(std::string_view json);

/// Decodes `billing.subscription.plan_changed`.
template <>
caf::expected<subscription_plan_changed>
from_json<subscription_plan_changed>(std::string_view json);

/// Decodes `billing.subscription.terminated`.
template <>
caf::expected<subscription_terminated>
from_json<subscription_terminated>(std::string_view json);

/// Encodes `billing.subscription.activated`.
std::string to_json(const subscription_activated& x);

/// Encodes `billing.subscription.suspended`.
std::string to_json(const subscription_suspended& x);

/// Encodes `billing.subscription.resumed`.
std::string to_json(const subscription_resumed& x);

/// Encodes `billing.subscription.plan_changed`.
std::string to_json(const subscription_plan_changed& x);

/// Encodes `billing.subscription.terminated`.
std::string to_json(const subscription_terminated& x);

} // namespace ispflow::events::json

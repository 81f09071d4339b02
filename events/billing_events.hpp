#pragma once

#include <caf/meta/type_name.hpp>
#include <cstdint>
#include <ostream>
#include <string>

// The payloads billing sends on billing.events.v1, one struct per `ce_type`.
// Their JSON Schemas are events/schemas/<type>.json; events/json holds the
// codecs. Optional fields are empty (or -1) when absent.

namespace ispflow::events {

/// The CPE behind an access line.
struct cpe_identity {
  std::string serial;
  std::string oui; ///< 6 hex digits
  std::string product_class;

  friend bool operator==(const cpe_identity&, const cpe_identity&) = default;
};

/// 0.17-style CAF inspection.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cpe_identity& x) {
  return f(caf::meta::type_name("cpe_identity"), x.serial, x.oui,
           x.product_class);
}

/// Where the subscriber is attached to the network.
struct access_identifiers {
  std::string onu_serial; ///< e.g. "ALCL1A2B3C4D"; required for ftth
  int64_t pon_port = -1;  ///< -1 when absent
  std::string nas_port_id;
  std::string nas_identifier;
  cpe_identity cpe; ///< absent when `cpe.serial` is empty

  friend bool operator==(const access_identifiers&, const access_identifiers&)
    = default;
};

/// 0.17-style CAF inspection.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, access_identifiers& x) {
  return f(caf::meta::type_name("access_identifiers"), x.onu_serial, x.pon_port,
           x.nas_port_id, x.nas_identifier, x.cpe);
}

/// PPPoE/RADIUS credentials. `operator<<` never prints the password.
struct subscriber_credentials {
  std::string username;
  std::string password;

  friend bool
  operator==(const subscriber_credentials&, const subscriber_credentials&)
    = default;
};

/// 0.17-style CAF inspection.
template <class Inspector>
typename Inspector::result_type
inspect(Inspector& f, subscriber_credentials& x) {
  return f(caf::meta::type_name("subscriber_credentials"), x.username,
           x.password);
}

/// `billing.subscription.activated`: bring up a subscriber's service.
struct subscription_activated {
  static constexpr const char* event_type = "billing.subscription.activated";
  int32_t schema_version = 1;
  std::string tenant_id;
  std::string subscriber_id;
  std::string effective_at; ///< RFC 3339, may be empty
  std::string plan_id;
  std::string service_type; ///< "ftth", "wireless" or "fixed"
  std::string site;
  std::string account_id;             ///< may be empty
  access_identifiers access;          ///< all fields empty when absent
  subscriber_credentials credentials; ///< absent when username is empty

  friend bool
  operator==(const subscription_activated&, const subscription_activated&)
    = default;
};

/// 0.17-style CAF inspection.
template <class Inspector>
typename Inspector::result_type
inspect(Inspector& f, subscription_activated& x) {
  return f(caf::meta::type_name("subscription_activated"), x.schema_version,
           x.tenant_id, x.subscriber_id, x.effective_at, x.plan_id,
           x.service_type, x.site, x.account_id, x.access, x.credentials);
}

/// `billing.subscription.suspended`: cut service, keep the subscriber.
struct subscription_suspended {
  static constexpr const char* event_type = "billing.subscription.suspended";
  int32_t schema_version = 1;
  std::string tenant_id;
  std::string subscriber_id;
  std::string effective_at;
  std::string reason; ///< "non_payment", "fraud" or "customer_request"

  friend bool
  operator==(const subscription_suspended&, const subscription_suspended&)
    = default;
};

/// 0.17-style CAF inspection.
template <class Inspector>
typename Inspector::result_type
inspect(Inspector& f, subscription_suspended& x) {
  return f(caf::meta::type_name("subscription_suspended"), x.schema_version,
           x.tenant_id, x.subscriber_id, x.effective_at, x.reason);
}

/// `billing.subscription.resumed`: restore a suspended service.
struct subscription_resumed {
  static constexpr const char* event_type = "billing.subscription.resumed";
  int32_t schema_version = 1;
  std::string tenant_id;
  std::string subscriber_id;
  std::string effective_at;

  friend bool
  operator==(const subscription_resumed&, const subscription_resumed&)
    = default;
};

/// 0.17-style CAF inspection.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscription_resumed& x) {
  return f(caf::meta::type_name("subscription_resumed"), x.schema_version,
           x.tenant_id, x.subscriber_id, x.effective_at);
}

/// `billing.subscription.plan_changed`: move to another plan.
struct subscription_plan_changed {
  static constexpr const char* event_type = "billing.subscription.plan_changed";
  int32_t schema_version = 1;
  std::string tenant_id;
  std::string subscriber_id;
  std::string effective_at;
  std::string plan_id;
  std::string previous_plan_id; ///< may be empty

  friend bool
  operator==(const subscription_plan_changed&, const subscription_plan_changed&)
    = default;
};

/// 0.17-style CAF inspection.
template <class Inspector>
typename Inspector::result_type
inspect(Inspector& f, subscription_plan_changed& x) {
  return f(caf::meta::type_name("subscription_plan_changed"), x.schema_version,
           x.tenant_id, x.subscriber_id, x.effective_at, x.plan_id,
           x.previous_plan_id);
}

/// `billing.subscription.terminated`: remove the subscriber everywhere.
struct subscription_terminated {
  static constexpr const char* event_type = "billing.subscription.terminated";
  int32_t schema_version = 1;
  std::string tenant_id;
  std::string subscriber_id;
  std::string effective_at;
  std::string reason; ///< free text, may be empty

  friend bool
  operator==(const subscription_terminated&, const subscription_terminated&)
    = default;
};

/// 0.17-style CAF inspection.
template <class Inspector>
typename Inspector::result_type
inspect(Inspector& f, subscription_terminated& x) {
  return f(caf::meta::type_name("subscription_terminated"), x.schema_version,
           x.tenant_id, x.subscriber_id, x.effective_at, x.reason);
}

/// Prints the fields as `name{field=value, ...}`; never the password.
std::ostream& operator<<(std::ostream& os, const cpe_identity& x);
/// Prints the fields; never the password.
std::ostream& operator<<(std::ostream& os, const access_identifiers& x);
/// Prints the username and "password=***" when one is set.
std::ostream& operator<<(std::ostream& os, const subscriber_credentials& x);
/// Prints the fields; never the password.
std::ostream& operator<<(std::ostream& os, const subscription_activated& x);
/// Prints the fields.
std::ostream& operator<<(std::ostream& os, const subscription_suspended& x);
/// Prints the fields.
std::ostream& operator<<(std::ostream& os, const subscription_resumed& x);
/// Prints the fields.
std::ostream& operator<<(std::ostream& os, const subscription_plan_changed& x);
/// Prints the fields.
std::ostream& operator<<(std::ostream& os, const subscription_terminated& x);

} // namespace ispflow::events

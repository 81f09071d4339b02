#pragma once

#include <caf/meta/type_name.hpp>
#include <cstdint>
#include <ostream>
#include <string>

// What ispflow publishes on lifecycle.events.v1, one struct per outcome.
// Schemas: events/schemas/subscriber.*.json; codecs: events/json.

namespace ispflow::events {

/// `subscriber.activated`: service is up on every network system.
struct subscriber_activated {
  static constexpr const char* event_type = "subscriber.activated";
  int32_t schema_version = 1;
  std::string tenant_id;
  std::string subscriber_id;
  std::string saga_id;
  std::string causation_id; ///< the input's ce_id
  std::string plan_id;
  std::string ip_address; ///< may be empty
  std::string onu_id;     ///< may be empty
  std::string cpe_id;     ///< may be empty

  friend bool
  operator==(const subscriber_activated&, const subscriber_activated&)
    = default;
};

/// 0.17-style CAF inspection.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscriber_activated& x) {
  return f(caf::meta::type_name("subscriber_activated"), x.schema_version,
           x.tenant_id, x.subscriber_id, x.saga_id, x.causation_id, x.plan_id,
           x.ip_address, x.onu_id, x.cpe_id);
}

/// `subscriber.suspended`.
struct subscriber_suspended {
  static constexpr const char* event_type = "subscriber.suspended";
  int32_t schema_version = 1;
  std::string tenant_id;
  std::string subscriber_id;
  std::string saga_id;
  std::string causation_id;

  friend bool
  operator==(const subscriber_suspended&, const subscriber_suspended&)
    = default;
};

/// 0.17-style CAF inspection.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscriber_suspended& x) {
  return f(caf::meta::type_name("subscriber_suspended"), x.schema_version,
           x.tenant_id, x.subscriber_id, x.saga_id, x.causation_id);
}

/// `subscriber.resumed`.
struct subscriber_resumed {
  static constexpr const char* event_type = "subscriber.resumed";
  int32_t schema_version = 1;
  std::string tenant_id;
  std::string subscriber_id;
  std::string saga_id;
  std::string causation_id;

  friend bool operator==(const subscriber_resumed&, const subscriber_resumed&)
    = default;
};

/// 0.17-style CAF inspection.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscriber_resumed& x) {
  return f(caf::meta::type_name("subscriber_resumed"), x.schema_version,
           x.tenant_id, x.subscriber_id, x.saga_id, x.causation_id);
}

/// `subscriber.plan_changed`.
struct subscriber_plan_changed {
  static constexpr const char* event_type = "subscriber.plan_changed";
  int32_t schema_version = 1;
  std::string tenant_id;
  std::string subscriber_id;
  std::string saga_id;
  std::string causation_id;
  std::string plan_id;

  friend bool
  operator==(const subscriber_plan_changed&, const subscriber_plan_changed&)
    = default;
};

/// 0.17-style CAF inspection.
template <class Inspector>
typename Inspector::result_type
inspect(Inspector& f, subscriber_plan_changed& x) {
  return f(caf::meta::type_name("subscriber_plan_changed"), x.schema_version,
           x.tenant_id, x.subscriber_id, x.saga_id, x.causation_id, x.plan_id);
}

/// `subscriber.terminated`.
struct subscriber_terminated {
  static constexpr const char* event_type = "subscriber.terminated";
  int32_t schema_version = 1;
  std::string tenant_id;
  std::string subscriber_id;
  std::string saga_id;
  std::string causation_id;

  friend bool
  operator==(const subscriber_terminated&, const subscriber_terminated&)
    = default;
};

/// 0.17-style CAF inspection.
template <class Inspector>
typename Inspector::result_type
inspect(Inspector& f, subscriber_terminated& x) {
  return f(caf::meta::type_name("subscriber_terminated"), x.schema_version,
           x.tenant_id, x.subscriber_id, x.saga_id, x.causation_id);
}

/// `subscriber.<verb>_failed`, one struct for the five verbs: the saga
/// stopped at `failed_step`. The verb is not in the payload; it is the
/// CloudEvent's type, see `failed_event_type`.
struct subscriber_failed {
  int32_t schema_version = 1;
  std::string tenant_id;
  std::string subscriber_id;
  std::string saga_id;
  std::string causation_id;
  std::string failed_step;
  std::string error;
  bool compensated = false; ///< true if every done step was undone

  friend bool operator==(const subscriber_failed&, const subscriber_failed&)
    = default;
};

/// 0.17-style CAF inspection.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subscriber_failed& x) {
  return f(caf::meta::type_name("subscriber_failed"), x.schema_version,
           x.tenant_id, x.subscriber_id, x.saga_id, x.causation_id,
           x.failed_step, x.error, x.compensated);
}

/// "subscriber.<verb>_failed" for a verb such as "activated".
std::string failed_event_type(const std::string& verb);

/// Prints the fields as `name{field=value, ...}`.
std::ostream& operator<<(std::ostream& os, const subscriber_activated& x);
/// Prints the fields.
std::ostream& operator<<(std::ostream& os, const subscriber_suspended& x);
/// Prints the fields.
std::ostream& operator<<(std::ostream& os, const subscriber_resumed& x);
/// Prints the fields.
std::ostream& operator<<(std::ostream& os, const subscriber_plan_changed& x);
/// Prints the fields.
std::ostream& operator<<(std::ostream& os, const subscriber_terminated& x);
/// Prints the fields.
std::ostream& operator<<(std::ostream& os, const subscriber_failed& x);

} // namespace ispflow::events

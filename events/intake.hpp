#pragma once

#include "events/records.hpp"

#include <caf/meta/type_name.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace ispflow::events {

/// A billing event that passed every intake check, ready for the inbox.
struct accepted_event {
  std::string source;      ///< ce_source
  std::string id;          ///< ce_id; (tenant_id, source, id) is the inbox key
  std::string type;        ///< ce_type
  std::string time;        ///< ce_time (RFC 3339), may be empty
  std::string tenant_id;   ///< ce_tenantid
  std::string subject;     ///< ce_subject: the subscriber id
  std::string traceparent; ///< W3C trace context, may be empty
  std::string data;        ///< the validated JSON payload, compact
  /// Where and what it came from, value included (a record the database
  /// refuses becomes a byte-faithful dead letter).
  kafka_record origin;
  /// Records to publish (through the outbox) if, and only if, this event is
  /// new to the inbox; e.g. the `intake.accepted` saga event.
  std::vector<kafka_record> emits;

  friend bool operator==(const accepted_event&, const accepted_event&)
    = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, accepted_event& x) {
  return f(caf::meta::type_name("accepted_event"), x.source, x.id, x.type,
           x.time, x.tenant_id, x.subject, x.traceparent, x.data, x.origin,
           x.emits);
}

/// Input that intake refused, with a stable reason code and human detail.
/// `record` keeps the original key, value and headers byte for byte.
struct dead_letter {
  std::string error;  ///< machine-readable code, e.g. "schema_violation"
  std::string detail; ///< human text, e.g. "/plan_id: required"
  kafka_record record;
  /// Records to publish if this dead letter is new: the copy for the
  /// dead-letter topic, with `ispflow_error` and `ispflow_error_detail`.
  std::vector<kafka_record> emits;

  friend bool operator==(const dead_letter&, const dead_letter&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dead_letter& x) {
  return f(caf::meta::type_name("dead_letter"), x.error, x.detail, x.record,
           x.emits);
}

/// Everything intake decided about a run of consumed records. The store
/// writes it in one transaction; only then are `commit` offsets committed.
struct intake_batch {
  std::vector<accepted_event> accepted;
  std::vector<dead_letter> rejected;
  std::vector<topic_offset> commit;
  /// Where a dead letter made by the store goes (an accepted event that
  /// PostgreSQL refuses to store); when empty, such a batch fails instead.
  std::string dead_letter_topic;

  friend bool operator==(const intake_batch&, const intake_batch&) = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, intake_batch& x) {
  return f(caf::meta::type_name("intake_batch"), x.accepted, x.rejected,
           x.commit, x.dead_letter_topic);
}

/// What the store did with an intake batch.
struct intake_outcome {
  uint32_t recorded = 0;      ///< new inbox rows
  uint32_t duplicates = 0;    ///< events already in the inbox
  uint32_t dead_lettered = 0; ///< new dead-letter rows

  friend bool operator==(const intake_outcome&, const intake_outcome&)
    = default;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, intake_outcome& x) {
  return f(caf::meta::type_name("intake_outcome"), x.recorded, x.duplicates,
           x.dead_lettered);
}

} // namespace ispflow::events

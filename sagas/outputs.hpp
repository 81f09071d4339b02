#pragma once

#include "events/records.hpp"
#include "sagas/engine.hpp"
#include "sagas/instance.hpp"

#include <cstddef>
#include <functional>
#include <string>

// The engine's emit commands as Kafka records: CloudEvents 1.0 in binary
// mode, payload JSON that validates against events/schemas. The shell calls
// these right after `transition()` and writes the records as outbox rows in
// the same transaction as the instance.
//
// Identity. A transition is written exactly once, together with its outbox
// rows, so a record id only has to be unique. It is
//   ce_id = "<saga id>/<transition time, µs since the epoch>/<index>"
// where the transition time is `inst.updated_at` (the `now` passed to
// `transition`) and `index` is the command's position in the list that
// `transition` returned. The engine's contract already asks the shell for a
// fresh `now` per transition; within one saga, two transitions at the same
// microsecond would need the same `now` twice, which the shell must not do.
//
// Payloads. Saga events carry schema_version, tenant_id, subscriber_id,
// saga_id, saga (name), saga_version, state (the saga's state once the
// transition is durable), step (when the event is about one), causation_id
// (the billing event's ce_id) and the engine's own fields as strings. A
// field whose name clashes with one of these is dropped. Lifecycle events
// carry schema_version, tenant_id, subscriber_id, saga_id, causation_id and
// the engine's fields, with `compensated` as a JSON boolean.
//
// Free text (error, last_error, attention_error, reason) comes from
// adapters and operators: invalid UTF-8 becomes U+FFFD and the text is cut
// to the schema's limit (2048 code points, reason 1024). A failure without
// an error text gets "unspecified error", because billing must always read
// why.

namespace ispflow::sagas {

/// Where and how the records are addressed.
struct output_settings {
  /// Topic of `saga.*` events.
  std::string saga_topic = "saga.events.v1";
  /// Topic of `subscriber.*` events.
  std::string lifecycle_topic = "lifecycle.events.v1";
  /// `ce_source` of every record.
  std::string source = "ispflow";
  /// `ce_time` (RFC 3339). Unset: the transition's time, `inst.updated_at`.
  std::function<std::string()> clock;
  /// W3C trace context of the billing event, passed through when not empty.
  std::string traceparent;
};

/// The record of `ev` for `settings.saga_topic`: ce_type = `ev.type`,
/// ce_subject and key = the subscriber id, ce_tenantid = the tenant,
/// ce_id as above with `index` = the command's position in the transition's
/// output. `inst` is the instance after that transition.
events::kafka_record
saga_event_record(const emit_saga_event& ev, const saga_instance& inst,
                  const output_settings& settings, size_t index);

/// The record of `ev` for `settings.lifecycle_topic`, addressed like
/// `saga_event_record`.
events::kafka_record
lifecycle_record(const emit_lifecycle& ev, const saga_instance& inst,
                 const output_settings& settings, size_t index);

/// The record of a completed drift repair (repair_saga.hpp) for
/// `settings.saga_topic`: `drift.repaired` with the scan id and the
/// findings the repair's payload carries (`drift.scan_id`,
/// `drift.findings.<n>.*`), `saga_id` and `repair` = the saga id.
events::kafka_record drift_repaired_record(const saga_instance& inst,
                                           const output_settings& settings,
                                           size_t index);

/// The records of every emit command in `commands` (the output of one
/// `transition` of `inst`), in order, each with its position as `index`.
/// Other commands are passed over. A repair saga's lifecycle output is
/// `drift_repaired_record` when it completed, and nothing when it failed:
/// repairs are not billing's business.
std::vector<events::kafka_record>
output_records(const std::vector<saga_command>& commands,
               const saga_instance& inst, const output_settings& settings);

/// "<saga id>/<µs of inst.updated_at>/<index>", the ce_id of the record of
/// the command at `index` of `inst`'s latest transition.
std::string output_event_id(const saga_instance& inst, size_t index);

/// `t` as RFC 3339 UTC with microseconds, e.g. "2024-05-01T12:00:00.000250Z".
std::string rfc3339(time_point t);

/// The trace id (32 hex) of the saga's traceparent, for log lines; empty
/// when it has none or it is malformed.
std::string trace_id(const saga_instance& inst);

} // namespace ispflow::sagas

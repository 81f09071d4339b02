#pragma once

#include "adapters/resilience/breaker_registry.hpp"
#include "adapters/resilience/circuit_breaker.hpp"
#include "events/records.hpp"
#include "sagas/outputs.hpp"

#include <chrono>
#include <functional>
#include <string_view>

// Breaker transitions as saga.events.v1 records (design.md §4: "Breakers
// park, they do not fail"; issue 5: transitions go to saga.events.v1).
//
//   to open / forced_open      -> saga.breaker_opened
//   to half_open               -> saga.breaker_half_open
//   to closed / forced_closed  -> saga.breaker_closed
//
// CloudEvents 1.0 in binary mode, like sagas/outputs.hpp:
//   ce_id       "<tenant>/<adapter>/<endpoint>/<µs of `at`>/<to state>"
//   ce_subject  and the record key: "<tenant>/<adapter>/<endpoint>"
//   ce_tenantid the tenant
//   ce_time     settings.clock() if set, else `at`
// The payload validates against events/schemas/saga.breaker_*.json:
// schema_version, tenant_id, adapter, endpoint, from, to, reason,
// failure_rate, slow_call_rate (percent, -1 below the minimum number of
// calls), calls, failed_calls, slow_calls.

namespace ispflow::adapters::resilience {

/// Wall-clock time of a record (ce_time, ce_id).
using wall_time = std::chrono::system_clock::time_point;

/// The ce_type of a transition to `to`: "saga.breaker_opened",
/// "saga.breaker_half_open" or "saga.breaker_closed".
std::string_view breaker_event_type(breaker_state to) noexcept;

/// The record of one transition of the breaker `key`, for
/// `settings.saga_topic`; `at` is the wall-clock time of the change.
events::kafka_record
breaker_transition_record(const breaker_key& key,
                          const breaker_transition& transition,
                          const sagas::output_settings& settings, wall_time at);

/// Sink of `publish_breaker_transitions`: e.g. writes the record as an
/// outbox row. Called on the thread that changed the breaker, outside its
/// lock; keep it short and thread-safe.
using breaker_record_sink = std::function<void(events::kafka_record)>;

/// Registers a listener on `registry` that turns every transition of every
/// breaker (existing and future) into `breaker_transition_record(..., now)`
/// and hands it to `sink`. Listeners cannot be removed: `sink` must stay
/// callable as long as the registry lives.
void publish_breaker_transitions(breaker_registry& registry,
                                 breaker_record_sink sink,
                                 sagas::output_settings settings);

} // namespace ispflow::adapters::resilience

#pragma once

// The one CAF type-ID block of ispflow. Every type that travels in a message
// between our actors is registered here, and every atom is declared here.

#include "events/adapter_messages.hpp"
#include "events/intake.hpp"
#include "events/records.hpp"

#include <caf/type_id.hpp>
#include <vector>

CAF_BEGIN_TYPE_ID_BLOCK(ispflow, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(ispflow, (ispflow::events::kafka_header))
  CAF_ADD_TYPE_ID(ispflow, (ispflow::events::kafka_record))
  CAF_ADD_TYPE_ID(ispflow, (std::vector<ispflow::events::kafka_record>) )
  CAF_ADD_TYPE_ID(ispflow, (ispflow::events::topic_offset))
  CAF_ADD_TYPE_ID(ispflow, (std::vector<ispflow::events::topic_offset>) )
  CAF_ADD_TYPE_ID(ispflow, (ispflow::events::accepted_event))
  CAF_ADD_TYPE_ID(ispflow, (ispflow::events::dead_letter))
  CAF_ADD_TYPE_ID(ispflow, (ispflow::events::intake_batch))
  CAF_ADD_TYPE_ID(ispflow, (ispflow::events::intake_outcome))

  // Adapter interface (events/adapter_messages.hpp).
  CAF_ADD_TYPE_ID(ispflow, (ispflow::events::adapter_request))
  CAF_ADD_TYPE_ID(ispflow, (ispflow::events::adapter_reply))
  // Kafka partitions owned (saga store queries).
  CAF_ADD_TYPE_ID(ispflow, (std::vector<int32_t>) )
  // The saga engine's local-only messages (saga instances, store writes,
  // startable events) carry std::optional and std::variant, which CAF 0.17
  // cannot inspect: they are declared with CAF_ALLOW_UNSAFE_MESSAGE_TYPE in
  // actors/saga_interfaces.hpp and never leave the process.

  CAF_ADD_ATOM(ispflow, ispflow, record_atom, "record")
  CAF_ADD_ATOM(ispflow, ispflow, consume_atom, "consume")
  CAF_ADD_ATOM(ispflow, ispflow, commit_atom, "commit")
  CAF_ADD_ATOM(ispflow, ispflow, relay_atom, "relay")
  CAF_ADD_ATOM(ispflow, ispflow, tick_atom, "tick")
  CAF_ADD_ATOM(ispflow, ispflow, stop_atom, "stop")

  // Saga engine actors (actors/saga_*.hpp, actors/timer.hpp, adapters/api).
  CAF_ADD_ATOM(ispflow, ispflow, invoke_atom, "invoke")
  CAF_ADD_ATOM(ispflow, ispflow, schedule_atom, "schedule")
  CAF_ADD_ATOM(ispflow, ispflow, fire_atom, "fire")
  CAF_ADD_ATOM(ispflow, ispflow, save_atom, "save")
  CAF_ADD_ATOM(ispflow, ispflow, next_atom, "next")
  CAF_ADD_ATOM(ispflow, ispflow, skip_atom, "skip")
  CAF_ADD_ATOM(ispflow, ispflow, load_atom, "load")
  CAF_ADD_ATOM(ispflow, ispflow, status_atom, "status")
  CAF_ADD_ATOM(ispflow, ispflow, nudge_atom, "nudge")
  CAF_ADD_ATOM(ispflow, ispflow, done_atom, "done")
  CAF_ADD_ATOM(ispflow, ispflow, gc_flush_atom, "gcflush")
  CAF_ADD_ATOM(ispflow, ispflow, rewrite_atom, "rewrite")

  // Adapters, resilience and simulators (adapters/*, sim/). Their local-only
  // message types are declared with CAF_ALLOW_UNSAFE_MESSAGE_TYPE next to
  // their definitions.
  CAF_ADD_ATOM(ispflow, ispflow, http_atom, "http")
  CAF_ADD_ATOM(ispflow, ispflow, http_done_atom, "httpdone")
  CAF_ADD_ATOM(ispflow, ispflow, probe_atom, "probe")
  CAF_ADD_ATOM(ispflow, ispflow, breaker_atom, "breaker")
  CAF_ADD_ATOM(ispflow, ispflow, open_atom, "open")
  CAF_ADD_ATOM(ispflow, ispflow, close_atom, "close")
  CAF_ADD_ATOM(ispflow, ispflow, send_atom, "send")
  CAF_ADD_ATOM(ispflow, ispflow, reply_atom, "reply")
  CAF_ADD_ATOM(ispflow, ispflow, timeout_atom, "timeout")
  CAF_ADD_ATOM(ispflow, ispflow, poll_atom, "poll")
  CAF_ADD_ATOM(ispflow, ispflow, coa_atom, "coa")
  CAF_ADD_ATOM(ispflow, ispflow, disconnect_atom, "disconnect")
  CAF_ADD_ATOM(ispflow, ispflow, grpc_atom, "grpc")

  // Operators (admin API -> router / saga actors) and metrics.
  CAF_ADD_ATOM(ispflow, ispflow, retry_atom, "retry")
  CAF_ADD_ATOM(ispflow, ispflow, cancel_atom, "cancel")
  CAF_ADD_ATOM(ispflow, ispflow, replay_atom, "replay")
  CAF_ADD_ATOM(ispflow, ispflow, redrive_atom, "redrive")
  CAF_ADD_ATOM(ispflow, ispflow, metrics_atom, "metrics")
  CAF_ADD_ATOM(ispflow, ispflow, health_atom, "health")

CAF_END_TYPE_ID_BLOCK(ispflow)

#pragma once

// The one CAF type-ID block of ispflow. Every type that travels in a message
// between our actors is registered here, and every atom is declared here.

#include <vector>

#include <caf/type_id.hpp>

#include "events/intake.hpp"
#include "events/records.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(ispflow, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(ispflow, (ispflow::events::kafka_header))
  CAF_ADD_TYPE_ID(ispflow, (ispflow::events::kafka_record))
  CAF_ADD_TYPE_ID(ispflow, (std::vector<ispflow::events::kafka_record>))
  CAF_ADD_TYPE_ID(ispflow, (ispflow::events::topic_offset))
  CAF_ADD_TYPE_ID(ispflow, (std::vector<ispflow::events::topic_offset>))
  CAF_ADD_TYPE_ID(ispflow, (ispflow::events::accepted_event))
  CAF_ADD_TYPE_ID(ispflow, (ispflow::events::dead_letter))
  CAF_ADD_TYPE_ID(ispflow, (ispflow::events::intake_batch))
  CAF_ADD_TYPE_ID(ispflow, (ispflow::events::intake_outcome))

  CAF_ADD_ATOM(ispflow, ispflow, record_atom, "record")
  CAF_ADD_ATOM(ispflow, ispflow, consume_atom, "consume")
  CAF_ADD_ATOM(ispflow, ispflow, commit_atom, "commit")
  CAF_ADD_ATOM(ispflow, ispflow, relay_atom, "relay")
  CAF_ADD_ATOM(ispflow, ispflow, tick_atom, "tick")
  CAF_ADD_ATOM(ispflow, ispflow, stop_atom, "stop")

CAF_END_TYPE_ID_BLOCK(ispflow)

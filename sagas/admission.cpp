#include "sagas/admission.hpp"

#include "sagas/lifecycle_sagas.hpp"
#include "sagas/repair_saga.hpp"

#include <ostream>

namespace ispflow::sagas {

namespace {

admission_decision start(std::string_view saga) {
  return {std::string{saga}, {}, {}};
}

admission_decision refuse(std::string_view reason, std::string_view event_type,
                          subscriber_state state) {
  return {{},
          std::string{reason},
          std::string{event_type} + " for a subscriber in state "
            + std::string{to_string(state)}};
}

} // namespace

std::string_view to_string(subscriber_state x) noexcept {
  switch (x) {
    case subscriber_state::none:
      return "none";
    case subscriber_state::active:
      return "active";
    case subscriber_state::suspended:
      return "suspended";
    case subscriber_state::terminated:
      return "terminated";
    case subscriber_state::unknown:
      return "unknown";
  }
  return "unknown";
}

std::optional<subscriber_state>
parse_subscriber_state(std::string_view str) noexcept {
  for (auto x : {subscriber_state::none, subscriber_state::active,
                 subscriber_state::suspended, subscriber_state::terminated,
                 subscriber_state::unknown})
    if (to_string(x) == str)
      return x;
  return std::nullopt;
}

std::ostream& operator<<(std::ostream& os, subscriber_state x) {
  return os << to_string(x);
}

std::ostream& operator<<(std::ostream& os, const admission_decision& x) {
  if (x.starts())
    return os << "start " << x.saga;
  return os << "dead_letter " << x.reason << ": " << x.detail;
}

admission_decision admit(subscriber_state state, std::string_view event_type) {
  namespace r = admission_reasons;
  auto saga = saga_for_event_type(event_type);
  if (!saga)
    return refuse(r::unknown_type, event_type, state);
  auto refused = [&](std::string_view reason) {
    return refuse(reason, event_type, state);
  };
  // Terminate ends the contract: it runs from every state but terminated.
  if (*saga == terminate_saga)
    return state == subscriber_state::terminated
             ? refused(r::subscriber_terminated)
             : start(*saga);
  switch (state) {
    case subscriber_state::none:
      return *saga == activate_saga ? start(*saga)
                                    : refused(r::subscriber_not_active);
    case subscriber_state::active:
      if (*saga == suspend_saga || *saga == change_plan_saga)
        return start(*saga);
      return refused(r::already_active); // activate, resume
    case subscriber_state::suspended:
      // Suspend again: idempotent, and a new reason may change the policy.
      if (*saga == suspend_saga || *saga == resume_saga)
        return start(*saga);
      // A plan change would lift the suspension with the new plan group.
      return refused(r::subscriber_suspended); // activate, change_plan
    case subscriber_state::terminated:
      return *saga == activate_saga ? start(*saga)
                                    : refused(r::subscriber_terminated);
    case subscriber_state::unknown:
      return refused(r::subscriber_needs_attention);
  }
  return refused(r::subscriber_needs_attention);
}

admission_decision admit(subscriber_state state, std::string_view event_type,
                         const field_map& payload) {
  if (event_type != repair_event_type)
    return admit(state, event_type);
  auto i = payload.find(std::string{repair_state_key});
  auto found = i == payload.end() ? std::string{"none"} : i->second;
  if ((state != subscriber_state::active
       && state != subscriber_state::suspended)
      || to_string(state) != found)
    return {{},
            std::string{admission_reasons::drift_repair_stale},
            std::string{event_type} + " planned for a subscriber in state "
              + found + ", now in state " + std::string{to_string(state)}};
  return start(repair_saga);
}

subscriber_state next_state(subscriber_state before, std::string_view saga,
                            saga_state outcome) {
  bool known = false;
  for (auto name : {activate_saga, suspend_saga, resume_saga, change_plan_saga,
                    terminate_saga})
    known = known || saga == name;
  if (!known)
    return before;
  switch (outcome) {
    case saga_state::completed:
      if (saga == activate_saga || saga == resume_saga)
        return subscriber_state::active;
      if (saga == suspend_saga)
        return subscriber_state::suspended;
      if (saga == terminate_saga)
        return subscriber_state::terminated;
      return before; // change_plan keeps active or suspended
    case saga_state::needs_attention:
      // Stopped half-way: nobody knows what the network holds.
      return subscriber_state::unknown;
    default:
      // Undone (compensated, cancelled) or not over yet.
      return before;
  }
}

saga_state settled_outcome(const saga_definition& def,
                           const saga_instance& inst) {
  if (inst.state != saga_state::cancelled)
    return inst.state;
  for (size_t i = 0; i < inst.steps.size() && i < def.steps.size(); ++i) {
    auto& rec = inst.steps[i];
    if (def.forward_only && rec.state == step_state::succeeded)
      return saga_state::needs_attention; // partly done, never undone
    if (!def.steps[i].compensable())
      continue;
    if (rec.state == step_state::succeeded
        || rec.state == step_state::compensating
        || (rec.state == step_state::failed && rec.reconcile))
      return saga_state::needs_attention; // abandoned with effects left
  }
  return saga_state::cancelled;
}

} // namespace ispflow::sagas

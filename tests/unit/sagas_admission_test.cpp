// Colliding billing events: the admission table for every state and input
// type, how every saga outcome moves the subscriber, and the collisions of
// issue 3 played through real saga instances.
#include "sagas/admission.hpp"
#include "sagas/engine.hpp"
#include "sagas/lifecycle_sagas.hpp"

#include <functional>
#include <gtest/gtest.h>
#include <map>
#include <optional>
#include <sstream>
#include <tuple>

using namespace ispflow::sagas;
using namespace std::chrono_literals;

namespace {

constexpr auto none = subscriber_state::none;
constexpr auto active = subscriber_state::active;
constexpr auto suspended = subscriber_state::suspended;
constexpr auto terminated = subscriber_state::terminated;
constexpr auto unknown = subscriber_state::unknown;

const std::vector<subscriber_state> all_states{none, active, suspended,
                                               terminated, unknown};

const std::vector<std::string> input_types{
  "billing.subscription.activated",  "billing.subscription.suspended",
  "billing.subscription.resumed",    "billing.subscription.plan_changed",
  "billing.subscription.terminated",
};

const std::vector<std::string> saga_names{"activate", "suspend", "resume",
                                          "change_plan", "terminate"};

const std::vector<saga_state> all_outcomes{
  saga_state::pending,     saga_state::running,
  saga_state::completed,   saga_state::compensating,
  saga_state::compensated, saga_state::needs_attention,
  saga_state::cancelled,
};

// The documented table: a saga name starts it, anything else is the reason.
// Columns follow `input_types`.
const std::map<subscriber_state, std::vector<std::string>> admission_table{
  {none,
   {"activate", "subscriber_not_active", "subscriber_not_active",
    "subscriber_not_active", "terminate"}},
  {active,
   {"already_active", "suspend", "already_active", "change_plan", "terminate"}},
  {suspended,
   {"subscriber_suspended", "suspend", "resume", "subscriber_suspended",
    "terminate"}},
  {terminated,
   {"activate", "subscriber_terminated", "subscriber_terminated",
    "subscriber_terminated", "subscriber_terminated"}},
  {unknown,
   {"subscriber_needs_attention", "subscriber_needs_attention",
    "subscriber_needs_attention", "subscriber_needs_attention", "terminate"}},
};

std::string summary(const admission_decision& x) {
  return x.starts() ? x.saga : x.reason;
}

// Drives a real instance of `def` until it finishes, answering every
// operation with `answer` (by step name and whether it is an undo).
saga_instance
run_saga(saga_definition def,
         std::function<step_outcome(const operation_call&, bool)> answer,
         std::vector<saga_input> operator_inputs = {}) {
  auto now = time_point{} + 1'000'000s;
  uniform_random_source random = [] { return 0.5; };
  auto inst = make_instance(
    def, {"s-1", "acme", "sub-1", "ftth", "evt-1", {{"plan_id", "gold"}}}, now);
  auto out = transition(def, inst, start_saga{full_tenant_profile()}, now,
                        random);
  for (int guard = 0; guard < 100; ++guard) {
    std::optional<saga_input> next;
    for (auto& cmd : out) {
      if (std::holds_alternative<finished>(cmd)) {
        if (operator_inputs.empty())
          return inst;
        next = operator_inputs.front();
        operator_inputs.erase(operator_inputs.begin());
      } else if (auto x = std::get_if<run_step>(&cmd)) {
        next = step_result{x->call.step, x->call.generation,
                           answer(x->call, false)};
      } else if (auto y = std::get_if<run_compensation>(&cmd)) {
        next = step_result{y->call.step, y->call.generation,
                           answer(y->call, true)};
      } else if (auto t = std::get_if<schedule_timer>(&cmd)) {
        now = t->due;
        next = timer_fired{t->step, t->generation};
      }
    }
    if (!next)
      return inst;
    now += 10ms;
    out = transition(def, inst, *next, now, random);
  }
  ADD_FAILURE() << "saga did not finish";
  return inst;
}

step_outcome ok(const operation_call&, bool) {
  return step_succeeded{};
}

} // namespace

// -- states -------------------------------------------------------------------

TEST(subscriber_state, names_round_trip) {
  for (auto x : all_states) {
    EXPECT_EQ(parse_subscriber_state(to_string(x)), x);
    std::ostringstream os;
    os << x;
    EXPECT_EQ(os.str(), to_string(x));
  }
  EXPECT_EQ(to_string(none), "none");
  EXPECT_EQ(to_string(unknown), "unknown");
  EXPECT_EQ(parse_subscriber_state("activating"), std::nullopt);
}

// -- admission ----------------------------------------------------------------

TEST(admission, follows_the_documented_table_for_every_state_and_input) {
  ASSERT_EQ(admission_table.size(), all_states.size());
  for (auto state : all_states) {
    for (size_t i = 0; i < input_types.size(); ++i) {
      auto decision = admit(state, input_types[i]);
      EXPECT_EQ(summary(decision), admission_table.at(state)[i])
        << to_string(state) << " x " << input_types[i];
      // Exactly one of saga and reason is set.
      EXPECT_NE(decision.saga.empty(), decision.reason.empty());
      if (!decision.starts()) {
        EXPECT_EQ(decision.detail, input_types[i]
                                     + " for a subscriber in state "
                                     + std::string{to_string(state)});
      } else {
        EXPECT_EQ(decision.saga, saga_for_event_type(input_types[i]));
      }
    }
  }
}

TEST(admission, refuses_an_event_type_that_starts_no_saga) {
  for (auto state : all_states) {
    for (auto type :
         {"billing.subscription.paused", "subscriber.activated", ""}) {
      auto decision = admit(state, type);
      EXPECT_FALSE(decision.starts());
      EXPECT_EQ(decision.reason, admission_reasons::unknown_type);
    }
  }
}

TEST(admission, prints_the_decision) {
  std::ostringstream os;
  os << admit(active, "billing.subscription.suspended") << " | "
     << admit(none, "billing.subscription.resumed");
  EXPECT_EQ(os.str(), "start suspend | dead_letter subscriber_not_active: "
                      "billing.subscription.resumed for a subscriber in "
                      "state none");
}

// -- next state ---------------------------------------------------------------

TEST(next_state, completed_sagas_set_the_state_they_stand_for) {
  for (auto before : all_states) {
    EXPECT_EQ(next_state(before, "activate", saga_state::completed), active);
    EXPECT_EQ(next_state(before, "suspend", saga_state::completed), suspended);
    EXPECT_EQ(next_state(before, "resume", saga_state::completed), active);
    EXPECT_EQ(next_state(before, "terminate", saga_state::completed),
              terminated);
    EXPECT_EQ(next_state(before, "change_plan", saga_state::completed), before);
  }
}

TEST(next_state, covers_every_state_saga_and_outcome) {
  for (auto before : all_states) {
    for (auto& saga : saga_names) {
      for (auto outcome : all_outcomes) {
        auto after = next_state(before, saga, outcome);
        SCOPED_TRACE(std::string{to_string(before)} + " " + saga + " "
                     + std::string{to_string(outcome)});
        if (outcome == saga_state::needs_attention) {
          EXPECT_EQ(after, unknown);
        } else if (outcome != saga_state::completed) {
          // Undone, or not over yet.
          EXPECT_EQ(after, before);
        }
      }
    }
    EXPECT_EQ(next_state(before, "reboot", saga_state::completed), before);
    EXPECT_EQ(next_state(before, "reboot", saga_state::needs_attention),
              before);
  }
}

// -- outcomes of real instances
// -------------------------------------------------

TEST(settled_outcome, is_the_saga_state_for_every_ordinary_end) {
  auto def = make_activate_definition();
  auto done = run_saga(def, ok);
  EXPECT_EQ(done.state, saga_state::completed);
  EXPECT_EQ(settled_outcome(def, done), saga_state::completed);

  auto undone = run_saga(def, [](const operation_call& call, bool undo) {
    if (!undo && call.step_name == "configure_cpe")
      return step_outcome{step_permanent_failure{"genieacs: 400"}};
    return step_outcome{step_succeeded{}};
  });
  EXPECT_EQ(undone.state, saga_state::compensated);
  EXPECT_EQ(settled_outcome(def, undone), saga_state::compensated);
}

TEST(settled_outcome, cancel_that_undid_everything_is_cancelled) {
  auto def = make_activate_definition();
  auto inst = make_instance(def, {"s-1", "acme", "sub-1", "ftth", "evt-1", {}},
                            time_point{});
  uniform_random_source random = [] { return 0.5; };
  transition(def, inst, start_saga{full_tenant_profile()}, time_point{} + 1s,
             random);
  transition(def, inst, cancel_requested{"oops"}, time_point{} + 2s, random);
  // The attempt in flight answers; its effect is undone.
  transition(def, inst, step_result{0, 0, step_succeeded{}}, time_point{} + 3s,
             random);
  transition(def, inst, step_result{0, 0, step_succeeded{}}, time_point{} + 4s,
             random);
  ASSERT_EQ(inst.state, saga_state::cancelled);
  EXPECT_EQ(settled_outcome(def, inst), saga_state::cancelled);
  EXPECT_EQ(next_state(none, "activate", settled_outcome(def, inst)), none);
}

TEST(settled_outcome, abandoned_compensation_counts_as_needs_attention) {
  auto def = make_activate_definition();
  auto inst = run_saga(
    def,
    [](const operation_call& call, bool undo) {
      if (!undo && call.step_name == "provision_radius")
        return step_outcome{step_permanent_failure{"radius: user exists"}};
      if (undo)
        return step_outcome{step_permanent_failure{"netbox: 500"}};
      return step_outcome{step_succeeded{}};
    },
    {cancel_requested{"cleaned up by hand"}});
  ASSERT_EQ(inst.state, saga_state::cancelled);
  EXPECT_EQ(settled_outcome(def, inst), saga_state::needs_attention);
  EXPECT_EQ(next_state(none, "activate", settled_outcome(def, inst)), unknown);
}

TEST(settled_outcome, cancelled_terminate_after_a_done_step_is_half_done) {
  auto def = make_terminate_definition();
  auto inst
    = run_saga(def,
               [](const operation_call& call, bool) {
                 if (call.step_name == "release_ip")
                   return step_outcome{step_permanent_failure{"netbox: 500"}};
                 return step_outcome{step_succeeded{}};
               },
               {cancel_requested{"giving up"}});
  ASSERT_EQ(inst.state, saga_state::cancelled);
  EXPECT_EQ(settled_outcome(def, inst), saga_state::needs_attention);
  EXPECT_EQ(next_state(active, "terminate", settled_outcome(def, inst)),
            unknown);
  // From there only terminate gets in.
  EXPECT_TRUE(admit(unknown, "billing.subscription.terminated").starts());
  EXPECT_EQ(admit(unknown, "billing.subscription.resumed").reason,
            admission_reasons::subscriber_needs_attention);
}

TEST(settled_outcome, terminate_cancelled_before_it_started_changed_nothing) {
  auto def = make_terminate_definition();
  auto inst = make_instance(def, {"s-1", "acme", "sub-1", "ftth", "evt-1", {}},
                            time_point{});
  uniform_random_source random = [] { return 0.5; };
  transition(def, inst, cancel_requested{"duplicate"}, time_point{} + 1s,
             random);
  ASSERT_EQ(inst.state, saga_state::cancelled);
  EXPECT_EQ(settled_outcome(def, inst), saga_state::cancelled);
  EXPECT_EQ(next_state(suspended, "terminate", settled_outcome(def, inst)),
            suspended);
}

// -- the collisions of issue 3
// --------------------------------------------------

TEST(collisions, suspend_during_activation_runs_once_the_activation_completed) {
  auto def = make_activate_definition();
  auto inst = run_saga(def, ok);
  auto state = next_state(none, "activate", settled_outcome(def, inst));
  EXPECT_EQ(state, active);
  EXPECT_EQ(admit(state, "billing.subscription.suspended").saga, "suspend");
}

TEST(collisions, suspend_during_activation_is_refused_once_it_was_undone) {
  auto def = make_activate_definition();
  auto inst = run_saga(def, [](const operation_call& call, bool undo) {
    if (!undo && call.step_name == "run_activation_job")
      return step_outcome{step_permanent_failure{"awx: playbook failed"}};
    return step_outcome{step_succeeded{}};
  });
  auto state = next_state(none, "activate", settled_outcome(def, inst));
  EXPECT_EQ(state, none);
  EXPECT_EQ(admit(state, "billing.subscription.suspended").reason,
            admission_reasons::subscriber_not_active);
}

TEST(collisions, terminate_while_suspended_runs) {
  EXPECT_EQ(admit(suspended, "billing.subscription.terminated").saga,
            "terminate");
  EXPECT_EQ(next_state(suspended, "terminate", saga_state::completed),
            terminated);
}

TEST(collisions, plan_change_for_a_never_activated_subscriber_is_refused) {
  auto decision = admit(none, "billing.subscription.plan_changed");
  EXPECT_FALSE(decision.starts());
  EXPECT_EQ(decision.reason, "subscriber_not_active");
}

TEST(collisions, a_whole_subscriber_life_moves_through_the_states) {
  auto state = none;
  for (auto [type, saga, want] :
       std::vector<std::tuple<std::string, std::string, subscriber_state>>{
         {"billing.subscription.activated", "activate", active},
         {"billing.subscription.plan_changed", "change_plan", active},
         {"billing.subscription.suspended", "suspend", suspended},
         {"billing.subscription.suspended", "suspend", suspended},
         {"billing.subscription.resumed", "resume", active},
         {"billing.subscription.suspended", "suspend", suspended},
         {"billing.subscription.terminated", "terminate", terminated},
         {"billing.subscription.activated", "activate", active},
       }) {
    auto decision = admit(state, type);
    ASSERT_EQ(decision.saga, saga) << decision;
    state = next_state(state, decision.saga, saga_state::completed);
    EXPECT_EQ(state, want) << type;
  }
}

// The transition function driven by hand: one input at a time, a fake clock,
// scripted jitter.
#include "sagas/engine.hpp"
#include "sagas/lifecycle_sagas.hpp"

#include <gtest/gtest.h>
#include <memory>

using namespace ispflow::sagas;
using namespace std::chrono_literals;

namespace {

template <class T>
std::vector<T> all_of(const std::vector<saga_command>& cmds) {
  std::vector<T> result;
  for (auto& cmd : cmds)
    if (auto x = std::get_if<T>(&cmd))
      result.push_back(*x);
  return result;
}

template <class T>
T one_of(const std::vector<saga_command>& cmds) {
  auto xs = all_of<T>(cmds);
  EXPECT_EQ(xs.size(), 1u);
  return xs.empty() ? T{} : xs.front();
}

std::vector<std::string> saga_event_types(const std::vector<saga_command>& c) {
  std::vector<std::string> result;
  for (auto& e : all_of<emit_saga_event>(c))
    result.push_back(e.type);
  return result;
}

struct fixture : testing::Test {
  saga_definition def = make_activate_definition();
  saga_instance inst;
  time_point now = time_point{} + 1'000'000s;
  uniform_random_source random = [] { return 0.5; };
  std::vector<saga_command> out;

  void make(saga_definition d, std::string service_type = "ftth") {
    def = std::move(d);
    inst = make_instance(def,
                         {"s-1",
                          "t-1",
                          "sub-1",
                          std::move(service_type),
                          "ce-1",
                          {{"plan_id", "gold"}}},
                         now);
  }

  const std::vector<saga_command>& feed(saga_input in) {
    out = transition(def, inst, in, now, random);
    return out;
  }

  const std::vector<saga_command>&
  start(tenant_profile t = full_tenant_profile()) {
    return feed(start_saga{std::move(t)});
  }

  const std::vector<saga_command>& answer(step_outcome o) {
    return feed(step_result{inst.cursor, inst.generation, std::move(o)});
  }

  const std::vector<saga_command>& fire() {
    auto t = one_of<schedule_timer>(out);
    now = t.due;
    return feed(timer_fired{t.step, t.generation});
  }

  operation_call action() {
    return one_of<run_step>(out).call;
  }

  operation_call undo() {
    return one_of<run_compensation>(out).call;
  }
};

using engine = fixture;

} // namespace

TEST_F(engine, starts_with_the_first_step_and_its_key) {
  make(make_activate_definition());
  start();
  EXPECT_EQ(inst.state, saga_state::running);
  EXPECT_EQ(saga_event_types(out),
            (std::vector<std::string>{"saga.started", "saga.step_started"}));
  auto call = action();
  EXPECT_EQ(call.operation, "netbox.allocate_ip");
  EXPECT_EQ(call.system, target_system::netbox);
  EXPECT_EQ(call.idempotency_key, "s-1/allocate_ip/0");
  EXPECT_FALSE(call.reconcile);
  EXPECT_EQ(call.attempt_timeout, def.steps[0].attempt_timeout);
  EXPECT_EQ(call.input.at("plan_id"), "gold");
  EXPECT_EQ(inst.steps[0].state, step_state::running);
  EXPECT_EQ(inst.steps[0].first_attempt_at, now);
  EXPECT_TRUE(feed(start_saga{}).empty()); // a second start changes nothing
}

TEST_F(engine, shows_earlier_outputs_to_later_steps) {
  make(make_activate_definition());
  start();
  answer(step_succeeded{{{"ip_address", "100.64.0.7"}}});
  EXPECT_EQ(inst.steps[0].state, step_state::succeeded);
  EXPECT_EQ(inst.steps[0].output.at("ip_address"), "100.64.0.7");
  auto call = action();
  EXPECT_EQ(call.operation, "radius.provision");
  EXPECT_EQ(call.input.at("ip_address"), "100.64.0.7");
  EXPECT_EQ(call.idempotency_key, "s-1/provision_radius/0");
}

TEST_F(engine, retries_with_backoff_under_the_same_key_then_succeeds) {
  make(make_activate_definition());
  start();
  auto t0 = now;
  answer(step_retryable_failure{"503 from NetBox"});
  // initial 1 s, jitter 0.5 → 500 ms
  EXPECT_EQ(one_of<schedule_timer>(out).due, t0 + 500ms);
  EXPECT_TRUE(all_of<run_step>(out).empty());
  EXPECT_EQ(inst.steps[0].next_attempt_at, t0 + 500ms);
  fire();
  EXPECT_EQ(action().idempotency_key, "s-1/allocate_ip/0");
  answer(step_retryable_failure{"503 again"});
  EXPECT_EQ(one_of<schedule_timer>(out).due, now + 1'000ms); // 0.5 × 2 s
  fire();
  EXPECT_EQ(action().idempotency_key, "s-1/allocate_ip/0");
  answer(step_succeeded{{{"ip_address", "100.64.0.7"}}});
  EXPECT_EQ(inst.steps[0].state, step_state::succeeded);
  EXPECT_EQ(inst.steps[0].attempts, 3);
  EXPECT_EQ(inst.steps[0].first_attempt_at, t0);
  EXPECT_EQ(action().operation, "radius.provision");
}

TEST_F(engine, fails_a_step_when_attempts_are_exhausted) {
  make(make_change_plan_definition());
  start();
  for (int i = 1; i < def.steps[0].retry.max_attempts; ++i) {
    answer(step_retryable_failure{"db busy"});
    fire();
  }
  answer(step_retryable_failure{"db busy"});
  EXPECT_EQ(inst.steps[0].state, step_state::failed);
  EXPECT_EQ(inst.steps[0].attempts, def.steps[0].retry.max_attempts);
  EXPECT_EQ(inst.state, saga_state::compensated); // nothing was done
  EXPECT_EQ(inst.error, "attempts exhausted (5): db busy");
  auto lc = one_of<emit_lifecycle>(out);
  EXPECT_EQ(lc.type, "subscriber.plan_changed_failed");
  EXPECT_EQ(lc.fields.at("failed_step"), "set_plan_group");
  EXPECT_EQ(lc.fields.at("compensated"), "true");
  EXPECT_EQ(one_of<finished>(out).state, saga_state::compensated);
}

TEST_F(engine, reconciles_after_an_unknown_outcome_with_the_same_key) {
  make(make_activate_definition());
  start();
  answer(step_unknown_outcome{"no answer within 30 s"});
  EXPECT_TRUE(inst.steps[0].reconcile);
  EXPECT_EQ(inst.steps[0].attempts, 1);
  fire();
  auto call = action();
  EXPECT_TRUE(call.reconcile);
  EXPECT_EQ(call.idempotency_key, "s-1/allocate_ip/0");
  answer(step_succeeded{{{"ip_address", "100.64.0.7"}}});
  EXPECT_FALSE(inst.steps[0].reconcile);
  EXPECT_FALSE(action().reconcile); // the next step starts clean
}

TEST_F(engine, a_step_parked_with_an_effect_under_way_reconciles_next) {
  make(make_activate_definition());
  start();
  // A breaker or a tenant limit parks before anything is sent: the next
  // attempt acts as before.
  answer(step_parked{10s, "breaker open"});
  fire();
  EXPECT_FALSE(action().reconcile);
  // A job under way (the adapter named it): the next attempt looks first,
  // so that an adapter that lost track of it does not start it again.
  step_parked polling{10s, "AWX job 7 is running"};
  polling.under_way = true;
  answer(polling);
  EXPECT_TRUE(inst.steps[0].reconcile);
  fire();
  auto call = action();
  EXPECT_TRUE(call.reconcile);
  EXPECT_EQ(call.idempotency_key, "s-1/allocate_ip/0");
  answer(step_succeeded{{{"ip_address", "100.64.0.7"}}});
  EXPECT_FALSE(action().reconcile); // the next step starts clean
}

TEST_F(engine, does_not_count_parked_calls_as_attempts) {
  make(make_activate_definition());
  start();
  for (int i = 0; i < 20; ++i) { // more than max_attempts
    answer(step_parked{10s, {}});
    EXPECT_EQ(one_of<schedule_timer>(out).due, now + 10s);
    EXPECT_EQ(saga_event_types(out),
              std::vector<std::string>{"saga.step_parked"});
    fire();
    EXPECT_EQ(action().idempotency_key, "s-1/allocate_ip/0");
  }
  EXPECT_EQ(inst.steps[0].attempts, 0);
  answer(step_succeeded{});
  EXPECT_EQ(inst.steps[0].attempts, 1);
  EXPECT_EQ(inst.steps[0].state, step_state::succeeded);
}

TEST_F(engine, fails_a_parked_step_at_its_deadline) {
  make(make_activate_definition());
  start();
  auto deadline = now + def.steps[0].deadline;
  answer(step_parked{1h, {}});
  // The wait is cut at the deadline, and the step fails when it fires.
  EXPECT_EQ(one_of<schedule_timer>(out).due, deadline);
  fire();
  EXPECT_EQ(inst.steps[0].state, step_state::failed);
  EXPECT_EQ(inst.state, saga_state::compensated);
  EXPECT_EQ(inst.error, "step deadline passed");
}

TEST_F(engine, a_deadline_passed_while_parked_says_why_the_step_waited) {
  make(make_activate_definition());
  start();
  auto deadline = now + def.steps[0].deadline;
  // An adapter polling a job parks the step; no breaker is open.
  answer(step_parked{1h, "AWX job 7 is running"});
  EXPECT_EQ(inst.steps[0].last_error, "parked: AWX job 7 is running");
  EXPECT_EQ(one_of<schedule_timer>(out).due, deadline);
  fire();
  EXPECT_EQ(inst.steps[0].state, step_state::failed);
  EXPECT_EQ(inst.error, "step deadline passed: parked: AWX job 7 is running");
}

TEST_F(engine, a_parked_answer_after_the_deadline_says_why_the_step_waited) {
  make(make_activate_definition());
  start();
  // The answer comes after the deadline (a slow call): the step fails at
  // once, with the adapter's reason, not a guess.
  now += def.steps[0].deadline + 1s;
  answer(step_parked{10s, "VOLTHA flow confirmation pending"});
  EXPECT_EQ(inst.steps[0].state, step_state::failed);
  EXPECT_EQ(inst.error, "step deadline passed while parked: VOLTHA flow "
                        "confirmation pending");
  EXPECT_EQ(inst.error.find("breaker"), std::string::npos);
}

TEST_F(engine, a_compensation_parked_past_its_deadline_says_why) {
  make(make_activate_definition());
  start();
  answer(step_succeeded{{{"ip_address", "100.64.0.7"}}});
  answer(step_permanent_failure{"HTTP 422"});
  ASSERT_EQ(inst.state, saga_state::compensating);
  now += 365 * 24h;
  answer(step_parked{10s, {}});
  EXPECT_EQ(inst.state, saga_state::needs_attention);
  EXPECT_EQ(one_of<emit_lifecycle>(out).fields.at("attention_error"),
            "compensation deadline passed while parked: no reason given");
}

TEST_F(engine, fails_a_step_whose_next_attempt_would_miss_the_deadline) {
  make(make_activate_definition());
  def.steps[0].retry.max_attempts = 0; // only the deadline stops it
  start();
  auto deadline = now + def.steps[0].deadline;
  random = [] { return 0.999; };
  int attempts = 0;
  while (inst.state == saga_state::running && attempts < 100) {
    ++attempts;
    answer(step_retryable_failure{"HTTP 502"});
    if (inst.state != saga_state::running)
      break;
    EXPECT_LT(one_of<schedule_timer>(out).due, deadline);
    fire();
  }
  EXPECT_EQ(inst.steps[0].state, step_state::failed);
  EXPECT_EQ(inst.error, "step deadline passed: HTTP 502");
  EXPECT_LT(now, deadline);
  EXPECT_GT(attempts, 5);
}

TEST_F(engine, compensates_in_reverse_and_skips_steps_without_compensation) {
  make(make_activate_definition());
  start();
  answer(step_succeeded{{{"ip_address", "100.64.0.7"}}});
  answer(step_succeeded{});
  answer(step_succeeded{{{"onu_id", "onu-9"}}});
  answer(step_succeeded{{{"cpe_id", "cpe-3"}}});
  answer(step_permanent_failure{"template 12 not found"});
  EXPECT_EQ(inst.state, saga_state::compensating);
  EXPECT_EQ(undo().operation, "voltha.remove_service");
  EXPECT_EQ(undo().idempotency_key, "s-1/provision_onu_service/0");
  EXPECT_EQ(undo().input.at("onu_id"), "onu-9");
  answer(step_succeeded{});
  EXPECT_EQ(undo().operation, "radius.deprovision");
  answer(step_succeeded{});
  EXPECT_EQ(undo().operation, "netbox.release_ip");
  EXPECT_EQ(undo().input.at("ip_address"), "100.64.0.7");
  answer(step_succeeded{});
  EXPECT_EQ(inst.state, saga_state::compensated);
  EXPECT_EQ(inst.steps[3].state, step_state::succeeded); // CPE: no undo
  EXPECT_EQ(inst.steps[4].state, step_state::failed);
  auto lc = one_of<emit_lifecycle>(out);
  EXPECT_EQ(lc.type, "subscriber.activated_failed");
  EXPECT_EQ(lc.fields.at("failed_step"), "run_activation_job");
  EXPECT_EQ(lc.fields.at("error"), "template 12 not found");
  EXPECT_EQ(lc.fields.at("compensated"), "true");
}

TEST_F(engine, undoes_a_step_whose_last_outcome_is_unknown) {
  make(make_activate_definition());
  start();
  for (int i = 0; i < 4; ++i)
    answer(step_succeeded{});
  for (int i = 1; i < def.steps[4].retry.max_attempts; ++i) {
    answer(step_retryable_failure{"HTTP 502"});
    fire();
  }
  answer(step_unknown_outcome{"launch timed out"});
  EXPECT_EQ(inst.steps[4].state, step_state::compensating);
  auto call = undo();
  EXPECT_EQ(call.operation, "awx.cancel_job");
  EXPECT_TRUE(call.reconcile);
  EXPECT_EQ(call.idempotency_key, "s-1/run_activation_job/0");
}

TEST_F(engine, needs_attention_when_a_compensation_fails_past_its_deadline) {
  make(make_activate_definition());
  start();
  answer(step_succeeded{{{"ip_address", "100.64.0.7"}}});
  answer(step_permanent_failure{"radius: constraint violation"});
  EXPECT_EQ(undo().operation, "netbox.release_ip");
  auto deadline = now + def.steps[0].compensation_deadline;
  int attempts = 0;
  while (inst.state == saga_state::compensating && attempts < 1000) {
    ++attempts;
    answer(step_retryable_failure{"NetBox 500: database locked"});
    if (inst.state != saga_state::compensating)
      break;
    fire();
    EXPECT_EQ(undo().idempotency_key, "s-1/allocate_ip/0");
  }
  EXPECT_EQ(inst.state, saga_state::needs_attention);
  EXPECT_LT(now, deadline);
  EXPECT_GT(attempts, 10);
  EXPECT_EQ(inst.cursor, 0u);
  EXPECT_EQ(inst.steps[0].state, step_state::compensating);
  EXPECT_EQ(inst.steps[0].last_error, "NetBox 500: database locked");
  EXPECT_EQ(inst.steps[0].compensation_attempts, attempts);
  EXPECT_EQ(inst.failed_step, "provision_radius");
  EXPECT_EQ(inst.error, "radius: constraint violation");
  auto ev = all_of<emit_saga_event>(out).back();
  EXPECT_EQ(ev.type, "saga.needs_attention");
  EXPECT_EQ(ev.fields.at("error"),
            "compensation deadline passed: NetBox 500: database locked");
  auto lc = one_of<emit_lifecycle>(out);
  EXPECT_EQ(lc.type, "subscriber.activated_failed");
  EXPECT_EQ(lc.fields.at("compensated"), "false");
  EXPECT_EQ(lc.fields.at("error"), "radius: constraint violation");
  EXPECT_EQ(one_of<finished>(out).state, saga_state::needs_attention);
  // Nothing moves it on its own.
  EXPECT_TRUE(answer(step_succeeded{}).empty());
  EXPECT_TRUE(feed(timer_fired{0, 0}).empty());
}

TEST_F(engine,
       operator_retry_resumes_a_stuck_compensation_in_a_new_generation) {
  make(make_activate_definition());
  start();
  answer(step_succeeded{{{"ip_address", "100.64.0.7"}}});
  answer(step_permanent_failure{"bad plan"});
  answer(step_permanent_failure{"NetBox 400: prefix is read-only"});
  ASSERT_EQ(inst.state, saga_state::needs_attention);
  EXPECT_EQ(all_of<emit_saga_event>(out).back().fields.at("error"),
            "compensation netbox.release_ip failed permanently: NetBox 400: "
            "prefix is read-only");
  feed(retry_requested{"prefix unlocked"});
  EXPECT_EQ(inst.generation, 1);
  EXPECT_EQ(inst.state, saga_state::compensating);
  auto call = undo();
  EXPECT_EQ(call.generation, 1);
  EXPECT_TRUE(call.reconcile);
  // The undo still names the effect made under generation 0.
  EXPECT_EQ(call.idempotency_key, "s-1/allocate_ip/0");
  EXPECT_TRUE(feed(step_result{0, 0, step_succeeded{}}).empty()); // stale
  answer(step_succeeded{});
  EXPECT_EQ(inst.state, saga_state::compensated);
  EXPECT_EQ(inst.steps[0].state, step_state::compensated);
}

TEST_F(engine, cancel_waits_for_the_attempt_in_flight_then_compensates) {
  make(make_activate_definition());
  start();
  answer(step_succeeded{{{"ip_address", "100.64.0.7"}}});
  EXPECT_EQ(action().operation, "radius.provision");
  feed(cancel_requested{"customer withdrew"});
  EXPECT_EQ(saga_event_types(out),
            std::vector<std::string>{"saga.cancel_requested"});
  EXPECT_TRUE(inst.cancel_requested);
  EXPECT_EQ(inst.state, saga_state::running);
  EXPECT_TRUE(feed(cancel_requested{}).empty());
  answer(step_succeeded{});
  EXPECT_EQ(undo().operation, "radius.deprovision");
  answer(step_succeeded{});
  EXPECT_EQ(undo().operation, "netbox.release_ip");
  answer(step_succeeded{});
  EXPECT_EQ(inst.state, saga_state::cancelled);
  EXPECT_EQ(inst.steps[2].state, step_state::pending);
  auto lc = one_of<emit_lifecycle>(out);
  EXPECT_EQ(lc.type, "subscriber.activated_failed");
  EXPECT_EQ(lc.fields.at("error"), "cancelled by operator: customer withdrew");
  EXPECT_EQ(lc.fields.at("compensated"), "true");
  EXPECT_EQ(one_of<finished>(out).state, saga_state::cancelled);
}

TEST_F(engine, cancel_during_a_backoff_compensates_at_once) {
  make(make_activate_definition());
  start();
  answer(step_succeeded{{{"ip_address", "100.64.0.7"}}});
  answer(step_unknown_outcome{"timeout"});
  auto timer = one_of<schedule_timer>(out);
  feed(cancel_requested{});
  EXPECT_EQ(inst.steps[1].state, step_state::compensating);
  auto call = undo(); // the unknown RADIUS write is undone too
  EXPECT_EQ(call.operation, "radius.deprovision");
  EXPECT_TRUE(call.reconcile);
  EXPECT_TRUE(feed(timer_fired{timer.step, timer.generation}).empty());
  answer(step_succeeded{});
  answer(step_succeeded{});
  EXPECT_EQ(inst.state, saga_state::cancelled);
}

TEST_F(engine, cancel_of_a_pending_or_finished_saga) {
  make(make_resume_definition());
  feed(cancel_requested{"duplicate"});
  EXPECT_EQ(inst.state, saga_state::cancelled);
  EXPECT_EQ(one_of<finished>(out).state, saga_state::cancelled);
  EXPECT_TRUE(start().empty());
  EXPECT_TRUE(feed(cancel_requested{}).empty());
}

TEST_F(engine, ignores_stale_and_misplaced_inputs) {
  make(make_activate_definition());
  start();
  auto before = inst;
  EXPECT_TRUE(feed(step_result{0, 1, step_succeeded{}}).empty());
  EXPECT_TRUE(feed(step_result{1, 0, step_succeeded{}}).empty());
  EXPECT_TRUE(feed(step_result{99, 0, step_succeeded{}}).empty());
  EXPECT_TRUE(feed(timer_fired{0, 0}).empty()); // in flight, no timer
  EXPECT_TRUE(feed(retry_requested{}).empty()); // not needs_attention
  EXPECT_EQ(inst, before);
  answer(step_retryable_failure{"x"});
  before = inst;
  // A result while the step waits for its timer is a duplicate.
  EXPECT_TRUE(feed(step_result{0, 0, step_succeeded{}}).empty());
  EXPECT_TRUE(feed(timer_fired{0, 7}).empty());
  EXPECT_EQ(inst, before);
}

TEST_F(engine, resumes_in_flight_work_after_a_restart) {
  make(make_activate_definition());
  start();
  answer(step_succeeded{{{"ip_address", "100.64.0.7"}}});
  auto sent = action();
  auto loaded = inst; // what the store had
  inst = loaded;
  feed(resume_after_restart{});
  auto again = action();
  EXPECT_EQ(again.idempotency_key, sent.idempotency_key);
  EXPECT_EQ(again.generation, sent.generation);
  EXPECT_TRUE(again.reconcile);
  EXPECT_EQ(saga_event_types(out), (std::vector<std::string>{"saga.resumed"}));
  answer(step_retryable_failure{"x"});
  auto timer = one_of<schedule_timer>(out);
  feed(resume_after_restart{});
  EXPECT_EQ(one_of<schedule_timer>(out), timer);
  EXPECT_TRUE(all_of<run_step>(out).empty());
}

TEST_F(engine, terminate_never_undoes_and_waits_for_an_operator) {
  make(make_terminate_definition());
  start();
  answer(step_succeeded{});
  answer(step_succeeded{});
  EXPECT_EQ(action().operation, "voltha.remove_service");
  answer(step_permanent_failure{"ONOS 500: ConnectPoint not found"});
  EXPECT_EQ(inst.state, saga_state::needs_attention);
  EXPECT_TRUE(all_of<run_compensation>(out).empty());
  auto lc = one_of<emit_lifecycle>(out);
  EXPECT_EQ(lc.type, "subscriber.terminated_failed");
  EXPECT_EQ(lc.fields.at("failed_step"), "remove_onu_service");
  EXPECT_EQ(lc.fields.at("compensated"), "false");
  feed(retry_requested{"port fixed"});
  EXPECT_EQ(inst.state, saga_state::running);
  auto call = action();
  EXPECT_EQ(call.idempotency_key, "s-1/remove_onu_service/1");
  EXPECT_EQ(inst.steps[2].attempts, 0);
  answer(step_succeeded{});
  EXPECT_EQ(action().idempotency_key, "s-1/deprovision_radius/1");
  answer(step_succeeded{});
  answer(step_succeeded{});
  EXPECT_EQ(inst.state, saga_state::completed);
  EXPECT_EQ(one_of<emit_lifecycle>(out).type, "subscriber.terminated");
}

TEST_F(engine, an_operator_may_abandon_a_saga_that_needs_attention) {
  make(make_terminate_definition());
  start();
  answer(step_permanent_failure{"SQL error"});
  ASSERT_EQ(inst.state, saga_state::needs_attention);
  feed(cancel_requested{"done by hand"});
  EXPECT_EQ(inst.state, saga_state::cancelled);
  EXPECT_EQ(one_of<finished>(out).state, saga_state::cancelled);
  EXPECT_TRUE(all_of<emit_lifecycle>(out).empty()); // already reported
}

TEST_F(engine, skips_steps_by_service_type_and_tenant_systems) {
  make(make_activate_definition(), "wireless");
  auto tenant = full_tenant_profile();
  tenant.systems.erase(target_system::awx);
  start(tenant);
  EXPECT_EQ(inst.steps[2].state, step_state::skipped);
  EXPECT_EQ(inst.steps[4].state, step_state::skipped);
  EXPECT_EQ(all_of<emit_saga_event>(out).front().fields.at("skipped"),
            "provision_onu_service,run_activation_job");
  answer(step_succeeded{{{"ip_address", "100.64.0.7"}}});
  answer(step_succeeded{});
  EXPECT_EQ(action().operation, "genieacs.configure_cpe");
  answer(step_succeeded{{{"cpe_id", "cpe-3"}}});
  EXPECT_EQ(inst.state, saga_state::completed);
  auto lc = one_of<emit_lifecycle>(out);
  EXPECT_EQ(lc.type, "subscriber.activated");
  EXPECT_EQ(lc.fields, (field_map{{"ip_address", "100.64.0.7"},
                                  {"cpe_id", "cpe-3"},
                                  {"plan_id", "gold"}}));
}

TEST_F(engine, completes_at_once_when_every_step_is_skipped) {
  make(make_resume_definition(), "wireless");
  start(tenant_profile{});
  EXPECT_EQ(inst.state, saga_state::completed);
  EXPECT_EQ(one_of<emit_lifecycle>(out).type, "subscriber.resumed");
}

TEST_F(engine, refuses_an_instance_of_another_definition) {
  make(make_activate_definition());
  auto other = make_suspend_definition();
  auto before = inst;
  EXPECT_TRUE(transition(other, inst, start_saga{}, now, random).empty());
  EXPECT_EQ(inst, before);
}

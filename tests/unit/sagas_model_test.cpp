#include "sagas/definition.hpp"
#include "sagas/instance.hpp"
#include "sagas/lifecycle_sagas.hpp"
#include "sagas/retry.hpp"
#include "sagas/states.hpp"

#include <gtest/gtest.h>
#include <vector>

using namespace ispflow::sagas;
using namespace std::chrono_literals;

namespace {

// Returns the scripted values in turn, then the last one forever.
uniform_random_source scripted(std::vector<double> values) {
  auto i = std::make_shared<size_t>(0);
  return [values, i] {
    auto v = values[std::min(*i, values.size() - 1)];
    ++*i;
    return v;
  };
}

} // namespace

TEST(saga_states, round_trip_through_their_stored_names) {
  for (auto x :
       {saga_state::pending, saga_state::running, saga_state::completed,
        saga_state::compensating, saga_state::compensated,
        saga_state::needs_attention, saga_state::cancelled})
    EXPECT_EQ(parse_saga_state(to_string(x)), x);
  for (auto x :
       {step_state::pending, step_state::running, step_state::succeeded,
        step_state::failed, step_state::compensating, step_state::compensated,
        step_state::skipped})
    EXPECT_EQ(parse_step_state(to_string(x)), x);
}

TEST(saga_states, use_the_names_of_the_issue) {
  EXPECT_EQ(to_string(saga_state::needs_attention), "needs_attention");
  EXPECT_EQ(to_string(step_state::compensating), "compensating");
  EXPECT_EQ(parse_saga_state("done"), std::nullopt);
  EXPECT_EQ(parse_step_state("Running"), std::nullopt);
  EXPECT_TRUE(is_terminal(saga_state::cancelled));
  EXPECT_FALSE(is_terminal(saga_state::needs_attention));
}

TEST(target_systems, round_trip_through_their_names) {
  for (auto x :
       {target_system::none, target_system::radius, target_system::netbox,
        target_system::voltha, target_system::genieacs, target_system::awx})
    EXPECT_EQ(parse_target_system(to_string(x)), x);
  EXPECT_EQ(parse_target_system("olt"), std::nullopt);
}

TEST(retry_policy, ceiling_grows_exponentially_up_to_the_cap) {
  retry_policy p{5, 100ms, 2.0, 1'000ms};
  EXPECT_EQ(p.ceiling(1), 100ms);
  EXPECT_EQ(p.ceiling(2), 200ms);
  EXPECT_EQ(p.ceiling(4), 800ms);
  EXPECT_EQ(p.ceiling(5), 1'000ms);
  EXPECT_EQ(p.ceiling(0), 100ms);
  EXPECT_EQ(p.ceiling(10'000), 1'000ms);
}

TEST(retry_policy, full_jitter_spans_zero_to_the_ceiling) {
  retry_policy p{5, 100ms, 3.0, 10'000ms};
  EXPECT_EQ(p.delay(3, scripted({0.0})), 0ms);
  EXPECT_EQ(p.delay(3, scripted({0.5})), 450ms);
  EXPECT_EQ(p.delay(3, scripted({0.999999})), 899ms);
  // Out-of-range draws are clamped, never exceeding the ceiling.
  EXPECT_EQ(p.delay(3, scripted({7.0})), 900ms);
  EXPECT_EQ(p.delay(3, scripted({-1.0})), 0ms);
}

TEST(retry_policy, delays_of_a_seeded_source_stay_in_bounds_and_repeat) {
  retry_policy p{0, 250ms, 2.0, 20'000ms};
  auto a = make_seeded_source(42);
  auto b = make_seeded_source(42);
  bool some_nonzero = false;
  for (int attempt = 1; attempt <= 40; ++attempt) {
    auto d = p.delay(attempt, a);
    EXPECT_GE(d, 0ms);
    EXPECT_LE(d, p.ceiling(attempt));
    EXPECT_LE(d, 20'000ms);
    EXPECT_EQ(d, p.delay(attempt, b));
    some_nonzero = some_nonzero || d > 0ms;
  }
  EXPECT_TRUE(some_nonzero);
}

TEST(retry_policy, counts_attempts_against_the_maximum) {
  retry_policy p{3, 1ms, 2.0, 10ms};
  EXPECT_TRUE(p.allows_another(2));
  EXPECT_FALSE(p.allows_another(3));
  retry_policy unlimited{0, 1ms, 2.0, 10ms};
  EXPECT_TRUE(unlimited.allows_another(1'000'000));
}

TEST(skip_rules, follow_service_type_tenant_systems_and_policies) {
  auto def = make_suspend_definition();
  auto& disable_onu = def.steps.at(*def.index_of("disable_onu"));
  auto tenant = full_tenant_profile();
  EXPECT_FALSE(applies(disable_onu, "ftth", tenant)); // policy off
  tenant.policies.insert(std::string{policy_suspend_disable_onu});
  EXPECT_TRUE(applies(disable_onu, "ftth", tenant));
  EXPECT_FALSE(applies(disable_onu, "wireless", tenant));
  EXPECT_FALSE(applies(disable_onu, "fixed", tenant));
  tenant.systems.erase(target_system::voltha);
  EXPECT_FALSE(applies(disable_onu, "ftth", tenant));
  auto& deny = def.steps.at(0);
  EXPECT_TRUE(applies(deny, "wireless", tenant));
  tenant.systems.erase(target_system::radius);
  EXPECT_FALSE(applies(deny, "wireless", tenant));
}

TEST(saga_registry, finds_by_version_and_knows_the_current_one) {
  saga_registry reg;
  ASSERT_EQ(register_lifecycle_sagas(reg), std::nullopt);
  auto v2 = make_activate_definition();
  v2.version = 2;
  v2.steps.pop_back();
  ASSERT_EQ(reg.add(v2), std::nullopt);
  ASSERT_NE(reg.find("activate", 1), nullptr);
  EXPECT_EQ(reg.find("activate", 1)->steps.size(), 5u);
  EXPECT_EQ(reg.find("activate", 2)->steps.size(), 4u);
  EXPECT_EQ(reg.current("activate")->version, 2);
  EXPECT_EQ(reg.current("suspend")->version, 1);
  EXPECT_EQ(reg.find("activate", 3), nullptr);
  EXPECT_EQ(reg.current("reboot"), nullptr);
  EXPECT_EQ(reg.list().size(), 6u);
}

TEST(saga_registry, refuses_duplicates_and_invalid_definitions) {
  saga_registry reg;
  ASSERT_EQ(reg.add(make_resume_definition()), std::nullopt);
  EXPECT_NE(reg.add(make_resume_definition()), std::nullopt);
  auto dup = make_change_plan_definition();
  dup.version = 2;
  dup.steps[1].name = dup.steps[0].name;
  EXPECT_NE(reg.add(dup), std::nullopt);
  auto slash = make_change_plan_definition();
  slash.version = 3;
  slash.steps[0].name = "a/b";
  EXPECT_NE(reg.add(slash), std::nullopt);
  auto empty = make_change_plan_definition();
  empty.version = 4;
  empty.steps.clear();
  EXPECT_NE(reg.add(empty), std::nullopt);
  EXPECT_EQ(reg.current("change_plan"), nullptr);
}

TEST(lifecycle_sagas, map_billing_types_to_saga_names) {
  EXPECT_EQ(saga_for_event_type("billing.subscription.activated"), "activate");
  EXPECT_EQ(saga_for_event_type("billing.subscription.plan_changed"),
            "change_plan");
  EXPECT_EQ(saga_for_event_type("billing.subscription.terminated"),
            "terminate");
  EXPECT_EQ(saga_for_event_type("subscriber.activated"), std::nullopt);
}

TEST(lifecycle_sagas, suspend_denies_before_it_disconnects) {
  auto def = make_suspend_definition();
  ASSERT_GE(def.steps.size(), 3u);
  EXPECT_EQ(def.steps[0].action, "radius.deny");
  EXPECT_EQ(def.steps[1].action, "radius.disconnect_sessions");
  EXPECT_EQ(def.steps[2].action, "radius.verify_sessions_closed");
  auto term = make_terminate_definition();
  EXPECT_LT(*term.index_of("deny"), *term.index_of("disconnect_sessions"));
  EXPECT_TRUE(term.forward_only);
  for (auto& s : term.steps)
    EXPECT_FALSE(s.compensable()) << s.name;
}

TEST(saga_instance, keys_and_input_views_follow_the_steps) {
  auto def = make_activate_definition();
  auto inst = make_instance(def,
                            {"s-1",
                             "t-1",
                             "sub-1",
                             "ftth",
                             "ce-1",
                             {{"plan_id", "gold"}, {"ip_address", "stale"}}},
                            {});
  EXPECT_EQ(check_instance(def, inst), std::nullopt);
  EXPECT_EQ(inst.state, saga_state::pending);
  EXPECT_EQ(inst.steps.size(), def.steps.size());
  EXPECT_EQ(idempotency_key(inst, def, 0, 0), "s-1/allocate_ip/0");
  EXPECT_EQ(idempotency_key(inst, def, 4, 3), "s-1/run_activation_job/3");
  inst.steps[0].output = {{"ip_address", "100.64.0.7"}};
  inst.steps[1].output = {{"radius_user", "u1"}};
  EXPECT_EQ(input_view(inst, 0).at("ip_address"), "stale");
  auto view = input_view(inst, 1);
  EXPECT_EQ(view.at("ip_address"), "100.64.0.7");
  EXPECT_EQ(view.at("plan_id"), "gold");
  EXPECT_EQ(view.count("radius_user"), 0u);
  EXPECT_EQ(input_view(inst, 1, true).at("radius_user"), "u1");
  auto other = make_suspend_definition();
  EXPECT_NE(check_instance(other, inst), std::nullopt);
}

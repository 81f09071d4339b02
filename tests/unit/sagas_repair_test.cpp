// The drift repair saga's pure parts: kinds to steps (plan_repair), the
// definition and its payload-picked steps, admission of the repair event,
// and its drift.repaired output, validated against events/schemas.

#include "events/cloud_event.hpp"
#include "events/schema_registry.hpp"
#include "sagas/admission.hpp"
#include "sagas/engine.hpp"
#include "sagas/outputs.hpp"
#include "sagas/repair_saga.hpp"

#include <functional>
#include <gtest/gtest.h>
#include <optional>
#include <string>
#include <vector>

using namespace ispflow::sagas;
using strings = std::vector<std::string>;

namespace {

repair_plan plan(std::string state, strings kinds, bool disables_onu = false,
                 std::string service_type = "ftth") {
  repair_input x;
  x.state = std::move(state);
  x.service_type = std::move(service_type);
  x.suspend_disables_onu = disables_onu;
  x.kinds = std::move(kinds);
  return plan_repair(x);
}

strings unrepairable(const repair_plan& p) {
  strings out;
  for (auto& u : p.unrepairable)
    out.push_back(u.kind);
  return out;
}

} // namespace

TEST(repair_plan, each_repairable_kind_maps_to_the_lifecycle_operations) {
  EXPECT_EQ(plan("active", {"radius_plan_mismatch"}).steps,
            (strings{"set_plan_group", "coa_sessions"}));
  EXPECT_EQ(plan("active", {"radius_not_active"}).steps,
            (strings{"restore_plan", "disconnect_sessions"}));
  EXPECT_EQ(plan("suspended", {"radius_not_suspended"}).steps,
            (strings{"deny", "disconnect_sessions", "verify_sessions_closed"}));
  EXPECT_EQ(plan("suspended", {"session_after_suspend"}).steps,
            (strings{"disconnect_sessions", "verify_sessions_closed"}));
  EXPECT_EQ(plan("active", {"onu_state_mismatch"}).steps,
            (strings{"enable_onu"}));
  // Suspended: the ONU follows the tenant's policy.
  EXPECT_EQ(plan("suspended", {"onu_state_mismatch"}, true).steps,
            (strings{"disable_onu"}));
  EXPECT_EQ(plan("suspended", {"onu_state_mismatch"}, false).steps,
            (strings{"enable_onu"}));
}

TEST(repair_plan, steps_follow_the_definition_once_each) {
  auto p = plan("suspended",
                {"onu_state_mismatch", "session_after_suspend",
                 "radius_not_suspended"},
                true);
  EXPECT_EQ(p.steps, (strings{"deny", "disconnect_sessions",
                              "verify_sessions_closed", "disable_onu"}));
  EXPECT_EQ(p.repaired, (strings{"onu_state_mismatch", "session_after_suspend",
                                 "radius_not_suspended"}));
  EXPECT_TRUE(p.unrepairable.empty());
  auto def = make_repair_definition();
  for (auto& s : p.steps)
    EXPECT_TRUE(def.index_of(s).has_value()) << s;
}

TEST(repair_plan, unrepairable_kinds_are_named_with_what_to_do) {
  auto p = plan("active", {"radius_user_missing", "onu_missing", "cpe_missing",
                           "cpe_param_mismatch", "dns_record_missing"});
  EXPECT_TRUE(p.steps.empty());
  EXPECT_TRUE(p.repaired.empty());
  EXPECT_EQ(unrepairable(p),
            (strings{"radius_user_missing", "onu_missing", "cpe_missing",
                     "cpe_param_mismatch", "dns_record_missing"}));
  for (auto& u : p.unrepairable)
    EXPECT_FALSE(u.reason.empty()) << u.kind;
  EXPECT_NE(p.unrepairable[0].reason.find("activation"), std::string::npos);
  // No device carries the serial: only the OLT's discovery brings it back.
  EXPECT_NE(p.unrepairable[1].reason.find("discovered by its OLT"),
            std::string::npos)
    << p.unrepairable[1].reason;
  EXPECT_NE(p.unrepairable[2].reason.find("cannot be configured"),
            std::string::npos);
  EXPECT_NE(p.unrepairable[3].reason.find("password"), std::string::npos);
}

TEST(repair_plan, a_replaced_onu_gets_the_service_and_the_state_of_the_record) {
  // The service provisioned on the device that now carries the serial,
  // then the ONU enabled or disabled as for onu_state_mismatch.
  EXPECT_EQ(plan("active", {"onu_replaced"}).steps,
            (strings{"provision_onu_service", "enable_onu"}));
  EXPECT_EQ(plan("suspended", {"onu_replaced"}, true).steps,
            (strings{"provision_onu_service", "disable_onu"}));
  EXPECT_EQ(plan("suspended", {"onu_replaced"}, false).steps,
            (strings{"provision_onu_service", "enable_onu"}));
  auto p = plan("active", {"onu_replaced", "radius_plan_mismatch"});
  EXPECT_EQ(p.steps, (strings{"set_plan_group", "coa_sessions",
                              "provision_onu_service", "enable_onu"}));
  EXPECT_EQ(p.repaired, (strings{"onu_replaced", "radius_plan_mismatch"}));
  EXPECT_TRUE(p.unrepairable.empty());
  // The activation's operation, for FTTH only, before the admin state.
  auto def = make_repair_definition();
  auto idx = def.index_of("provision_onu_service");
  ASSERT_TRUE(idx.has_value());
  EXPECT_EQ(def.steps[*idx].action, "voltha.provision_service");
  EXPECT_EQ(def.steps[*idx].system, target_system::voltha);
  EXPECT_EQ(def.steps[*idx].applies_when.service_types, (strings{"ftth"}));
  EXPECT_LT(*idx, *def.index_of("enable_onu"));
  EXPECT_LT(*idx, *def.index_of("disable_onu"));
  // Without an ONU, or without a desired state, nothing runs.
  EXPECT_EQ(unrepairable(plan("active", {"onu_replaced"}, false, "fixed")),
            (strings{"onu_replaced"}));
  EXPECT_EQ(unrepairable(plan("terminated", {"onu_replaced"})),
            (strings{"onu_replaced"}));
}

namespace {

// A repair of `kinds` run to its end, each step answered by `answer` (its
// output on success, nullopt: a permanent failure).
saga_instance run_repair(
  const strings& steps,
  const std::function<std::optional<field_map>(const std::string&)>& answer) {
  auto def = make_repair_definition();
  instance_seed seed;
  seed.id = "r-onu";
  seed.tenant_id = "demo";
  seed.subscriber_id = "s07";
  seed.service_type = "ftth";
  seed.payload = {{"onu_id", "onu-old"},
                  {"access.onu_serial", "BBSM00000007"},
                  {"plan_id", "p100"}};
  for (auto& s : steps)
    seed.payload["drift.steps." + s] = "true";
  auto inst = make_instance(def, seed, time_point{});
  auto random = make_seeded_source(1);
  auto t = time_point{} + std::chrono::seconds{1};
  auto cmds = transition(def, inst, start_saga{full_tenant_profile()}, t,
                         random);
  for (int guard = 0; guard < 20; ++guard) {
    const run_step* next = nullptr;
    for (auto& c : cmds)
      if (auto* r = std::get_if<run_step>(&c))
        next = r;
    if (next == nullptr)
      break;
    auto got = answer(def.steps[next->call.step].name);
    step_outcome out = step_permanent_failure{"refused"};
    if (got)
      out = step_succeeded{*got};
    t += std::chrono::seconds{1};
    cmds = transition(def, inst,
                      step_result{next->call.step, next->call.generation, out},
                      t, random);
  }
  return inst;
}

} // namespace

TEST(repair_record, a_repaired_onu_replacement_names_the_new_device) {
  auto def = make_repair_definition();
  // provision_onu_service answers the device that carries the serial now
  // (voltha.provision_service's output, as in the activation).
  auto done = run_repair({"provision_onu_service", "enable_onu"},
                         [](const std::string&) -> std::optional<field_map> {
                           return field_map{{"onu_id", "onu-new"}};
                         });
  ASSERT_EQ(done.state, saga_state::completed);
  EXPECT_EQ(repair_record_fields(def, done),
            (field_map{{"onu_id", "onu-new"}}));
  // A later step failing undoes nothing: the service is on the new device.
  auto failed
    = run_repair({"provision_onu_service", "disable_onu"},
                 [](const std::string& step) -> std::optional<field_map> {
                   if (step == "disable_onu")
                     return std::nullopt;
                   return field_map{{"onu_id", "onu-new"}};
                 });
  ASSERT_EQ(failed.state, saga_state::compensated);
  EXPECT_EQ(repair_record_fields(def, failed),
            (field_map{{"onu_id", "onu-new"}}));
  // Nothing else: no payload, no other step's output.
  auto other = run_repair(
    {"enable_onu", "set_plan_group"},
    [](const std::string&) -> std::optional<field_map> {
      return field_map{{"onu_id", "onu-x"}, {"previous_plan_group", "g"}};
    });
  ASSERT_EQ(other.state, saga_state::completed);
  EXPECT_TRUE(repair_record_fields(def, other).empty());
  // Provisioning that failed changes nothing either.
  auto refused = run_repair({"provision_onu_service", "enable_onu"},
                            [](const std::string&) -> std::optional<field_map> {
                              return std::nullopt;
                            });
  ASSERT_EQ(refused.state, saga_state::compensated);
  EXPECT_TRUE(repair_record_fields(def, refused).empty());
  // Not yet finished: nothing yet.
  auto open = done;
  open.state = saga_state::running;
  EXPECT_TRUE(repair_record_fields(def, open).empty());
  // Another saga: nothing (its fields are the profile fold's).
  auto activation = done;
  activation.name = "activate";
  EXPECT_TRUE(repair_record_fields(def, activation).empty());
}

TEST(repair_plan, netbox_and_cpe_tag_kinds_map_to_their_operations) {
  for (auto state : {"active", "suspended"}) {
    EXPECT_EQ(plan(state, {"netbox_ip_missing"}).steps, (strings{"assign_ip"}))
      << state;
    // A mismatch also releases the subscriber's other addresses.
    EXPECT_EQ(plan(state, {"netbox_ip_mismatch"}).steps,
              (strings{"assign_ip", "release_stray_ips"}))
      << state;
    EXPECT_EQ(plan(state, {"cpe_tag_mismatch"}).steps, (strings{"tag_cpe"}))
      << state;
  }
  auto p = plan("active", {"cpe_tag_mismatch", "netbox_ip_missing",
                           "radius_plan_mismatch", "cpe_param_mismatch"});
  EXPECT_EQ(p.steps, (strings{"set_plan_group", "coa_sessions", "assign_ip",
                              "tag_cpe"}));
  EXPECT_EQ(p.repaired, (strings{"cpe_tag_mismatch", "netbox_ip_missing",
                                 "radius_plan_mismatch"}));
  EXPECT_EQ(unrepairable(p), (strings{"cpe_param_mismatch"}));
  auto def = make_repair_definition();
  for (auto& s : p.steps)
    EXPECT_TRUE(def.index_of(s).has_value()) << s;
  EXPECT_EQ(def.steps[*def.index_of("assign_ip")].action, "netbox.assign_ip");
  EXPECT_EQ(def.steps[*def.index_of("release_stray_ips")].action,
            "netbox.release_stray_ips");
  EXPECT_EQ(def.steps[*def.index_of("tag_cpe")].action, "genieacs.tag_cpe");
  // Nor do they move a subscriber that has no desired state.
  EXPECT_EQ(unrepairable(plan("terminated", {"netbox_ip_missing"})),
            (strings{"netbox_ip_missing"}));
}

TEST(repair_plan, a_missing_user_is_restored_only_from_a_stored_hash) {
  repair_input x;
  x.state = "active";
  x.service_type = "ftth";
  x.kinds = {"radius_user_missing"};
  // Without a stored hash (cleartext storage, an older account): nothing
  // to restore from.
  auto none = plan_repair(x);
  EXPECT_TRUE(none.steps.empty());
  ASSERT_EQ(unrepairable(none), (strings{"radius_user_missing"}));
  EXPECT_NE(none.unrepairable[0].reason.find("hash"), std::string::npos);
  x.stored_password = true;
  // Active: the password row, then the plan group without Auth-Type.
  auto active = plan_repair(x);
  EXPECT_EQ(active.steps, (strings{"restore_credentials", "restore_plan"}));
  EXPECT_EQ(active.repaired, (strings{"radius_user_missing"}));
  EXPECT_TRUE(active.unrepairable.empty());
  // Suspended: the password row, then the deny and the end of its
  // sessions, as for radius_not_suspended.
  x.state = "suspended";
  EXPECT_EQ(plan_repair(x).steps,
            (strings{"restore_credentials", "deny", "disconnect_sessions",
                     "verify_sessions_closed"}));
  x.state = "terminated";
  EXPECT_EQ(unrepairable(plan_repair(x)), (strings{"radius_user_missing"}));
  // Cleartext storage keeps no hash; a sealed password restores it too.
  x.state = "active";
  x.stored_password = false;
  x.sealing_configured = x.sealed_password = true;
  EXPECT_EQ(plan_repair(x).steps,
            (strings{"restore_credentials", "restore_plan"}));
  auto def = make_repair_definition();
  ASSERT_TRUE(def.index_of("restore_credentials").has_value());
  EXPECT_EQ(*def.index_of("restore_credentials"), 0u);
  EXPECT_EQ(def.steps[0].action, "radius.restore_credentials");
  EXPECT_EQ(def.steps[0].system, target_system::radius);
}

TEST(repair_plan,
     a_cpe_that_lost_its_credentials_is_configured_from_the_sealed_password) {
  repair_input x;
  x.state = "active";
  x.service_type = "ftth";
  x.kinds = {"cpe_param_mismatch", "cpe_tag_mismatch"};
  // No sealing key: unrepairable, and the reason says what would help.
  auto none = plan_repair(x);
  EXPECT_EQ(none.steps, (strings{"tag_cpe"}));
  ASSERT_EQ(unrepairable(none), (strings{"cpe_param_mismatch"}));
  EXPECT_NE(none.unrepairable[0].reason.find("activation"), std::string::npos);
  EXPECT_NE(none.unrepairable[0].reason.find(
              "a sealing key (credentials.seal_key_files) would make it "
              "repairable"),
            std::string::npos);
  // A key, but nothing sealed with it for this subscriber.
  x.sealing_configured = true;
  auto unsealed = plan_repair(x);
  ASSERT_EQ(unrepairable(unsealed), (strings{"cpe_param_mismatch"}));
  EXPECT_NE(unsealed.unrepairable[0].reason.find("no sealed PPPoE password"),
            std::string::npos);
  // Sealed with a configured key: the activation's CPE configuration.
  x.sealed_password = true;
  for (auto state : {"active", "suspended"}) {
    x.state = state;
    auto p = plan_repair(x);
    EXPECT_EQ(p.steps, (strings{"tag_cpe", "configure_cpe"})) << state;
    EXPECT_EQ(p.repaired, (strings{"cpe_param_mismatch", "cpe_tag_mismatch"}));
    EXPECT_TRUE(p.unrepairable.empty());
  }
  x.state = "terminated";
  EXPECT_EQ(unrepairable(plan_repair(x)),
            (strings{"cpe_param_mismatch", "cpe_tag_mismatch"}));
  auto def = make_repair_definition();
  ASSERT_TRUE(def.index_of("configure_cpe").has_value());
  const auto& step = def.steps[*def.index_of("configure_cpe")];
  EXPECT_EQ(step.action, "genieacs.configure_cpe");
  EXPECT_EQ(step.system, target_system::genieacs);
  EXPECT_FALSE(step.compensable());
}

TEST(repair_definition, every_version_stays_registered) {
  saga_registry reg;
  EXPECT_EQ(register_repair_saga(reg), std::nullopt);
  ASSERT_NE(reg.find(repair_saga, 1), nullptr);
  EXPECT_EQ(reg.find(repair_saga, 1)->steps.size(), 8u);
  EXPECT_FALSE(reg.find(repair_saga, 1)->index_of("assign_ip").has_value());
  ASSERT_NE(reg.current(repair_saga), nullptr);
  EXPECT_EQ(reg.current(repair_saga)->version, repair_saga_version);
  EXPECT_TRUE(reg.current(repair_saga)->index_of("tag_cpe").has_value());
  // Version 2 runs as it started: without restore_credentials.
  ASSERT_NE(reg.find(repair_saga, 2), nullptr);
  EXPECT_EQ(reg.find(repair_saga, 2)->steps.size(), 11u);
  EXPECT_FALSE(
    reg.find(repair_saga, 2)->index_of("restore_credentials").has_value());
  EXPECT_EQ(reg.find(repair_saga, 2)->steps[0].name, "deny");
  // Version 3 runs as it started: without provision_onu_service.
  ASSERT_NE(reg.find(repair_saga, 3), nullptr);
  EXPECT_EQ(reg.find(repair_saga, 3)->steps.size(), 12u);
  EXPECT_FALSE(
    reg.find(repair_saga, 3)->index_of("provision_onu_service").has_value());
  EXPECT_EQ(reg.find(repair_saga, 3)->steps[0].name, "restore_credentials");
  ASSERT_NE(reg.find(repair_saga, 4), nullptr);
  EXPECT_EQ(reg.find(repair_saga, 4)->steps.size(), 13u);
  EXPECT_TRUE(
    reg.find(repair_saga, 4)->index_of("provision_onu_service").has_value());
  // Versions before 5 run as they started: without configure_cpe.
  for (int32_t v = 1; v < 5; ++v)
    EXPECT_FALSE(
      reg.find(repair_saga, v)->index_of("configure_cpe").has_value())
      << v;
  ASSERT_NE(reg.find(repair_saga, 5), nullptr);
  EXPECT_EQ(reg.find(repair_saga, 5)->steps.size(), 14u);
  EXPECT_TRUE(reg.current(repair_saga)->index_of("configure_cpe").has_value());
}

TEST(repair_plan, a_kind_that_does_not_fit_the_state_is_not_repaired) {
  // A repair never moves a subscriber to another state.
  auto p = plan("suspended", {"radius_not_active", "radius_plan_mismatch"});
  EXPECT_TRUE(p.steps.empty());
  EXPECT_EQ(unrepairable(p),
            (strings{"radius_not_active", "radius_plan_mismatch"}));
  auto q = plan("active", {"radius_not_suspended", "session_after_suspend"});
  EXPECT_TRUE(q.steps.empty());
  EXPECT_EQ(q.unrepairable.size(), 2u);
  auto w = plan("active", {"onu_state_mismatch"}, false, "wireless");
  EXPECT_TRUE(w.steps.empty());
  EXPECT_EQ(unrepairable(w), (strings{"onu_state_mismatch"}));
}

TEST(repair_definition, is_valid_without_compensations_and_registers) {
  auto def = make_repair_definition();
  EXPECT_EQ(validate(def), std::nullopt);
  EXPECT_FALSE(def.forward_only);
  for (auto& s : def.steps) {
    EXPECT_FALSE(s.compensable()) << s.name;
    EXPECT_EQ(s.applies_when.payload_flag, "drift.steps." + s.name);
  }
  saga_registry reg;
  EXPECT_EQ(register_repair_saga(reg), std::nullopt);
  EXPECT_NE(reg.current(repair_saga), nullptr);
}

TEST(repair_definition, the_payload_picks_the_steps_at_start) {
  auto def = make_repair_definition();
  instance_seed seed;
  seed.id = "r-1";
  seed.tenant_id = "demo";
  seed.subscriber_id = "s03";
  seed.service_type = "ftth";
  seed.payload = {{"drift.steps.set_plan_group", "true"},
                  {"drift.steps.coa_sessions", "true"},
                  {"drift.steps.deny", "false"}};
  auto inst = make_instance(def, seed, time_point{});
  auto random = make_seeded_source(1);
  auto cmds = transition(def, inst, start_saga{full_tenant_profile()},
                         time_point{} + std::chrono::seconds{1}, random);
  strings ran;
  for (auto& c : cmds)
    if (auto* r = std::get_if<run_step>(&c))
      ran.push_back(r->call.operation + " " + r->call.idempotency_key);
  EXPECT_EQ(ran, (strings{"radius.set_plan_group r-1/set_plan_group/0"}));
  for (size_t i = 0; i < def.steps.size(); ++i) {
    auto& name = def.steps[i].name;
    bool picked = name == "set_plan_group" || name == "coa_sessions";
    EXPECT_EQ(inst.steps[i].state == step_state::skipped, !picked) << name;
  }
}

TEST(repair_admission, billing_cannot_send_a_repair_event) {
  // Intake accepts billing input types only: a repair event comes from the
  // drift scanner's own transaction, never from the billing topic.
  EXPECT_FALSE(ispflow::events::schema_registry::builtin().is_billing_input(
    std::string{repair_event_type}));
  EXPECT_FALSE(admit(subscriber_state::active, repair_event_type).starts());
}

TEST(repair_admission, starts_only_in_the_state_the_scan_planned_for) {
  field_map payload{{"drift.state", "active"}};
  EXPECT_EQ(admit(subscriber_state::active, repair_event_type, payload).saga,
            "repair");
  for (auto state : {subscriber_state::suspended, subscriber_state::none,
                     subscriber_state::terminated, subscriber_state::unknown}) {
    auto d = admit(state, repair_event_type, payload);
    EXPECT_FALSE(d.starts()) << state;
    EXPECT_EQ(d.reason, "drift_repair_stale") << state;
  }
  EXPECT_FALSE(admit(subscriber_state::active, repair_event_type, {}).starts());
  // Billing events are admitted as before, payload or not.
  EXPECT_EQ(admit(subscriber_state::active, "billing.subscription.suspended",
                  payload)
              .saga,
            "suspend");
  // A repair changes no state, whatever its outcome.
  for (auto out : {saga_state::completed, saga_state::compensated,
                   saga_state::needs_attention})
    EXPECT_EQ(next_state(subscriber_state::suspended, repair_saga, out),
              subscriber_state::suspended);
}

TEST(repair_outputs, a_completed_repair_sends_drift_repaired_not_lifecycle) {
  auto def = make_repair_definition();
  instance_seed seed;
  seed.id = "5f0c1f7e-8d3a-4c1b-9f3e-2a7d6c5b4e31";
  seed.tenant_id = "demo";
  seed.subscriber_id = "s07";
  seed.service_type = "ftth";
  seed.causation = "drift-1/demo/s07";
  seed.payload = {{"drift.scan_id", "drift-1"},
                  {"drift.steps.enable_onu", "true"},
                  {"drift.findings.0.system", "voltha"},
                  {"drift.findings.0.kind", "onu_state_mismatch"},
                  {"drift.findings.0.expected", "ENABLED"},
                  {"drift.findings.0.observed", "DISABLED"}};
  auto inst = make_instance(def, seed, time_point{});
  EXPECT_EQ(repaired_kinds(inst.payload), (strings{"onu_state_mismatch"}));
  auto random = make_seeded_source(1);
  auto t = time_point{} + std::chrono::seconds{1};
  transition(def, inst, start_saga{full_tenant_profile()}, t, random);
  auto idx = *def.index_of("enable_onu");
  auto cmds = transition(def, inst, step_result{idx, 0, step_succeeded{}},
                         t + std::chrono::seconds{1}, random);
  ASSERT_EQ(inst.state, saga_state::completed);
  output_settings out;
  auto recs = output_records(cmds, inst, out);
  int repaired = 0;
  for (auto& rec : recs) {
    EXPECT_EQ(rec.topic, "saga.events.v1");
    std::string type;
    for (auto& h : rec.headers)
      if (h.key == "ce_type")
        type = h.value;
    EXPECT_EQ(type.rfind("subscriber.", 0), std::string::npos) << type;
    if (type != "drift.repaired")
      continue;
    ++repaired;
    EXPECT_EQ(ispflow::events::schema_registry::builtin().validate(type,
                                                                   rec.value),
              std::nullopt)
      << rec.value;
    EXPECT_NE(rec.value.find("\"saga_id\":\"" + inst.id + "\""),
              std::string::npos)
      << rec.value;
    EXPECT_NE(rec.value.find("onu_state_mismatch"), std::string::npos);
  }
  EXPECT_EQ(repaired, 1);
}

TEST(repair_outputs, a_failed_repair_sends_no_lifecycle_event) {
  auto def = make_repair_definition();
  instance_seed seed;
  seed.id = "r-2";
  seed.tenant_id = "demo";
  seed.subscriber_id = "s07";
  seed.service_type = "ftth";
  seed.payload = {{"drift.steps.enable_onu", "true"}};
  auto inst = make_instance(def, seed, time_point{});
  auto random = make_seeded_source(1);
  auto t = time_point{} + std::chrono::seconds{1};
  transition(def, inst, start_saga{full_tenant_profile()}, t, random);
  auto idx = *def.index_of("enable_onu");
  auto cmds = transition(def, inst,
                         step_result{idx, 0, step_permanent_failure{"gone"}},
                         t + std::chrono::seconds{1}, random);
  // Nothing to undo: the saga ends compensated, blocking nothing.
  EXPECT_EQ(inst.state, saga_state::compensated);
  for (auto& rec : output_records(cmds, inst, output_settings{}))
    EXPECT_EQ(rec.topic, "saga.events.v1");
}

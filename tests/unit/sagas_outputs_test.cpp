// The engine's emit commands as Kafka records: real sagas driven through
// `transition`, every record's envelope checked and its payload validated
// against the schema registry of events/schemas.
#include "events/cloud_event.hpp"
#include "events/schema_registry.hpp"
#include "sagas/engine.hpp"
#include "sagas/lifecycle_sagas.hpp"
#include "sagas/outputs.hpp"

#include <gtest/gtest.h>
#include <set>

using namespace ispflow;
using namespace ispflow::sagas;
using namespace std::chrono_literals;

namespace {

const events::schema_registry& registry() {
  return events::schema_registry::builtin();
}

// Every saga.* type engine.cpp emits.
const std::set<std::string> engine_saga_types{
  "saga.started",          "saga.step_started",      "saga.step_succeeded",
  "saga.step_retrying",    "saga.step_parked",       "saga.step_failed",
  "saga.compensating",     "saga.step_compensating", "saga.step_compensated",
  "saga.compensated",      "saga.completed",         "saga.needs_attention",
  "saga.cancel_requested", "saga.cancelled",         "saga.retried",
  "saga.resumed",
};

std::string header(const events::kafka_record& rec, std::string_view name) {
  auto h = rec.header(name);
  return h ? h->value : std::string{"<missing " + std::string{name} + ">"};
}

field_map outputs_of(const std::string& operation) {
  if (operation == "netbox.allocate_ip")
    return {{"ip_address", "100.64.0.7"}};
  if (operation == "voltha.provision_service")
    return {{"onu_id", "of:0000000000000001/onu/ALCL1A2B3C4D"}};
  if (operation == "genieacs.configure_cpe")
    return {{"cpe_id", "00D09E-HG8245-CPE123456"}};
  if (operation == "awx.run_activation_job")
    return {{"job_id", "901"}};
  if (operation == "radius.set_plan_group")
    return {{"previous_plan_group", "silver"}};
  return {};
}

// Drives one instance by hand and turns every transition's commands into
// records, checking each against its schema and envelope as it goes.
class saga_run {
public:
  explicit saga_run(saga_definition def, std::string service_type = "ftth",
                    output_settings settings = {})
    : def_(std::move(def)), settings_(std::move(settings)) {
    inst_ = make_instance(
      def_,
      {"9b2f3c1e-0d6a-4c1b-9a51-2f0e8d7c6b5a",
       "acme",
       "sub-0001",
       std::move(service_type),
       "evt-1001",
       {{"plan_id", "fiber-500"}, {"access.onu_serial", "ALCL1A2B3C4D"}}},
      now_);
  }

  const std::vector<saga_command>& feed(saga_input input) {
    now_ += 1ms; // a fresh `now` per transition, as the shell does
    out_ = transition(def_, inst_, input, now_, random_);
    for (auto& rec : output_records(out_, inst_, settings_))
      check(rec);
    return out_;
  }

  const std::vector<saga_command>&
  start(tenant_profile tenant = full_tenant_profile()) {
    return feed(start_saga{std::move(tenant)});
  }

  const std::vector<saga_command>& answer(step_outcome outcome) {
    return feed(
      step_result{inst_.cursor, inst_.generation, std::move(outcome)});
  }

  // Answers the operation in flight with success (and its outputs).
  const std::vector<saga_command>& succeed() {
    for (auto& cmd : out_)
      if (auto x = std::get_if<run_step>(&cmd))
        return answer(step_succeeded{outputs_of(x->call.operation)});
    return answer(step_succeeded{});
  }

  const std::vector<saga_command>& fire() {
    for (auto& cmd : out_) {
      if (auto t = std::get_if<schedule_timer>(&cmd)) {
        auto step = t->step;
        auto generation = t->generation;
        now_ = std::max(now_, t->due);
        return feed(timer_fired{step, generation});
      }
    }
    ADD_FAILURE() << "no timer to fire";
    return out_;
  }

  // Answers with success until the saga finishes.
  void succeed_to_the_end() {
    for (int guard = 0; guard < 20 && !finished(); ++guard)
      succeed();
    EXPECT_TRUE(finished());
  }

  bool finished() const {
    for (auto& cmd : out_)
      if (std::holds_alternative<sagas::finished>(cmd))
        return true;
    return false;
  }

  saga_instance& inst() {
    return inst_;
  }

  const std::vector<events::kafka_record>& records() const {
    return records_;
  }

  std::vector<std::string> types() const {
    std::vector<std::string> result;
    for (auto& rec : records_)
      result.push_back(header(rec, "ce_type"));
    return result;
  }

  // The last record of `type`.
  events::kafka_record last(std::string_view type) const {
    for (auto i = records_.rbegin(); i != records_.rend(); ++i)
      if (header(*i, "ce_type") == type)
        return *i;
    ADD_FAILURE() << "no record of type " << type;
    return {};
  }

private:
  void check(const events::kafka_record& rec) {
    auto type = header(rec, "ce_type");
    SCOPED_TRACE(type + " " + rec.value);
    bool saga_event = type.rfind("saga.", 0) == 0;
    EXPECT_EQ(rec.topic,
              saga_event ? settings_.saga_topic : settings_.lifecycle_topic);
    EXPECT_EQ(rec.key, inst_.subscriber_id);
    EXPECT_FALSE(rec.null_key);
    EXPECT_EQ(header(rec, "ce_specversion"), "1.0");
    EXPECT_EQ(header(rec, "ce_source"), settings_.source);
    EXPECT_EQ(header(rec, "ce_subject"), inst_.subscriber_id);
    EXPECT_EQ(header(rec, "ce_tenantid"), inst_.tenant_id);
    EXPECT_EQ(header(rec, "content-type"), "application/json");
    EXPECT_TRUE(events::is_rfc3339(header(rec, "ce_time")));
    EXPECT_TRUE(ids_.insert(header(rec, "ce_id")).second)
      << "duplicate ce_id " << header(rec, "ce_id");
    EXPECT_TRUE(registry().knows(type));
    auto violation = registry().validate(type, rec.value);
    EXPECT_FALSE(violation.has_value()) << *violation;
    EXPECT_NE(rec.value.find(R"("causation_id":"evt-1001")"),
              std::string::npos);
    EXPECT_NE(rec.value.find(R"("saga_id":")" + inst_.id + '"'),
              std::string::npos);
    // What a consumer sees: the record decodes as the same event.
    auto decoded = events::decode_cloud_event(rec);
    ASSERT_TRUE(std::holds_alternative<events::cloud_event>(decoded));
    EXPECT_EQ(std::get<events::cloud_event>(decoded).type, type);
    records_.push_back(rec);
  }

  saga_definition def_;
  output_settings settings_;
  saga_instance inst_;
  time_point now_ = time_point{} + 1'714'564'800s;
  uniform_random_source random_ = [] { return 0.5; };
  std::vector<saga_command> out_;
  std::vector<events::kafka_record> records_;
  std::set<std::string> ids_;
};

void collect(std::set<std::string>& seen, const saga_run& run) {
  for (auto& t : run.types())
    if (t.rfind("saga.", 0) == 0)
      seen.insert(t);
}

} // namespace

// -- schemas ------------------------------------------------------------------

TEST(saga_schemas, every_example_of_every_schema_validates) {
  EXPECT_EQ(registry().load_errors(), std::vector<std::string>{});
  for (auto& type : registry().types()) {
    auto examples = registry().examples(type);
    EXPECT_FALSE(examples.empty()) << type;
    for (auto& ex : examples) {
      auto violation = registry().validate(type, ex);
      EXPECT_FALSE(violation.has_value()) << type << ": " << *violation;
    }
  }
}

TEST(saga_schemas, cover_exactly_the_saga_types_the_engine_emits) {
  // saga.breaker_* come from the circuit breakers, not from sagas
  // (adapters/resilience/breaker_events.hpp, tested there).
  std::set<std::string> registered;
  for (auto& type : registry().types())
    if (type.rfind("saga.", 0) == 0 && type.rfind("saga.breaker_", 0) != 0)
      registered.insert(type);
  EXPECT_EQ(registered, engine_saga_types);
}

TEST(saga_schemas, refuse_an_unknown_engine_field) {
  auto rec = saga_event_record(
    emit_saga_event{"saga.completed", {}, {{"colour", "red"}}},
    [] {
      saga_instance inst;
      inst.id = "s-1";
      inst.name = "activate";
      inst.tenant_id = "acme";
      inst.subscriber_id = "sub-1";
      inst.causation = "evt-1";
      inst.state = saga_state::completed;
      return inst;
    }(),
    {}, 0);
  auto violation = registry().validate("saga.completed", rec.value);
  ASSERT_TRUE(violation.has_value());
  EXPECT_EQ(violation->detail, "/colour: property not allowed");
}

// -- every saga.* type, from real transitions ---------------------------------

TEST(saga_outputs, every_saga_event_type_the_engine_emits_validates) {
  std::set<std::string> seen;
  {
    // Success, with a retry, a parked breaker and a restart on the way.
    saga_run run{make_activate_definition()};
    run.start();
    run.answer(step_retryable_failure{"netbox: 503 Service Unavailable"});
    run.fire();
    run.answer(step_parked{5s, {}});
    run.fire();
    run.feed(resume_after_restart{});
    run.succeed_to_the_end();
    EXPECT_EQ(run.inst().state, saga_state::completed);
    collect(seen, run);
  }
  {
    // A permanent failure; the compensation retries and parks first.
    saga_run run{make_activate_definition()};
    run.start();
    run.succeed();                                     // allocate_ip
    run.succeed();                                     // provision_radius
    run.answer(step_permanent_failure{"voltha: 400"}); // provision_onu
    run.answer(step_retryable_failure{"radius: timeout"});
    run.fire();
    run.answer(step_parked{5s, {}});
    run.fire();
    run.succeed_to_the_end();
    EXPECT_EQ(run.inst().state, saga_state::compensated);
    collect(seen, run);
  }
  {
    // A compensation fails for good, an operator retries, then cancels.
    saga_run run{make_activate_definition()};
    run.start();
    run.succeed();
    run.answer(step_permanent_failure{"radius: user exists"});
    run.answer(step_permanent_failure{"netbox: 500"});
    EXPECT_EQ(run.inst().state, saga_state::needs_attention);
    run.feed(retry_requested{"NetBox is back"});
    run.answer(step_permanent_failure{"netbox: 500 again"});
    run.feed(cancel_requested{"cleaned up by hand"});
    EXPECT_EQ(run.inst().state, saga_state::cancelled);
    collect(seen, run);
  }
  {
    // An operator cancels while an attempt is in flight.
    saga_run run{make_activate_definition()};
    run.start();
    run.feed(cancel_requested{"customer called off the installation"});
    run.succeed_to_the_end();
    EXPECT_EQ(run.inst().state, saga_state::cancelled);
    collect(seen, run);
  }
  EXPECT_EQ(seen, engine_saga_types);
}

// -- lifecycle ----------------------------------------------------------------

TEST(saga_outputs, activation_reports_the_ids_it_produced) {
  saga_run run{make_activate_definition()};
  run.start();
  run.succeed_to_the_end();
  auto rec = run.last("subscriber.activated");
  EXPECT_EQ(rec.topic, "lifecycle.events.v1");
  EXPECT_EQ(
    rec.value,
    R"({"schema_version":1,"tenant_id":"acme","subscriber_id":"sub-0001",)"
    R"("saga_id":"9b2f3c1e-0d6a-4c1b-9a51-2f0e8d7c6b5a",)"
    R"("causation_id":"evt-1001",)"
    R"("cpe_id":"00D09E-HG8245-CPE123456","ip_address":"100.64.0.7",)"
    R"("onu_id":"of:0000000000000001/onu/ALCL1A2B3C4D",)"
    R"("plan_id":"fiber-500"})");
}

TEST(saga_outputs, wireless_activation_leaves_out_the_onu_it_never_made) {
  tenant_profile tenant{{target_system::radius, target_system::netbox,
                         target_system::genieacs, target_system::awx},
                        {}};
  saga_run run{make_activate_definition(), "wireless"};
  run.start(tenant);
  run.succeed_to_the_end();
  auto started = run.last("saga.started");
  EXPECT_NE(started.value.find(R"("skipped":"provision_onu_service")"),
            std::string::npos);
  auto rec = run.last("subscriber.activated");
  EXPECT_EQ(rec.value.find("onu_id"), std::string::npos);
}

TEST(saga_outputs, compensated_failure_says_where_why_and_that_it_was_undone) {
  saga_run run{make_activate_definition()};
  run.start();
  run.succeed();
  run.succeed();
  run.succeed();
  run.answer(step_permanent_failure{"genieacs: 400 unknown device"});
  run.succeed_to_the_end();
  auto rec = run.last("subscriber.activated_failed");
  EXPECT_EQ(
    rec.value,
    R"({"schema_version":1,"tenant_id":"acme","subscriber_id":"sub-0001",)"
    R"("saga_id":"9b2f3c1e-0d6a-4c1b-9a51-2f0e8d7c6b5a",)"
    R"("causation_id":"evt-1001","compensated":true,)"
    R"("error":"genieacs: 400 unknown device",)"
    R"("failed_step":"configure_cpe","ip_address":"100.64.0.7",)"
    R"("onu_id":"of:0000000000000001/onu/ALCL1A2B3C4D",)"
    R"("plan_id":"fiber-500"})");
}

TEST(saga_outputs, stuck_compensation_reports_not_compensated_and_why) {
  saga_run run{make_activate_definition()};
  run.start();
  run.succeed();
  run.answer(step_permanent_failure{"radius: user exists"});
  run.answer(step_permanent_failure{"netbox: 500"});
  auto rec = run.last("subscriber.activated_failed");
  EXPECT_NE(rec.value.find(R"("compensated":false)"), std::string::npos);
  EXPECT_NE(rec.value.find(R"("attention_error":"compensation )"
                           R"(netbox.release_ip failed permanently: )"
                           R"(netbox: 500")"),
            std::string::npos);
  EXPECT_NE(rec.value.find(R"("error":"radius: user exists")"),
            std::string::npos);
  auto stuck = run.last("saga.needs_attention");
  EXPECT_NE(
    stuck.value.find(R"("state":"needs_attention","step":"allocate_ip")"),
    std::string::npos);
}

TEST(saga_outputs, cancel_before_start_reports_an_empty_failed_step) {
  saga_run run{make_activate_definition()};
  run.feed(cancel_requested{"duplicate order"});
  EXPECT_EQ(run.types(), (std::vector<std::string>{
                           "saga.cancelled", "subscriber.activated_failed"}));
  EXPECT_NE(
    run.last("subscriber.activated_failed").value.find(R"("failed_step":"")"),
    std::string::npos);
}

TEST(saga_outputs, every_saga_completes_with_its_lifecycle_type) {
  for (auto make : {make_activate_definition, make_suspend_definition,
                    make_resume_definition, make_change_plan_definition,
                    make_terminate_definition}) {
    auto def = make();
    SCOPED_TRACE(def.name);
    saga_run run{def};
    run.start();
    run.succeed_to_the_end();
    EXPECT_EQ(run.types().back(), lifecycle_type(def));
  }
}

TEST(saga_outputs, every_saga_fails_with_its_failed_type) {
  for (auto make : {make_activate_definition, make_suspend_definition,
                    make_resume_definition, make_change_plan_definition,
                    make_terminate_definition}) {
    auto def = make();
    SCOPED_TRACE(def.name);
    saga_run run{def};
    run.start();
    run.answer(step_permanent_failure{"radius: 500"});
    run.succeed_to_the_end();
    EXPECT_EQ(run.types().back(), lifecycle_failed_type(def));
  }
}

TEST(saga_outputs, terminate_failure_needs_attention_without_compensating) {
  saga_run run{make_terminate_definition()};
  run.start();
  run.succeed();
  run.answer(step_permanent_failure{"radius: NAS unreachable"});
  auto rec = run.last("subscriber.terminated_failed");
  EXPECT_NE(rec.value.find(R"("compensated":false)"), std::string::npos);
  EXPECT_NE(rec.value.find(R"("failed_step":"disconnect_sessions")"),
            std::string::npos);
  for (auto& type : run.types())
    EXPECT_NE(type, "saga.compensating");
}

// -- envelope -----------------------------------------------------------------

TEST(saga_outputs, ids_name_the_saga_the_transition_and_the_position) {
  saga_run run{make_activate_definition()};
  auto& cmds = run.start();
  auto records = output_records(cmds, run.inst(), {});
  ASSERT_EQ(records.size(), 2u); // saga.started, saga.step_started
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
              run.inst().updated_at.time_since_epoch())
              .count();
  auto prefix = run.inst().id + "/" + std::to_string(us) + "/";
  EXPECT_EQ(header(records[0], "ce_id"), prefix + "0");
  // The run_step command comes last, at position 2.
  ASSERT_TRUE(std::holds_alternative<run_step>(cmds.back()));
  EXPECT_EQ(header(records[1], "ce_id"), prefix + "1");
  EXPECT_EQ(header(records[0], "ce_id"), output_event_id(run.inst(), 0));
}

TEST(saga_outputs, the_saga_s_own_traceparent_goes_on_its_events) {
  saga_run run{make_activate_definition()};
  run.start();
  auto inst = run.inst();
  inst.traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  output_settings settings;
  settings.traceparent
    = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto rec = saga_event_record(emit_saga_event{"saga.completed", {}, {}}, inst,
                               settings, 0);
  EXPECT_EQ(header(rec, "traceparent"), inst.traceparent);
  EXPECT_EQ(trace_id(inst), "0af7651916cd43dd8448eb211c80319c");
  inst.traceparent.clear();
  rec = saga_event_record(emit_saga_event{"saga.completed", {}, {}}, inst,
                          settings, 0);
  EXPECT_EQ(header(rec, "traceparent"), settings.traceparent);
  EXPECT_EQ(trace_id(inst), "");
}

TEST(saga_outputs, time_is_the_transition_time_unless_a_clock_is_set) {
  saga_run run{make_activate_definition()};
  run.start();
  auto& inst = run.inst();
  auto rec = saga_event_record(emit_saga_event{"saga.completed", {}, {}}, inst,
                               {}, 0);
  EXPECT_EQ(header(rec, "ce_time"), rfc3339(inst.updated_at));
  EXPECT_EQ(rfc3339(time_point{} + 1'714'564'800s + 250us),
            "2024-05-01T12:00:00.000250Z");

  output_settings settings;
  settings.clock = [] { return std::string{"2024-05-01T12:00:00Z"}; };
  settings.traceparent
    = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  settings.source = "ispflow/eu-1";
  settings.saga_topic = "t.saga";
  rec = saga_event_record(emit_saga_event{"saga.completed", {}, {}}, inst,
                          settings, 3);
  EXPECT_EQ(rec.topic, "t.saga");
  EXPECT_EQ(header(rec, "ce_time"), "2024-05-01T12:00:00Z");
  EXPECT_EQ(header(rec, "ce_source"), "ispflow/eu-1");
  EXPECT_EQ(header(rec, "traceparent"), settings.traceparent);
  EXPECT_EQ(header(rec, "ce_id"), output_event_id(inst, 3));
}

TEST(saga_outputs, reserved_names_in_engine_fields_do_not_override) {
  saga_run run{make_activate_definition()};
  run.start();
  auto rec = saga_event_record(
    emit_saga_event{"saga.step_succeeded",
                    "allocate_ip",
                    {{"attempts", "1"}, {"saga_id", "forged"}, {"step", "x"}}},
    run.inst(), {}, 0);
  EXPECT_EQ(rec.value.find("forged"), std::string::npos);
  EXPECT_FALSE(registry().validate("saga.step_succeeded", rec.value));
}

// -- free text ----------------------------------------------------------------

TEST(saga_outputs, adapter_error_text_is_made_valid_utf8_and_cut_to_size) {
  saga_run run{make_activate_definition()};
  run.start();
  std::string huge(5000, 'x');
  // A lone continuation byte, an overlong slash and a truncated sequence.
  std::string bad = "bad \x80 \xC0\xAF \xE2\x82";
  run.answer(step_permanent_failure{bad + huge});
  run.succeed_to_the_end();
  // check() validated every record already; look at the lifecycle one.
  auto rec = run.last("subscriber.activated_failed");
  EXPECT_NE(rec.value.find("bad \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD "
                           "\xEF\xBF\xBD\xEF\xBF\xBD"),
            std::string::npos);
  EXPECT_EQ(rec.value.find(huge), std::string::npos);
}

TEST(saga_outputs, failure_without_error_text_still_says_something) {
  saga_run run{make_change_plan_definition()};
  run.start();
  run.answer(step_permanent_failure{""});
  run.succeed_to_the_end();
  auto rec = run.last("subscriber.plan_changed_failed");
  EXPECT_NE(rec.value.find(R"("error":"unspecified error")"),
            std::string::npos);
  EXPECT_NE(rec.value.find(R"("plan_id":"fiber-500")"), std::string::npos);
}

// The five lifecycle sagas driven end to end through the transition function
// by a fake network and a fake clock: a permanent failure at every step, and
// a crash after every transition.
#include "sagas/engine.hpp"
#include "sagas/lifecycle_sagas.hpp"

#include <deque>
#include <functional>
#include <gtest/gtest.h>
#include <set>

using namespace ispflow::sagas;
using namespace std::chrono_literals;

namespace {

// -- a store row, as the persistence layer would keep it ----------------------

int64_t to_ms(std::optional<time_point> t) {
  if (!t)
    return -1;
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           t->time_since_epoch())
    .count();
}

std::optional<time_point> from_ms(int64_t ms) {
  if (ms < 0)
    return std::nullopt;
  return time_point{std::chrono::milliseconds{ms}};
}

struct step_row {
  std::string state;
  int32_t attempts;
  std::string last_error;
  field_map output;
  int64_t first_attempt_at;
  int64_t next_attempt_at;
  bool reconcile;
  int64_t generation;
  int32_t compensation_attempts;
  int64_t compensation_started_at;
};

struct saga_row {
  std::string id, name;
  int32_t version;
  std::string tenant_id, subscriber_id, service_type, causation;
  field_map payload;
  std::string state;
  int64_t cursor, generation;
  bool cancel_requested;
  std::string failed_step, error;
  int64_t created_at, updated_at;
  std::vector<step_row> steps;
};

saga_row store(const saga_instance& x) {
  saga_row row{x.id,
               x.name,
               x.version,
               x.tenant_id,
               x.subscriber_id,
               x.service_type,
               x.causation,
               x.payload,
               std::string{to_string(x.state)},
               static_cast<int64_t>(x.cursor),
               x.generation,
               x.cancel_requested,
               x.failed_step,
               x.error,
               to_ms(x.created_at),
               to_ms(x.updated_at),
               {}};
  for (auto& s : x.steps)
    row.steps.push_back(step_row{
      std::string{to_string(s.state)}, s.attempts, s.last_error, s.output,
      to_ms(s.first_attempt_at), to_ms(s.next_attempt_at), s.reconcile,
      s.generation, s.compensation_attempts, to_ms(s.compensation_started_at)});
  return row;
}

saga_instance load(const saga_row& row) {
  saga_instance x;
  x.id = row.id;
  x.name = row.name;
  x.version = row.version;
  x.tenant_id = row.tenant_id;
  x.subscriber_id = row.subscriber_id;
  x.service_type = row.service_type;
  x.causation = row.causation;
  x.payload = row.payload;
  x.state = parse_saga_state(row.state).value();
  x.cursor = static_cast<size_t>(row.cursor);
  x.generation = row.generation;
  x.cancel_requested = row.cancel_requested;
  x.failed_step = row.failed_step;
  x.error = row.error;
  x.created_at = *from_ms(row.created_at);
  x.updated_at = *from_ms(row.updated_at);
  for (auto& s : row.steps) {
    step_record r;
    r.state = parse_step_state(s.state).value();
    r.attempts = s.attempts;
    r.last_error = s.last_error;
    r.output = s.output;
    r.first_attempt_at = from_ms(s.first_attempt_at);
    r.next_attempt_at = from_ms(s.next_attempt_at);
    r.reconcile = s.reconcile;
    r.generation = s.generation;
    r.compensation_attempts = s.compensation_attempts;
    r.compensation_started_at = from_ms(s.compensation_started_at);
    x.steps.push_back(std::move(r));
  }
  return x;
}

// -- the fake network and the driver ------------------------------------------

/// Answers one call; `executions` counts earlier runs of the same operation.
using responder = std::function<step_outcome(const operation_call&, bool undo,
                                             int executions)>;

enum class crash_mode {
  /// The process dies after the commit, before sending the calls.
  before_send,
  /// The calls reach the network and take effect; the replies are lost.
  reply_lost,
};

struct run_result {
  saga_instance inst;
  /// Every operation the network executed, in order; undos as "undo:<op>".
  std::vector<std::string> ops;
  /// The distinct idempotency keys each (step, operation) was sent with.
  std::map<std::string, std::set<std::string>> keys;
  std::vector<emit_lifecycle> lifecycle;
  size_t transitions = 0;
  bool finished = false;
};

field_map outputs_of(const std::string& operation) {
  if (operation == "netbox.allocate_ip")
    return {{"ip_address", "100.64.0.7"}};
  if (operation == "voltha.provision_service")
    return {{"onu_id", "onu-17"}};
  if (operation == "genieacs.configure_cpe")
    return {{"cpe_id", "00259E-HG8245-48575443"}};
  if (operation == "awx.run_activation_job")
    return {{"job_id", "901"}};
  if (operation == "radius.set_plan_group")
    return {{"previous_plan_group", "silver"}};
  return {};
}

class driver {
public:
  driver(saga_definition def, std::string service_type, tenant_profile tenant,
         responder respond)
    : def_(std::move(def)),
      tenant_(std::move(tenant)),
      respond_(std::move(respond)) {
    inst_ = make_instance(def_,
                          {"saga-7",
                           "t-1",
                           "sub-42",
                           std::move(service_type),
                           "ce-9",
                           {{"plan_id", "gold"}}},
                          now_);
  }

  run_result run(std::optional<size_t> crash_after = std::nullopt,
                 crash_mode mode = crash_mode::before_send) {
    crash_after_ = crash_after;
    mode_ = mode;
    apply(start_saga{tenant_});
    size_t guard = 0;
    while (!result_.finished && !queue_.empty() && ++guard < 10'000) {
      // Earliest first; FIFO among equals.
      auto next
        = std::min_element(queue_.begin(), queue_.end(),
                           [](auto& a, auto& b) { return a.first < b.first; });
      auto [at, input] = *next;
      queue_.erase(next);
      now_ = std::max(now_, at);
      apply(input);
    }
    result_.inst = inst_;
    return result_;
  }

private:
  void apply(const saga_input& input) {
    auto cmds = transition(def_, inst_, input, now_, random_);
    ++result_.transitions;
    // Every transition goes through the store's row form.
    inst_ = load(store(inst_));
    std::vector<std::pair<operation_call, bool>> calls;
    for (auto& cmd : cmds) {
      if (auto x = std::get_if<run_step>(&cmd))
        calls.emplace_back(x->call, false);
      else if (auto y = std::get_if<run_compensation>(&cmd))
        calls.emplace_back(y->call, true);
      else if (auto t = std::get_if<schedule_timer>(&cmd))
        queue_.emplace_back(t->due, timer_fired{t->step, t->generation});
      else if (auto l = std::get_if<emit_lifecycle>(&cmd))
        result_.lifecycle.push_back(*l);
      else if (std::holds_alternative<finished>(cmd))
        result_.finished = true;
    }
    if (crash_after_ && *crash_after_ == result_.transitions) {
      crash_after_.reset();
      if (mode_ == crash_mode::reply_lost)
        for (auto& [call, undo] : calls)
          execute(call, undo);
      // Memory is gone; timer rows and the saga row survive.
      queue_.clear();
      inst_ = load(store(inst_));
      apply(resume_after_restart{});
      return;
    }
    for (auto& [call, undo] : calls)
      queue_.emplace_back(now_ + 10ms, step_result{call.step, call.generation,
                                                   execute(call, undo)});
  }

  step_outcome execute(const operation_call& call, bool undo) {
    auto& n = executions_[call.operation + (undo ? "/undo" : "")];
    auto outcome = respond_(call, undo, n++);
    if (!std::holds_alternative<step_parked>(outcome)) {
      result_.ops.push_back((undo ? "undo:" : "") + call.operation);
      result_.keys[call.step_name + ":" + call.operation].insert(
        call.idempotency_key);
    }
    return outcome;
  }

  saga_definition def_;
  tenant_profile tenant_;
  responder respond_;
  saga_instance inst_;
  time_point now_ = time_point{} + 1'700'000'000s;
  uniform_random_source random_ = make_seeded_source(7);
  std::vector<std::pair<time_point, saga_input>> queue_;
  std::map<std::string, int> executions_;
  std::optional<size_t> crash_after_;
  crash_mode mode_ = crash_mode::before_send;
  run_result result_;
};

responder all_succeed() {
  return [](const operation_call& call, bool undo, int) -> step_outcome {
    return step_succeeded{undo ? field_map{} : outputs_of(call.operation)};
  };
}

responder fail_permanently_at(std::string step) {
  return [step](const operation_call& call, bool undo, int) -> step_outcome {
    if (!undo && call.step_name == step)
      return step_permanent_failure{"injected failure at " + step};
    return step_succeeded{undo ? field_map{} : outputs_of(call.operation)};
  };
}

tenant_profile tenant_with_all_policies() {
  auto t = full_tenant_profile();
  t.policies = {std::string{policy_suspend_disable_onu},
                std::string{policy_terminate_factory_reset}};
  return t;
}

// One saga and service type: the steps that apply, and for a permanent
// failure at each, the compensations expected, newest first.
struct saga_case {
  std::string label;
  saga_definition def;
  std::string service_type;
  std::vector<std::string> applicable;
  std::map<std::string, std::vector<std::string>> undos;
};

std::vector<saga_case> all_cases() {
  return {
    {"activate/ftth",
     make_activate_definition(),
     "ftth",
     {"allocate_ip", "provision_radius", "provision_onu_service",
      "configure_cpe", "run_activation_job"},
     {{"allocate_ip", {}},
      {"provision_radius", {"netbox.release_ip"}},
      {"provision_onu_service", {"radius.deprovision", "netbox.release_ip"}},
      {"configure_cpe",
       {"voltha.remove_service", "radius.deprovision", "netbox.release_ip"}},
      {"run_activation_job",
       {"voltha.remove_service", "radius.deprovision", "netbox.release_ip"}}}},
    {"activate/wireless",
     make_activate_definition(),
     "wireless",
     {"allocate_ip", "provision_radius", "configure_cpe", "run_activation_job"},
     {{"allocate_ip", {}},
      {"provision_radius", {"netbox.release_ip"}},
      {"configure_cpe", {"radius.deprovision", "netbox.release_ip"}},
      {"run_activation_job", {"radius.deprovision", "netbox.release_ip"}}}},
    {"suspend/ftth",
     make_suspend_definition(),
     "ftth",
     {"deny", "disconnect_sessions", "verify_sessions_closed", "disable_onu"},
     {{"deny", {}},
      {"disconnect_sessions", {"radius.restore_plan"}},
      {"verify_sessions_closed", {"radius.restore_plan"}},
      {"disable_onu", {"radius.restore_plan"}}}},
    {"suspend/wireless",
     make_suspend_definition(),
     "wireless",
     {"deny", "disconnect_sessions", "verify_sessions_closed"},
     {{"deny", {}},
      {"disconnect_sessions", {"radius.restore_plan"}},
      {"verify_sessions_closed", {"radius.restore_plan"}}}},
    {"resume/ftth",
     make_resume_definition(),
     "ftth",
     {"restore_plan", "disconnect_sessions", "enable_onu"},
     {{"restore_plan", {}},
      {"disconnect_sessions", {"radius.deny"}},
      {"enable_onu", {"radius.deny"}}}},
    {"resume/wireless",
     make_resume_definition(),
     "wireless",
     {"restore_plan", "disconnect_sessions"},
     {{"restore_plan", {}}, {"disconnect_sessions", {"radius.deny"}}}},
    {"change_plan/ftth",
     make_change_plan_definition(),
     "ftth",
     {"set_plan_group", "coa_sessions"},
     {{"set_plan_group", {}}, {"coa_sessions", {"radius.revert_plan_group"}}}},
    {"change_plan/wireless",
     make_change_plan_definition(),
     "wireless",
     {"set_plan_group", "coa_sessions"},
     {{"set_plan_group", {}}, {"coa_sessions", {"radius.revert_plan_group"}}}},
    {"terminate/ftth",
     make_terminate_definition(),
     "ftth",
     {"deny", "disconnect_sessions", "remove_onu_service", "factory_reset_cpe",
      "deprovision_radius", "release_ip"},
     {{"deny", {}},
      {"disconnect_sessions", {}},
      {"remove_onu_service", {}},
      {"factory_reset_cpe", {}},
      {"deprovision_radius", {}},
      {"release_ip", {}}}},
    {"terminate/wireless",
     make_terminate_definition(),
     "wireless",
     {"deny", "disconnect_sessions", "factory_reset_cpe", "deprovision_radius",
      "release_ip"},
     {{"deny", {}},
      {"disconnect_sessions", {}},
      {"factory_reset_cpe", {}},
      {"deprovision_radius", {}},
      {"release_ip", {}}}},
  };
}

std::string action_of(const saga_definition& def, const std::string& step) {
  return def.steps.at(*def.index_of(step)).action;
}

} // namespace

TEST(lifecycle_sagas, complete_with_every_applicable_step_in_order) {
  for (auto& c : all_cases()) {
    SCOPED_TRACE(c.label);
    auto r = driver{c.def, c.service_type, tenant_with_all_policies(),
                    all_succeed()}
               .run();
    std::vector<std::string> expected;
    for (auto& s : c.applicable)
      expected.push_back(action_of(c.def, s));
    EXPECT_EQ(r.ops, expected);
    EXPECT_EQ(r.inst.state, saga_state::completed);
    ASSERT_EQ(r.lifecycle.size(), 1u);
    EXPECT_EQ(r.lifecycle[0].type, "subscriber." + c.def.lifecycle_verb);
    for (size_t i = 0; i < c.def.steps.size(); ++i) {
      bool applicable = std::count(c.applicable.begin(), c.applicable.end(),
                                   c.def.steps[i].name)
                        > 0;
      EXPECT_EQ(r.inst.steps[i].state,
                applicable ? step_state::succeeded : step_state::skipped)
        << c.def.steps[i].name;
    }
  }
}

TEST(lifecycle_sagas, activate_reports_the_ids_it_produced) {
  auto r = driver{make_activate_definition(), "ftth", full_tenant_profile(),
                  all_succeed()}
             .run();
  ASSERT_EQ(r.lifecycle.size(), 1u);
  EXPECT_EQ(r.lifecycle[0].fields,
            (field_map{{"ip_address", "100.64.0.7"},
                       {"onu_id", "onu-17"},
                       {"cpe_id", "00259E-HG8245-48575443"},
                       {"plan_id", "gold"}}));
}

TEST(lifecycle_sagas, undo_done_steps_in_reverse_on_a_failure_at_every_step) {
  for (auto& c : all_cases()) {
    for (auto& failing : c.applicable) {
      SCOPED_TRACE(c.label + " failing at " + failing);
      auto r = driver{c.def, c.service_type, tenant_with_all_policies(),
                      fail_permanently_at(failing)}
                 .run();
      std::vector<std::string> expected;
      for (auto& s : c.applicable) {
        expected.push_back(action_of(c.def, s));
        if (s == failing)
          break;
      }
      for (auto& undo : c.undos.at(failing))
        expected.push_back("undo:" + undo);
      EXPECT_EQ(r.ops, expected);
      EXPECT_EQ(r.inst.failed_step, failing);
      EXPECT_EQ(r.inst.steps[*c.def.index_of(failing)].state,
                step_state::failed);
      auto error = "injected failure at " + failing;
      EXPECT_EQ(r.inst.error, error);
      ASSERT_EQ(r.lifecycle.size(), 1u);
      auto& lc = r.lifecycle[0];
      EXPECT_EQ(lc.type, "subscriber." + c.def.lifecycle_verb + "_failed");
      EXPECT_EQ(lc.fields.at("failed_step"), failing);
      EXPECT_EQ(lc.fields.at("error"), error);
      if (c.def.forward_only) {
        EXPECT_EQ(r.inst.state, saga_state::needs_attention);
        EXPECT_EQ(lc.fields.at("compensated"), "false");
      } else {
        EXPECT_EQ(r.inst.state, saga_state::compensated);
        EXPECT_EQ(lc.fields.at("compensated"), "true");
        for (size_t i = 0; i < c.def.steps.size(); ++i) {
          auto& s = c.def.steps[i];
          auto st = r.inst.steps[i].state;
          if (st == step_state::compensated) {
            EXPECT_TRUE(s.compensable()) << s.name;
          }
          if (st == step_state::succeeded) {
            EXPECT_FALSE(s.compensable()) << s.name << " was left undone";
          }
        }
      }
    }
  }
}

TEST(lifecycle_sagas, skip_steps_of_systems_a_tenant_does_not_have) {
  auto tenant = full_tenant_profile();
  tenant.systems.erase(target_system::voltha);
  tenant.systems.erase(target_system::awx);
  auto r
    = driver{make_activate_definition(), "ftth", tenant, all_succeed()}.run();
  EXPECT_EQ(r.ops,
            (std::vector<std::string>{"netbox.allocate_ip", "radius.provision",
                                      "genieacs.configure_cpe"}));
  EXPECT_EQ(r.inst.steps[2].state, step_state::skipped);
  EXPECT_EQ(r.inst.steps[4].state, step_state::skipped);
  EXPECT_EQ(r.lifecycle.at(0).fields.count("onu_id"), 0u);
  // Without the policy, suspend leaves the ONU alone even on FTTH.
  auto s = driver{make_suspend_definition(), "ftth", full_tenant_profile(),
                  all_succeed()}
             .run();
  EXPECT_EQ(s.ops, (std::vector<std::string>{"radius.deny",
                                             "radius.disconnect_sessions",
                                             "radius.verify_sessions_closed"}));
}

TEST(lifecycle_sagas, suspend_says_so_when_sessions_stay_open) {
  // Accounting-Stop never shows: the verify step polls until its deadline,
  // fails, and the deny is undone; billing hears about it.
  auto r = driver{
    make_suspend_definition(), "wireless", full_tenant_profile(),
    [](const operation_call& call, bool, int) -> step_outcome {
      if (call.operation == "radius.verify_sessions_closed")
        return step_retryable_failure{"1 session still open"};
      return step_succeeded{};
    }}.run();
  EXPECT_EQ(r.inst.state, saga_state::compensated);
  EXPECT_EQ(r.inst.failed_step, "verify_sessions_closed");
  EXPECT_EQ(r.inst.error, "step deadline passed: 1 session still open");
  EXPECT_GT(r.inst.steps[2].attempts, 10);
  EXPECT_EQ(r.ops.back(), "undo:radius.restore_plan");
  EXPECT_EQ(r.lifecycle.at(0).type, "subscriber.suspended_failed");
}

namespace {

// A bumpy ride: retries, an unknown outcome, a parked call, a failing undo.
responder bumpy(bool fail_cpe) {
  return
    [fail_cpe](const operation_call& call, bool undo, int n) -> step_outcome {
      auto& op = call.operation;
      if (undo) {
        if (op == "netbox.release_ip" && n == 0)
          return step_retryable_failure{"NetBox 503"};
        return step_succeeded{};
      }
      if (op == "netbox.allocate_ip" && n == 0)
        return step_retryable_failure{"NetBox 503"};
      if (op == "radius.provision" && n == 0)
        return step_unknown_outcome{"no answer"};
      if (op == "voltha.provision_service" && n == 0)
        return step_parked{30s, {}};
      if (op == "genieacs.configure_cpe" && fail_cpe)
        return step_permanent_failure{"GenieACS 400"};
      return step_succeeded{outputs_of(op)};
    };
}

void expect_same_outcome(const run_result& a, const run_result& b) {
  EXPECT_EQ(a.inst.state, b.inst.state);
  EXPECT_EQ(a.inst.failed_step, b.inst.failed_step);
  EXPECT_EQ(a.inst.error, b.inst.error);
  EXPECT_EQ(a.inst.generation, b.inst.generation);
  ASSERT_EQ(a.inst.steps.size(), b.inst.steps.size());
  for (size_t i = 0; i < a.inst.steps.size(); ++i) {
    EXPECT_EQ(a.inst.steps[i].state, b.inst.steps[i].state) << i;
    EXPECT_EQ(a.inst.steps[i].output, b.inst.steps[i].output) << i;
  }
  ASSERT_FALSE(b.lifecycle.empty());
  EXPECT_EQ(a.lifecycle.back(), b.lifecycle.back());
}

} // namespace

TEST(lifecycle_sagas, survive_a_crash_after_every_transition) {
  struct scenario {
    std::string label;
    saga_definition def;
    responder respond;
  };
  std::vector<scenario> scenarios{
    {"activate completes", make_activate_definition(), bumpy(false)},
    {"activate compensates", make_activate_definition(), bumpy(true)},
    {"terminate", make_terminate_definition(), all_succeed()},
    {"suspend fails verify", make_suspend_definition(),
     fail_permanently_at("verify_sessions_closed")},
  };
  for (auto& sc : scenarios) {
    auto tenant = tenant_with_all_policies();
    auto baseline = driver{sc.def, "ftth", tenant, sc.respond}.run();
    ASSERT_TRUE(baseline.finished) << sc.label;
    for (auto& [what, keys] : baseline.keys)
      EXPECT_EQ(keys.size(), 1u) << sc.label << " " << what;
    if (sc.label == "activate completes") {
      EXPECT_EQ(baseline.inst.steps[0].attempts, 2); // one retry
      EXPECT_EQ(baseline.inst.steps[1].attempts, 2); // unknown, reconciled
      EXPECT_EQ(baseline.inst.steps[2].attempts, 1); // parked once, uncounted
    }
    size_t repeats = 0;
    for (auto mode : {crash_mode::before_send, crash_mode::reply_lost}) {
      for (size_t k = 1; k <= baseline.transitions; ++k) {
        SCOPED_TRACE(sc.label + ", crash after transition " + std::to_string(k)
                     + (mode == crash_mode::reply_lost ? " (reply lost)"
                                                       : " (before send)"));
        auto r = driver{sc.def, "ftth", tenant, sc.respond}.run(k, mode);
        ASSERT_TRUE(r.finished);
        expect_same_outcome(baseline, r);
        // A repeated effect always carries the key of its first run.
        EXPECT_EQ(r.keys, baseline.keys);
        // Every effect of the baseline happened, none other.
        EXPECT_EQ(std::set<std::string>(r.ops.begin(), r.ops.end()),
                  std::set<std::string>(baseline.ops.begin(),
                                        baseline.ops.end()));
        if (mode == crash_mode::reply_lost
            && r.ops.size() > baseline.ops.size())
          ++repeats;
      }
    }
    // Lost replies did make the engine repeat effects (with the same keys).
    EXPECT_GT(repeats, 0u) << sc.label;
  }
}

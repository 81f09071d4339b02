#include "sagas/engine.hpp"

#include <algorithm>

namespace ispflow::sagas {

namespace {

template <class... Fs>
struct overload : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
overload(Fs...) -> overload<Fs...>;

std::string ms_since_epoch(time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
    t.time_since_epoch());
  return std::to_string(ms.count());
}

// One transition: the definition, the instance and the clock, plus the
// commands collected so far. Every method keeps the instance consistent on
// its own, so a transition may chain several of them (a step succeeds, the
// next one starts).
class stepper {
public:
  stepper(const saga_definition& def, saga_instance& inst, time_point now,
          const uniform_random_source& random)
    : def_(def), inst_(inst), now_(now), random_(random) {
    // nop
  }

  std::vector<saga_command> run(const saga_input& input) {
    std::visit([this](auto& x) { on(x); }, input);
    if (!out_.empty())
      inst_.updated_at = now_;
    return std::move(out_);
  }

private:
  // -- inputs -----------------------------------------------------------------

  void on(const start_saga& x) {
    if (inst_.state != saga_state::pending)
      return;
    inst_.state = saga_state::running;
    std::string skipped;
    for (size_t i = 0; i < def_.steps.size(); ++i) {
      if (!applies(def_.steps[i], inst_.service_type, x.tenant)
          || !requested(def_.steps[i], inst_.payload)) {
        inst_.steps[i].state = step_state::skipped;
        skipped += skipped.empty() ? "" : ",";
        skipped += def_.steps[i].name;
      }
    }
    saga_event("saga.started", {},
               {{"version", std::to_string(def_.version)},
                {"service_type", inst_.service_type},
                {"skipped", skipped}});
    advance(0);
  }

  void on(const step_result& x) {
    if (x.generation != inst_.generation || x.step != inst_.cursor
        || x.step >= inst_.steps.size())
      return;
    auto& rec = inst_.steps[x.step];
    if (rec.next_attempt_at)
      return; // waiting for a timer: nothing of this generation is in flight
    if (inst_.state == saga_state::running && rec.state == step_state::running)
      std::visit([this](auto& y) { forward(y); }, x.outcome);
    else if (inst_.state == saga_state::compensating
             && rec.state == step_state::compensating)
      std::visit([this](auto& y) { backward(y); }, x.outcome);
  }

  void on(const timer_fired& x) {
    if (x.generation != inst_.generation || x.step != inst_.cursor
        || x.step >= inst_.steps.size())
      return;
    auto& rec = inst_.steps[x.step];
    if (!rec.next_attempt_at)
      return;
    if (inst_.state == saga_state::running
        && rec.state == step_state::running) {
      rec.next_attempt_at.reset();
      if (now_ >= step_deadline())
        fail_forward("step deadline passed"
                     + (rec.last_error.empty() ? "" : ": " + rec.last_error));
      else
        issue_action();
    } else if (inst_.state == saga_state::compensating
               && rec.state == step_state::compensating) {
      rec.next_attempt_at.reset();
      if (now_ >= compensation_deadline())
        needs_attention(
          "compensation deadline passed"
          + (rec.last_error.empty() ? "" : ": " + rec.last_error));
      else
        issue_compensation();
    }
  }

  void on(const cancel_requested& x) {
    auto why = "cancelled by operator"
               + (x.reason.empty() ? std::string{} : ": " + x.reason);
    switch (inst_.state) {
      case saga_state::pending:
        inst_.cancel_requested = true;
        inst_.error = why;
        finish_compensation();
        return;
      case saga_state::running: {
        if (inst_.cancel_requested)
          return;
        inst_.cancel_requested = true;
        inst_.error = why;
        saga_event("saga.cancel_requested", {}, {{"reason", x.reason}});
        // An attempt in flight must answer first: undoing an effect that is
        // still being made would race with it.
        if (current().next_attempt_at)
          stop_for_cancel();
        return;
      }
      case saga_state::needs_attention:
        inst_.cancel_requested = true;
        inst_.state = saga_state::cancelled;
        saga_event("saga.cancelled", {},
                   {{"reason", x.reason},
                    {"abandoned_step", step_def().name},
                    {"error", inst_.error}});
        out_.emplace_back(finished{saga_state::cancelled});
        return;
      default:
        // Compensating already undoes everything; terminal states are final.
        return;
    }
  }

  void on(const retry_requested& x) {
    if (inst_.state != saga_state::needs_attention)
      return;
    ++inst_.generation;
    auto& rec = current();
    rec.next_attempt_at.reset();
    saga_event("saga.retried", step_def().name,
               {{"generation", std::to_string(inst_.generation)},
                {"reason", x.reason}});
    if (rec.state == step_state::compensating) {
      inst_.state = saga_state::compensating;
      rec.compensation_attempts = 0;
      rec.compensation_started_at = now_;
      // The stuck undo may have half-happened: look before acting.
      rec.reconcile = true;
      issue_compensation();
    } else {
      // A forward-only saga stopped at a failed step.
      inst_.state = saga_state::running;
      inst_.failed_step.clear();
      inst_.error.clear();
      rec.state = step_state::running;
      rec.attempts = 0;
      rec.first_attempt_at = now_;
      issue_action();
    }
  }

  void on(const resume_after_restart&) {
    auto& rec = current();
    bool forward = inst_.state == saga_state::running
                   && rec.state == step_state::running;
    bool backward = inst_.state == saga_state::compensating
                    && rec.state == step_state::compensating;
    if (!forward && !backward)
      return;
    saga_event("saga.resumed", step_def().name,
               {{"generation", std::to_string(inst_.generation)}});
    if (rec.next_attempt_at) {
      out_.emplace_back(
        schedule_timer{*rec.next_attempt_at, inst_.cursor, inst_.generation});
      return;
    }
    // The attempt in flight at the crash may or may not have taken effect.
    rec.reconcile = true;
    if (forward)
      issue_action();
    else
      issue_compensation();
  }

  // -- forward outcomes -------------------------------------------------------

  void forward(const step_succeeded& x) {
    auto& rec = current();
    ++rec.attempts;
    for (auto& [key, value] : x.outputs)
      rec.output[key] = value;
    rec.state = step_state::succeeded;
    rec.reconcile = false;
    rec.last_error.clear();
    // Once no later step needs the credentials (RADIUS stores the password
    // hashed; the CPE's PPPoE client needs it in clear), the saga's stored
    // payload must not keep them.
    if (!secrets_needed(def_, inst_))
      drop_secrets(inst_);
    saga_event("saga.step_succeeded", step_def().name,
               {{"attempts", std::to_string(rec.attempts)}});
    if (inst_.cancel_requested) {
      inst_.failed_step = step_def().name;
      begin_compensation();
      return;
    }
    advance(inst_.cursor + 1);
  }

  void forward(const step_retryable_failure& x) {
    auto& rec = current();
    ++rec.attempts;
    rec.last_error = x.error;
    rec.reconcile = false;
    retry_forward();
  }

  void forward(const step_unknown_outcome& x) {
    auto& rec = current();
    ++rec.attempts;
    rec.last_error = x.error;
    rec.reconcile = true;
    retry_forward();
  }

  void forward(const step_permanent_failure& x) {
    auto& rec = current();
    ++rec.attempts;
    rec.last_error = x.error;
    rec.reconcile = false;
    fail_forward(x.error);
  }

  void forward(const step_parked& x) {
    if (inst_.cancel_requested) {
      stop_for_cancel();
      return;
    }
    note_parked(x);
    auto deadline = step_deadline();
    if (now_ >= deadline) {
      fail_forward("step deadline passed while parked: " + parked_why(x));
      return;
    }
    auto due = std::min(now_ + x.retry_after, deadline);
    wait_until(due);
    saga_event("saga.step_parked", step_def().name,
               {{"due_ms", ms_since_epoch(due)}});
  }

  void retry_forward() {
    if (inst_.cancel_requested) {
      stop_for_cancel();
      return;
    }
    auto& rec = current();
    auto& step = step_def();
    if (!step.retry.allows_another(rec.attempts)) {
      fail_forward("attempts exhausted (" + std::to_string(rec.attempts)
                   + "): " + rec.last_error);
      return;
    }
    auto due = now_ + step.retry.delay(rec.attempts, random_);
    if (due >= step_deadline()) {
      fail_forward("step deadline passed: " + rec.last_error);
      return;
    }
    wait_until(due);
    saga_event("saga.step_retrying", step.name,
               {{"attempts", std::to_string(rec.attempts)},
                {"error", rec.last_error},
                {"reconcile", rec.reconcile ? "true" : "false"},
                {"due_ms", ms_since_epoch(due)}});
  }

  // Why a step waits (a breaker, a tenant limit, a job being polled): its
  // last error, so that a deadline passing later says why it waited.
  // An effect under way makes the next attempt look before acting.
  void note_parked(const step_parked& x) {
    if (!x.reason.empty())
      current().last_error = "parked: " + x.reason;
    if (x.under_way)
      current().reconcile = true;
  }

  static std::string parked_why(const step_parked& x) {
    return x.reason.empty() ? std::string{"no reason given"} : x.reason;
  }

  void fail_forward(const std::string& why) {
    auto& rec = current();
    rec.state = step_state::failed;
    rec.next_attempt_at.reset();
    inst_.failed_step = step_def().name;
    inst_.error = why;
    saga_event("saga.step_failed", step_def().name,
               {{"attempts", std::to_string(rec.attempts)},
                {"error", why},
                {"reconcile", rec.reconcile ? "true" : "false"}});
    if (def_.forward_only && !inst_.cancel_requested)
      needs_attention(why);
    else
      begin_compensation();
  }

  // Stops the current step (not in flight) on an operator cancel.
  void stop_for_cancel() {
    auto& rec = current();
    rec.state = step_state::failed;
    rec.next_attempt_at.reset();
    inst_.failed_step = step_def().name;
    saga_event("saga.step_failed", step_def().name,
               {{"attempts", std::to_string(rec.attempts)},
                {"error", inst_.error},
                {"reconcile", rec.reconcile ? "true" : "false"}});
    begin_compensation();
  }

  // -- compensation -----------------------------------------------------------

  void begin_compensation() {
    inst_.state = saga_state::compensating;
    saga_event("saga.compensating", {},
               {{"failed_step", inst_.failed_step}, {"error", inst_.error}});
    next_compensation(static_cast<std::ptrdiff_t>(inst_.cursor));
  }

  // Undoes, newest first, every done step with a compensation at or below
  // `from`. A failed step whose last outcome is unknown may have taken
  // effect, so it is undone too (with a reconciling look-up).
  void next_compensation(std::ptrdiff_t from) {
    for (auto j = from; j >= 0; --j) {
      auto i = static_cast<size_t>(j);
      auto& rec = inst_.steps[i];
      if (!def_.steps[i].compensable())
        continue;
      if (rec.state == step_state::succeeded
          || (rec.state == step_state::failed && rec.reconcile)) {
        inst_.cursor = i;
        rec.state = step_state::compensating;
        rec.compensation_attempts = 0;
        rec.compensation_started_at = now_;
        rec.next_attempt_at.reset();
        saga_event("saga.step_compensating", def_.steps[i].name,
                   {{"operation", def_.steps[i].compensation}});
        issue_compensation();
        return;
      }
    }
    finish_compensation();
  }

  void finish_compensation() {
    bool cancelled = inst_.cancel_requested;
    inst_.state = cancelled ? saga_state::cancelled : saga_state::compensated;
    drop_secrets(inst_);
    saga_event(cancelled ? "saga.cancelled" : "saga.compensated", {},
               {{"failed_step", inst_.failed_step}, {"error", inst_.error}});
    auto fields = produced_ids();
    fields["failed_step"] = inst_.failed_step;
    fields["error"] = inst_.error;
    fields["compensated"] = "true";
    out_.emplace_back(emit_lifecycle{lifecycle_failed_type(def_), fields});
    out_.emplace_back(finished{inst_.state});
  }

  void backward(const step_succeeded&) {
    auto& rec = current();
    ++rec.compensation_attempts;
    rec.state = step_state::compensated;
    rec.reconcile = false;
    saga_event("saga.step_compensated", step_def().name,
               {{"attempts", std::to_string(rec.compensation_attempts)}});
    next_compensation(static_cast<std::ptrdiff_t>(inst_.cursor) - 1);
  }

  void backward(const step_retryable_failure& x) {
    auto& rec = current();
    ++rec.compensation_attempts;
    rec.last_error = x.error;
    rec.reconcile = false;
    retry_backward();
  }

  void backward(const step_unknown_outcome& x) {
    auto& rec = current();
    ++rec.compensation_attempts;
    rec.last_error = x.error;
    rec.reconcile = true;
    retry_backward();
  }

  void backward(const step_permanent_failure& x) {
    auto& rec = current();
    ++rec.compensation_attempts;
    rec.last_error = x.error;
    needs_attention("compensation " + step_def().compensation
                    + " failed permanently: " + x.error);
  }

  void backward(const step_parked& x) {
    note_parked(x);
    auto deadline = compensation_deadline();
    if (now_ >= deadline) {
      needs_attention("compensation deadline passed while parked: "
                      + parked_why(x));
      return;
    }
    auto due = std::min(now_ + x.retry_after, deadline);
    wait_until(due);
    saga_event("saga.step_parked", step_def().name,
               {{"compensation", "true"}, {"due_ms", ms_since_epoch(due)}});
  }

  void retry_backward() {
    auto& rec = current();
    auto& step = step_def();
    if (!step.compensation_retry.allows_another(rec.compensation_attempts)) {
      needs_attention("compensation attempts exhausted ("
                      + std::to_string(rec.compensation_attempts)
                      + "): " + rec.last_error);
      return;
    }
    auto due = now_
               + step.compensation_retry.delay(rec.compensation_attempts,
                                               random_);
    if (due >= compensation_deadline()) {
      needs_attention("compensation deadline passed: " + rec.last_error);
      return;
    }
    wait_until(due);
    saga_event("saga.step_retrying", step.name,
               {{"compensation", "true"},
                {"attempts", std::to_string(rec.compensation_attempts)},
                {"error", rec.last_error},
                {"reconcile", rec.reconcile ? "true" : "false"},
                {"due_ms", ms_since_epoch(due)}});
  }

  // -- ends -------------------------------------------------------------------

  void advance(size_t from) {
    for (auto i = from; i < def_.steps.size(); ++i) {
      auto& rec = inst_.steps[i];
      if (rec.state != step_state::pending)
        continue;
      inst_.cursor = i;
      rec.state = step_state::running;
      rec.attempts = 0;
      rec.first_attempt_at = now_;
      saga_event("saga.step_started", def_.steps[i].name,
                 {{"operation", def_.steps[i].action}});
      issue_action();
      return;
    }
    inst_.state = saga_state::completed;
    drop_secrets(inst_);
    saga_event("saga.completed", {}, {});
    out_.emplace_back(emit_lifecycle{lifecycle_type(def_), produced_ids()});
    out_.emplace_back(finished{saga_state::completed});
  }

  // Stops at a step that cannot go on: the saga waits for an operator.
  // `inst_.error` keeps the failure that stopped the saga going forward; the
  // stuck step's `last_error` keeps the last adapter answer, and `why` (in
  // the events) says what is stuck now.
  void needs_attention(const std::string& why) {
    auto& rec = current();
    rec.next_attempt_at.reset();
    auto original = inst_.error;
    inst_.state = saga_state::needs_attention;
    saga_event("saga.needs_attention", step_def().name,
               {{"error", why}, {"last_error", rec.last_error}});
    auto fields = produced_ids();
    fields["failed_step"] = inst_.failed_step;
    fields["error"] = original;
    fields["attention_error"] = why;
    fields["compensated"] = "false";
    out_.emplace_back(emit_lifecycle{lifecycle_failed_type(def_), fields});
    out_.emplace_back(finished{saga_state::needs_attention});
  }

  // -- helpers ----------------------------------------------------------------

  step_record& current() {
    return inst_.steps[inst_.cursor];
  }

  const step_definition& step_def() const {
    return def_.steps[inst_.cursor];
  }

  time_point step_deadline() {
    return current().first_attempt_at.value_or(now_) + step_def().deadline;
  }

  time_point compensation_deadline() {
    return current().compensation_started_at.value_or(now_)
           + step_def().compensation_deadline;
  }

  void wait_until(time_point due) {
    current().next_attempt_at = due;
    out_.emplace_back(schedule_timer{due, inst_.cursor, inst_.generation});
  }

  operation_call make_call(bool compensation) {
    auto& rec = current();
    auto& step = step_def();
    operation_call call;
    call.step = inst_.cursor;
    call.step_name = step.name;
    call.system = step.system;
    call.operation = compensation ? step.compensation : step.action;
    call.generation = inst_.generation;
    // An undo names the effect it undoes: the key of the action's run.
    call.idempotency_key = idempotency_key(inst_, def_, inst_.cursor,
                                           compensation ? rec.generation
                                                        : inst_.generation);
    call.reconcile = rec.reconcile;
    call.attempt_timeout = step.attempt_timeout;
    call.input = input_view(inst_, inst_.cursor, compensation);
    return call;
  }

  void issue_action() {
    current().generation = inst_.generation;
    out_.emplace_back(run_step{make_call(false)});
  }

  void issue_compensation() {
    out_.emplace_back(run_compensation{make_call(true)});
  }

  field_map produced_ids() const {
    field_map result;
    auto view = input_view(inst_, inst_.steps.size() - 1, true);
    for (auto& key : def_.lifecycle_fields)
      if (auto i = view.find(key); i != view.end())
        result.emplace(key, i->second);
    return result;
  }

  void saga_event(std::string type, std::string step, field_map fields) {
    out_.emplace_back(
      emit_saga_event{std::move(type), std::move(step), std::move(fields)});
  }

  const saga_definition& def_;
  saga_instance& inst_;
  time_point now_;
  const uniform_random_source& random_;
  std::vector<saga_command> out_;
};

} // namespace

std::vector<saga_command> transition(const saga_definition& def,
                                     saga_instance& inst,
                                     const saga_input& input, time_point now,
                                     const uniform_random_source& random) {
  if (check_instance(def, inst))
    return {};
  return stepper{def, inst, now, random}.run(input);
}

std::string lifecycle_type(const saga_definition& def) {
  return "subscriber." + def.lifecycle_verb;
}

std::string lifecycle_failed_type(const saga_definition& def) {
  return "subscriber." + def.lifecycle_verb + "_failed";
}

} // namespace ispflow::sagas

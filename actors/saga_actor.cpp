#include "actors/saga_actor.hpp"

#include "actors/bounded_requests.hpp"
#include "common/log.hpp"
#include "events/errc.hpp"

#include <algorithm>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

// A saga actor's life. `inst` is the latest state, in memory; the database
// follows it one group commit behind at most:
//
//   input --> transition --> unsaved (instance, outbox records, timers)
//                |                      |  no write in flight: write it
//                |                      v
//                |             write in flight --committed--> durable
//                v
//   commands: run now, or when the write holding them commits (see below)
//
// Adapter calls and timers of a transition run at once, before its write
// commits ("run ahead"), when the saga already has a committed row with the
// same generation: its idempotency keys are then durable, and after a crash
// the saga resumes from the last committed transition and repeats, with
// reconcile, whatever ran ahead. Otherwise (a saga's first write, which
// links its billing event and fixes its id; an operator retry, which moves
// the generation) the commands wait for the commit. `finished` always
// waits: the router frees the subscriber only once the end is durable. A
// failed write holds the saga (inputs queue) until it is written.

namespace ispflow::actors {

namespace {

namespace api = adapters::api;
namespace pg = adapters::postgres;

using std::chrono::microseconds;

// Transitions not yet committed, merged into one saga_write.
struct unsaved_writes {
  pg::saga_write write;
  /// Net effect per timer key, in key order: a due time, or cleared.
  std::map<pg::timer_key, std::optional<sagas::time_point>> timers;
  /// Commands that run only once this write committed.
  std::vector<sagas::saga_command> deferred;
  bool empty = true;
};

struct saga_actor_state {
  std::shared_ptr<const saga_actor_deps> deps;
  const sagas::saga_definition* def = nullptr;
  /// The latest state (the database holds it once `unsaved` and `inflight`
  /// are committed).
  sagas::saga_instance inst;
  int64_t inbox_id = 0;
  int32_t partition = -1;
  std::string inbox_payload;
  sagas::uniform_random_source random;
  /// The saga has a committed row, of generation `durable_generation`.
  bool durable = false;
  int64_t durable_generation = 0;
  /// A loaded saga: its previous incarnation may have run ahead of what was
  /// committed, so every call looks its effect up first.
  bool reconcile_all = false;
  /// The write in flight, and what waits for the next one.
  bool writing = false;
  unsaved_writes inflight;
  unsaved_writes unsaved;
  /// The in-flight write failed: act on nothing until it is written.
  bool held = false;
  /// The saga ended; tell the router once everything is committed.
  bool finishing = false;
  /// Adapter requests not answered yet, and whether a linger timeout
  /// (deps->write_linger) is pending.
  size_t calls_out = 0;
  /// The calls this actor counts in deps->leases->calls_in_flight; given
  /// back when the actor ends with calls unanswered (stopped for a lost
  /// partition, fenced), whose answers then never arrive.
  std::shared_ptr<int64_t> counted_calls = std::make_shared<int64_t>(0);
  bool lingering = false;
  /// With a deadline watch, the linger's deadline in `calls` (0: none):
  /// withdrawn when the write goes out before it.
  uint64_t linger_token = 0;
  std::chrono::milliseconds retry_delay{0};
  std::deque<sagas::saga_input> queued;
  /// The ownership the saga runs under, and whether it was found lost
  /// (the actor is stopping: nothing more runs or is written).
  pg::write_fence fence;
  bool fenced = false;
  /// The instance is stopping: no new call; stop once quiet.
  bool draining = false;
  /// Requests bounded by deps->deadlines (bounded_requests.hpp).
  bounded_requests calls;
  static inline const char* name = "ispflow.saga";

  saga_actor_state() = default;
  saga_actor_state(const saga_actor_state&) = delete;
  saga_actor_state& operator=(const saga_actor_state&) = delete;
};

using self_ptr = saga_actor::stateful_pointer<saga_actor_state>;

// Requests `xs` of `dest`, bounded by `timeout` (bounded_requests.hpp):
// with deps->deadlines the bound is kept by the deadline watch, without by
// CAF's request timeout, so that tests on CAF's test coordinator advance it.
template <class R, class Handle, class OnValue, class OnError, class... Ts>
void bounded_request(self_ptr self, const Handle& dest,
                     std::chrono::milliseconds timeout, OnValue on_value,
                     OnError on_error, Ts&&... xs) {
  actors::bounded_request<R>(self, self->state.calls, dest, timeout,
                             std::move(on_value), std::move(on_error),
                             std::forward<Ts>(xs)...);
}

sagas::time_point fresh_now(self_ptr self) {
  auto& st = self->state;
  auto now = st.deps->clock ? st.deps->clock()
                            : std::chrono::system_clock::now();
  auto t = std::chrono::time_point_cast<microseconds>(now);
  sagas::time_point res{t};
  // Output ids need a fresh `now` per transition of a saga.
  if (res <= st.inst.updated_at)
    res = st.inst.updated_at + microseconds{1};
  return res;
}

sagas::step_outcome to_outcome(const api::adapter_reply& r) {
  switch (r.outcome) {
    case api::adapter_outcome::succeeded:
      return sagas::step_succeeded{r.outputs};
    case api::adapter_outcome::retryable_failure:
      return sagas::step_retryable_failure{r.error};
    case api::adapter_outcome::permanent_failure:
      return sagas::step_permanent_failure{r.error};
    case api::adapter_outcome::unknown_outcome:
      return sagas::step_unknown_outcome{r.error};
    case api::adapter_outcome::parked: {
      sagas::step_parked res;
      res.reason = r.error;
      res.under_way = !r.outputs.empty();
      if (r.retry_after_ms > 0)
        res.retry_after = std::chrono::milliseconds{r.retry_after_ms};
      return res;
    }
  }
  return sagas::step_permanent_failure{"invalid adapter outcome"};
}

void apply_input(self_ptr self, sagas::saga_input input);
void drain(self_ptr self);
void write_inflight(self_ptr self);

// GCC 12 reports a false maybe-uninitialized when a step_result (a variant
// holding a std::map) is moved into a saga_input variant.
#if defined(__GNUC__) && !defined(__clang__)
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// Stops the saga actor because its partition is no longer (or no longer
// surely) this instance's: the owner resumes the saga from the store.
void stop_fenced(self_ptr self, const char* why, const std::string& detail) {
  auto& st = self->state;
  if (st.fenced)
    return;
  st.fenced = true;
  common::log_warn("saga", why,
                   {{"saga_id", st.inst.id},
                    {"partition", std::to_string(st.fence.partition)},
                    {"epoch", std::to_string(st.fence.epoch)},
                    {"detail", detail}});
  self->quit(caf::make_error(errc::stale_epoch, detail));
}

// Whether the saga may call the network now (its lease runs).
bool lease_holds(self_ptr self) {
  auto& st = self->state;
  if (st.fenced)
    return false;
  if (!st.deps->leases || st.fence.epoch <= 0)
    return true;
  if (st.deps->leases->valid(st.fence.partition, st.fence.epoch,
                             lease_board::clock::now()))
    return true;
  ++st.deps->leases->calls_withheld;
  stop_fenced(self, "partition lease not valid: adapter call not made",
              "lease of partition " + std::to_string(st.fence.partition)
                + " at epoch " + std::to_string(st.fence.epoch)
                + " ran out or was lost");
  return false;
}

void call_adapter(self_ptr self, const sagas::operation_call& call) {
  auto& st = self->state;
  // Draining: the call is not made; its step, written as due, is called
  // (after a look-up) by the partition's next owner.
  if (st.draining)
    return;
  if (!lease_holds(self))
    return;
  auto step = call.step;
  auto gen = call.generation;
  auto handle = st.deps->adapters.actor(call.system);
  if (!handle) {
    st.queued.emplace_back(sagas::step_result{
      step, gen,
      sagas::step_permanent_failure{"no adapter for system "
                                    + std::string{to_string(call.system)}}});
    return;
  }
  api::adapter_request req{
    st.inst.tenant_id,
    st.inst.subscriber_id,
    std::string{to_string(call.system)},
    call.operation,
    call.idempotency_key,
    call.reconcile || st.reconcile_all,
    call.input,
    st.inst.traceparent,
    std::chrono::duration_cast<std::chrono::milliseconds>(
      st.inst.created_at.time_since_epoch())
      .count(),
    st.fence.partition,
    st.fence.epoch};
  auto timeout = std::max(call.attempt_timeout, std::chrono::milliseconds{1});
  auto started = std::chrono::steady_clock::now();
  auto observe = [self, started, system = call.system,
                  op = call.operation](api::adapter_outcome outcome) {
    if (auto& f = self->state.deps->on_step_call)
      f(to_string(system), op, outcome,
        std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - started));
  };
  ++st.calls_out;
  if (st.deps->leases) {
    ++st.deps->leases->calls_in_flight;
    ++*st.counted_calls;
  }
  bounded_request<api::adapter_reply>(
    self, handle, timeout,
    [self, step, gen, observe](api::adapter_reply& reply) {
      --self->state.calls_out;
      if (self->state.deps->leases) {
        --self->state.deps->leases->calls_in_flight;
        --*self->state.counted_calls;
      }
      observe(reply.outcome);
      apply_input(self, sagas::step_result{step, gen, to_outcome(reply)});
    },
    [self, step, gen, observe](caf::error& err) {
      --self->state.calls_out;
      if (self->state.deps->leases) {
        --self->state.deps->leases->calls_in_flight;
        --*self->state.counted_calls;
      }
      observe(api::adapter_outcome::unknown_outcome);
      // The request may have been delivered: the effect is unknown.
      apply_input(self,
                  sagas::step_result{step, gen,
                                     sagas::step_unknown_outcome{
                                       "no answer: " + render_error(err)}});
    },
    invoke_atom_v, std::move(req));
}

#if defined(__GNUC__) && !defined(__clang__)
#  pragma GCC diagnostic pop
#endif

void execute(self_ptr self, const sagas::saga_command& cmd) {
  auto& st = self->state;
  if (st.fenced)
    return;
  if (auto run = std::get_if<sagas::run_step>(&cmd)) {
    call_adapter(self, run->call);
  } else if (auto comp = std::get_if<sagas::run_compensation>(&cmd)) {
    call_adapter(self, comp->call);
  } else if (auto timer = std::get_if<sagas::schedule_timer>(&cmd)) {
    if (st.deps->timer)
      self->send(st.deps->timer, schedule_atom_v, timer->due, saga_actor{self},
                 static_cast<uint64_t>(timer->step), timer->generation);
  }
}

// Starts the next write, or ends the saga once its end is committed.
// `linger_over`: the wait for answers of calls that ran ahead is over.
void flush(self_ptr self, bool linger_over = false) {
  auto& st = self->state;
  if (st.writing || st.fenced)
    return;
  if (st.unsaved.empty) {
    if (st.finishing) {
      if (st.deps->router)
        self->send(st.deps->router, done_atom_v, st.inst);
      self->quit();
    } else if (st.draining && st.calls_out == 0 && !st.held) {
      // Drained: every answer is written; the next owner resumes.
      self->quit();
    }
    return;
  }
  if (!linger_over && !st.finishing && st.calls_out > 0
      && st.deps->write_linger.count() > 0) {
    if (!st.lingering) {
      st.lingering = true;
      if (st.calls.watch() != nullptr)
        // Kept by the watch, not by CAF's clock: a linger that the answers
        // end first (the usual case) is withdrawn, where a delayed message
        // woke the clock's thread to schedule it and again to deliver a
        // timeout that came to nothing (docs/benchmarks.md, 23rd round).
        st.linger_token = st.calls.arm(self->ctrl(), st.deps->write_linger,
                                       [self](caf::error&) {
                                         self->state.linger_token = 0;
                                         self->state.lingering = false;
                                         flush(self, true);
                                       });
      else
        self->delayed_send(self, st.deps->write_linger, timeout_atom_v);
    }
    return;
  }
  if (st.linger_token != 0) {
    // Written now: the linger is over before its deadline.
    st.calls.settle(std::exchange(st.linger_token, 0));
    st.lingering = false;
  }
  auto& w = st.unsaved.write;
  w.instance = st.inst;
  w.fence = st.fence;
  for (auto& [key, due] : st.unsaved.timers) {
    if (due)
      w.timers_set.push_back(
        pg::timer_row{key.saga_id, key.step, key.generation, *due});
    else
      w.timers_cleared.push_back(key);
  }
  st.unsaved.timers.clear();
  st.inflight = std::move(st.unsaved);
  st.unsaved = unsaved_writes{};
  st.writing = true;
  write_inflight(self);
}

void committed(self_ptr self) {
  auto& st = self->state;
  st.writing = false;
  st.held = false;
  st.retry_delay = st.deps->write_retry;
  st.durable = true;
  st.durable_generation = st.inflight.write.instance.generation;
  auto deferred = std::move(st.inflight.deferred);
  st.inflight = unsaved_writes{};
  for (auto& cmd : deferred)
    execute(self, cmd);
  drain(self);
  flush(self);
}

void write_inflight(self_ptr self) {
  auto& st = self->state;
  std::vector<pg::saga_write> batch{st.inflight.write};
  bounded_request<uint64_t>(
    self, st.deps->store, st.deps->store_timeout,
    [self](uint64_t) { committed(self); },
    [self](caf::error& err) {
      auto& rs = self->state;
      if (err == errc::stale_epoch) {
        auto p = rs.fence.partition;
        // Refused under the epoch the board still holds: the
        // partition is lost, every saga of it stops here. Refused
        // under an older one (this instance claimed it again
        // since): only this actor stops.
        auto lost = true;
        if (rs.deps->leases) {
          ++rs.deps->leases->stale_writes_refused;
          lost = rs.deps->leases->drop_if(p, rs.fence.epoch);
        }
        if (lost && rs.deps->router)
          self->send(rs.deps->router, close_atom_v, std::vector<int32_t>{p});
        stop_fenced(self,
                    "saga write refused: another instance owns the"
                    " partition now",
                    render_error(err));
        return;
      }
      if (err == errc::invalid_input) {
        common::log_error("saga", "store refused a saga transition",
                          {{"saga_id", rs.inst.id},
                           {"trace_id", sagas::trace_id(rs.inst)},
                           {"error", render_error(err)}});
        self->quit(err);
        return;
      }
      common::log_warn("saga", "saga transition not written, retrying",
                       {{"saga_id", rs.inst.id},
                        {"trace_id", sagas::trace_id(rs.inst)},
                        {"error", render_error(err)}});
      rs.held = true;
      self->delayed_send(self, rs.retry_delay, rewrite_atom_v);
      rs.retry_delay = std::min(rs.retry_delay * 2,
                                std::chrono::milliseconds{5'000});
    },
    save_atom_v, std::move(batch));
}

void apply_input(self_ptr self, sagas::saga_input input) {
  auto& st = self->state;
  // Before the first commit nothing has run, so nothing can answer; a
  // cancel waits, like every input while a failed write is retried.
  if (st.held || (st.writing && !st.durable) || st.finishing) {
    st.queued.push_back(std::move(input));
    return;
  }
  auto next = st.inst;
  auto now = fresh_now(self);
  auto cmds = sagas::transition(*st.def, next, input, now, st.random);
  if (cmds.empty() && next == st.inst)
    return; // stale or not fitting: nothing changed, nothing to write
  auto& u = st.unsaved;
  if (u.empty) {
    u.write.inbox_id = st.inbox_id;
    u.write.partition = st.partition;
    u.write.inbox_payload = std::move(st.inbox_payload);
    st.inbox_id = 0;
    st.partition = -1;
    st.inbox_payload.clear();
    u.empty = false;
  }
  auto records = sagas::output_records(cmds, next, st.deps->outputs);
  u.write.outbox.insert(u.write.outbox.end(),
                        std::make_move_iterator(records.begin()),
                        std::make_move_iterator(records.end()));
  for (auto& cmd : cmds)
    if (auto t = std::get_if<sagas::schedule_timer>(&cmd))
      u.timers[pg::timer_key{next.id, t->step, t->generation}] = t->due;
  if (auto fired = std::get_if<sagas::timer_fired>(&input))
    u.timers[pg::timer_key{next.id, fired->step, fired->generation}]
      = std::nullopt;
  auto run_ahead = st.durable && next.generation == st.durable_generation;
  st.inst = std::move(next);
  for (auto& cmd : cmds) {
    if (std::holds_alternative<sagas::finished>(cmd))
      st.finishing = true;
    else if (run_ahead)
      execute(self, cmd);
    else
      u.deferred.push_back(std::move(cmd));
  }
  flush(self);
}

void drain(self_ptr self) {
  auto& st = self->state;
  while (!st.queued.empty() && !st.held && !st.finishing
         && (st.durable || !st.writing)) {
    auto input = std::move(st.queued.front());
    st.queued.pop_front();
    apply_input(self, std::move(input));
  }
}

saga_actor::behavior_type saga(self_ptr self,
                               std::shared_ptr<const saga_actor_deps> deps,
                               saga_start start) {
  auto& st = self->state;
  st.deps = std::move(deps);
  st.calls.use(st.deps->deadlines);
  st.inst = std::move(start.instance);
  self->attach_functor([deps = st.deps, counted = st.counted_calls] {
    if (deps->leases && *counted > 0)
      deps->leases->calls_in_flight -= *counted;
  });
  st.inbox_id = start.inbox_id;
  st.partition = start.partition;
  st.inbox_payload = std::move(start.inbox_payload);
  st.random = sagas::make_seeded_source(start.seed);
  st.retry_delay = st.deps->write_retry;
  st.fence = start.fence;
  // A loaded saga has its row; a new one gets it with its first write.
  st.durable = !std::holds_alternative<sagas::start_saga>(start.first_input);
  st.durable_generation = st.inst.generation;
  st.reconcile_all = st.durable;
  st.def = st.deps->registry->find(st.inst.name, st.inst.version);
  std::optional<std::string> why;
  if (st.def == nullptr)
    why = "unknown saga definition " + st.inst.name + " v"
          + std::to_string(st.inst.version);
  else
    why = sagas::check_instance(*st.def, st.inst);
  if (why) {
    common::log_error("saga", "saga instance does not fit its definition",
                      {{"saga_id", st.inst.id},
                       {"trace_id", sagas::trace_id(st.inst)},
                       {"error", *why}});
    self->quit(caf::make_error(errc::invalid_input, *why));
    return {
      [](fire_atom, uint64_t, int64_t) {},
      [](cancel_atom, const std::string&) {},
      [](rewrite_atom) {},
      [](timeout_atom) {},
      [](timeout_atom, uint64_t) {},
      [](stop_atom) {},
      [self](caf::get_atom) { return self->state.inst; },
    };
  }
  apply_input(self, std::move(start.first_input));
  return {
    [self](fire_atom, uint64_t step, int64_t generation) {
      apply_input(self,
                  sagas::timer_fired{static_cast<size_t>(step), generation});
    },
    [self](cancel_atom, std::string& reason) {
      apply_input(self, sagas::cancel_requested{std::move(reason)});
    },
    [self](rewrite_atom) {
      if (self->state.writing)
        write_inflight(self);
    },
    [self](timeout_atom) {
      self->state.lingering = false;
      flush(self, true);
    },
    [self](timeout_atom, uint64_t token) {
      self->state.calls.timed_out(token);
    },
    [self](stop_atom) {
      self->state.draining = true;
      flush(self, true);
    },
    [self](caf::get_atom) { return self->state.inst; },
  };
}

} // namespace

saga_actor spawn_saga_actor(caf::actor_system& sys,
                            std::shared_ptr<const saga_actor_deps> deps,
                            saga_start start) {
  return sys.spawn(saga, std::move(deps), std::move(start));
}

} // namespace ispflow::actors

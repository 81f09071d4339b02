#pragma once

#include "actors/partition_lease.hpp"
#include "actors/saga_interfaces.hpp"
#include "actors/timer.hpp"
#include "adapters/api/adapters.hpp"
#include "sagas/engine.hpp"
#include "sagas/outputs.hpp"

#include <caf/fwd.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

namespace ispflow::actors {

class deadline_watch;

/// See saga_actor_deps::on_step_call.
using step_call_observer = std::function<void(
  std::string_view system, std::string_view operation,
  events::adapter_outcome outcome, std::chrono::microseconds took)>;

/// What every saga actor shares (built once by the router).
struct saga_actor_deps {
  /// Definitions by (name, version); must outlive every saga actor.
  const sagas::saga_registry* registry = nullptr;
  saga_store_actor store;
  timer_actor timer;
  /// Told (done_atom, instance) when the saga ends; may be invalid.
  saga_router_actor router;
  /// Adapter actors by system.
  adapters::api::adapter_set adapters;
  /// How emit commands become outbox records.
  sagas::output_settings outputs;
  /// `now` of each transition (empty: the system clock). Truncated to
  /// microseconds and kept strictly increasing per saga.
  saga_clock clock;
  /// Bound of one store request.
  std::chrono::milliseconds store_timeout{30'000};
  /// First delay before writing a transition again after a store failure;
  /// doubles up to 5 s.
  std::chrono::milliseconds write_retry{100};
  /// While adapter calls that ran ahead are still out, the next write
  /// waits up to this long for their answers, so that a saga whose steps
  /// answer within it writes them together (an activation through five
  /// systems answering in ~40 ms: its start and its end); it is how far at
  /// most the database trails the saga, beyond the write in flight (config
  /// sagas.write_linger_ms).
  std::chrono::milliseconds write_linger{50};
  /// Told about every adapter call when its answer (or silence) is known:
  /// system, operation, outcome and how long it took (e.g. for metrics).
  /// Runs on the saga actor's thread: keep it quick and thread-safe.
  step_call_observer on_step_call;
  /// The partition leases of this instance; empty = unfenced (alone). A
  /// saga with a fence makes an adapter call only while its partition's
  /// lease is held at its epoch and runs.
  std::shared_ptr<lease_board> leases;
  /// Keeps the bounds of adapter calls and store writes (store_timeout,
  /// each call's attempt timeout) instead of CAF's request timeouts, which
  /// wake CAF's clock thread twice per request (deadline_watch.hpp).
  /// Empty: CAF's timeouts, which CAF's test coordinator advances.
  std::shared_ptr<deadline_watch> deadlines;
};

/// How a saga actor begins.
struct saga_start {
  /// The instance as committed (resume) or just made (new saga).
  sagas::saga_instance instance;
  /// start_saga for a new saga, resume_after_restart for a loaded one.
  sagas::saga_input first_input;
  /// On a new saga: the inbox event it links in its first write.
  int64_t inbox_id = 0;
  /// On a new saga: the event's Kafka partition.
  int32_t partition = -1;
  /// On a new saga: the event's payload without its secrets, stored in its
  /// inbox row by the first write (saga_write::inbox_payload); empty when
  /// it holds none.
  std::string inbox_payload;
  /// Seed of the backoff jitter.
  uint64_t seed = 0;
  /// The partition ownership every write of the saga is made under
  /// (epoch 0 = unfenced).
  adapters::postgres::write_fence fence;
};

/// Spawns the actor of one saga (scheduled, so the test_coordinator runs
/// it). It applies each input with sagas::transition, writes transitions
/// through the store (one write in flight; transitions made meanwhile are
/// merged into the next write), and carries out the commands: adapter
/// requests bounded by the step's attempt_timeout (silence =
/// step_unknown_outcome), timers through the timer actor, and on
/// `finished` (done_atom, instance) to the router once the end is
/// committed, then it quits.
///
/// Commands run before their write commits ("run ahead") only when the
/// saga has a committed row of the same generation: its idempotency keys
/// are durable, and a crash resumes from the last commit, repeating with
/// the same keys what ran ahead. A new saga's first write (which links its
/// billing event and fixes its id) and an operator retry (a new
/// generation) wait for their commit. A resumed saga sends every call with
/// `reconcile`, since its previous incarnation may have run ahead of what
/// was committed. A failed write holds the saga (inputs wait) and is
/// retried with backoff; a write refused as invalid (errc::invalid_input)
/// stops the actor. With a fence: a write refused as stale
/// (errc::stale_epoch: another instance claimed the partition) stops the
/// actor and tells the router (close_atom, {partition}), which stops the
/// partition's other sagas; an adapter call due while the partition's
/// lease is not valid is not made, and the actor stops (the partition's
/// owner resumes the saga from the store).
saga_actor spawn_saga_actor(caf::actor_system& sys,
                            std::shared_ptr<const saga_actor_deps> deps,
                            saga_start start);

} // namespace ispflow::actors

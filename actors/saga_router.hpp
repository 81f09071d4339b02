#pragma once

#include "actors/saga_actor.hpp"
#include "actors/saga_interfaces.hpp"

#include <caf/fwd.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ispflow::actors {

/// What the saga router needs.
struct saga_router_settings {
  /// Definitions; must outlive the router and every saga actor.
  const sagas::saga_registry* registry = nullptr;
  saga_store_actor store;
  /// Spawned by the router when invalid.
  timer_actor timer;
  /// Tenants' systems and policies, adapter actors.
  adapters::api::adapter_set adapters;
  sagas::output_settings outputs;
  /// `now` of each transition (empty: the system clock).
  saga_clock clock;
  /// Kafka partitions this instance owns (empty = all). Ignored with
  /// `follow_assignment`.
  std::vector<int32_t> partitions;
  /// Own no partition until the consumer group assigns some (open_atom)
  /// and give them up when it revokes them (close_atom): the mode of an
  /// instance in a consumer group.
  bool follow_assignment = false;
  /// Most startable events fetched per poll (64 cost a third of the
  /// throughput in bench/saga_throughput; 256 to 1,000 all did about as
  /// well).
  uint64_t batch = 500;
  /// Most sagas one tenant runs (or is admitting) at once; 0 = no limit.
  /// Its further events wait in the inbox, and each poll is shared between
  /// tenants (adapters::postgres::saga_store::next_startable), so one
  /// tenant's burst neither starves another's sagas nor fills memory.
  size_t tenant_max_running = 2'000;
  /// True while a tenant's adapter calls queue for slots deeper than its
  /// limit (resilience::concurrency_limiter::saturated): its new events
  /// wait in the inbox, as at tenant_max_running, instead of adding sagas
  /// whose calls would wait past the slot queue's limit and park. Empty:
  /// never.
  std::function<bool(const std::string& tenant)> tenant_saturated;
  /// Poll period besides nudges; zero disables the periodic poll.
  std::chrono::milliseconds poll_interval{1'000};
  /// After a poll that found no event to start, the next waits this long
  /// (ticks and ending sagas meanwhile are folded into one poll); a nudge
  /// for newly written events does not wait.
  std::chrono::milliseconds poll_quiet{10};
  /// Topic of dead letters for refused billing events.
  std::string dead_letter_topic = "billing.events.v1.dlq";
  /// Resume every active saga of `partitions` at start.
  bool resume = true;
  /// Seeds saga ids and jitter; 0 draws one from std::random_device.
  uint64_t seed = 0;
  /// Bound of one store request.
  std::chrono::milliseconds store_timeout{30'000};
  /// Keeps the bounds of the router's store requests and, passed to every
  /// saga actor (saga_actor_deps::deadlines), theirs; without, CAF's
  /// request timeouts do.
  std::shared_ptr<deadline_watch> deadlines;
  /// First delay before a saga actor writes a transition again.
  std::chrono::milliseconds write_retry{100};
  /// Passed to every saga actor (saga_actor_deps::write_linger).
  std::chrono::milliseconds write_linger{50};
  /// Passed to every saga actor (saga_actor_deps::on_step_call).
  step_call_observer on_step_call;
  /// Told about every saga the router starts and every saga that ends (its
  /// final instance), e.g. for metrics. Run on the router's thread: keep
  /// them quick and thread-safe.
  std::function<void(const sagas::saga_instance&)> on_saga_started;
  std::function<void(const sagas::saga_instance&)> on_saga_finished;
  /// This instance's partition leases (partition_lease.hpp); empty =
  /// unfenced. With them, a saga of a partition runs under the epoch its
  /// lease holds when it starts, and a partition not held starts nothing.
  std::shared_ptr<lease_board> leases;
};

/// Spawns the saga router (scheduled). At start it resumes the active sagas
/// (load_atom; resume_after_restart), then polls next_startable on every
/// nudge, every poll_interval and whenever a saga ends. For each startable
/// event it asks the store for the subscriber's state (folded over its
/// finished sagas), calls sagas::admit, and either spawns a saga actor
/// (whose first write links the inbox event) or skips the event with the
/// reason and a dead-letter record (headers ispflow_error and
/// ispflow_error_detail). An event, and its subscriber, stay claimed from
/// the moment it is taken until its saga ends, so it is never started
/// twice while a write is in flight, and one subscriber never has two
/// sagas running.
saga_router_actor spawn_saga_router(caf::actor_system& sys,
                                    saga_router_settings cfg);

/// What a drain (graceful stop) did.
struct drain_report {
  /// Sagas running when the drain began, and those still running at its
  /// end (stopped by the deadline; their next owner resumes them).
  uint64_t sagas = 0;
  uint64_t sagas_left = 0;
  /// Adapter calls in flight when the drain began, and those still
  /// unanswered at its end (unknown outcomes: the next owner looks them up).
  int64_t calls = 0;
  int64_t calls_left = 0;
  std::chrono::milliseconds took{0};
};

/// Drains `router` (stop_atom): no saga or event starts any more, running
/// sagas make no new adapter call, and each stops once its calls in flight
/// are answered and their outcomes written. Waits until no saga runs or
/// `deadline` passed. `leases` (may be null) counts the calls in flight.
drain_report drain_saga_router(caf::actor_system& sys,
                               const saga_router_actor& router,
                               const lease_board* leases,
                               std::chrono::milliseconds deadline);

/// The billing payload (JSON text) flattened to strings: nested objects
/// join keys with '.', e.g. "access.onu_serial"; arrays index as
/// "key.0"; numbers and booleans as their JSON text; null is left out.
/// Invalid JSON gives an empty map.
sagas::field_map flatten_payload(const std::string& json);

/// The billing payload (JSON text) without the members that
/// sagas::is_secret_field names, at any depth, as JSON text; empty when it
/// has none (or is not JSON). A new saga's first write stores it
/// in the event's inbox row: the saga's own row holds the secrets while its
/// steps need them, so the event keeps none once its saga exists.
std::string payload_without_secrets(const std::string& json);

} // namespace ispflow::actors

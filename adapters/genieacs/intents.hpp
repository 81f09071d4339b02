#pragma once

#include "events/type_ids.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

// The GenieACS adapter's memory of the tasks it posted, kept like an outbox
// of intents: a row is written before the task POST and updated with what
// GenieACS answered, so that after a restart a reconcile can tell a task that
// already ran (GenieACS deletes finished tasks, and `uniqueKey` only replaces
// a task still queued) from one that never reached the ACS.

namespace ispflow::adapters::genieacs {

/// Where a posted task stands, as far as the adapter knows.
enum class intent_state : uint8_t {
  /// Recorded before the POST; the answer is not known (yet).
  posting,
  /// GenieACS queued it (`task_id` known); it runs at the next inform.
  queued,
  /// It ran without a fault.
  done,
  /// It faulted (`detail` holds the fault) and was withdrawn.
  faulted,
  /// The POST never reached GenieACS, or GenieACS refused it (no task).
  unsent,
};

/// Stable lower-case name, e.g. "posting".
std::string_view to_string(intent_state x) noexcept;

/// Reads `to_string`'s names.
bool parse_intent_state(std::string_view text, intent_state& out) noexcept;

/// One posted (or about to be posted) task, keyed by (operation,
/// idempotency key).
struct task_intent {
  std::string operation;
  std::string idempotency_key;
  std::string tenant_id;
  /// GenieACS device id (`_id`).
  std::string device;
  /// The task's `uniqueKey`.
  std::string unique_key;
  /// The task's `_id`, empty until GenieACS answered with it.
  std::string task_id;
  intent_state state = intent_state::posting;
  /// The fault of a faulted task.
  std::string detail;
  /// When the POST was about to be sent (ms since the epoch, our clock).
  int64_t posted_at_ms = 0;
};

/// The answer of a look-up.
struct intent_lookup {
  bool found = false;
  task_intent intent;
};

} // namespace ispflow::adapters::genieacs

// Local-only messages (never serialized).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ispflow::adapters::genieacs::task_intent)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ispflow::adapters::genieacs::intent_lookup)

namespace ispflow::adapters::genieacs {

/// The store of task intents.
///
/// interface intent_store_actor {
///   /// The intent of (operation, idempotency key), if any.
///   (load_atom, string operation, string key) -> (intent_lookup)
///   /// Inserts or replaces the intent of its (operation, key); answers
///   /// true once it is durable. A store may hold a `done` intent back to
///   /// write it with others (see spawn_pg_intent_store): look-ups of its
///   /// key answer it meanwhile, and the answer waits for the write.
///   (save_atom, task_intent) -> (bool)
///   /// The intent of x's (operation, key), as the first form; when there
///   /// is none, x is recorded (durably) in one round trip and the answer
///   /// says not found: a first attempt's look-up and `posting` save.
///   (load_atom, task_intent x) -> (intent_lookup)
///   /// Writes the `done` intents held back (the store sends it to itself).
///   (tick_atom)
/// }
///
/// Failures answer a `caf::error` (`errc::database_unavailable` or
/// `errc::database_error`).
using intent_store_actor = caf::typed_actor<
  caf::replies_to<load_atom, std::string, std::string>::with<intent_lookup>,
  caf::replies_to<save_atom, task_intent>::with<bool>,
  caf::replies_to<load_atom, task_intent>::with<intent_lookup>,
  caf::reacts_to<tick_atom>>;

/// A store in PostgreSQL (table `genieacs_task_intents`, schema/0007):
/// `connections` detached actors (libpqxx blocks), each with one lazily
/// (re)opened connection to `dsn`, behind one front that sends each
/// (operation, key) always to the same one (its intents stay in order; the
/// saves of different operations commit in parallel). Each time one
/// connects it deletes the rows untouched for `retention` (far longer than
/// any step deadline: an operator's retry runs under a new generation,
/// hence a new key).
///
/// A `done` intent (a task that ran) is held back up to `done_linger` and
/// written with the others held meanwhile, in one statement: nothing
/// waits for it (the adapter's call has answered), and one that a crash
/// loses leaves the row in its earlier state (`posting` or `queued`), from
/// which a later call reconciles it (the device record; a task gone
/// without a fault). Every other state is written at once. The held
/// intents are written when the store exits. 0: none held back.
intent_store_actor
spawn_pg_intent_store(caf::actor_system& sys, std::string dsn,
                      std::chrono::hours retention = std::chrono::hours{720},
                      size_t connections = 4,
                      std::chrono::milliseconds done_linger
                      = std::chrono::milliseconds{200});

/// A store in memory (tests, or a process without PostgreSQL): it survives
/// the adapter actor but not the process. Holds at most `capacity` intents
/// (the oldest dropped first).
intent_store_actor spawn_memory_intent_store(caf::actor_system& sys,
                                             size_t capacity = 100'000);

} // namespace ispflow::adapters::genieacs

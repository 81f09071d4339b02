#pragma once

#include <caf/meta/type_name.hpp>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>

// The messages every network-system adapter actor understands. Plain data
// with 0.17-style `inspect`, registered in events/type_ids.hpp; the actor
// aliases that use them are in adapters/api/adapters.hpp.

namespace ispflow::events {

/// String to string, as in sagas::field_map.
using string_map = std::map<std::string, std::string>;

/// How an adapter operation ended. Stored and logged as text: never rename
/// one, only add.
enum class adapter_outcome : uint8_t {
  /// The effect exists (made now, or found by the reconcile look-up).
  succeeded,
  /// Failed, and may succeed if tried again (5xx, refused connection,
  /// timeout before the request was sent).
  retryable_failure,
  /// Failed, and will fail again (4xx, validation, a NAK with no fallback).
  permanent_failure,
  /// The request went out but no answer is known: the effect may exist.
  unknown_outcome,
  /// The adapter's breaker is open: nothing was sent; try again after
  /// `retry_after_ms`. Not an attempt.
  parked,
};

/// Stable lower-case name, e.g. "unknown_outcome".
std::string_view to_string(adapter_outcome x) noexcept;

/// Prints `to_string(x)`.
std::ostream& operator<<(std::ostream& os, adapter_outcome x);

/// One operation for one adapter.
struct adapter_request {
  std::string tenant_id;
  std::string subscriber_id;
  /// "radius", "netbox", "voltha", "genieacs" or "awx".
  std::string system;
  /// E.g. "netbox.allocate_ip" (see adapters.hpp for each system's list).
  std::string operation;
  /// "<saga id>/<step>/<generation>": the adapter makes the operation
  /// idempotent on (operation, key). A compensation carries the key of the
  /// action it undoes.
  std::string idempotency_key;
  /// Look up whether an earlier attempt with this key took effect before
  /// acting (its outcome was unknown); if it did, answer `succeeded` with
  /// what it produced and act no further.
  bool reconcile = false;
  /// The billing payload overlaid with earlier steps' outputs (for a
  /// compensation, the step's own output too).
  string_map input;
  /// W3C traceparent of the saga's billing event (empty when it had none):
  /// HTTP adapters send it on, each call as a child span.
  std::string traceparent;
  /// When the saga was created (ms since the Unix epoch, this host's
  /// clock; durable before any of its calls): nothing done under its keys
  /// is older, so a look-up by key need not search further back (AWX).
  /// 0 = unknown.
  int64_t saga_created_ms = 0;
  /// The partition lease the saga calls under: its partition, and the
  /// epoch at which this instance claimed it (schema/0010_cluster.sql). An
  /// adapter that writes to PostgreSQL itself (RADIUS) commits only while
  /// the lease holds, checked in its transaction. epoch 0 = unfenced.
  int32_t partition = -1;
  int64_t epoch = 0;

  friend bool operator==(const adapter_request&, const adapter_request&)
    = default;
};

/// Inspects every field (0.17 style).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, adapter_request& x) {
  return f(caf::meta::type_name("adapter_request"), x.tenant_id,
           x.subscriber_id, x.system, x.operation, x.idempotency_key,
           x.reconcile, x.input, x.traceparent, x.saga_created_ms, x.partition,
           x.epoch);
}

/// Prints the request without its input (which may hold credentials).
std::ostream& operator<<(std::ostream& os, const adapter_request& x);

/// The answer to one `adapter_request`.
struct adapter_reply {
  adapter_outcome outcome = adapter_outcome::succeeded;
  /// Why it failed (or what is unknown); empty on success.
  std::string error;
  /// What the operation produced, e.g. {"ip_address": "100.64.0.7"}. On
  /// `parked`, outputs name an effect already under way (e.g. the AWX job
  /// being polled): the next attempt is sent with `reconcile`, so that an
  /// adapter that lost track of it looks before acting again.
  string_map outputs;
  /// For `parked`: when to try again, in milliseconds (0 = the engine's
  /// default).
  int64_t retry_after_ms = 0;

  friend bool operator==(const adapter_reply&, const adapter_reply&) = default;
};

/// Inspects every field (0.17 style); the outcome travels as its number.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, adapter_reply& x) {
  auto code = static_cast<uint8_t>(x.outcome);
  if constexpr (std::is_void_v<typename Inspector::result_type>) {
    f(caf::meta::type_name("adapter_reply"), code, x.error, x.outputs,
      x.retry_after_ms);
    x.outcome = static_cast<adapter_outcome>(code);
  } else {
    auto res = f(caf::meta::type_name("adapter_reply"), code, x.error,
                 x.outputs, x.retry_after_ms);
    x.outcome = static_cast<adapter_outcome>(code);
    return res;
  }
}

/// Prints outcome, error and the output keys.
std::ostream& operator<<(std::ostream& os, const adapter_reply& x);

/// A successful reply with `outputs`.
adapter_reply reply_succeeded(string_map outputs = {});

/// A failed reply with `outcome` and `error`.
adapter_reply reply_failed(adapter_outcome outcome, std::string error);

} // namespace ispflow::events

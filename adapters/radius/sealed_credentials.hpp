#pragma once

#include "adapters/api/adapters.hpp"

#include <caf/fwd.hpp>
#include <memory>
#include <string>
#include <string_view>

// Opens a subscriber's sealed password (radius_accounts.password_sealed,
// schema/0018, common/seal.hpp) for one adapter call, in memory only: the
// drift repair of a CPE that lost its PPPoE credentials
// (sagas/repair_saga.hpp, step `configure_cpe`) runs the activation's
// `genieacs.configure_cpe` with input `credentials.sealed` =
// `radius_account` instead of a password. The opener, placed in front of the
// GenieACS adapter, reads the account of the request's (tenant, subscriber),
// opens the blob bound to (tenant, subscriber, username) and passes the
// request on with `credentials.username` and `credentials.password` set.
// The password exists only in that message: the saga's payload, its step
// rows and its events never hold it.
//
// interface adapter_actor {
//   /// A request without `credentials.sealed` goes on unchanged. With it:
//   /// permanent_failure when no key is configured, the subscriber has no
//   /// account or no sealed password, or the blob does not open (another
//   /// key, changed, copied from another account); retryable_failure when
//   /// the database cannot be read. Never names the password or the blob.
//   (invoke_atom, adapter_request) -> (adapter_reply)
// }

namespace ispflow::common {
class keyring;
} // namespace ispflow::common

namespace ispflow::adapters::radius {

/// The input key that asks the opener for the sealed password.
inline constexpr std::string_view sealed_input_key = "credentials.sealed";

/// Its value: the password the subscriber's RADIUS account keeps sealed.
inline constexpr std::string_view sealed_from_account = "radius_account";

/// What the opener needs.
struct opener_config {
  /// libpq connection string of the database holding radius_accounts.
  std::string dsn;
  /// The sealing keys; null: every sealed request fails permanently.
  std::shared_ptr<const common::keyring> keys;
};

/// Spawns the opener in front of `inner`. A request without
/// `credentials.sealed` goes straight on; one with it is opened by a
/// detached actor of the opener's (it reads PostgreSQL).
api::adapter_actor spawn_credential_opener(caf::actor_system& sys,
                                           api::adapter_actor inner,
                                           opener_config cfg);

} // namespace ispflow::adapters::radius

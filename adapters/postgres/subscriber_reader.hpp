#pragma once

// The subscriber record as admission reads it: the saga router before it
// starts a saga, and the admin API's re-drive dry run, through this one
// query (schema/0011_subscriber_record.sql).

#include "sagas/admission.hpp"
#include "sagas/instance.hpp"

#include <caf/expected.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace ispflow::adapters::postgres {

/// One subscriber's record as admission needs it. A subscriber without a
/// record has had no saga finish: state "none", the rest empty.
struct subscriber_view {
  /// sagas::subscriber_state as text.
  std::string state;
  /// The access method, or "".
  std::string service_type;
  /// What a new saga of the subscriber inherits (no secrets).
  sagas::field_map profile;
  /// The state of the last saga that finished or stopped in
  /// needs_attention ("" without a record).
  std::string last_outcome;

  friend bool operator==(const subscriber_view&, const subscriber_view&)
    = default;
};

/// The state admission decides on: the record's, or `unknown` while the
/// last saga is stopped in needs_attention (the router starts nothing for
/// the subscriber until an operator settles that saga).
sagas::subscriber_state admission_state(const subscriber_view& x) noexcept;

/// (tenant id, subscriber id) pairs.
using subscriber_key_list = std::vector<std::pair<std::string, std::string>>;

/// Reads subscriber records over one PostgreSQL connection of its own.
/// Blocking. Errors: `errc::database_unavailable` (reconnects on the next
/// call), `errc::database_error`.
class subscriber_reader {
public:
  static caf::expected<subscriber_reader> connect(const std::string& dsn);

  subscriber_reader(subscriber_reader&&) noexcept;
  subscriber_reader& operator=(subscriber_reader&&) noexcept;
  ~subscriber_reader();

  /// The records of `keys`, in the same order, in one query.
  caf::expected<std::vector<subscriber_view>>
  read(const subscriber_key_list& keys);

private:
  struct impl;
  explicit subscriber_reader(std::unique_ptr<impl> ptr);
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::adapters::postgres

namespace ispflow::adapters::postgres::detail {

/// The statement `subscriber_reader::read` runs ($1: a JSON array of
/// {t, s}); for tests of its plan.
const char* subscriber_read_statement() noexcept;

} // namespace ispflow::adapters::postgres::detail

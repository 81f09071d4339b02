#pragma once

#include <caf/expected.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

// Drift observation of FreeRADIUS (actors/drift): what radcheck,
// radusergroup and radacct hold for a page of usernames, read by one
// statement. Read only; the provisioning store (provisioning.hpp) writes.

namespace ispflow::adapters::radius {

/// FreeRADIUS's rows of one username as a drift scan reads them.
struct observed_user {
  /// radcheck holds a password row (an attribute ending in "-Password").
  bool has_password = false;
  /// ispflow's account keeps the password row provision wrote (a hash,
  /// schema/0017), so radius.restore_credentials can put it back.
  bool stored_password = false;
  /// The key id of the password the account keeps sealed (schema/0018);
  /// empty when it keeps none. Never the blob.
  std::string sealed_key_id;
  /// radcheck holds `Auth-Type := Reject` (suspend policy reject).
  bool rejected = false;
  /// radusergroup's groups, by priority.
  std::vector<std::string> groups;
  /// radacct rows of the username without acctstoptime.
  int64_t open_sessions = 0;
};

/// Reads FreeRADIUS's tables over its own connection (opened lazily,
/// reopened after a failure). Not thread-safe: one per scanning thread.
class observer {
public:
  /// `dsn`: the database holding FreeRADIUS's tables. Never logged.
  explicit observer(std::string dsn);
  ~observer();
  observer(observer&&) noexcept;
  observer& operator=(observer&&) noexcept;

  /// The rows of every username of `usernames` (a page; at most a few
  /// thousand), in one statement served by the username indexes of
  /// radcheck, radusergroup, radacct and radius_accounts (schema/0001,
  /// 0004, 0015). A username
  /// without any row maps to a default `observed_user`. Fails with
  /// `errc::database_unavailable` when the database cannot be reached or
  /// the statement fails.
  caf::expected<std::map<std::string, observed_user>>
  observe(const std::vector<std::string>& usernames);

  /// Statements run since construction (load placed on the database).
  uint64_t statements() const noexcept;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// `xs` as a PostgreSQL text[] literal ("{"a","b"}"), every element quoted
/// with backslash and quote escaped.
std::string text_array_literal(const std::vector<std::string>& xs);

} // namespace ispflow::adapters::radius

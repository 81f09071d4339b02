#pragma once

#include "adapters/radius/attributes.hpp"
#include "adapters/radius/settings.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

// SQL provisioning of FreeRADIUS's own tables (schema/0001, unchanged):
// credentials in radcheck, Framed-IP-Address in radreply, the plan as a
// group in radusergroup with its attributes in radgroupreply; plus
// ispflow's radius_accounts (schema/0004), which maps a subscriber to its
// username and remembers its plan group across a suspension. Every write is
// one transaction, serialised per username, and idempotent: repeating a call
// with the same arguments leaves every row as it was.

namespace ispflow::common {
class keyring;
} // namespace ispflow::common

namespace ispflow::adapters::radius {

/// The partition lease a saga's call is made under (schema/0010_cluster.sql,
/// docs/operations.md "Several instances"). A write for it commits only
/// while `instance` holds `partition` at `epoch`: checked in the write's
/// own transaction, the owner row share-locked until the commit (a claim by
/// the next owner waits for it). So a write that a paused or cut-off
/// instance finishes after another instance claimed the partition and may
/// have moved the subscriber on rolls back and fails with
/// `errc::stale_epoch`. epoch 0: unfenced (an instance alone).
struct partition_lease {
  std::string instance;
  int32_t partition = -1;
  int64_t epoch = 0;
};

/// What `provision` writes.
struct account_spec {
  std::string tenant_id;
  std::string subscriber_id;
  std::string username;
  /// Never logged or returned.
  std::string password;
  password_storage storage = password_storage::ssha2_512;
  std::string plan_group;
  /// IPv4 or IPv6 address; empty means no Framed-IP-Address (NAS pool).
  std::string framed_ip;
  /// The sealing keys (credentials.seal_key_files); set, the account also
  /// keeps the password sealed for (tenant, subscriber, username)
  /// (radius_accounts.password_sealed, schema/0018); null, it keeps none
  /// (a blob written before is cleared: it may hold an older password).
  std::shared_ptr<const common::keyring> seal;
  /// The partition lease the write is made under (see `partition_lease`).
  partition_lease lease = {};
};

/// ispflow's record of one RADIUS account (radius_accounts).
struct account {
  std::string tenant_id;
  std::string subscriber_id;
  std::string username;
  /// The plan group, also while the account is denied.
  std::string plan_group;
  bool denied = false;
};

/// The sealed password the account of (`tenant_id`, `subscriber_id`) keeps:
/// its username and the blob (empty when none).
struct sealed_credential {
  std::string username;
  std::string sealed;
};

/// One open session (radacct row with acctstoptime NULL) and its NAS.
struct session {
  std::string username;
  /// radacct.nasipaddress.
  std::string nas_address;
  std::string acct_session_id;
  /// radacct.framedipaddress; empty when NULL.
  std::string framed_ip;
  /// radacct.nasportid; empty when NULL.
  std::string nas_port_id;
  /// nas.secret. Never logged.
  std::string nas_secret;
  /// The NAS's CoA/Disconnect port: nas.ports when it holds a port
  /// number, else 3799 (RFC 5176).
  uint16_t coa_port = 3799;
  /// nas.type (e.g. "mikrotik", "cisco", "other").
  std::string nas_type;
};

/// A NAS as ispflow writes it to FreeRADIUS's `nas` table: FreeRADIUS
/// accepts RADIUS requests from it (read at server start) and ispflow sends
/// it CoA and Disconnect requests.
struct nas_entry {
  /// nas.shortname.
  std::string name;
  /// nas.nasname: the NAS's IPv4 or IPv6 address (its NAS-IP-Address).
  std::string address;
  /// nas.secret. Never logged.
  std::string secret;
  /// nas.type (e.g. "mikrotik", "cisco", "juniper"); empty means "other".
  std::string vendor;
  /// nas.ports: the CoA/Disconnect port (see `session::coa_port`).
  uint16_t coa_port = 3799;
  /// Whether CoA/Disconnect replies of this NAS must carry
  /// Message-Authenticator (see `nas_endpoint`). Not written to `nas`.
  bool require_message_authenticator = true;
  /// CoA/Disconnect requests in flight at once to this NAS; 0: the CoA
  /// client's default. Not written to `nas`.
  uint32_t max_in_flight = 0;
  /// New CoA/Disconnect requests per second to this NAS; 0: the CoA
  /// client's default. Not written to `nas`.
  double max_rate = 0;
};

/// The address as PostgreSQL's host() prints it (the form of
/// radacct.nasipaddress and of the `nas` rows ispflow writes), or "" when
/// `text` is not an IPv4 or IPv6 address.
std::string canonical_nas_address(const std::string& text);

/// Who a call acts for. A call given an owner touches `username` only when
/// its radius_accounts row belongs to this tenant and subscriber, or when no
/// table knows the username at all (then there is nothing to touch; see
/// each call). Otherwise it fails with `errc::invalid_input` ("username X
/// belongs to another tenant", never naming that tenant) and writes or sends
/// nothing. The check runs inside the call's transaction, under the
/// username's lock.
struct owner {
  std::string tenant_id;
  std::string subscriber_id;
  /// The partition lease the call is made under; see `partition_lease`.
  partition_lease lease = {};
};

/// One deny of `store::deny_batch`.
struct deny_request {
  /// The user; "" to look it up by `who` (the subscriber's account).
  std::string username;
  owner who;
  suspend_policy policy = suspend_policy::reject;
  std::string walled_garden_group;
};

/// What became of one deny of a batch.
struct deny_result {
  /// The user denied ("" when the subscriber has no account).
  std::string username;
  /// Whether any row changed.
  bool changed = false;
  /// Set when this deny failed (the others of the batch stand).
  caf::error error;
};

/// Provisioning functions on one lazily opened PostgreSQL connection (not
/// thread-safe: one store per thread or actor). Errors: a lost or
/// unreachable database is `errc::database_unavailable` (the next call
/// reconnects), a refused statement `errc::database_error`, bad arguments
/// `errc::invalid_input`.
class store {
public:
  /// A store for the database at `dsn` (a libpq connection string).
  explicit store(std::string dsn);
  ~store();
  store(store&&) noexcept;
  store& operator=(store&&) noexcept;

  /// Writes the account: radcheck holds exactly the password row (an
  /// existing hashed row that already accepts the password is kept, so a
  /// repeat changes nothing; any Auth-Type is removed), radreply exactly
  /// Framed-IP-Address (or nothing), radusergroup exactly `plan_group`, and
  /// radius_accounts the mapping, not denied. Refuses a username or a
  /// password that check_username / check_password refuse, a username that
  /// belongs to another tenant or subscriber, or a subscriber that already
  /// has another username. Returns whether any row changed.
  caf::expected<bool> provision(const account_spec& spec);

  /// `provision` for many accounts, answered each as `provision` would:
  /// first provisions (neither the username nor the subscriber has rows
  /// yet, every activation) share one statement and its commit; an
  /// account that has rows, or a batch that fails as a whole other than
  /// by a lost database, goes on its own. Usernames, and subscribers, must
  /// be distinct.
  std::vector<caf::expected<bool>>
  provision_batch(const std::vector<account_spec>& specs);

  /// Makes `group` the plan group of `username` and returns the group it
  /// replaced ("" if none). A denied account keeps its walled-garden or
  /// reject state; the group applies at `restore_plan`. With a non-empty
  /// `change_key`, a repeat with the same key returns the group replaced by
  /// the first call and changes nothing.
  /// With an owner, a username no table knows fails ("no RADIUS account").
  caf::expected<std::string>
  set_plan_group(const std::string& username, const std::string& group,
                 const std::string& change_key = {},
                 const std::optional<owner>& who = std::nullopt);

  /// Denies `username`: with `suspend_policy::reject`, `Auth-Type := Reject`
  /// in radcheck and the plan group in radusergroup; with
  /// `suspend_policy::walled_garden`, `walled_garden_group` in radusergroup
  /// and no Auth-Type. Marks the account denied. An unknown user (no
  /// radcheck rows, no account) is left alone. Returns whether any row
  /// changed.
  caf::expected<bool> deny(const std::string& username, suspend_policy policy,
                           const std::string& walled_garden_group,
                           const std::optional<owner>& who = std::nullopt);

  /// Many `deny` calls in one transaction (one commit, one round trip each
  /// for the look-up, the locks and the reads, then one write per user that
  /// changes): each request is checked and applied as `deny` would, in
  /// order, and answered on its own (a username of another owner fails
  /// that request only). A database failure, or a stale lease of any
  /// request, fails the whole batch (the error is returned, nothing is
  /// written). Usernames must be distinct.
  caf::expected<std::vector<deny_result>>
  deny_batch(const std::vector<deny_request>& requests);

  /// Undoes `deny`: removes Auth-Type from radcheck and puts the account's
  /// plan group (or `fallback_group` for a user without an account row)
  /// back in radusergroup. Fails with `errc::invalid_input` when no group
  /// is known. With an owner, a username no table knows fails ("no RADIUS
  /// account"). Returns whether any row changed.
  caf::expected<bool>
  restore_plan(const std::string& username,
               const std::string& fallback_group = {},
               const std::optional<owner>& who = std::nullopt);

  /// Puts back the password row `provision` wrote to radcheck, from the
  /// copy the account keeps when the password is stored hashed (never a
  /// Cleartext-Password: schema/0017), when radcheck holds no password row
  /// of `username` (e.g. its rows were deleted by hand). Leaves any other
  /// row alone: the plan group and the deny state are `restore_plan`'s and
  /// `deny`'s. Fails with `errc::invalid_input` when `username` has no
  /// account or the account keeps no password row (never naming the hash).
  /// Returns whether a row was written.
  ///
  /// With `seal`, an account that keeps no hash (cleartext password
  /// storage) but keeps the password sealed (schema/0018) is restored from
  /// the sealed copy, written as `storage` says; a blob that does not open
  /// fails with `errc::invalid_input` (never naming the password).
  caf::expected<bool>
  restore_credentials(const std::string& username,
                      const std::optional<owner>& who = std::nullopt,
                      const common::keyring* seal = nullptr,
                      password_storage storage = password_storage::cleartext);

  /// Deletes every row of `username` in radcheck, radreply and radusergroup
  /// and its account. Returns whether anything was there.
  caf::expected<bool>
  deprovision(const std::string& username,
              const std::optional<owner>& who = std::nullopt);

  /// Writes `group`'s radgroupreply rows for `p` on NAS vendor `v` (exactly
  /// those rows). Returns whether any row changed.
  caf::expected<bool> write_plan_group(const std::string& group, const plan& p,
                                       vendor v);

  /// In one transaction: the tenant row (inserted if missing, name = id),
  /// every plan's group rows and its `plans` row (radius_group and
  /// attributes as jsonb), and the walled-garden group's rows when its
  /// attributes are configured.
  caf::error sync_plans(const tenant_settings& tenant);

  /// Makes the `nas` rows ispflow owns (description 'ispflow') exactly
  /// `entries`, in one transaction: a NAS's row is inserted, or updated when
  /// a column differs (nasname = address, shortname = name, type = vendor,
  /// secret, ports = coa_port), and rows of NASes no longer listed are
  /// deleted. A repeat changes nothing (row ids stay). Fails with
  /// `errc::invalid_input` (naming the NAS, never its secret) for an empty
  /// name or secret, an address that is not an IP address, port 0, an
  /// address listed twice, or an address that already has a `nas` row
  /// ispflow did not write.
  caf::error sync_nas(const std::vector<nas_entry>& entries);

  /// The account of a subscriber, or nothing.
  caf::expected<std::optional<account>>
  find_account(const std::string& tenant_id, const std::string& subscriber_id);

  /// The username and sealed password of a subscriber's account (schema/0018),
  /// or nothing without an account. Never logged.
  caf::expected<std::optional<sealed_credential>>
  find_sealed_credential(const std::string& tenant_id,
                         const std::string& subscriber_id);

  /// The account holding `username`, or nothing.
  caf::expected<std::optional<account>>
  find_account_by_username(const std::string& username);

  /// The groups of `username` in radusergroup, by priority.
  caf::expected<std::vector<std::string>> groups(const std::string& username);

  /// The open sessions of `username` with their NAS's secret and CoA port.
  /// Fails with `errc::invalid_input` naming the NAS when a session's NAS is
  /// not in the `nas` table. With an owner, a username without an account
  /// has no sessions to act on (none are returned).
  caf::expected<std::vector<session>>
  open_sessions(const std::string& username,
                const std::optional<owner>& who = std::nullopt);

  /// The username of `who`'s account (empty when it has none) and its open
  /// sessions, read by one statement: what a disconnect or CoA of a
  /// subscriber named by owner needs. Fails as `open_sessions`.
  caf::expected<std::pair<std::string, std::vector<session>>>
  open_sessions_of(const owner& who);

  /// How many sessions of `username` are still open in radacct.
  caf::expected<int64_t>
  count_open_sessions(const std::string& username,
                      const std::optional<owner>& who = std::nullopt);

private:
  /// `provision` once its first-provision statement found rows: reads and
  /// writes them in a transaction under the username's lock.
  caf::expected<bool> provision_rows(const account_spec& spec);

  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::adapters::radius

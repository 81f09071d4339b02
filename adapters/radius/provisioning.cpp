#include "adapters/radius/provisioning.hpp"

#include "adapters/postgres/fence.hpp"
#include "adapters/postgres/replan.hpp"
#include "adapters/radius/observe.hpp"
#include "common/effect_gate.hpp"
#include "common/seal.hpp"
#include "events/errc.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cstdio>
#include <exception>
#include <map>
#include <openssl/crypto.h>
#include <pqxx/pqxx>
#include <set>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace ispflow::adapters::radius {

namespace {

namespace pg = adapters::postgres;

// Thrown inside a transaction for bad arguments; becomes invalid_input.
struct input_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string trim(const char* what) {
  std::string s{what};
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

// Serialises every write of one username (the key space is ours: 4242).
void lock_user(pqxx::transaction_base& w, const std::string& username) {
  w.exec_prepared("radius_lock_user", username);
}

// Rows of one user or group in a FreeRADIUS attribute table, optionally
// only those of one attribute. `table` and `key_col` are literals.
std::vector<sql_attribute>
load_rows(pqxx::transaction_base& w, std::string_view table,
          std::string_view key_col, const std::string& key,
          const std::string& only = {}) {
  std::string sql = "SELECT attribute, op, value FROM " + std::string{table}
                    + " WHERE " + std::string{key_col} + " = $1";
  pqxx::result res;
  if (only.empty())
    res = w.exec_params(sql, key);
  else
    res = w.exec_params(sql + " AND attribute = $2", key, only);
  std::vector<sql_attribute> out;
  for (const auto& row : res)
    out.push_back({row[0].as<std::string>(), row[1].as<std::string>(),
                   row[2].as<std::string>()});
  return out;
}

// Makes the rows (of attribute `only`, or all) equal to `desired`; leaves
// them untouched when they already are. Returns whether it wrote.
// `none_yet`: the caller read (under the user's lock) that there are no
// rows, so neither the read nor the delete is sent.
bool sync_rows(pqxx::transaction_base& w, std::string_view table,
               std::string_view key_col, const std::string& key,
               std::vector<sql_attribute> desired, const std::string& only = {},
               bool none_yet = false) {
  std::vector<sql_attribute> current;
  if (!none_yet)
    current = load_rows(w, table, key_col, key, only);
  std::sort(current.begin(), current.end());
  std::sort(desired.begin(), desired.end());
  if (current == desired)
    return false;
  if (!none_yet) {
    std::string del = "DELETE FROM " + std::string{table} + " WHERE "
                      + std::string{key_col} + " = $1";
    if (only.empty())
      w.exec_params(del, key);
    else
      w.exec_params(del + " AND attribute = $2", key, only);
  }
  std::string ins = "INSERT INTO " + std::string{table} + " ("
                    + std::string{key_col}
                    + ", attribute, op, value) VALUES ($1, $2, $3, $4)";
  for (const auto& a : desired)
    w.exec_params(ins, key, a.name, a.op, a.value);
  return true;
}

std::vector<std::string> load_groups(pqxx::transaction_base& w,
                                     const std::string& username) {
  std::vector<std::string> out;
  for (const auto& row :
       w.exec_params("SELECT groupname FROM radusergroup WHERE username = $1 "
                     "ORDER BY priority, id",
                     username))
    out.push_back(row[0].as<std::string>());
  return out;
}

// Makes `username`'s groups exactly {group} (none for "").
bool sync_group(pqxx::transaction_base& w, const std::string& username,
                const std::string& group) {
  auto current = load_groups(w, username);
  std::vector<std::string> desired;
  if (!group.empty())
    desired.push_back(group);
  if (current == desired)
    return false;
  w.exec_params("DELETE FROM radusergroup WHERE username = $1", username);
  if (!group.empty())
    w.exec_params("INSERT INTO radusergroup (username, groupname, priority) "
                  "VALUES ($1, $2, 1)",
                  username, group);
  return true;
}

struct account_row {
  account acc;
  std::string change_key;
  std::string previous_group;
};

std::optional<account_row> account_of(const pqxx::result& res) {
  if (res.empty())
    return std::nullopt;
  const auto& row = res[0];
  account_row out;
  out.acc.tenant_id = row[0].as<std::string>();
  out.acc.subscriber_id = row[1].as<std::string>();
  out.acc.username = row[2].as<std::string>();
  out.acc.plan_group = row[3].as<std::string>();
  out.acc.denied = row[4].as<bool>();
  out.change_key = row[5].is_null() ? "" : row[5].as<std::string>();
  out.previous_group = row[6].is_null() ? "" : row[6].as<std::string>();
  return out;
}

constexpr const char* account_columns
  = "SELECT tenant_id, subscriber_id, username, plan_group, denied, "
    "plan_change_key, previous_plan_group FROM radius_accounts ";

std::optional<account_row> account_by_username(pqxx::transaction_base& w,
                                               const std::string& username) {
  return account_of(w.exec_params(
    std::string{account_columns} + "WHERE username = $1", username));
}

// Whether any of FreeRADIUS's per-user tables has a row of `username`.
bool has_user_rows(pqxx::transaction_base& w, const std::string& username) {
  return w
    .exec_params("SELECT EXISTS (SELECT 1 FROM radcheck WHERE username = $1)"
                 " OR EXISTS (SELECT 1 FROM radreply WHERE username = $1)"
                 " OR EXISTS (SELECT 1 FROM radusergroup WHERE username = $1)",
                 username)[0][0]
    .as<bool>();
}

// Who holds a username, as far as a call for an owner cares.
enum class holder {
  /// The call has no owner: nothing was checked.
  unchecked,
  /// The owner's account.
  owner,
  /// No account and no FreeRADIUS row: nobody.
  nobody,
};

// Throws input_error unless `username` is `who`'s or nobody's. Never names
// the tenant that holds it.
holder check_owner(pqxx::transaction_base& w, const std::string& username,
                   const std::optional<owner>& who) {
  if (!who)
    return holder::unchecked;
  if (auto acc = account_by_username(w, username)) {
    if (acc->acc.tenant_id != who->tenant_id)
      throw input_error("RADIUS username " + username
                        + " belongs to another tenant");
    if (acc->acc.subscriber_id != who->subscriber_id)
      throw input_error("RADIUS username " + username
                        + " belongs to another subscriber");
    return holder::owner;
  }
  if (has_user_rows(w, username))
    throw input_error("RADIUS username " + username
                      + " has FreeRADIUS rows but no account of this tenant");
  return holder::nobody;
}

// Everything a per-user call reads about `username`, read by one
// statement (`user_rows_sql`): its account, its radcheck rows, its groups
// by priority and whether radreply has any row of it.
struct user_rows {
  std::optional<account_row> acc;
  std::vector<sql_attribute> check;
  std::vector<std::string> groups;
  bool has_reply = false;

  bool has_freeradius_rows() const {
    return !check.empty() || !groups.empty() || has_reply;
  }
};

// Kind 0: the account; 1: a radcheck row; 2: a group; 3: radreply has rows.
// Served by radius_accounts' unique username, radcheck_username,
// radusergroup_username and radreply_username (schema/0001, 0004).
constexpr const char* user_rows_sql
  = "SELECT 0 AS kind, tenant_id, subscriber_id, plan_group, denied::text, "
    "plan_change_key, previous_plan_group, 0::bigint AS prio, 0::bigint AS id "
    "FROM radius_accounts WHERE username = $1 "
    "UNION ALL SELECT 1, attribute, op, value, NULL, NULL, NULL, 0, id "
    "FROM radcheck WHERE username = $1 "
    "UNION ALL SELECT 2, groupname, NULL, NULL, NULL, NULL, NULL, priority, id "
    "FROM radusergroup WHERE username = $1 "
    "UNION ALL (SELECT 3, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0 "
    "FROM radreply WHERE username = $1 LIMIT 1) "
    "ORDER BY kind, prio, id";

user_rows load_user(pqxx::transaction_base& w, const std::string& username) {
  user_rows out;
  for (const auto& row : w.exec_prepared("radius_user_rows", username)) {
    switch (row[0].as<int>()) {
      case 0: {
        account_row a;
        a.acc.tenant_id = row[1].as<std::string>();
        a.acc.subscriber_id = row[2].as<std::string>();
        a.acc.username = username;
        a.acc.plan_group = row[3].as<std::string>();
        a.acc.denied = row[4].as<std::string>() == "true";
        a.change_key = row[5].is_null() ? "" : row[5].as<std::string>();
        a.previous_group = row[6].is_null() ? "" : row[6].as<std::string>();
        out.acc = std::move(a);
        break;
      }
      case 1:
        out.check.push_back({row[1].as<std::string>(), row[2].as<std::string>(),
                             row[3].as<std::string>()});
        break;
      case 2:
        out.groups.push_back(row[1].as<std::string>());
        break;
      default:
        out.has_reply = true;
    }
  }
  return out;
}

// check_owner on rows already read under the username's lock.
holder check_owner(const user_rows& u, const std::string& username,
                   const std::optional<owner>& who) {
  if (!who)
    return holder::unchecked;
  if (u.acc) {
    if (u.acc->acc.tenant_id != who->tenant_id)
      throw input_error("RADIUS username " + username
                        + " belongs to another tenant");
    if (u.acc->acc.subscriber_id != who->subscriber_id)
      throw input_error("RADIUS username " + username
                        + " belongs to another subscriber");
    return holder::owner;
  }
  if (u.has_freeradius_rows())
    throw input_error("RADIUS username " + username
                      + " has FreeRADIUS rows but no account of this tenant");
  return holder::nobody;
}

// What deny and restore_plan change, in one statement: the Auth-Type rows
// of radcheck (none, or `Auth-Type := Reject`), the user's group
// (exactly `group`) and the account's denied flag. Each part runs only
// when its flag says so; the DELETEs see the rows as they were before the
// statement, so they never remove what the INSERTs add.
struct user_change {
  bool auth = false;
  bool reject = false;
  bool group = false;
  std::string group_name;
  bool mark = false;
  bool denied = false;

  bool any() const {
    return auth || group || mark;
  }
};

constexpr const char* user_change_sql
  = "WITH da AS (DELETE FROM radcheck WHERE $2 AND username = $1 "
    "AND attribute = 'Auth-Type'), "
    "ia AS (INSERT INTO radcheck (username, attribute, op, value) "
    "SELECT $1, 'Auth-Type', ':=', 'Reject' WHERE $2 AND $3), "
    "dg AS (DELETE FROM radusergroup WHERE $4 AND username = $1), "
    "ig AS (INSERT INTO radusergroup (username, groupname, priority) "
    "SELECT $1, $5, 1 WHERE $4 AND $5 <> ''), "
    "ua AS (UPDATE radius_accounts SET denied = $7, updated_at = now() "
    "WHERE $6 AND username = $1) "
    "SELECT 1";

void apply_change(pqxx::transaction_base& w, const std::string& username,
                  const user_change& c) {
  w.exec_prepared("radius_user_change", username, c.auth, c.reject, c.group,
                  c.group_name, c.mark, c.denied);
}

// `user_change_sql` for many users, one row per user (distinct
// usernames), given as arrays: one statement for a whole batch.
constexpr const char* users_change_sql
  = "WITH c AS (SELECT * FROM unnest($1::text[], $2::bool[], $3::bool[], "
    "$4::bool[], $5::text[], $6::bool[], $7::bool[]) "
    "AS c(u, auth, reject, grp, gname, mark, denied)), "
    "da AS (DELETE FROM radcheck r USING c WHERE c.auth AND r.username = c.u "
    "AND r.attribute = 'Auth-Type'), "
    "ia AS (INSERT INTO radcheck (username, attribute, op, value) "
    "SELECT u, 'Auth-Type', ':=', 'Reject' FROM c WHERE auth AND reject), "
    "dg AS (DELETE FROM radusergroup g USING c WHERE c.grp "
    "AND g.username = c.u), "
    "ig AS (INSERT INTO radusergroup (username, groupname, priority) "
    "SELECT u, gname, 1 FROM c WHERE grp AND gname <> ''), "
    "ua AS (UPDATE radius_accounts a SET denied = c.denied, "
    "updated_at = now() FROM c WHERE c.mark AND a.username = c.u) "
    "SELECT 1";

std::string bool_array_literal(const std::vector<bool>& xs) {
  std::string out = "{";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out += ',';
    out += xs[i] ? 't' : 'f';
  }
  out += '}';
  return out;
}

void apply_changes(
  pqxx::transaction_base& w,
  const std::vector<std::pair<std::string, user_change>>& changes) {
  if (changes.empty())
    return;
  if (changes.size() == 1) {
    apply_change(w, changes[0].first, changes[0].second);
    return;
  }
  std::vector<std::string> users, groups;
  std::vector<bool> auth, reject, group, mark, denied;
  for (const auto& [u, c] : changes) {
    users.push_back(u);
    auth.push_back(c.auth);
    reject.push_back(c.reject);
    group.push_back(c.group);
    groups.push_back(c.group_name);
    mark.push_back(c.mark);
    denied.push_back(c.denied);
  }
  w.exec_prepared("radius_users_change", text_array_literal(users),
                  bool_array_literal(auth), bool_array_literal(reject),
                  bool_array_literal(group), text_array_literal(groups),
                  bool_array_literal(mark), bool_array_literal(denied));
}

// Whether the radcheck rows `check` hold exactly `Auth-Type := Reject`
// (`reject`) or no Auth-Type at all.
bool auth_type_is(const std::vector<sql_attribute>& check, bool reject) {
  std::vector<sql_attribute> current;
  for (const auto& row : check)
    if (row.name == "Auth-Type")
      current.push_back(row);
  if (!reject)
    return current.empty();
  return current.size() == 1
         && current[0] == sql_attribute{"Auth-Type", ":=", "Reject"};
}

// Whether `groups` is exactly {group} (none for "").
bool groups_are(const std::vector<std::string>& groups,
                const std::string& group) {
  if (group.empty())
    return groups.empty();
  return groups.size() == 1 && groups[0] == group;
}

// The open sessions of a user: radacct joined to its NAS's row. Served by
// radacct_active_username_idx (schema/0015).
constexpr const char* open_sessions_sql
  = "SELECT host(a.nasipaddress), a.acctsessionid, "
    "COALESCE(host(a.framedipaddress), ''), COALESCE(a.nasportid, ''), "
    "n.nasname IS NOT NULL, COALESCE(n.secret, ''), "
    "COALESCE(n.ports, 0), COALESCE(n.type, '') "
    "FROM radacct a LEFT JOIN LATERAL (SELECT nasname, secret, ports, type "
    "FROM nas WHERE nasname = host(a.nasipaddress) ORDER BY id LIMIT 1) n "
    "ON true WHERE a.username = $1 AND a.acctstoptime IS NULL "
    "ORDER BY a.radacctid";

// `user_rows_sql` for many users at once (what deny_batch reads: the
// account, the radcheck rows, the groups), by username. One array
// parameter: prepared once, and planned as index look-ups whatever the
// batch's size (a VALUES list of N parameters was planned anew for each
// size, as hash joins over whole tables once the tables grew).
constexpr const char* users_rows_sql
  = "SELECT username, 0 AS kind, tenant_id, subscriber_id, plan_group, "
    "denied::text, plan_change_key, previous_plan_group, 0::bigint AS prio, "
    "0::bigint AS id FROM radius_accounts WHERE username = ANY($1::text[]) "
    "UNION ALL SELECT username, 1, attribute, op, value, NULL, NULL, NULL, "
    "0, id FROM radcheck WHERE username = ANY($1::text[]) "
    "UNION ALL SELECT username, 2, groupname, NULL, NULL, NULL, NULL, NULL, "
    "priority, id FROM radusergroup WHERE username = ANY($1::text[]) "
    "ORDER BY 1, 2, 9, 10";

// The usernames of (tenant, subscriber) pairs, given as two arrays.
constexpr const char* usernames_of_sql
  = "SELECT a.tenant_id, a.subscriber_id, a.username FROM radius_accounts a "
    "JOIN unnest($1::text[], $2::text[]) AS o(t, s) "
    "ON a.tenant_id = o.t AND a.subscriber_id = o.s";

// One lock per username, taken in the order of their keys: two batches
// never wait for each other in a cycle (a single call takes one lock).
constexpr const char* lock_users_sql
  = "SELECT pg_advisory_xact_lock(4242, hashtext(u)) "
    "FROM unnest($1::text[]) AS v(u) ORDER BY hashtext(u), u";

// The account of a subscriber and its open sessions (none: one row with
// NULL session columns; no account: no row). Served by
// radius_accounts' (tenant_id, subscriber_id) key and
// radacct_active_username_idx.
constexpr const char* open_sessions_of_sql
  = "SELECT acc.username, a.radacctid IS NOT NULL, host(a.nasipaddress), "
    "a.acctsessionid, COALESCE(host(a.framedipaddress), ''), "
    "COALESCE(a.nasportid, ''), n.nasname IS NOT NULL, "
    "COALESCE(n.secret, ''), COALESCE(n.ports, 0), COALESCE(n.type, '') "
    "FROM radius_accounts acc LEFT JOIN radacct a "
    "ON a.username = acc.username AND a.acctstoptime IS NULL "
    "LEFT JOIN LATERAL (SELECT nasname, secret, ports, type FROM nas "
    "WHERE nasname = host(a.nasipaddress) ORDER BY id LIMIT 1) n ON true "
    "WHERE acc.tenant_id = $1 AND acc.subscriber_id = $2 "
    "ORDER BY a.radacctid";

constexpr const char* count_open_sql
  = "SELECT count(*) FROM radacct WHERE username = $1 "
    "AND acctstoptime IS NULL";

// A username's first provision (every activation takes this path) in one
// round trip: schema/0021's function takes the username's lock, checks the
// partition fence, and writes every row (radcheck, radreply, radusergroup,
// radius_accounts) when neither the username nor the subscriber has any
// yet. The statement commits on its own.
constexpr const char* first_provision_sql
  = "SELECT outcome, claimed, holder, held_epoch"
    " FROM ispflow_radius_first_provision($1, $2, $3, $4, $5, $6, $7, $8, $9,"
    " $10, $11, $12, $13, $14, $15)";

// first_provision_sql for many usernames in one statement (one round trip,
// one commit): each account's function call takes its own username's
// lock, in the order every statement that takes several takes them
// (lock_users_sql), so two of them never wait for each other's username
// locks in a cycle. Each call also share-locks its partition's owner row,
// held to the commit: should that close a cycle with another writer,
// PostgreSQL ends one of them, and store::provision_batch then runs each
// account on its own. The calls are independent: one finding rows
// ('taken') or a stale lease writes nothing for its account and the others
// go on.
constexpr const char* first_batch_sql
  = "SELECT x.n, f.outcome, f.claimed, f.holder, f.held_epoch"
    " FROM (SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(n int,"
    " username text, tenant text, subscriber text, attribute text, op text,"
    " value text, framed_ip text, grp text, kept_attribute text,"
    " kept_op text, kept_value text, sealed text, part int, epoch bigint,"
    " instance text) ORDER BY hashtext(r.username), r.username OFFSET 0) x"
    " CROSS JOIN LATERAL ispflow_radius_first_provision(x.username,"
    " x.tenant, x.subscriber, x.attribute, x.op, x.value, x.framed_ip, x.grp,"
    " x.kept_attribute, x.kept_op, x.kept_value, x.sealed, x.part, x.epoch,"
    " x.instance) f";

// Prepared once per connection (parsed and planned once, not per call).
void prepare(pqxx::connection& c) {
  {
    // A writer paused inside a transaction holds the fence lock of its
    // partitions, and the next owner's claim waits for it: the server ends
    // such a session instead.
    pqxx::nontransaction tx{c};
    tx.exec("SET idle_in_transaction_session_timeout = '5s'");
  }
  pg::detail::prepare_fence(c);
  c.prepare("radius_lock_user",
            "SELECT pg_advisory_xact_lock(4242, hashtext($1))");
  c.prepare("radius_user_rows", user_rows_sql);
  c.prepare("radius_users_rows", users_rows_sql);
  c.prepare("radius_usernames_of", usernames_of_sql);
  c.prepare("radius_lock_users", lock_users_sql);
  c.prepare("radius_user_change", user_change_sql);
  c.prepare("radius_users_change", users_change_sql);
  c.prepare("radius_open_sessions", open_sessions_sql);
  c.prepare("radius_open_sessions_of", open_sessions_of_sql);
  c.prepare("radius_count_open", count_open_sql);
  c.prepare("radius_account_of",
            std::string{account_columns}
              + "WHERE tenant_id = $1 AND subscriber_id = $2");
  c.prepare("radius_first_provision", first_provision_sql);
  c.prepare("radius_first_provisions", first_batch_sql);
}

bool valid_ip(const std::string& text) {
  unsigned char buf[16];
  return inet_pton(AF_INET, text.c_str(), buf) == 1
         || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

void json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

// The `plans.attributes` document: the plan's numbers, the vendor and the
// exact reply rows.
std::string plan_json(const plan& p, vendor v,
                      const std::vector<sql_attribute>& rows) {
  std::string out = "{\"vendor\":";
  json_string(out, to_string(v));
  out += ",\"download_kbps\":" + std::to_string(p.download_kbps);
  out += ",\"upload_kbps\":" + std::to_string(p.upload_kbps);
  out += ",\"reply\":[";
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i > 0)
      out += ',';
    out += "{\"attribute\":";
    json_string(out, rows[i].name);
    out += ",\"op\":";
    json_string(out, rows[i].op);
    out += ",\"value\":";
    json_string(out, rows[i].value);
    out += '}';
  }
  out += "]}";
  return out;
}

std::vector<sql_attribute> plan_rows(const plan& p, vendor v) {
  auto rows = plan_reply_attributes(p, v);
  if (!rows)
    throw input_error("plan " + p.id + " lacks what vendor "
                      + std::string{to_string(v)} + " needs");
  return std::move(*rows);
}

} // namespace

std::string canonical_nas_address(const std::string& text) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN] = {};
  if (inet_pton(AF_INET, text.c_str(), buf) == 1)
    return inet_ntop(AF_INET, buf, out, sizeof(out)) ? out : "";
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1)
    return inet_ntop(AF_INET6, buf, out, sizeof(out)) ? out : "";
  return {};
}

namespace {

// The partition leases a write transaction commits under.
struct lease_set {
  std::string instance;
  pg::detail::partition_fences epochs;

  void add(const partition_lease& x) {
    if (x.epoch <= 0 || x.partition < 0)
      return;
    instance = x.instance;
    pg::detail::add_fence(epochs, x.partition, x.epoch);
  }
};

lease_set leases_of(const partition_lease& x) {
  lease_set out;
  out.add(x);
  return out;
}

lease_set leases_of(const std::optional<owner>& who) {
  return who ? leases_of(who->lease) : lease_set{};
}

// A write refused by its partition fence.
struct stale_lease : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What first_provision_sql takes for one account, besides its spec: the
// password row as radcheck keeps it, the row the account keeps (a hash;
// none for a cleartext password), the sealed password, and the lease.
struct first_provision_args {
  sql_attribute pw;
  std::optional<std::string> kept_attr, kept_op, kept_value, sealed;
  int32_t partition = -1;
  int64_t epoch = 0;
  std::string instance;
};

first_provision_args first_args(const account_spec& spec,
                                const lease_set& leases) {
  auto pw = password_check_item(spec.password, spec.storage);
  if (!pw)
    throw input_error(spec.password.empty() ? "empty password"
                                            : "cannot store the password");
  first_provision_args a;
  // As the general path keeps them: a hash, never a cleartext password.
  if (pw->name != "Cleartext-Password") {
    a.kept_attr = pw->name;
    a.kept_op = pw->op;
    a.kept_value = pw->value;
  }
  a.pw = std::move(*pw);
  if (spec.seal) {
    auto fresh = spec.seal->seal(
      spec.password,
      common::seal_binding{spec.tenant_id, spec.subscriber_id, spec.username});
    if (!fresh)
      throw input_error("cannot seal the password: "
                        + render_error(fresh.error()));
    a.sealed = std::move(*fresh);
  }
  if (!leases.epochs.empty()) {
    a.partition = leases.epochs.begin()->first;
    a.epoch = leases.epochs.begin()->second;
  }
  a.instance = leases.instance;
  return a;
}

// What first_provision_sql answered: whether it wrote (false: the username
// or the subscriber has rows, nothing written). A write the fence refused
// throws stale_lease.
bool first_outcome(const pqxx::row& row, const first_provision_args& a) {
  auto outcome = row["outcome"].as<std::string>();
  if (outcome == "stale") {
    auto holder = row["holder"].is_null() ? std::string{}
                                          : row["holder"].as<std::string>();
    auto held = row["held_epoch"].is_null() ? int64_t{0}
                                            : row["held_epoch"].as<int64_t>();
    throw stale_lease{pg::detail::stale_reason(
      a.partition, a.epoch, row["claimed"].as<bool>() ? &holder : nullptr,
      held)};
  }
  return outcome == "written";
}

// Runs first_provision_sql for `spec` with `a` (first_args).
bool provision_first(pqxx::nontransaction& w, const account_spec& spec,
                     const first_provision_args& a) {
  auto row = w.exec_prepared1("radius_first_provision", spec.username,
                              spec.tenant_id, spec.subscriber_id, a.pw.name,
                              a.pw.op, a.pw.value, spec.framed_ip,
                              spec.plan_group, a.kept_attr, a.kept_op,
                              a.kept_value, a.sealed, a.partition, a.epoch,
                              a.instance);
  return first_outcome(row, a);
}

void json_field(std::string& out, std::string_view name,
                const std::optional<std::string>& value) {
  out += ',';
  json_string(out, name);
  out += ':';
  if (value)
    json_string(out, *value);
  else
    out += "null";
}

// The accounts of first_batch_sql, as its json array (n: the index).
std::string first_batch_json(
  const std::vector<std::pair<const account_spec*, first_provision_args>>&
    items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& spec = *items[i].first;
    const auto& a = items[i].second;
    if (i > 0)
      out += ',';
    out += "{\"n\":" + std::to_string(i);
    json_field(out, "username", spec.username);
    json_field(out, "tenant", spec.tenant_id);
    json_field(out, "subscriber", spec.subscriber_id);
    json_field(out, "attribute", a.pw.name);
    json_field(out, "op", a.pw.op);
    json_field(out, "value", a.pw.value);
    json_field(out, "framed_ip", spec.framed_ip);
    json_field(out, "grp", spec.plan_group);
    json_field(out, "kept_attribute", a.kept_attr);
    json_field(out, "kept_op", a.kept_op);
    json_field(out, "kept_value", a.kept_value);
    json_field(out, "sealed", a.sealed);
    out += ",\"part\":" + std::to_string(a.partition);
    out += ",\"epoch\":" + std::to_string(a.epoch);
    json_field(out, "instance", a.instance);
    out += '}';
  }
  out += ']';
  return out;
}

} // namespace

struct store::impl {
  std::string dsn;
  std::unique_ptr<pqxx::connection> conn;
  pg::detail::replan_schedule replan{std::chrono::seconds{1},
                                     std::chrono::seconds{64}};

  // Runs `f(work)` in one transaction and commits it; translates errors.
  template <class F>
  auto tx(F&& f) -> caf::expected<std::invoke_result_t<F, pqxx::work&>> {
    return run<pqxx::work>(std::forward<F>(f));
  }

  // `tx` for a write made under `leases`.
  template <class F>
  auto fenced(const lease_set& leases, F&& f)
    -> caf::expected<std::invoke_result_t<F, pqxx::work&>> {
    return run<pqxx::work>(std::forward<F>(f), leases);
  }

  // Runs `f` on statements that commit one by one (no BEGIN and COMMIT
  // round trips): for reads whose statements need no common snapshot.
  template <class F>
  auto read(F&& f)
    -> caf::expected<std::invoke_result_t<F, pqxx::nontransaction&>> {
    return run<pqxx::nontransaction>(std::forward<F>(f));
  }

  // Runs `f` on one write statement that commits on its own (no BEGIN and
  // COMMIT round trips) and fences itself. The effect gate is checked
  // before it is sent, since no commit of ours follows it.
  template <class F>
  auto single_write(F&& f)
    -> caf::expected<std::invoke_result_t<F, pqxx::nontransaction&>> {
    return run<pqxx::nontransaction>([&](pqxx::nontransaction& w) {
      if (!common::effect_gate::open())
        throw pqxx::broken_connection{common::effect_gate::closed_text};
      return f(w);
    });
  }

  template <class Tx, class F>
  auto run(F&& f, const lease_set& leases = {})
    -> caf::expected<std::invoke_result_t<F, Tx&>> {
    using result_type = std::invoke_result_t<F, Tx&>;
    try {
      if (!conn || !conn->is_open()) {
        conn = std::make_unique<pqxx::connection>(dsn);
        prepare(*conn);
        replan.restart();
      }
      replan.run_if_due(*conn);
      Tx w{*conn};
      // A write commits only while this instance holds the partitions it
      // writes for: a process paused in the middle of one (SIGSTOP, a
      // stall) must not commit it after another instance took the saga
      // over and moved on. The fence (the partitions' epochs, checked and
      // share-locked in this transaction, last, right before the commit)
      // is exact; the effect gate (common/effect_gate.hpp: this instance's
      // leases confirmed lately) also covers writes of no saga, and costs
      // no round trip. Either way the transaction rolls back.
      auto gate = [&](Tx& t) {
        if constexpr (std::is_same_v<Tx, pqxx::work>) {
          if (auto why = pg::detail::check_fences(t, leases.epochs,
                                                  leases.instance);
              !why.empty())
            throw stale_lease{why};
          if (!common::effect_gate::open())
            throw pqxx::broken_connection{common::effect_gate::closed_text};
        }
      };
      if constexpr (std::is_void_v<result_type>) {
        f(w);
        gate(w);
        w.commit();
        return caf::expected<void>{};
      } else {
        auto res = f(w);
        gate(w);
        w.commit();
        return res;
      }
    } catch (const input_error& e) {
      return caf::make_error(errc::invalid_input, std::string{e.what()});
    } catch (const stale_lease& e) {
      return caf::make_error(errc::stale_epoch, std::string{e.what()});
    } catch (const pqxx::broken_connection& e) {
      conn.reset();
      return caf::make_error(errc::database_unavailable, trim(e.what()));
    } catch (const pqxx::in_doubt_error& e) {
      conn.reset();
      return caf::make_error(errc::database_unavailable, trim(e.what()));
    } catch (const pqxx::sql_error& e) {
      if (conn && !conn->is_open())
        conn.reset();
      return caf::make_error(errc::database_error, trim(e.what()));
    } catch (const std::exception& e) {
      conn.reset();
      return caf::make_error(errc::database_error, trim(e.what()));
    }
  }
};

store::store(std::string dsn) : impl_(std::make_unique<impl>()) {
  impl_->dsn = std::move(dsn);
}

store::~store() = default;
store::store(store&&) noexcept = default;
store& store::operator=(store&&) noexcept = default;

namespace {

// What `provision` refuses before it writes anything.
caf::error check_spec(const account_spec& spec) {
  if (auto err = check_username(spec.username))
    return err;
  if (auto err = check_password(spec.password, spec.storage))
    return err;
  if (spec.plan_group.empty())
    return caf::make_error(errc::invalid_input, "empty plan group");
  if (!spec.framed_ip.empty() && !valid_ip(spec.framed_ip))
    return caf::make_error(errc::invalid_input,
                           "invalid Framed-IP-Address " + spec.framed_ip);
  return {};
}

} // namespace

caf::expected<bool> store::provision(const account_spec& spec) {
  if (auto err = check_spec(spec))
    return err;
  auto leases = leases_of(spec.lease);
  auto first = impl_->single_write([&](pqxx::nontransaction& w) {
    return provision_first(w, spec, first_args(spec, leases));
  });
  if (!first || *first)
    return first;
  return provision_rows(spec);
}

std::vector<caf::expected<bool>>
store::provision_batch(const std::vector<account_spec>& specs) {
  std::vector<caf::expected<bool>> out(specs.size(), false);
  // The accounts that pass check_spec, with their arguments, and where
  // each answer goes.
  std::vector<std::pair<const account_spec*, first_provision_args>> items;
  std::vector<size_t> index;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (auto err = check_spec(specs[i])) {
      out[i] = std::move(err);
      continue;
    }
    try {
      items.emplace_back(&specs[i],
                         first_args(specs[i], leases_of(specs[i].lease)));
      index.push_back(i);
    } catch (const input_error& e) {
      out[i] = caf::make_error(errc::invalid_input, std::string{e.what()});
    }
  }
  if (items.size() < 2) {
    for (auto i : index)
      out[i] = provision(specs[i]);
    return out;
  }
  // Per account: 1 written, 0 taken (rows exist), 2 stale (the reason in
  // `why`), -1 no answer.
  struct answers {
    std::vector<int> outcome;
    std::vector<std::string> why;
  };
  auto json = first_batch_json(items);
  auto res = impl_->single_write([&](pqxx::nontransaction& w) {
    answers a{std::vector<int>(items.size(), -1),
              std::vector<std::string>(items.size())};
    for (const auto& row : w.exec_prepared("radius_first_provisions", json)) {
      auto n = row["n"].as<size_t>();
      if (n >= items.size())
        continue;
      try {
        a.outcome[n] = first_outcome(row, items[n].second) ? 1 : 0;
      } catch (const stale_lease& e) {
        a.outcome[n] = 2;
        a.why[n] = e.what();
      }
    }
    return a;
  });
  OPENSSL_cleanse(json.data(), json.size());
  if (!res) {
    if (res.error() == errc::database_unavailable) {
      for (auto i : index)
        out[i] = res.error();
      return out;
    }
    // The statement failed as a whole and wrote nothing (a deadlock with a
    // writer that takes its locks in another order, say): each on its own.
    for (auto i : index)
      out[i] = provision(specs[i]);
    return out;
  }
  for (size_t k = 0; k < items.size(); ++k) {
    auto i = index[k];
    switch (res->outcome[k]) {
      case 1:
        out[i] = true;
        break;
      case 0:
        out[i] = provision_rows(specs[i]);
        break;
      case 2:
        out[i] = caf::make_error(errc::stale_epoch, std::move(res->why[k]));
        break;
      default:
        out[i] = provision(specs[i]);
    }
  }
  return out;
}

caf::expected<bool> store::provision_rows(const account_spec& spec) {
  auto leases = leases_of(spec.lease);
  // The username or the subscriber has rows: read them under the lock.
  return impl_->fenced(leases, [&](pqxx::work& w) {
    lock_user(w, spec.username);
    auto u = load_user(w, spec.username);
    // Rows without an account (written outside ispflow) are taken over.
    if (u.acc)
      check_owner(u, spec.username, owner{spec.tenant_id, spec.subscriber_id});
    // The username is this subscriber's (checked above) or nobody's: then
    // the subscriber must not hold another one.
    if (!u.acc)
      if (auto mine = account_of(w.exec_prepared(
            "radius_account_of", spec.tenant_id, spec.subscriber_id)))
        throw input_error("subscriber " + spec.subscriber_id
                          + " already has RADIUS username "
                          + mine->acc.username);
    // Keep a stored hash that already accepts the password: a repeat then
    // changes nothing (a new salt would).
    std::optional<sql_attribute> pw;
    auto want = password_check_item(spec.password, spec.storage);
    if (!want)
      throw input_error(spec.password.empty() ? "empty password"
                                              : "cannot store the password");
    for (const auto& row : u.check)
      if (row.name == want->name && row.op == want->op
          && password_matches(row, spec.password))
        pw = row;
    if (!pw)
      pw = std::move(*want);
    bool changed = false;
    // Rows read as absent (under the user's lock) need no DELETE.
    if (u.check.size() != 1 || !(u.check[0] == *pw)) {
      if (!u.check.empty())
        w.exec_params("DELETE FROM radcheck WHERE username = $1",
                      spec.username);
      w.exec_params("INSERT INTO radcheck (username, attribute, op, value) "
                    "VALUES ($1, $2, $3, $4)",
                    spec.username, pw->name, pw->op, pw->value);
      changed = true;
    }
    std::vector<sql_attribute> reply;
    if (!spec.framed_ip.empty())
      reply.push_back({"Framed-IP-Address", ":=", spec.framed_ip});
    if (u.has_reply || !reply.empty())
      changed |= sync_rows(w, "radreply", "username", spec.username, reply, {},
                           !u.has_reply);
    if (!groups_are(u.groups, spec.plan_group)) {
      if (!u.groups.empty())
        w.exec_params("DELETE FROM radusergroup WHERE username = $1",
                      spec.username);
      w.exec_params("INSERT INTO radusergroup (username, groupname, priority) "
                    "VALUES ($1, $2, 1)",
                    spec.username, spec.plan_group);
      changed = true;
    }
    // The account keeps the password row exactly as written to radcheck
    // when it is a hash (radius.restore_credentials puts it back); a
    // cleartext password is never kept (NULL columns).
    std::optional<std::string> kept_attr, kept_op, kept_value;
    if (pw->name != "Cleartext-Password") {
      kept_attr = pw->name;
      kept_op = pw->op;
      kept_value = pw->value;
    }
    // With a sealing key, the password sealed too (schema/0018), for a
    // repair that must configure the CPE again; a blob that opens to this
    // password with the current sealing key is kept (a repeat changes
    // nothing; a fresh nonce would). Without a key none is kept.
    std::optional<std::string> sealed;
    if (spec.seal) {
      common::seal_binding b{spec.tenant_id, spec.subscriber_id, spec.username};
      if (u.acc) {
        auto row = w.exec_params("SELECT password_sealed FROM "
                                 "radius_accounts WHERE username = $1",
                                 spec.username);
        if (!row.empty() && !row[0][0].is_null()) {
          auto old = row[0][0].as<std::string>();
          auto opened = spec.seal->open(old, b);
          if (opened && *opened == spec.password
              && common::sealed_key_id(old) == spec.seal->sealing_key_id())
            sealed = std::move(old);
          if (opened)
            OPENSSL_cleanse(opened->data(), opened->size());
        }
      }
      if (!sealed) {
        auto fresh = spec.seal->seal(spec.password, b);
        if (!fresh)
          throw input_error("cannot seal the password: "
                            + render_error(fresh.error()));
        sealed = std::move(*fresh);
      }
    }
    auto res = w.exec_params(
      "INSERT INTO radius_accounts (tenant_id, subscriber_id, username, "
      "plan_group, denied, password_attribute, password_op, password_value, "
      "password_sealed) "
      "VALUES ($1, $2, $3, $4, false, $5, $6, $7, $8) "
      "ON CONFLICT (tenant_id, subscriber_id) DO UPDATE SET "
      "plan_group = EXCLUDED.plan_group, denied = false, "
      "password_attribute = EXCLUDED.password_attribute, "
      "password_op = EXCLUDED.password_op, "
      "password_value = EXCLUDED.password_value, "
      "password_sealed = EXCLUDED.password_sealed, updated_at = now() "
      "WHERE radius_accounts.plan_group <> EXCLUDED.plan_group "
      "OR radius_accounts.denied "
      "OR radius_accounts.password_attribute "
      "IS DISTINCT FROM EXCLUDED.password_attribute "
      "OR radius_accounts.password_op IS DISTINCT FROM EXCLUDED.password_op "
      "OR radius_accounts.password_value "
      "IS DISTINCT FROM EXCLUDED.password_value "
      "OR radius_accounts.password_sealed "
      "IS DISTINCT FROM EXCLUDED.password_sealed",
      spec.tenant_id, spec.subscriber_id, spec.username, spec.plan_group,
      kept_attr, kept_op, kept_value, sealed);
    changed |= res.affected_rows() > 0;
    return changed;
  });
}

caf::expected<std::string>
store::set_plan_group(const std::string& username, const std::string& group,
                      const std::string& change_key,
                      const std::optional<owner>& who) {
  if (username.empty() || group.empty())
    return caf::make_error(errc::invalid_input, "empty username or group");
  return impl_->fenced(leases_of(who), [&](pqxx::work& w) {
    lock_user(w, username);
    if (check_owner(w, username, who) == holder::nobody)
      throw input_error("no RADIUS account for user " + username);
    auto acc = account_by_username(w, username);
    if (!acc) {
      auto current = load_groups(w, username);
      if (current.empty()
          && load_rows(w, "radcheck", "username", username).empty())
        throw input_error("no RADIUS account for user " + username);
      sync_group(w, username, group);
      return current.empty() ? std::string{} : current.front();
    }
    if (!change_key.empty() && acc->change_key == change_key)
      return acc->previous_group;
    auto previous = acc->acc.plan_group;
    w.exec_params("UPDATE radius_accounts SET plan_group = $2, "
                  "plan_change_key = NULLIF($3, ''), "
                  "previous_plan_group = $4, updated_at = now() "
                  "WHERE username = $1",
                  username, group, change_key, previous);
    if (!acc->acc.denied)
      sync_group(w, username, group);
    return previous;
  });
}

namespace {

// `load_user` for many users at once (what deny reads: the account, the
// radcheck rows, the groups), by username.
std::map<std::string, user_rows>
load_users(pqxx::transaction_base& w, const std::vector<std::string>& users) {
  std::map<std::string, user_rows> out;
  for (const auto& name : users)
    out[name];
  for (const auto& row :
       w.exec_prepared("radius_users_rows", text_array_literal(users))) {
    auto name = row[0].as<std::string>();
    auto& u = out[name];
    switch (row[1].as<int>()) {
      case 0: {
        account_row a;
        a.acc.tenant_id = row[2].as<std::string>();
        a.acc.subscriber_id = row[3].as<std::string>();
        a.acc.username = name;
        a.acc.plan_group = row[4].as<std::string>();
        a.acc.denied = row[5].as<std::string>() == "true";
        a.change_key = row[6].is_null() ? "" : row[6].as<std::string>();
        a.previous_group = row[7].is_null() ? "" : row[7].as<std::string>();
        u.acc = std::move(a);
        break;
      }
      case 1:
        u.check.push_back({row[2].as<std::string>(), row[3].as<std::string>(),
                           row[4].as<std::string>()});
        break;
      default:
        u.groups.push_back(row[2].as<std::string>());
    }
  }
  return out;
}

// What `deny` changes for a user in the state `u`, or nothing.
std::optional<user_change> deny_change(const user_rows& u,
                                       suspend_policy policy,
                                       const std::string& walled_garden_group) {
  bool reject = policy == suspend_policy::reject;
  user_change c;
  c.auth = !auth_type_is(u.check, reject);
  c.reject = reject;
  if (!reject || u.acc) {
    c.group_name = reject ? u.acc->acc.plan_group : walled_garden_group;
    c.group = !groups_are(u.groups, c.group_name);
  }
  c.mark = u.acc && !u.acc->acc.denied;
  c.denied = true;
  if (!c.any())
    return std::nullopt;
  return c;
}

} // namespace

caf::expected<bool> store::deny(const std::string& username,
                                suspend_policy policy,
                                const std::string& walled_garden_group,
                                const std::optional<owner>& who) {
  if (username.empty())
    return caf::make_error(errc::invalid_input, "empty username");
  if (policy == suspend_policy::walled_garden && walled_garden_group.empty())
    return caf::make_error(errc::invalid_input, "no walled-garden group");
  return impl_->fenced(leases_of(who), [&](pqxx::work& w) {
    lock_user(w, username);
    auto u = load_user(w, username);
    if (check_owner(u, username, who) == holder::nobody)
      return false;
    if (!u.acc && u.check.empty())
      return false;
    auto c = deny_change(u, policy, walled_garden_group);
    if (!c)
      return false;
    apply_change(w, username, *c);
    return true;
  });
}

caf::expected<std::vector<deny_result>>
store::deny_batch(const std::vector<deny_request>& requests) {
  std::vector<deny_result> out(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& r = requests[i];
    out[i].username = r.username;
    if (r.policy == suspend_policy::walled_garden
        && r.walled_garden_group.empty())
      out[i].error = caf::make_error(errc::invalid_input,
                                     "no walled-garden group");
  }
  if (requests.empty())
    return out;
  // One stale lease refuses the whole batch (retryable for the others).
  lease_set leases;
  for (auto& r : requests)
    leases.add(r.who.lease);
  auto res = impl_->fenced(leases, [&](pqxx::work& w) {
    // Usernames of the subscribers named by owner only.
    std::vector<std::string> tenants;
    std::vector<std::string> subscribers;
    std::vector<size_t> by_owner;
    for (size_t i = 0; i < requests.size(); ++i)
      if (requests[i].username.empty() && !out[i].error) {
        tenants.push_back(requests[i].who.tenant_id);
        subscribers.push_back(requests[i].who.subscriber_id);
        by_owner.push_back(i);
      }
    if (!by_owner.empty()) {
      std::map<std::pair<std::string, std::string>, std::string> found;
      for (const auto& row :
           w.exec_prepared("radius_usernames_of", text_array_literal(tenants),
                           text_array_literal(subscribers)))
        found[{row[0].as<std::string>(), row[1].as<std::string>()}]
          = row[2].as<std::string>();
      for (auto i : by_owner) {
        auto f = found.find(
          {requests[i].who.tenant_id, requests[i].who.subscriber_id});
        if (f != found.end())
          out[i].username = f->second;
      }
    }
    std::vector<std::string> users;
    for (size_t i = 0; i < requests.size(); ++i)
      if (!out[i].error && !out[i].username.empty())
        users.push_back(out[i].username);
    if (users.empty())
      return;
    w.exec_prepared("radius_lock_users", text_array_literal(users));
    auto rows = load_users(w, users);
    std::set<std::string> changed;
    std::vector<std::pair<std::string, user_change>> changes;
    for (size_t i = 0; i < requests.size(); ++i) {
      if (out[i].error || out[i].username.empty())
        continue;
      const auto& r = requests[i];
      const auto& u = rows[out[i].username];
      try {
        if (check_owner(u, out[i].username, r.who) == holder::nobody)
          continue;
      } catch (const input_error& e) {
        out[i].error = caf::make_error(errc::invalid_input,
                                       std::string{e.what()});
        continue;
      }
      if (!u.acc && u.check.empty())
        continue;
      if (auto c = deny_change(u, r.policy, r.walled_garden_group)) {
        // A username named twice in the batch changes once (both calls
        // read the same rows, so they plan the same change).
        if (changed.insert(out[i].username).second)
          changes.emplace_back(out[i].username, *c);
        out[i].changed = true;
      }
    }
    apply_changes(w, changes);
  });
  if (!res)
    return res.error();
  return out;
}

caf::expected<bool> store::restore_plan(const std::string& username,
                                        const std::string& fallback_group,
                                        const std::optional<owner>& who) {
  if (username.empty())
    return caf::make_error(errc::invalid_input, "empty username");
  return impl_->fenced(leases_of(who), [&](pqxx::work& w) {
    lock_user(w, username);
    auto u = load_user(w, username);
    if (check_owner(u, username, who) == holder::nobody)
      throw input_error("no RADIUS account for user " + username);
    auto group = u.acc ? u.acc->acc.plan_group : fallback_group;
    if (group.empty())
      throw input_error("no plan group known for user " + username);
    user_change c;
    c.auth = !auth_type_is(u.check, false);
    c.group_name = group;
    c.group = !groups_are(u.groups, group);
    c.mark = u.acc && u.acc->acc.denied;
    c.denied = false;
    if (!c.any())
      return false;
    apply_change(w, username, c);
    return true;
  });
}

caf::expected<bool> store::restore_credentials(const std::string& username,
                                               const std::optional<owner>& who,
                                               const common::keyring* seal,
                                               password_storage storage) {
  if (username.empty())
    return caf::make_error(errc::invalid_input, "empty username");
  return impl_->fenced(leases_of(who), [&](pqxx::work& w) {
    lock_user(w, username);
    auto u = load_user(w, username);
    if (check_owner(u, username, who) == holder::nobody || !u.acc)
      throw input_error("no RADIUS account for user " + username);
    for (const auto& row : u.check)
      if (is_password_attribute(row.name))
        return false;
    auto kept
      = w.exec_params("SELECT password_attribute, password_op, password_value "
                      "FROM radius_accounts WHERE username = $1 "
                      "AND password_value IS NOT NULL",
                      username);
    // No hash (cleartext storage): the sealed copy, opened here and
    // written as the tenant stores passwords.
    if (kept.empty() && seal != nullptr) {
      auto row = w.exec_params("SELECT password_sealed FROM radius_accounts "
                               "WHERE username = $1 AND password_sealed IS "
                               "NOT NULL",
                               username);
      if (!row.empty()) {
        common::seal_binding b{u.acc->acc.tenant_id, u.acc->acc.subscriber_id,
                               username};
        auto pw = seal->open(row[0][0].as<std::string>(), b);
        if (!pw)
          throw input_error("the sealed password of user " + username
                            + " does not open: " + render_error(pw.error()));
        auto item = password_check_item(*pw, storage);
        OPENSSL_cleanse(pw->data(), pw->size());
        if (!item)
          throw input_error("cannot store the password of user " + username);
        w.exec_params("INSERT INTO radcheck (username, attribute, op, value) "
                      "VALUES ($1, $2, $3, $4)",
                      username, item->name, item->op, item->value);
        return true;
      }
    }
    // Never the value in an error: it is the password's hash.
    if (kept.empty())
      throw input_error(
        "no stored password hash for user " + username
        + " (cleartext password storage, or provisioned before the hash was "
          "kept): billing must re-send the activation");
    w.exec_params("INSERT INTO radcheck (username, attribute, op, value) "
                  "VALUES ($1, $2, $3, $4)",
                  username, kept[0][0].as<std::string>(),
                  kept[0][1].as<std::string>(), kept[0][2].as<std::string>());
    return true;
  });
}

caf::expected<bool> store::deprovision(const std::string& username,
                                       const std::optional<owner>& who) {
  if (username.empty())
    return caf::make_error(errc::invalid_input, "empty username");
  return impl_->fenced(leases_of(who), [&](pqxx::work& w) {
    lock_user(w, username);
    if (check_owner(w, username, who) == holder::nobody)
      return false;
    size_t n = 0;
    for (const char* table :
         {"radcheck", "radreply", "radusergroup", "radius_accounts"})
      n += w.exec_params(std::string{"DELETE FROM "} + table
                           + " WHERE username = $1",
                         username)
             .affected_rows();
    return n > 0;
  });
}

caf::expected<bool> store::write_plan_group(const std::string& group,
                                            const plan& p, vendor v) {
  if (group.empty())
    return caf::make_error(errc::invalid_input, "empty group name");
  auto rows = plan_reply_attributes(p, v);
  if (!rows)
    return rows.error();
  return impl_->tx([&](pqxx::work& w) {
    return sync_rows(w, "radgroupreply", "groupname", group, *rows);
  });
}

caf::error store::sync_plans(const tenant_settings& tenant) {
  if (tenant.tenant_id.empty())
    return caf::make_error(errc::invalid_input, "empty tenant id");
  auto res = impl_->tx([&](pqxx::work& w) {
    w.exec_params("INSERT INTO tenants (id, name) VALUES ($1, $1) "
                  "ON CONFLICT (id) DO NOTHING",
                  tenant.tenant_id);
    for (const auto& p : tenant.plans) {
      auto rows = plan_rows(p, tenant.nas_vendor);
      auto group = tenant.group_of(p);
      sync_rows(w, "radgroupreply", "groupname", group, rows);
      w.exec_params(
        "INSERT INTO plans (tenant_id, id, radius_group, attributes) "
        "VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT (tenant_id, id) DO UPDATE "
        "SET radius_group = EXCLUDED.radius_group, "
        "attributes = EXCLUDED.attributes, updated_at = now() "
        "WHERE plans.radius_group <> EXCLUDED.radius_group "
        "OR plans.attributes <> EXCLUDED.attributes",
        tenant.tenant_id, p.id, group, plan_json(p, tenant.nas_vendor, rows));
    }
    if (tenant.walled_garden && !tenant.walled_garden_group.empty())
      sync_rows(w, "radgroupreply", "groupname", tenant.walled_garden_group,
                plan_rows(*tenant.walled_garden, tenant.nas_vendor));
  });
  if (!res)
    return res.error();
  return {};
}

caf::error store::sync_nas(const std::vector<nas_entry>& entries) {
  std::set<std::string> listed;
  std::vector<nas_entry> todo;
  for (auto e : entries) {
    auto address = canonical_nas_address(e.address);
    if (address.empty())
      return caf::make_error(errc::invalid_input, "NAS " + e.name
                                                    + ": invalid address "
                                                    + e.address);
    e.address = std::move(address);
    auto who = "NAS " + e.name + " (" + e.address + ")";
    if (e.name.empty())
      return caf::make_error(errc::invalid_input, who + ": empty name");
    if (e.secret.empty())
      return caf::make_error(errc::invalid_input, who + ": empty secret");
    if (e.coa_port == 0)
      return caf::make_error(errc::invalid_input, who + ": CoA port 0");
    if (!listed.insert(e.address).second)
      return caf::make_error(errc::invalid_input,
                             "NAS address " + e.address + " listed twice");
    todo.push_back(std::move(e));
  }
  auto res = impl_->tx([&](pqxx::work& w) {
    // Serialises concurrent syncs (a key space apart from the users').
    w.exec("SELECT pg_advisory_xact_lock(4243, 0)");
    for (const auto& e : todo) {
      auto type = e.vendor.empty() ? std::string{"other"} : e.vendor;
      auto rows = w.exec_params(
        "SELECT id, shortname, type, COALESCE(ports, 0), secret, "
        "COALESCE(description, '') = 'ispflow' FROM nas WHERE nasname = $1 "
        "ORDER BY id",
        e.address);
      for (const auto& row : rows)
        if (!row[5].as<bool>())
          throw input_error("NAS " + e.name + " (" + e.address
                            + ") already has a nas row ispflow did not write");
      if (rows.empty()) {
        w.exec_params("INSERT INTO nas (nasname, shortname, type, ports, "
                      "secret, description) VALUES ($1, $2, $3, $4, $5, "
                      "'ispflow')",
                      e.address, e.name, type, int{e.coa_port}, e.secret);
        continue;
      }
      const auto& row = rows[0];
      if (row[1].as<std::string>() != e.name || row[2].as<std::string>() != type
          || row[3].as<int64_t>() != e.coa_port
          || row[4].as<std::string>() != e.secret)
        w.exec_params("UPDATE nas SET shortname = $2, type = $3, ports = $4, "
                      "secret = $5 WHERE id = $1",
                      row[0].as<int64_t>(), e.name, type, int{e.coa_port},
                      e.secret);
      for (pqxx::result::size_type i = 1; i < rows.size(); ++i)
        w.exec_params("DELETE FROM nas WHERE id = $1",
                      rows[i][0].as<int64_t>());
    }
    for (const auto& row :
         w.exec("SELECT id, nasname FROM nas WHERE description = 'ispflow'"))
      if (listed.count(row[1].as<std::string>()) == 0)
        w.exec_params("DELETE FROM nas WHERE id = $1", row[0].as<int64_t>());
  });
  if (!res)
    return res.error();
  return {};
}

caf::expected<std::optional<account>>
store::find_account(const std::string& tenant_id,
                    const std::string& subscriber_id) {
  return impl_->read([&](pqxx::nontransaction& w) -> std::optional<account> {
    auto row = account_of(
      w.exec_prepared("radius_account_of", tenant_id, subscriber_id));
    if (!row)
      return std::nullopt;
    return row->acc;
  });
}

caf::expected<std::optional<sealed_credential>>
store::find_sealed_credential(const std::string& tenant_id,
                              const std::string& subscriber_id) {
  return impl_->read(
    [&](pqxx::nontransaction& w) -> std::optional<sealed_credential> {
      auto res
        = w.exec_params("SELECT username, password_sealed FROM radius_accounts "
                        "WHERE tenant_id = $1 AND subscriber_id = $2",
                        tenant_id, subscriber_id);
      if (res.empty())
        return std::nullopt;
      sealed_credential out;
      out.username = res[0][0].as<std::string>();
      if (!res[0][1].is_null())
        out.sealed = res[0][1].as<std::string>();
      return out;
    });
}

caf::expected<std::optional<account>>
store::find_account_by_username(const std::string& username) {
  return impl_->read([&](pqxx::nontransaction& w) -> std::optional<account> {
    auto row = account_by_username(w, username);
    if (!row)
      return std::nullopt;
    return row->acc;
  });
}

caf::expected<std::vector<std::string>>
store::groups(const std::string& username) {
  return impl_->tx([&](pqxx::work& w) { return load_groups(w, username); });
}

namespace {

// A session from `row`'s columns from `k` on (open_sessions_sql's order).
session session_of(const pqxx::row& row, int k, const std::string& username) {
  session s;
  s.username = username;
  s.nas_address = row[k].as<std::string>();
  s.acct_session_id = row[k + 1].as<std::string>();
  if (!row[k + 4].as<bool>())
    throw input_error("NAS " + s.nas_address + " (session " + s.acct_session_id
                      + ") is not in the nas table");
  s.framed_ip = row[k + 2].as<std::string>();
  s.nas_port_id = row[k + 3].as<std::string>();
  s.nas_secret = row[k + 5].as<std::string>();
  auto port = row[k + 6].as<int64_t>();
  if (port > 0 && port <= 65535)
    s.coa_port = static_cast<uint16_t>(port);
  s.nas_type = row[k + 7].as<std::string>();
  return s;
}

} // namespace

caf::expected<std::vector<session>>
store::open_sessions(const std::string& username,
                     const std::optional<owner>& who) {
  // Reads only: each statement sees what was committed when it started,
  // as it would inside a READ COMMITTED transaction.
  return impl_->read([&](pqxx::nontransaction& w) {
    std::vector<session> out;
    if (who
        && check_owner(load_user(w, username), username, who) == holder::nobody)
      return out;
    for (const auto& row : w.exec_prepared("radius_open_sessions", username))
      out.push_back(session_of(row, 0, username));
    return out;
  });
}

caf::expected<std::pair<std::string, std::vector<session>>>
store::open_sessions_of(const owner& who) {
  return impl_->read([&](pqxx::nontransaction& w) {
    std::pair<std::string, std::vector<session>> out;
    for (const auto& row : w.exec_prepared("radius_open_sessions_of",
                                           who.tenant_id, who.subscriber_id)) {
      out.first = row[0].as<std::string>();
      if (row[1].as<bool>())
        out.second.push_back(session_of(row, 2, out.first));
    }
    return out;
  });
}

caf::expected<int64_t>
store::count_open_sessions(const std::string& username,
                           const std::optional<owner>& who) {
  return impl_->read([&](pqxx::nontransaction& w) {
    if (who)
      check_owner(load_user(w, username), username, who);
    return w.exec_prepared("radius_count_open", username)[0][0].as<int64_t>();
  });
}

} // namespace ispflow::adapters::radius

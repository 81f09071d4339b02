#include "adapters/postgres/retention_store.hpp"

#include "adapters/postgres/session.hpp"

namespace ispflow::adapters::postgres {

namespace {

#define ISPFLOW_CUTOFF                                                         \
  "('epoch'::timestamptz + $1::bigint * interval '1 microsecond')"
#define ISPFLOW_FINISHED "('completed', 'compensated', 'cancelled')"

// Each purge picks its batch first (ids, oldest first, through an index on
// the age column), clears what refers to those rows, then deletes them, in
// one transaction. SKIP LOCKED: a row another transaction is changing
// waits for the next pass.

// Sagas before their input event; links of replays to them are cleared
// (the links stay, the saga they named is gone).
constexpr const char* pick_sagas
  = "SELECT id FROM sagas WHERE created_at < " ISPFLOW_CUTOFF
    " AND state IN " ISPFLOW_FINISHED
    " ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED";
constexpr const char* unlink_sagas
  = "WITH a AS (UPDATE sagas SET replay_of = NULL"
    "  WHERE replay_of = ANY($1::text[]) RETURNING 1),"
    " b AS (UPDATE inbox_links SET replay_of = NULL"
    "  WHERE replay_of = ANY($1::text[]) RETURNING 1)"
    " SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b)";
constexpr const char* delete_sagas
  = "DELETE FROM sagas WHERE id = ANY($1::text[])";

// Settled events only: skipped, or started a saga that is gone. An
// unstarted event (neither) is never picked.
constexpr const char* pick_inbox
  = "SELECT e.id FROM inbox e WHERE e.received_at < " ISPFLOW_CUTOFF
    " AND (e.skipped_reason IS NOT NULL OR e.saga_id IS NOT NULL)"
    " AND NOT EXISTS (SELECT 1 FROM sagas s WHERE s.inbox_id = e.id)"
    " ORDER BY e.received_at LIMIT $2 FOR UPDATE SKIP LOCKED";
constexpr const char* unlink_inbox = "UPDATE inbox_links SET redrive_of = NULL"
                                     " WHERE redrive_of = ANY($1::bigint[])";
constexpr const char* delete_inbox
  = "DELETE FROM inbox WHERE id = ANY($1::bigint[])";

constexpr const char* pick_outbox
  = "SELECT id FROM outbox WHERE published_at IS NOT NULL"
    " AND published_at < " ISPFLOW_CUTOFF
    " ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED";
constexpr const char* delete_outbox
  = "DELETE FROM outbox WHERE id = ANY($1::bigint[])";

constexpr const char* pick_dead_letters
  = "SELECT id FROM dead_letters"
    " WHERE (redriven_at IS NOT NULL OR dismissed_at IS NOT NULL)"
    " AND COALESCE(redriven_at, dismissed_at) < " ISPFLOW_CUTOFF
    " ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED";
constexpr const char* unlink_dead_letters
  = "UPDATE inbox_links SET dead_letter_id = NULL"
    " WHERE dead_letter_id = ANY($1::bigint[])";
constexpr const char* delete_dead_letters
  = "DELETE FROM dead_letters WHERE id = ANY($1::bigint[])";

constexpr const char* purge_timers
  = "DELETE FROM timers WHERE (saga_id, step, generation) IN ("
    " SELECT t.saga_id, t.step, t.generation FROM timers t"
    "   JOIN sagas s ON s.id = t.saga_id"
    "  WHERE t.due_at < " ISPFLOW_CUTOFF " AND s.state IN " ISPFLOW_FINISHED
    "  ORDER BY t.due_at LIMIT $2 FOR UPDATE OF t SKIP LOCKED)";

constexpr const char* purge_audit
  = "DELETE FROM admin_audit WHERE id IN ("
    " SELECT id FROM admin_audit WHERE at < " ISPFLOW_CUTOFF
    " ORDER BY at LIMIT $2 FOR UPDATE SKIP LOCKED)";

// Drift scans: finished before the cutoff (created before it too, which
// bounds the scan of drift_scans_created_idx), none of whose findings has a
// repair still to run: its inbox event (the scanner writes it as
// <scan>/<tenant>/<subscriber> of type ispflow.drift.repair for the
// finding's subscriber) not started, or its saga open. A finding whose
// `repair` is a refusal text names no event and holds nothing.
constexpr const char* pick_drift
  = "SELECT d.id FROM drift_scans d WHERE d.created_at < " ISPFLOW_CUTOFF
    " AND d.finished_at < " ISPFLOW_CUTOFF
    " AND d.state IN ('completed', 'failed')"
    " AND NOT EXISTS ("
    "  SELECT 1 FROM drift_findings f"
    "    JOIN inbox i ON i.tenant_id = f.tenant_id"
    "     AND i.subscriber_id = f.subscriber_id AND i.event_id = f.repair"
    "     AND i.type = 'ispflow.drift.repair'"
    "    LEFT JOIN sagas s ON s.id = i.saga_id"
    "   WHERE f.scan_id = d.id AND f.repair IS NOT NULL"
    "     AND ((i.saga_id IS NULL AND i.skipped_reason IS NULL)"
    "          OR s.state IN ('pending', 'running', 'compensating',"
    "                         'needs_attention')))"
    " ORDER BY d.created_at LIMIT $2 FOR UPDATE OF d SKIP LOCKED";
// At most $2 findings of the picked scans (the primary key's scan_id).
constexpr const char* delete_drift_findings
  = "DELETE FROM drift_findings WHERE ctid = ANY(ARRAY("
    " SELECT ctid FROM drift_findings WHERE scan_id = ANY($1::text[])"
    " LIMIT $2))";
constexpr const char* delete_drift_scans
  = "DELETE FROM drift_scans WHERE id = ANY($1::text[])";

#undef ISPFLOW_CUTOFF
#undef ISPFLOW_FINISHED

void prepare(pqxx::connection& conn) {
  {
    pqxx::nontransaction tx{conn};
    tx.exec("SET jit = off");
  }
  conn.prepare("ispflow_rt_pick_sagas", pick_sagas);
  conn.prepare("ispflow_rt_unlink_sagas", unlink_sagas);
  conn.prepare("ispflow_rt_delete_sagas", delete_sagas);
  conn.prepare("ispflow_rt_pick_inbox", pick_inbox);
  conn.prepare("ispflow_rt_unlink_inbox", unlink_inbox);
  conn.prepare("ispflow_rt_delete_inbox", delete_inbox);
  conn.prepare("ispflow_rt_pick_outbox", pick_outbox);
  conn.prepare("ispflow_rt_delete_outbox", delete_outbox);
  conn.prepare("ispflow_rt_pick_dead_letters", pick_dead_letters);
  conn.prepare("ispflow_rt_unlink_dead_letters", unlink_dead_letters);
  conn.prepare("ispflow_rt_delete_dead_letters", delete_dead_letters);
  conn.prepare("ispflow_rt_timers", purge_timers);
  conn.prepare("ispflow_rt_audit", purge_audit);
  conn.prepare("ispflow_rt_pick_drift", pick_drift);
  conn.prepare("ispflow_rt_delete_drift_findings", delete_drift_findings);
  conn.prepare("ispflow_rt_delete_drift_scans", delete_drift_scans);
}

// A PostgreSQL array literal of the first column of `rows` (ids are
// numbers or saga ids: quoted, with `"` and `\` escaped).
std::string array_of(const pqxx::result& rows) {
  std::string out = "{";
  for (auto row : rows) {
    if (out.size() > 1)
      out += ',';
    out += '"';
    for (char c : std::string_view{row[0].c_str()}) {
      if (c == '"' || c == '\\')
        out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

// pick, then (optionally) unlink, then delete, of one batch.
int64_t pick_and_delete(pqxx::work& w, const char* pick, const char* unlink,
                        const char* del, int64_t cutoff, int64_t limit) {
  auto rows = w.exec_prepared(pick, cutoff, limit);
  if (rows.empty())
    return 0;
  auto ids = array_of(rows);
  if (unlink != nullptr)
    w.exec_prepared(unlink, ids);
  return static_cast<int64_t>(w.exec_prepared(del, ids).affected_rows());
}

// One batch of drift scans: their findings first (at most `limit`), then
// the scans once none is left.
int64_t purge_drift(pqxx::work& w, int64_t cutoff, int64_t limit) {
  auto rows = w.exec_prepared("ispflow_rt_pick_drift", cutoff, limit);
  if (rows.empty())
    return 0;
  auto ids = array_of(rows);
  auto findings = static_cast<int64_t>(
    w.exec_prepared("ispflow_rt_delete_drift_findings", ids, limit)
      .affected_rows());
  if (findings >= limit)
    return findings; // more findings of these scans: the next batch
  return findings
         + static_cast<int64_t>(
           w.exec_prepared("ispflow_rt_delete_drift_scans", ids)
             .affected_rows());
}

} // namespace

std::string_view to_string(retention_table x) noexcept {
  switch (x) {
    case retention_table::inbox:
      return "inbox";
    case retention_table::outbox:
      return "outbox";
    case retention_table::dead_letters:
      return "dead_letters";
    case retention_table::sagas:
      return "sagas";
    case retention_table::timers:
      return "timers";
    case retention_table::audit:
      return "audit";
    case retention_table::drift:
      return "drift";
  }
  return "unknown";
}

const std::vector<retention_table>& retention_tables() {
  static const std::vector<retention_table> all{
    retention_table::timers,       retention_table::sagas,
    retention_table::inbox,        retention_table::outbox,
    retention_table::dead_letters, retention_table::audit,
    retention_table::drift};
  return all;
}

struct retention_store::impl {
  explicit impl(std::string dsn) : db(std::move(dsn), prepare) {
    // nop
  }
  detail::session db;
};

retention_store::retention_store(std::unique_ptr<impl> ptr)
  : impl_(std::move(ptr)) {
  // nop
}

retention_store::retention_store(retention_store&&) noexcept = default;
retention_store&
retention_store::operator=(retention_store&&) noexcept = default;
retention_store::~retention_store() = default;

caf::expected<retention_store>
retention_store::connect(const std::string& dsn) {
  auto ptr = std::make_unique<impl>(dsn);
  if (auto err = ptr->db.open())
    return err;
  return retention_store{std::move(ptr)};
}

caf::expected<int64_t>
retention_store::purge(retention_table table,
                       std::chrono::system_clock::time_point cutoff,
                       size_t limit) {
  auto us
    = std::chrono::floor<std::chrono::microseconds>(cutoff.time_since_epoch())
        .count();
  auto n = static_cast<int64_t>(limit);
  return impl_->db.run([&](pqxx::connection& conn) -> int64_t {
    pqxx::work w{conn};
    int64_t deleted = 0;
    switch (table) {
      case retention_table::sagas:
        deleted = pick_and_delete(w, "ispflow_rt_pick_sagas",
                                  "ispflow_rt_unlink_sagas",
                                  "ispflow_rt_delete_sagas", us, n);
        break;
      case retention_table::inbox:
        deleted = pick_and_delete(w, "ispflow_rt_pick_inbox",
                                  "ispflow_rt_unlink_inbox",
                                  "ispflow_rt_delete_inbox", us, n);
        break;
      case retention_table::outbox:
        deleted = pick_and_delete(w, "ispflow_rt_pick_outbox", nullptr,
                                  "ispflow_rt_delete_outbox", us, n);
        break;
      case retention_table::dead_letters:
        deleted = pick_and_delete(w, "ispflow_rt_pick_dead_letters",
                                  "ispflow_rt_unlink_dead_letters",
                                  "ispflow_rt_delete_dead_letters", us, n);
        break;
      case retention_table::timers:
        deleted = static_cast<int64_t>(
          w.exec_prepared("ispflow_rt_timers", us, n).affected_rows());
        break;
      case retention_table::audit:
        deleted = static_cast<int64_t>(
          w.exec_prepared("ispflow_rt_audit", us, n).affected_rows());
        break;
      case retention_table::drift:
        deleted = purge_drift(w, us, n);
        break;
    }
    w.commit();
    return deleted;
  });
}

} // namespace ispflow::adapters::postgres

#include "adapters/postgres/subscriber_record.hpp"

#include "adapters/postgres/codec.hpp"
#include "sagas/admission.hpp"
#include "sagas/repair_saga.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <rapidjson/document.h>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>

namespace ispflow::adapters::postgres::detail {

// Applies one round of subscriber changes (at most one per subscriber: one
// statement cannot touch a row twice), as common table expressions: `rx`
// the changes, `rw` their upsert. A new subscriber gets its row; an
// existing record is updated unless it already holds this saga's outcome,
// so a write repeated after an unknown commit outcome changes nothing.
// `guard` (" AND ..." or empty) conditions the write, e.g. on the partition
// fence of the statement it is part of (saga_store.cpp).
//
// One INSERT ... ON CONFLICT finds each subscriber through the primary key
// (the conflict arbiter), whatever the planner thinks of the table. An
// UPDATE joined to the changes, with an insert of the rest, left that to
// the planner, which takes json_to_recordset for 100 rows: its generic plan
// hashed the changes against two sequential scans of the whole table per
// write, below some 24,000 subscribers at first, and still at a thousand
// or so (a tenant's first weeks, and the end-to-end bench) once a key
// condition was added (docs/benchmarks.md, fifth and fifteenth rounds).
// The inserted row carries a change's values as a new record takes them;
// an update reads the one value it cannot get from `excluded` (the target
// state, NULL for "keep the state") from rx.
std::string record_ctes(int rows_param, std::string_view guard) {
  std::string g{guard};
  return R"sql(rx AS (
  SELECT * FROM json_to_recordset($)sql"
         + std::to_string(rows_param) + R"sql(::json) AS x(
    t text, s text, saga text, name text, outcome text, target text,
    service_type text, delta jsonb, at bigint)
), rw AS (
  INSERT INTO subscribers AS r (tenant_id, id, state, plan_id, service_type,
                                profile, radius_username, ip_address, onu_id,
                                cpe_id, nas_identifier, last_saga_id,
                                last_saga_name, last_outcome, created_at,
                                updated_at, version)
  SELECT x.t, x.s, COALESCE(x.target, 'none'), x.delta->>'plan_id',
         NULLIF(x.service_type, ''), x.delta,
         x.delta->>'credentials.username', x.delta->>'ip_address',
         x.delta->>'onu_id', x.delta->>'cpe_id',
         x.delta->>'access.nas_identifier', x.saga, x.name, x.outcome,
         'epoch'::timestamptz + x.at * interval '1 microsecond',
         'epoch'::timestamptz + x.at * interval '1 microsecond', 1
    FROM rx x
   WHERE true)sql"
         + g + R"sql(
  ON CONFLICT (tenant_id, id) DO UPDATE SET
    state = COALESCE((SELECT y.target FROM rx y
                       WHERE y.t = excluded.tenant_id AND y.s = excluded.id),
                     r.state),
    service_type = COALESCE(excluded.service_type, r.service_type),
    profile = r.profile || excluded.profile,
    plan_id = COALESCE(excluded.plan_id, r.plan_id),
    radius_username = COALESCE(excluded.radius_username, r.radius_username),
    ip_address = COALESCE(excluded.ip_address, r.ip_address),
    onu_id = COALESCE(excluded.onu_id, r.onu_id),
    cpe_id = COALESCE(excluded.cpe_id, r.cpe_id),
    nas_identifier = COALESCE(excluded.nas_identifier, r.nas_identifier),
    last_saga_id = excluded.last_saga_id,
    last_saga_name = excluded.last_saga_name,
    last_outcome = excluded.last_outcome,
    updated_at = excluded.updated_at,
    version = r.version + 1
  WHERE r.last_saga_id IS DISTINCT FROM excluded.last_saga_id
     OR r.last_outcome IS DISTINCT FROM excluded.last_outcome
  RETURNING 1
))sql";
}

namespace {

// The record's own statement: one round of changes in $1.
const std::string& record_sql() {
  static const std::string sql = "WITH " + record_ctes(1, "")
                                 + "\nSELECT count(*) FROM rw";
  return sql;
}

// Prepared on each saga store connection (prepare_subscriber_record),
// whose session replans now and then (saga_store.cpp): it ran once per
// activation, planned every time (0.5 ms at 100/s).
constexpr const char* record_name = "ispflow_subscriber_record";

bool finished(sagas::saga_state x) {
  using sagas::saga_state;
  return x == saga_state::completed || x == saga_state::compensated
         || x == saga_state::cancelled;
}

// The state saga `name` sets whatever the state before, or nothing when it
// leaves the state as it was (sagas::next_state applied to two states).
std::optional<sagas::subscriber_state> target_of(std::string_view name,
                                                 sagas::saga_state outcome) {
  using sagas::subscriber_state;
  auto a = sagas::next_state(subscriber_state::none, name, outcome);
  auto b = sagas::next_state(subscriber_state::active, name, outcome);
  if (a != b)
    return std::nullopt;
  return a;
}

// True for a saga that restores the network to the record (a drift
// repair): whatever its outcome, the record's state stays, and its profile
// but for what sagas::repair_record_fields names (the ONU's new device id).
bool restores_record(const sagas::saga_instance& inst) {
  return inst.name == sagas::repair_saga;
}

// Payload and succeeded step outputs of a completed saga, without secrets;
// of a repair, only sagas::repair_record_fields.
void append_delta(std::string& out, const sagas::saga_definition& def,
                  const sagas::saga_instance& inst) {
  std::map<std::string, std::string> delta;
  if (restores_record(inst)) {
    delta = sagas::repair_record_fields(def, inst);
  } else if (inst.state == sagas::saga_state::completed) {
    for (auto& [k, v] : inst.payload)
      delta[k] = v;
    for (auto& step : inst.steps)
      if (step.state == sagas::step_state::succeeded)
        for (auto& [k, v] : step.output)
          delta[k] = v;
  }
  out += '{';
  bool first = true;
  for (auto& [k, v] : delta) {
    if (is_secret_key(k))
      continue;
    if (!first)
      out += ',';
    first = false;
    append_json_text(out, k);
    out += ':';
    append_json_text(out, v);
  }
  out += '}';
}

} // namespace

bool is_secret_key(std::string_view key) noexcept {
  return sagas::is_secret_field(key);
}

namespace {

// The sagas of `batch` whose outcome goes into their subscriber's record.
std::vector<const sagas::saga_instance*>
changes_of(const sagas::saga_registry& registry,
           const std::vector<const saga_write*>& batch) {
  // The last element of each saga, in batch order of first appearance.
  std::unordered_map<std::string, size_t> last;
  std::vector<std::string> order;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto [it, added] = last.insert_or_assign(batch[i]->instance.id, i);
    if (added)
      order.push_back(batch[i]->instance.id);
  }
  std::vector<const sagas::saga_instance*> out;
  for (auto& id : order) {
    auto& inst = batch[last[id]]->instance;
    if (registry.find(inst.name, inst.version) == nullptr)
      continue; // write() refused it already
    if (finished(inst.state)
        || inst.state == sagas::saga_state::needs_attention)
      out.push_back(&inst);
  }
  return out;
}

} // namespace

namespace {

// changes_of, oldest first.
std::vector<const sagas::saga_instance*>
sorted_changes(const sagas::saga_registry& registry,
               const std::vector<const saga_write*>& batch) {
  auto changes = changes_of(registry, batch);
  std::sort(changes.begin(), changes.end(), [](auto* x, auto* y) {
    return std::tie(x->created_at, x->id) < std::tie(y->created_at, y->id);
  });
  return changes;
}

// One round of `changes` as the JSON array record_ctes reads, into `rows`;
// answers the changes left for a later round (a subscriber met twice).
std::vector<const sagas::saga_instance*>
one_round(std::string& rows, const sagas::saga_registry& registry,
          const std::vector<const sagas::saga_instance*>& changes) {
  std::set<std::pair<std::string, std::string>> seen;
  std::vector<const sagas::saga_instance*> later;
  rows = "[";
  for (auto* inst : changes) {
    if (!seen.emplace(inst->tenant_id, inst->subscriber_id).second) {
      later.push_back(inst);
      continue;
    }
    auto def = registry.find(inst->name, inst->version);
    auto outcome = sagas::settled_outcome(*def, *inst);
    // A saga in needs_attention has not ended: the subscriber's state
    // stays what admission saw until an operator settles it.
    auto settles = finished(inst->state);
    auto target = settles && !restores_record(*inst)
                    ? target_of(inst->name, outcome)
                    : std::nullopt;
    if (rows.size() > 1)
      rows += ',';
    rows += "{\"t\":";
    append_json_text(rows, inst->tenant_id);
    rows += ",\"s\":";
    append_json_text(rows, inst->subscriber_id);
    rows += ",\"saga\":";
    append_json_text(rows, inst->id);
    rows += ",\"name\":";
    append_json_text(rows, inst->name);
    // The saga's own state: a cancel of a saga in needs_attention is a
    // change even though both settle as needs_attention.
    rows += ",\"outcome\":";
    append_json_text(rows, sagas::to_string(inst->state));
    rows += ",\"target\":";
    if (target)
      append_json_text(rows, sagas::to_string(*target));
    else
      rows += "null";
    rows += ",\"service_type\":";
    append_json_text(rows, settles && !restores_record(*inst)
                             ? inst->service_type
                             : std::string{});
    rows += ",\"delta\":";
    append_delta(rows, *def, *inst);
    rows += ",\"at\":";
    rows += std::to_string(std::chrono::floor<std::chrono::microseconds>(
                             inst->updated_at.time_since_epoch())
                             .count());
    rows += '}';
  }
  rows += ']';
  return later;
}

} // namespace

void record_subscribers(pqxx::work& tx, const sagas::saga_registry& registry,
                        const std::vector<const saga_write*>& batch) {
  auto changes = sorted_changes(registry, batch);
  while (!changes.empty()) {
    std::string rows;
    changes = one_round(rows, registry, changes);
    tx.exec_prepared(record_name, rows);
  }
}

std::optional<std::string>
records_in_one_round(const sagas::saga_registry& registry,
                     const std::vector<const saga_write*>& batch) {
  std::string rows;
  auto changes = sorted_changes(registry, batch);
  if (!changes.empty() && !one_round(rows, registry, changes).empty())
    return std::nullopt;
  return rows;
}

subscriber_view subscriber_view_of(const pqxx::row& row, int first) {
  subscriber_view x;
  if (row[first].is_null()) {
    x.state = sagas::to_string(sagas::subscriber_state::none);
    return x;
  }
  x.state = row[first].as<std::string>();
  x.service_type = row[first + 1].as<std::string>();
  x.last_outcome = row[first + 3].as<std::string>();
  rapidjson::Document doc;
  doc.Parse(row[first + 2].c_str());
  if (doc.IsObject())
    for (auto& m : doc.GetObject())
      if (m.value.IsString())
        x.profile.emplace(
          std::string{m.name.GetString(), m.name.GetStringLength()},
          std::string{m.value.GetString(), m.value.GetStringLength()});
  return x;
}

void prepare_subscriber_record(pqxx::connection& conn) {
  conn.prepare(record_name, record_sql());
}

const char* subscriber_record_statement() noexcept {
  return record_sql().c_str();
}

} // namespace ispflow::adapters::postgres::detail

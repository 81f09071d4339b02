#include "adapters/postgres/operator_commands.hpp"

#include "adapters/postgres/fence.hpp"
#include "adapters/postgres/session.hpp"
#include "events/errc.hpp"

#include <algorithm>

namespace ispflow::adapters::postgres {

namespace {

#define ISPFLOW_US(x) "(extract(epoch FROM " x ") * 1000000)::bigint"

#define ISPFLOW_COMMAND_COLUMNS                                                        \
  "id, tenant_id, saga_id, kind, coalesce(kafka_partition, -1),"                       \
  " requested_by, state, coalesce(taken_by, ''), coalesce(epoch, 0),"                  \
  " coalesce(result, ''), coalesce(error_code, ''), coalesce(error, ''), " ISPFLOW_US( \
    "requested_at") ", coalesce(" ISPFLOW_US("finished_at") ", 0)"

// The saga's tenant and partition are copied from its row; the owners hear
// of the command when the insert commits.
constexpr const char* submit_sql
  = "WITH c AS (INSERT INTO operator_commands"
    " (id, tenant_id, saga_id, kind, kafka_partition, requested_by)"
    " SELECT $1, s.tenant_id, s.id, $3, s.kafka_partition, $4"
    " FROM sagas s WHERE s.id = $2 RETURNING *)"
    " SELECT " ISPFLOW_COMMAND_COLUMNS
    ", pg_notify('ispflow_operator_commands',"
    " coalesce(kafka_partition::text, '')) FROM c";

// A command its receiver ran itself (a replay), recorded once finished: it
// is never open, so no owner takes it and no crash leaves it taken.
constexpr const char* record_sql
  = "WITH c AS (INSERT INTO operator_commands"
    " (id, tenant_id, saga_id, kind, kafka_partition, requested_by, state,"
    " taken_by, epoch, taken_at, result, error_code, error, finished_at)"
    " SELECT $1, s.tenant_id, s.id, $3, s.kafka_partition, $4,"
    " CASE WHEN $7 = '' THEN 'done' ELSE 'failed' END, $5, 0, now(),"
    " nullif($6, ''), nullif($7, ''), nullif($8, ''), now()"
    " FROM sagas s WHERE s.id = $2 RETURNING *)"
    " SELECT " ISPFLOW_COMMAND_COLUMNS " FROM c";

constexpr const char* get_sql = "SELECT " ISPFLOW_COMMAND_COLUMNS
                                " FROM operator_commands WHERE id = $1";

// The fence of a take: the owner row, share-locked as a saga write locks it
// (adapters/postgres/saga_store.cpp), so a claim waits for the take and
// every take after the claim sees the new epoch.
constexpr const char* fence_sql
  = "SELECT instance_id, epoch FROM partition_owners WHERE partition = $1"
    " FOR KEY SHARE";

// Owners run retry and cancel; a replay is run by the instance that
// received it (it takes it at epoch 0), so an owner never takes one: it
// would mark it failed while the receiver writes its event.
constexpr const char* take_sql
  = "UPDATE operator_commands SET state = 'taken', taken_by = $2,"
    " epoch = $3, taken_at = now()"
    " WHERE id IN (SELECT id FROM operator_commands"
    "  WHERE kafka_partition = $1 AND kind IN ('retry', 'cancel')"
    "    AND (state = 'queued' OR (state = 'taken' AND epoch < $3))"
    "  ORDER BY requested_at LIMIT $4 FOR UPDATE SKIP LOCKED)"
    " RETURNING " ISPFLOW_COMMAND_COLUMNS;

// The same condition as take_sql's, per held partition and epoch, without
// the fence and the row locks.
constexpr const char* open_sql
  = "SELECT h.p FROM unnest($1::int[], $2::bigint[]) AS h(p, e)"
    " WHERE EXISTS (SELECT 1 FROM operator_commands c"
    "  WHERE c.kafka_partition = h.p AND c.kind IN ('retry', 'cancel')"
    "    AND (c.state = 'queued' OR (c.state = 'taken' AND c.epoch < h.e)))"
    " ORDER BY h.p";

constexpr const char* lock_one_sql
  = "SELECT coalesce(kafka_partition, -1) FROM operator_commands"
    " WHERE id = $1 AND state = 'queued' FOR UPDATE";

constexpr const char* take_one_sql
  = "UPDATE operator_commands SET state = 'taken', taken_by = $2,"
    " epoch = $3, taken_at = now() WHERE id = $1"
    " RETURNING " ISPFLOW_COMMAND_COLUMNS;

constexpr const char* finish_sql
  = "UPDATE operator_commands SET"
    " state = CASE WHEN $5 = '' THEN 'done' ELSE 'failed' END,"
    " result = nullif($4, ''), error_code = nullif($5, ''),"
    " error = nullif($6, ''), finished_at = now()"
    " WHERE id = $1 AND state = 'taken' AND taken_by = $2 AND epoch = $3";

std::chrono::system_clock::time_point from_us(int64_t us) {
  return std::chrono::system_clock::time_point{std::chrono::microseconds{us}};
}

operator_command row_of(const pqxx::row& r) {
  operator_command c;
  c.id = r[0].as<std::string>();
  c.tenant_id = r[1].as<std::string>();
  c.saga_id = r[2].as<std::string>();
  c.kind = r[3].as<std::string>();
  c.partition = r[4].as<int32_t>();
  c.requested_by = r[5].as<std::string>();
  c.state = r[6].as<std::string>();
  c.taken_by = r[7].as<std::string>();
  c.epoch = r[8].as<int64_t>();
  c.result = r[9].as<std::string>();
  c.error_code = r[10].as<std::string>();
  c.error = r[11].as<std::string>();
  c.requested_at = from_us(r[12].as<int64_t>());
  auto fin = r[13].as<int64_t>();
  if (fin != 0)
    c.finished_at = from_us(fin);
  return c;
}

void prepare(pqxx::connection& conn, bool listen) {
  {
    pqxx::nontransaction tx{conn};
    // A take waits for a claim in flight, not for ever.
    tx.exec("SET lock_timeout = '10s'");
    // A take share-locks the partition's owner row: a process paused inside
    // one (SIGSTOP, a long stall) would hold the next owner's claim off for
    // as long as it stays paused. The server ends such a session instead;
    // every transaction here is a few statements with nothing in between.
    tx.exec("SET idle_in_transaction_session_timeout = '2s'");
    if (listen)
      tx.exec(std::string{"LISTEN "} + operator_commands_channel);
  }
  conn.prepare("ispflow_cmd_submit", submit_sql);
  conn.prepare("ispflow_cmd_record", record_sql);
  conn.prepare("ispflow_cmd_get", get_sql);
  conn.prepare("ispflow_cmd_fence", fence_sql);
  conn.prepare("ispflow_cmd_take", take_sql);
  conn.prepare("ispflow_cmd_open", open_sql);
  conn.prepare("ispflow_cmd_lock_one", lock_one_sql);
  conn.prepare("ispflow_cmd_take_one", take_one_sql);
  conn.prepare("ispflow_cmd_finish", finish_sql);
}

// Why `instance` does not hold `partition` at `epoch` ("" = it does).
std::string check_fence(pqxx::transaction_base& tx, int32_t partition,
                        const std::string& instance, int64_t epoch) {
  auto rows = tx.exec_prepared("ispflow_cmd_fence", partition);
  auto why = "partition " + std::to_string(partition) + " taken under epoch "
             + std::to_string(epoch);
  if (rows.empty())
    return why + ", but nobody claimed it";
  auto holder = rows[0][0].as<std::string>();
  auto held = rows[0][1].as<int64_t>();
  if (holder == instance && held == epoch)
    return {};
  return why + ", but " + (holder.empty() ? std::string{"nobody"} : holder)
         + " holds epoch " + std::to_string(held);
}

} // namespace

struct operator_command_store::impl {
  impl(std::string dsn, bool listen)
    : db(std::move(dsn),
         [listen](pqxx::connection& conn) { prepare(conn, listen); }) {
    // nop
  }
  detail::session db;
};

operator_command_store::operator_command_store(std::unique_ptr<impl> ptr)
  : impl_(std::move(ptr)) {
  // nop
}

operator_command_store::operator_command_store(
  operator_command_store&&) noexcept = default;
operator_command_store&
operator_command_store::operator=(operator_command_store&&) noexcept = default;
operator_command_store::~operator_command_store() = default;

caf::expected<operator_command_store>
operator_command_store::connect(const std::string& dsn, bool listen) {
  auto ptr = std::make_unique<impl>(dsn, listen);
  if (auto err = ptr->db.open())
    return err;
  return operator_command_store{std::move(ptr)};
}

caf::expected<std::optional<operator_command>>
operator_command_store::submit(const std::string& id,
                               const std::string& saga_id,
                               const std::string& kind,
                               const std::string& requested_by) {
  return impl_->db.run(
    [&](pqxx::connection& conn) -> std::optional<operator_command> {
      pqxx::work w{conn};
      auto rows = w.exec_prepared("ispflow_cmd_submit", id, saga_id, kind,
                                  requested_by);
      w.commit();
      if (rows.empty())
        return std::nullopt;
      return row_of(rows[0]);
    });
}

caf::expected<std::optional<operator_command>> operator_command_store::record(
  const std::string& id, const std::string& saga_id, const std::string& kind,
  const std::string& requested_by, const std::string& instance,
  const std::string& result, const std::string& error_code,
  const std::string& error) {
  return impl_->db.run(
    [&](pqxx::connection& conn) -> std::optional<operator_command> {
      pqxx::work w{conn};
      auto rows = w.exec_prepared("ispflow_cmd_record", id, saga_id, kind,
                                  requested_by, instance, result, error_code,
                                  error);
      w.commit();
      if (rows.empty())
        return std::nullopt;
      return row_of(rows[0]);
    });
}

caf::expected<std::optional<operator_command>>
operator_command_store::get(const std::string& id) {
  return impl_->db.run(
    [&](pqxx::connection& conn) -> std::optional<operator_command> {
      pqxx::read_transaction r{conn};
      auto rows = r.exec_prepared("ispflow_cmd_get", id);
      if (rows.empty())
        return std::nullopt;
      return row_of(rows[0]);
    });
}

caf::expected<std::vector<operator_command>>
operator_command_store::take(const std::string& instance, int32_t partition,
                             int64_t epoch, size_t limit) {
  auto res
    = impl_->db.run([&](pqxx::connection& conn)
                      -> std::pair<std::string, std::vector<operator_command>> {
        pqxx::work w{conn};
        if (auto stale = check_fence(w, partition, instance, epoch);
            !stale.empty())
          return {std::move(stale), {}};
        std::vector<operator_command> out;
        for (auto row : w.exec_prepared("ispflow_cmd_take", partition, instance,
                                        epoch, static_cast<int64_t>(limit)))
          out.push_back(row_of(row));
        w.commit();
        return {std::string{}, std::move(out)};
      });
  if (!res)
    return std::move(res.error());
  if (!res->first.empty())
    return caf::make_error(errc::stale_epoch, std::move(res->first));
  std::sort(res->second.begin(), res->second.end(),
            [](auto& a, auto& b) { return a.requested_at < b.requested_at; });
  return std::move(res->second);
}

caf::expected<std::vector<int32_t>> operator_command_store::with_open_commands(
  const std::map<int32_t, int64_t>& held) {
  if (held.empty())
    return std::vector<int32_t>{};
  auto [parts, epochs] = detail::fence_arrays(held);
  return impl_->db.run([&](pqxx::connection& conn) {
    pqxx::nontransaction n{conn};
    std::vector<int32_t> out;
    for (auto row : n.exec_prepared("ispflow_cmd_open", parts, epochs))
      out.push_back(row[0].as<int32_t>());
    return out;
  });
}

caf::expected<std::optional<operator_command>>
operator_command_store::take_one(const std::string& id,
                                 const std::string& instance, int64_t epoch) {
  auto res = impl_->db.run(
    [&](pqxx::connection& conn)
      -> std::pair<std::string, std::optional<operator_command>> {
      pqxx::work w{conn};
      auto open = w.exec_prepared("ispflow_cmd_lock_one", id);
      if (open.empty())
        return {std::string{}, std::nullopt};
      auto partition = open[0][0].as<int32_t>();
      if (epoch > 0 && partition >= 0)
        if (auto stale = check_fence(w, partition, instance, epoch);
            !stale.empty())
          return {std::move(stale), std::nullopt};
      auto row = w.exec_prepared1("ispflow_cmd_take_one", id, instance, epoch);
      auto out = row_of(row);
      w.commit();
      return {std::string{}, std::move(out)};
    });
  if (!res)
    return std::move(res.error());
  if (!res->first.empty())
    return caf::make_error(errc::stale_epoch, std::move(res->first));
  return std::move(res->second);
}

caf::expected<bool>
operator_command_store::finish(const std::string& id,
                               const std::string& instance, int64_t epoch,
                               const std::string& result,
                               const std::string& error_code,
                               const std::string& error) {
  return impl_->db.run([&](pqxx::connection& conn) {
    pqxx::work w{conn};
    auto res = w.exec_prepared("ispflow_cmd_finish", id, instance, epoch,
                               result, error_code, error);
    w.commit();
    return res.affected_rows() == 1;
  });
}

caf::expected<bool>
operator_command_store::wait(std::chrono::milliseconds max) {
  return impl_->db.run([&](pqxx::connection& conn) {
    auto us = max.count() * 1000;
    return conn.await_notification(us / 1'000'000, us % 1'000'000) > 0;
  });
}

} // namespace ispflow::adapters::postgres

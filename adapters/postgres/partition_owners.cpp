#include "adapters/postgres/partition_owners.hpp"

#include "adapters/postgres/session.hpp"

namespace ispflow::adapters::postgres {

namespace {

// A claim locks the owner row FOR UPDATE before raising the epoch: that
// lock conflicts with the FOR KEY SHARE fence of every saga write in
// flight (adapters/postgres/saga_store.cpp), so the claim commits only
// after them, and writes that come later see the new epoch.
constexpr const char* lock_sql
  = "SELECT epoch FROM partition_owners WHERE partition = $1 FOR UPDATE";

constexpr const char* claim_sql = R"sql(
INSERT INTO partition_owners AS o
       (partition, instance_id, epoch, claimed_at, heartbeat_at)
VALUES ($1, $2, 1, now(), now())
ON CONFLICT (partition) DO UPDATE SET
  instance_id = excluded.instance_id, epoch = o.epoch + 1,
  claimed_at = now(), heartbeat_at = now()
RETURNING epoch
)sql";

constexpr const char* heartbeat_sql = R"sql(
WITH i AS (
  INSERT INTO cluster_instances AS c
         (instance_id, started_at, heartbeat_at, relay)
  VALUES ($1, now(), now(), $3)
  ON CONFLICT (instance_id) DO UPDATE SET
    heartbeat_at = now(), relay = excluded.relay, stopped_at = NULL
)
UPDATE partition_owners o SET heartbeat_at = now()
  FROM json_to_recordset($2::json) AS h(p int, e bigint)
 WHERE o.partition = h.p AND o.epoch = h.e AND o.instance_id = $1
RETURNING o.partition
)sql";

constexpr const char* release_sql = R"sql(
UPDATE partition_owners o SET instance_id = '', heartbeat_at = now()
  FROM json_to_recordset($2::json) AS h(p int, e bigint)
 WHERE o.partition = h.p AND o.epoch = h.e AND o.instance_id = $1
RETURNING o.partition
)sql";

constexpr const char* stopped_sql
  = "UPDATE cluster_instances SET stopped_at = now(), relay = false"
    " WHERE instance_id = $1";

#define ISPFLOW_US(x) "(extract(epoch FROM " x ") * 1000000)::bigint"

constexpr const char* owners_sql
  = "SELECT partition, instance_id, epoch, " ISPFLOW_US("claimed_at") ", " ISPFLOW_US(
    "heartbeat_at") " FROM partition_owners ORDER BY partition";

constexpr const char* instances_sql
  = "SELECT instance_id, " ISPFLOW_US("started_at") ", " ISPFLOW_US(
    "heartbeat_at") ", relay, stopped_at IS NOT NULL"
                    " FROM cluster_instances ORDER BY instance_id";

void prepare(pqxx::connection& conn) {
  {
    // A claim waits for the saga writes in flight, not for ever: it is
    // tried again at the next heartbeat. A keeper paused inside its claim
    // transaction (SIGSTOP, a stall) must not hold the owner rows: the
    // server ends that transaction, so the next owner's claim goes on.
    pqxx::nontransaction tx{conn};
    tx.exec("SET lock_timeout = '1s'");
    tx.exec("SET idle_in_transaction_session_timeout = '2s'");
  }
  conn.prepare("ispflow_owner_lock", lock_sql);
  conn.prepare("ispflow_owner_claim", claim_sql);
  conn.prepare("ispflow_owner_heartbeat", heartbeat_sql);
  conn.prepare("ispflow_owner_release", release_sql);
  conn.prepare("ispflow_owner_stopped", stopped_sql);
  conn.prepare("ispflow_owner_list", owners_sql);
  conn.prepare("ispflow_instance_list", instances_sql);
}

std::string held_json(const std::map<int32_t, int64_t>& held) {
  std::string out = "[";
  for (auto& [p, e] : held) {
    if (out.size() > 1)
      out += ',';
    out += "{\"p\":" + std::to_string(p) + ",\"e\":" + std::to_string(e) + "}";
  }
  out += ']';
  return out;
}

std::chrono::system_clock::time_point from_us(int64_t us) {
  return std::chrono::system_clock::time_point{std::chrono::microseconds{us}};
}

} // namespace

struct partition_owners::impl {
  explicit impl(std::string dsn) : db(std::move(dsn), prepare) {
    // nop
  }
  detail::session db;
};

partition_owners::partition_owners(std::unique_ptr<impl> ptr)
  : impl_(std::move(ptr)) {
  // nop
}

partition_owners::partition_owners(partition_owners&&) noexcept = default;
partition_owners&
partition_owners::operator=(partition_owners&&) noexcept = default;
partition_owners::~partition_owners() = default;

caf::expected<partition_owners>
partition_owners::connect(const std::string& dsn) {
  auto ptr = std::make_unique<impl>(dsn);
  if (auto err = ptr->db.open())
    return err;
  return partition_owners{std::move(ptr)};
}

caf::expected<int64_t> partition_owners::claim(const std::string& instance,
                                               int32_t partition) {
  return impl_->db.run([&](pqxx::connection& conn) {
    pqxx::work w{conn};
    w.exec_prepared("ispflow_owner_lock", partition);
    auto row = w.exec_prepared1("ispflow_owner_claim", partition, instance);
    auto epoch = row[0].as<int64_t>();
    w.commit();
    return epoch;
  });
}

caf::expected<std::vector<int32_t>>
partition_owners::heartbeat(const std::string& instance,
                            const std::map<int32_t, int64_t>& held,
                            bool relay) {
  return impl_->db.run([&](pqxx::connection& conn) {
    // One statement in autocommit: no transaction stays open between it
    // and a COMMIT, holding the owner rows, if the process pauses there.
    pqxx::nontransaction w{conn};
    std::vector<int32_t> out;
    for (auto row : w.exec_prepared("ispflow_owner_heartbeat", instance,
                                    held_json(held), relay))
      out.push_back(row[0].as<int32_t>());
    return out;
  });
}

caf::expected<std::vector<int32_t>>
partition_owners::release(const std::string& instance,
                          const std::map<int32_t, int64_t>& held,
                          bool stopping) {
  return impl_->db.run([&](pqxx::connection& conn) {
    pqxx::work w{conn};
    std::vector<int32_t> out;
    for (auto row :
         w.exec_prepared("ispflow_owner_release", instance, held_json(held)))
      out.push_back(row[0].as<int32_t>());
    if (stopping)
      w.exec_prepared("ispflow_owner_stopped", instance);
    w.commit();
    return out;
  });
}

caf::expected<std::vector<partition_owner_row>> partition_owners::owners() {
  return impl_->db.run([&](pqxx::connection& conn) {
    pqxx::read_transaction r{conn};
    std::vector<partition_owner_row> out;
    for (auto row : r.exec_prepared("ispflow_owner_list"))
      out.push_back({row[0].as<int32_t>(), row[1].as<std::string>(),
                     row[2].as<int64_t>(), from_us(row[3].as<int64_t>()),
                     from_us(row[4].as<int64_t>())});
    return out;
  });
}

caf::expected<std::vector<cluster_instance_row>> partition_owners::instances() {
  return impl_->db.run([&](pqxx::connection& conn) {
    pqxx::read_transaction r{conn};
    std::vector<cluster_instance_row> out;
    for (auto row : r.exec_prepared("ispflow_instance_list"))
      out.push_back({row[0].as<std::string>(), from_us(row[1].as<int64_t>()),
                     from_us(row[2].as<int64_t>()), row[3].as<bool>(),
                     row[4].as<bool>()});
    return out;
  });
}

} // namespace ispflow::adapters::postgres

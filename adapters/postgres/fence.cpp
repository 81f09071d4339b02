#include "adapters/postgres/fence.hpp"

#include <pqxx/pqxx>

namespace ispflow::adapters::postgres::detail {

namespace {

// Rows in partition order; claims lock one row each, so no deadlock.
constexpr const char* fence_sql = R"sql(
SELECT partition, instance_id, epoch FROM partition_owners
 WHERE partition = ANY($1::int[])
 ORDER BY partition
   FOR KEY SHARE
)sql";

constexpr const char* fence_name = "ispflow_partition_fence";

// The same for one partition, the usual case (a RADIUS write is one saga's).
// PostgreSQL planned the array form on every call (0.12 ms, ten times its
// execution): its generic plan, costed for an array of unknown length, never
// beat a custom one. This one's generic plan is the custom plan.
constexpr const char* fence_one_sql = R"sql(
SELECT partition, instance_id, epoch FROM partition_owners
 WHERE partition = $1::int
   FOR KEY SHARE
)sql";

constexpr const char* fence_one_name = "ispflow_partition_fence_one";

} // namespace

void add_fence(partition_fences& fences, int32_t partition, int64_t epoch) {
  if (epoch <= 0 || partition < 0)
    return;
  auto [i, added] = fences.try_emplace(partition, epoch);
  if (!added && i->second != epoch)
    i->second = -1;
}

void prepare_fence(pqxx::connection_base& conn) {
  conn.prepare(fence_name, fence_sql);
  conn.prepare(fence_one_name, fence_one_sql);
}

std::string fence_ctes(int parts, int epochs, int instance) {
  auto arg = [](int n) { return "$" + std::to_string(n); };
  // `bad` reads every row of `f` (each is one of the partitions listed), so
  // all of them are locked before any write of the statement is judged.
  return "f AS (SELECT partition, instance_id, epoch FROM partition_owners"
         " WHERE partition = ANY("
         + arg(parts)
         + "::int[]) ORDER BY partition FOR KEY SHARE),"
           " bad AS (SELECT e.p, e.ep, f.partition IS NOT NULL AS claimed,"
           " f.instance_id, f.epoch FROM unnest("
         + arg(parts) + "::int[], " + arg(epochs)
         + "::bigint[]) AS e(p, ep) LEFT JOIN f ON f.partition = e.p"
           " WHERE f.partition IS NULL OR f.instance_id IS DISTINCT FROM "
         + arg(instance) + "::text OR f.epoch <> e.ep)";
}

std::pair<std::string, std::string>
fence_arrays(const partition_fences& fences) {
  std::string parts = "{";
  std::string epochs = "{";
  for (auto& [p, e] : fences) {
    if (parts.size() > 1) {
      parts += ',';
      epochs += ',';
    }
    parts += std::to_string(p);
    epochs += std::to_string(e);
  }
  parts += '}';
  epochs += '}';
  return {std::move(parts), std::move(epochs)};
}

std::string stale_reason(int32_t partition, int64_t epoch,
                         const std::string* holder, int64_t held_epoch) {
  auto why = "partition " + std::to_string(partition) + " written under epoch "
             + std::to_string(epoch);
  if (holder == nullptr)
    return why + ", but nobody claimed it";
  return why + ", but " + (holder->empty() ? "nobody" : *holder)
         + " holds epoch " + std::to_string(held_epoch);
}

std::string check_fences(pqxx::transaction_base& tx,
                         const partition_fences& fences,
                         const std::string& instance) {
  if (fences.empty())
    return {};
  std::map<int32_t, std::pair<std::string, int64_t>> held;
  auto rows = fences.size() == 1
                ? tx.exec_prepared(fence_one_name, fences.begin()->first)
                : tx.exec_prepared(fence_name, fence_arrays(fences).first);
  for (auto row : rows)
    held.emplace(row[0].as<int32_t>(),
                 std::pair{row[1].as<std::string>(), row[2].as<int64_t>()});
  for (auto& [p, e] : fences) {
    auto i = held.find(p);
    if (i != held.end() && i->second.first == instance && i->second.second == e)
      continue;
    if (i == held.end())
      return stale_reason(p, e, nullptr, 0);
    return stale_reason(p, e, &i->second.first, i->second.second);
  }
  return {};
}

} // namespace ispflow::adapters::postgres::detail

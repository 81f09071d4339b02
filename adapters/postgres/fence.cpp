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
}

std::string check_fences(pqxx::transaction_base& tx,
                         const partition_fences& fences,
                         const std::string& instance) {
  if (fences.empty())
    return {};
  std::string parts = "{";
  for (auto& [p, e] : fences) {
    if (parts.size() > 1)
      parts += ',';
    parts += std::to_string(p);
  }
  parts += '}';
  std::map<int32_t, std::pair<std::string, int64_t>> held;
  for (auto row : tx.exec_prepared(fence_name, parts))
    held.emplace(row[0].as<int32_t>(),
                 std::pair{row[1].as<std::string>(), row[2].as<int64_t>()});
  for (auto& [p, e] : fences) {
    auto i = held.find(p);
    if (i != held.end() && i->second.first == instance && i->second.second == e)
      continue;
    auto why = "partition " + std::to_string(p) + " written under epoch "
               + std::to_string(e);
    if (i == held.end())
      return why + ", but nobody claimed it";
    return why + ", but "
           + (i->second.first.empty() ? "nobody" : i->second.first)
           + " holds epoch " + std::to_string(i->second.second);
  }
  return {};
}

} // namespace ispflow::adapters::postgres::detail

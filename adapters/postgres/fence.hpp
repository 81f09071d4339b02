#pragma once

// The partition fence (schema/0010_cluster.sql), checked inside the
// transaction of every write an owner of a partition makes for it: saga
// rows (saga_store.cpp) and FreeRADIUS's tables
// (adapters/radius/provisioning.cpp). A private detail of the PostgreSQL
// writers: it names libpqxx types, so only their .cpp files include it.

#include <cstdint>
#include <map>
#include <pqxx/connection_base>
#include <pqxx/transaction_base>
#include <string>

namespace ispflow::adapters::postgres::detail {

/// The epoch each fenced partition is written under.
using partition_fences = std::map<int32_t, int64_t>;

/// Adds `partition` at `epoch` to `fences`; nothing for an unfenced write
/// (epoch 0, no partition). Two writes of one transaction under different
/// epochs of one partition: the lower one is stale, and -1 makes sure the
/// transaction is refused.
void add_fence(partition_fences& fences, int32_t partition, int64_t epoch);

/// Prepares the fence's statement on `conn`, with the connection's others.
void prepare_fence(pqxx::connection_base& conn);

/// Share-locks the owner rows of `fences` until `tx` ends and checks that
/// `instance` holds each partition at its epoch; returns why not ("" = it
/// does). A claim by the next owner locks its row FOR UPDATE, so it waits
/// for the transactions in flight, and those after it see the new epoch.
/// Heartbeats (updates of heartbeat_at) do not conflict. A session that
/// holds the lock paused (SIGSTOP) must be ended by the server:
/// set idle_in_transaction_session_timeout on the connection.
std::string check_fences(pqxx::transaction_base& tx,
                         const partition_fences& fences,
                         const std::string& instance);

} // namespace ispflow::adapters::postgres::detail

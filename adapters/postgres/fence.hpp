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
#include <utility>

namespace ispflow::adapters::postgres::detail {

/// The epoch each fenced partition is written under.
using partition_fences = std::map<int32_t, int64_t>;

/// Adds `partition` at `epoch` to `fences`; nothing for an unfenced write
/// (epoch 0, no partition). Two writes of one transaction under different
/// epochs of one partition: the lower one is stale, and -1 makes sure the
/// transaction is refused.
void add_fence(partition_fences& fences, int32_t partition, int64_t epoch);

/// Prepares the fence's statements on `conn`, with the connection's others.
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

/// The same check inside one statement, for a write that is a single
/// statement: two common table expressions, `f` (the owner rows,
/// share-locked as by check_fences) and `bad` (columns p, ep, claimed,
/// instance_id, epoch: each fenced partition `instance` does not hold at
/// its epoch). `parts` and `epochs` number the statement's parameters that
/// take fence_arrays(); `instance` the one that names this instance. Every
/// write of the statement must be guarded by NOT EXISTS (SELECT 1 FROM bad).
std::string fence_ctes(int parts, int epochs, int instance);

/// The partitions of `fences` and their epochs as two PostgreSQL array
/// literals (int[], bigint[]) in the same order.
std::pair<std::string, std::string>
fence_arrays(const partition_fences& fences);

/// Why a write under `epoch` of `partition` is refused: `holder` holds the
/// partition at `held_epoch` (null: nobody ever claimed it).
std::string stale_reason(int32_t partition, int64_t epoch,
                         const std::string* holder, int64_t held_epoch);

} // namespace ispflow::adapters::postgres::detail

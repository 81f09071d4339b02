#pragma once

// The refresh of a connection's cached query plans, shared by the
// PostgreSQL stores' sessions (session.hpp) and the RADIUS adapter's SQL
// connection (adapters/radius/provisioning.cpp). A private detail of the
// PostgreSQL writers: it names libpqxx types, so only their .cpp files
// include it.

#include <chrono>
#include <cstdint>
#include <pqxx/connection>

namespace ispflow::adapters::postgres::detail {

/// When a connection drops its cached plans (DISCARD PLANS; its prepared
/// statements stay): `first` after it opened, then after twice as long
/// each time, at most every `most`; never when `first` is 0. A prepared
/// statement keeps the generic plan it settled on after five executions
/// until its tables are analyzed; made while they were nearly empty (a new
/// database, a benchmark's first seconds) that plan scans them
/// sequentially as they grow. Replanned, it sees their size: the planner
/// scales a table's row estimate by its pages now.
class replan_schedule {
public:
  replan_schedule() = default;
  replan_schedule(std::chrono::milliseconds first,
                  std::chrono::milliseconds most);

  /// A new connection: the first drop is `first` from now.
  void restart();

  /// Drops the cached plans of `conn` when due.
  void run_if_due(pqxx::connection& conn);

  /// How often the plans were dropped.
  uint64_t count() const noexcept {
    return count_;
  }

private:
  std::chrono::milliseconds first_{0};
  std::chrono::milliseconds most_{0};
  std::chrono::milliseconds wait_{0};
  std::chrono::steady_clock::time_point at_;
  uint64_t count_ = 0;
};

} // namespace ispflow::adapters::postgres::detail

#pragma once

#include <caf/error.hpp>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace ispflow::adapters::resilience {

/// Concurrency limits, per key (a tenant, or a NAS).
struct limiter_config {
  /// Calls in flight per key unless `per_key` says otherwise; 0 = no limit.
  int32_t max_concurrent = 64;
  /// Overrides by key.
  std::map<std::string, int32_t> per_key;
  /// What a rejection suggests as the wait before asking again.
  std::chrono::milliseconds retry_after{500};

  friend bool operator==(const limiter_config&, const limiter_config&)
    = default;
};

/// Checks the ranges; an error names the bad key.
caf::error validate(const limiter_config& cfg);

/// One granted slot; give it back with `release`.
struct limiter_lease {
  /// The key it counts against.
  std::string key;
  /// Unique per limiter; 0 = no lease (an empty lease releases nothing).
  uint64_t id = 0;

  /// True if it holds a slot.
  explicit operator bool() const noexcept {
    return id != 0;
  }
};

/// One key's usage.
struct limiter_usage {
  std::string key;
  int32_t in_flight = 0;
  /// 0 = no limit.
  int32_t limit = 0;
  /// Rejections since start.
  int64_t rejected = 0;
};

/// Caps the calls in flight per key. A full key rejects (the caller parks
/// and asks again after `retry_after`); it does not queue. Thread-safe.
class concurrency_limiter {
public:
  /// A limiter with no calls in flight.
  explicit concurrency_limiter(limiter_config cfg = {});

  /// A slot for `key`, or nothing if `key` is at its limit.
  std::optional<limiter_lease> try_acquire(const std::string& key);

  /// Frees the slot; releasing the same lease twice (or an empty one) does
  /// nothing.
  void release(const limiter_lease& lease);

  /// The limit of `key` (0 = none).
  int32_t limit(const std::string& key) const;

  /// Calls in flight for `key`.
  int32_t in_flight(const std::string& key) const;

  /// The wait a rejection suggests.
  std::chrono::milliseconds retry_after() const noexcept {
    return cfg_.retry_after;
  }

  /// Usage of every key seen so far, ordered by key.
  std::vector<limiter_usage> usage() const;

  /// Counts calls of `key` waiting for a slot (slot_queue): +1 when one
  /// starts waiting, -1 when it stops.
  void add_waiting(const std::string& key, int32_t delta);

  /// Calls of `key` waiting for a slot.
  int32_t waiting(const std::string& key) const;

  /// True if `key` has a limit and at least as many calls waiting for a
  /// slot as the limit: new work for it would only wait longer (the saga
  /// router then leaves the tenant's new events in the inbox).
  bool saturated(const std::string& key) const;

private:
  struct entry {
    std::vector<uint64_t> leases;
    int64_t rejected = 0;
    int32_t waiting = 0;
  };

  limiter_config cfg_;
  mutable std::mutex mtx_;
  uint64_t next_id_ = 1;
  std::map<std::string, entry> entries_;
};

} // namespace ispflow::adapters::resilience

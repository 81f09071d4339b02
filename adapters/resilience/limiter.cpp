#include "adapters/resilience/limiter.hpp"

#include "events/errc.hpp"

#include <algorithm>

namespace ispflow::adapters::resilience {

caf::error validate(const limiter_config& cfg) {
  if (cfg.max_concurrent < 0)
    return caf::make_error(errc::invalid_config,
                           std::string{"limits.max_concurrent must be >= 0"});
  for (const auto& [key, n] : cfg.per_key)
    if (n < 0)
      return caf::make_error(errc::invalid_config,
                             "limits." + key + " must be >= 0");
  if (cfg.retry_after.count() < 1)
    return caf::make_error(errc::invalid_config,
                           std::string{"limits.retry_after must be >= 1 ms"});
  return {};
}

concurrency_limiter::concurrency_limiter(limiter_config cfg)
  : cfg_(std::move(cfg)) {
  cfg_.retry_after = std::max(cfg_.retry_after, std::chrono::milliseconds{1});
}

int32_t concurrency_limiter::limit(const std::string& key) const {
  if (auto i = cfg_.per_key.find(key); i != cfg_.per_key.end())
    return std::max(i->second, 0);
  return std::max(cfg_.max_concurrent, 0);
}

std::optional<limiter_lease>
concurrency_limiter::try_acquire(const std::string& key) {
  auto cap = limit(key);
  std::lock_guard<std::mutex> guard{mtx_};
  auto& e = entries_[key];
  if (cap > 0 && e.leases.size() >= static_cast<size_t>(cap)) {
    ++e.rejected;
    return std::nullopt;
  }
  auto id = next_id_++;
  e.leases.push_back(id);
  return limiter_lease{key, id};
}

void concurrency_limiter::release(const limiter_lease& lease) {
  if (!lease)
    return;
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(lease.key);
  if (i == entries_.end())
    return;
  auto& ids = i->second.leases;
  if (auto j = std::find(ids.begin(), ids.end(), lease.id); j != ids.end())
    ids.erase(j);
}

int32_t concurrency_limiter::in_flight(const std::string& key) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(key);
  return i == entries_.end() ? 0
                             : static_cast<int32_t>(i->second.leases.size());
}

std::vector<limiter_usage> concurrency_limiter::usage() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<limiter_usage> result;
  for (const auto& [key, e] : entries_)
    result.push_back(limiter_usage{key, static_cast<int32_t>(e.leases.size()),
                                   limit(key), e.rejected});
  return result;
}

void concurrency_limiter::add_waiting(const std::string& key, int32_t delta) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& n = entries_[key].waiting;
  n = std::max(n + delta, 0);
}

int32_t concurrency_limiter::waiting(const std::string& key) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(key);
  return i == entries_.end() ? 0 : i->second.waiting;
}

bool concurrency_limiter::saturated(const std::string& key) const {
  auto cap = limit(key);
  return cap > 0 && waiting(key) >= cap;
}

} // namespace ispflow::adapters::resilience

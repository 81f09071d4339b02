#include "adapters/resilience/slot_queue.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace ispflow::adapters::resilience {

slot_queue::slot_queue(std::chrono::milliseconds max_wait)
  : max_wait_(std::max(max_wait, std::chrono::milliseconds{0})) {
  // nop
}

slot_queue::~slot_queue() {
  if (!limits_)
    return;
  for (const auto& [tenant, queue] : waiting_)
    if (!queue.empty())
      limits_->add_waiting(tenant, -static_cast<int32_t>(queue.size()));
}

void slot_queue::max_wait(std::chrono::milliseconds x) noexcept {
  max_wait_ = std::max(x, std::chrono::milliseconds{0});
}

bool slot_queue::admit(guard& g, const std::string& tenant,
                       const std::string& adapter, const std::string& endpoint,
                       time_point now, resume_fn resume) {
  auto i = waiting_.find(tenant);
  bool behind = i != waiting_.end() && !i->second.empty();
  if (!behind) {
    auto adm = g.admit(tenant, adapter, endpoint, now);
    if (adm || adm.reason != park_reason::tenant_limit
        || max_wait_.count() == 0) {
      resume(std::move(adm));
      return false;
    }
  }
  waiting_[tenant].push_back({adapter, endpoint, now, std::move(resume)});
  ++size_;
  if (!limits_)
    limits_ = g.tenant_limits_ptr();
  limits_->add_waiting(tenant, 1);
  if (behind)
    drain(g, tenant, now);
  return true;
}

void slot_queue::drain(guard& g, const std::string& tenant, time_point now) {
  if (draining_)
    return;
  struct reset {
    bool& flag;
    ~reset() {
      flag = false;
    }
  } done{draining_};
  draining_ = true;
  for (;;) {
    auto i = waiting_.find(tenant);
    if (i == waiting_.end())
      break;
    if (i->second.empty()) {
      waiting_.erase(i);
      break;
    }
    auto& front = i->second.front();
    auto adm = g.admit(tenant, front.adapter, front.endpoint, now);
    if (!adm && adm.reason == park_reason::tenant_limit) {
      // The oldest first: when it may still wait, so may all behind it.
      if (now - front.since <= max_wait_)
        break;
      adm.detail = "tenant " + tenant + " stayed at its limit of "
                   + std::to_string(g.tenant_limits().limit(tenant))
                   + " calls in flight";
    }
    auto resume = std::move(front.resume);
    i->second.pop_front();
    --size_;
    limits_->add_waiting(tenant, -1);
    // May start (or even finish) a call, and may queue more: nothing of
    // `waiting_` is held across it.
    resume(std::move(adm));
  }
}

void slot_queue::drain_all(guard& g, time_point now) {
  std::vector<std::string> tenants;
  tenants.reserve(waiting_.size());
  for (const auto& entry : waiting_)
    tenants.push_back(entry.first);
  for (const auto& tenant : tenants)
    drain(g, tenant, now);
}

bool slot_queue::arm_tick() noexcept {
  if (tick_pending_ || size_ == 0)
    return false;
  tick_pending_ = true;
  return true;
}

std::chrono::milliseconds slot_queue::tick_interval(guard& g) noexcept {
  return std::clamp(g.tenant_limits().retry_after(),
                    std::chrono::milliseconds{1}, std::chrono::milliseconds{50});
}

} // namespace ispflow::adapters::resilience

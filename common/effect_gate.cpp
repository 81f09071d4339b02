#include "common/effect_gate.hpp"

#include <atomic>
#include <cstdint>

namespace ispflow::common::effect_gate {

namespace {

// Nanoseconds since the steady clock's epoch; 0 = not armed / no hold.
std::atomic<int64_t> valid_until_ns{0};
std::atomic<int64_t> held_until_ns{0};
std::atomic<bool> armed{false};

int64_t to_ns(clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           t.time_since_epoch())
    .count();
}

} // namespace

void renew(clock::time_point until) {
  valid_until_ns.store(to_ns(until), std::memory_order_release);
  armed.store(true, std::memory_order_release);
}

void hold(clock::time_point until) {
  auto ns = to_ns(until);
  auto cur = held_until_ns.load(std::memory_order_acquire);
  while (
    cur < ns
    && !held_until_ns.compare_exchange_weak(cur, ns, std::memory_order_acq_rel))
    ; // retry with the value another thread stored
}

void disarm() {
  armed.store(false, std::memory_order_release);
  valid_until_ns.store(0, std::memory_order_release);
  held_until_ns.store(0, std::memory_order_release);
}

bool open(clock::time_point now) {
  auto ns = to_ns(now);
  if (ns < held_until_ns.load(std::memory_order_acquire))
    return false;
  if (!armed.load(std::memory_order_acquire))
    return true;
  return ns < valid_until_ns.load(std::memory_order_acquire);
}

} // namespace ispflow::common::effect_gate

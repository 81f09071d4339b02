#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

// Wakes a thread that polls for work as soon as there is some: the writer
// rings after it committed, the poller waits for a ring or its poll
// interval, whichever comes first. A ring while the poller is busy is not
// lost: its next wait returns at once.

namespace ispflow::common {

class doorbell {
public:
  /// Wakes the waiter (or the next wait). Cheap: a lock and a notify.
  void ring() noexcept {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      ++rings_;
    }
    cv_.notify_one();
  }

  /// Returns true as soon as the bell has rung since the previous wait
  /// returned, false after `timeout` without a ring.
  bool wait_for(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock{mtx_};
    bool rung = cv_.wait_for(lock, timeout, [this] { return rings_ != seen_; });
    seen_ = rings_;
    return rung;
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  uint64_t rings_ = 0;
  uint64_t seen_ = 0;
};

} // namespace ispflow::common

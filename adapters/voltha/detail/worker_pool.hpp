#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace ispflow::adapters::voltha::detail {

/// A fixed set of threads running posted jobs in order of arrival; the
/// adapter's blocking gRPC and HTTP calls run here, never on CAF's threads.
class worker_pool {
public:
  /// Starts `threads` threads (at least 1).
  explicit worker_pool(size_t threads);

  /// Drops queued jobs, lets running ones finish and joins the threads.
  ~worker_pool();

  worker_pool(const worker_pool&) = delete;
  worker_pool& operator=(const worker_pool&) = delete;

  /// Queues `job`; ignored after shutdown began.
  void post(std::function<void()> job);

private:
  struct shared {
    std::mutex mx;
    std::condition_variable cv;
    std::deque<std::function<void()>> jobs;
    bool stop = false;
  };
  std::shared_ptr<shared> st_;
  std::vector<std::thread> threads_;
};

} // namespace ispflow::adapters::voltha::detail

#include "adapters/voltha/detail/worker_pool.hpp"

#include "common/thread_name.hpp"

#include <algorithm>

namespace ispflow::adapters::voltha::detail {

worker_pool::worker_pool(size_t threads) : st_(std::make_shared<shared>()) {
  threads = std::max<size_t>(threads, 1);
  for (size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([st = st_] {
      common::name_this_thread("isp.voltha");
      for (;;) {
        std::function<void()> job;
        {
          std::unique_lock guard{st->mx};
          st->cv.wait(guard, [&] { return st->stop || !st->jobs.empty(); });
          if (st->stop)
            return;
          job = std::move(st->jobs.front());
          st->jobs.pop_front();
        }
        job();
      }
    });
  }
}

worker_pool::~worker_pool() {
  {
    std::lock_guard guard{st_->mx};
    st_->stop = true;
    st_->jobs.clear();
  }
  st_->cv.notify_all();
  for (auto& t : threads_) {
    // The last reference to the owner may be dropped by a job; a thread
    // cannot join itself, and it only touches the shared block from here on.
    if (t.get_id() == std::this_thread::get_id())
      t.detach();
    else
      t.join();
  }
}

void worker_pool::post(std::function<void()> job) {
  {
    std::lock_guard guard{st_->mx};
    if (st_->stop)
      return;
    st_->jobs.push_back(std::move(job));
  }
  st_->cv.notify_one();
}

} // namespace ispflow::adapters::voltha::detail

#include "actors/deadline_watch.hpp"

#include "common/thread_name.hpp"

#include <condition_variable>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ispflow::actors {

// What the thread shares with the watch; the thread holds it too, so that
// a watch destroyed on its own thread leaves the thread something to end
// with.
struct deadline_watch::shared {
  using time_point = clock_type::time_point;

  std::mutex mx;
  std::condition_variable cv;
  /// By (due, id): the order they fall due.
  std::map<std::pair<time_point, uint64_t>, std::function<void()>> by_due;
  std::unordered_map<uint64_t, time_point> due_of;
  uint64_t next_id = 1;
  uint64_t wakeups = 0;
  /// When the thread wakes next unless notified (max: not before then).
  time_point sleeping_until = time_point::max();
  bool stop = false;

  void run() {
    common::name_this_thread("isp.deadline");
    std::vector<std::function<void()>> due_now;
    std::unique_lock<std::mutex> lock{mx};
    while (!stop) {
      auto now = clock_type::now();
      while (!by_due.empty() && by_due.begin()->first.first <= now) {
        auto node = by_due.extract(by_due.begin());
        due_of.erase(node.key().second);
        due_now.push_back(std::move(node.mapped()));
      }
      if (!due_now.empty()) {
        // Not under the lock: a fire may disarm others, or end the watch.
        lock.unlock();
        for (auto& fire : due_now)
          fire();
        due_now.clear();
        lock.lock();
        continue;
      }
      sleeping_until = by_due.empty() ? time_point::max()
                                      : by_due.begin()->first.first;
      if (sleeping_until == time_point::max())
        cv.wait(lock);
      else
        cv.wait_until(lock, sleeping_until);
      ++wakeups;
    }
  }
};

deadline_watch::deadline_watch() : shared_(std::make_shared<shared>()) {
  thread_ = std::thread{[s = shared_] { s->run(); }};
}

deadline_watch::~deadline_watch() {
  {
    std::lock_guard<std::mutex> guard{shared_->mx};
    shared_->stop = true;
  }
  shared_->cv.notify_all();
  if (thread_.get_id() == std::this_thread::get_id())
    thread_.detach();
  else
    thread_.join();
}

uint64_t deadline_watch::arm(clock_type::time_point due,
                             std::function<void()> fire) {
  auto& s = *shared_;
  bool wake = false;
  uint64_t id = 0;
  {
    std::lock_guard<std::mutex> guard{s.mx};
    id = s.next_id++;
    s.by_due.emplace(std::make_pair(due, id), std::move(fire));
    s.due_of.emplace(id, due);
    if (due < s.sleeping_until) {
      // Earlier than the thread's next wake-up: move that.
      s.sleeping_until = due;
      wake = true;
    }
  }
  if (wake)
    s.cv.notify_one();
  return id;
}

bool deadline_watch::disarm(uint64_t id) {
  auto& s = *shared_;
  std::lock_guard<std::mutex> guard{s.mx};
  auto i = s.due_of.find(id);
  if (i == s.due_of.end())
    return false;
  s.by_due.erase(std::make_pair(i->second, id));
  s.due_of.erase(i);
  return true;
}

uint64_t deadline_watch::wakeups() const {
  std::lock_guard<std::mutex> guard{shared_->mx};
  return shared_->wakeups;
}

size_t deadline_watch::armed() const {
  std::lock_guard<std::mutex> guard{shared_->mx};
  return shared_->by_due.size();
}

} // namespace ispflow::actors

#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

namespace ispflow::actors {

/// Deadlines of requests, kept by one thread of its own (`isp.deadline`),
/// for requests made with `caf::infinite`.
///
/// Why: in CAF 0.17 a request's timeout goes to the actor clock's thread
/// when it is set and is never withdrawn: a response leaves it armed, and
/// when it falls due the clock thread wakes again to send the requester a
/// timeout that it drops. Two wake-ups of that thread per request, the
/// second one 30 s later (the saga store's bound); about 22 per activation
/// at 100/s (docs/benchmarks.md, fifteenth round). Here arming a deadline
/// wakes the thread only when it falls due before every armed one (rare:
/// requests with one bound are armed in the order they fall due), and
/// disarming it is an erase under the lock. The thread wakes when the
/// earliest deadline it last saw falls due; one disarmed by then costs
/// that one wake-up, after which it sleeps until the next armed one.
///
/// A deadline that falls due calls its `fire` function on this thread:
/// it must be quick and must not call back into the watch's `arm`
/// (sending a message to the requester is what it is for). `disarm` after
/// `fire` has been taken is a no-op, so the requester must be able to tell
/// a late answer from a timely one (e.g. by a token it clears).
class deadline_watch {
public:
  using clock_type = std::chrono::steady_clock;

  deadline_watch();

  /// Stops the thread; deadlines still armed never fire. May run on the
  /// watch's own thread (a `fire` that drops the last reference to an
  /// actor holding the watch): the thread then ends on its own.
  ~deadline_watch();

  deadline_watch(const deadline_watch&) = delete;
  deadline_watch& operator=(const deadline_watch&) = delete;

  /// Calls `fire` on the watch's thread at `due` unless disarmed first.
  /// Returns its id (never 0).
  uint64_t arm(clock_type::time_point due, std::function<void()> fire);

  /// Withdraws deadline `id`; false when it fired already (or is unknown).
  bool disarm(uint64_t id);

  /// How often the thread woke up (for tests and benchmarks).
  uint64_t wakeups() const;

  /// Deadlines armed and not yet fired or disarmed.
  size_t armed() const;

private:
  struct shared;
  std::shared_ptr<shared> shared_;
  std::thread thread_;
};

} // namespace ispflow::actors

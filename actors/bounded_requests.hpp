#pragma once

#include "actors/deadline_watch.hpp"

#include <caf/actor_control_block.hpp>
#include <caf/error.hpp>
#include <caf/sec.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <utility>

namespace ispflow::actors {

/// The requests of one event-based actor whose bounds a deadline_watch
/// keeps instead of CAF's request timeouts (deadline_watch.hpp says why).
/// The actor holds one in its state and reacts to (timeout_atom, uint64_t
/// token) by calling `timed_out(token)`; `bounded_request` below makes the
/// requests. Without a watch (`use` never called, or with nullptr) the
/// requests carry CAF's timeout, as tests on CAF's test coordinator need.
class bounded_requests {
public:
  bounded_requests() = default;
  bounded_requests(const bounded_requests&) = delete;
  bounded_requests& operator=(const bounded_requests&) = delete;

  /// Disarms the deadlines of requests still waiting: an actor that ends
  /// with requests out leaves none behind.
  ~bounded_requests();

  void use(std::shared_ptr<deadline_watch> watch) noexcept {
    watch_ = std::move(watch);
  }

  deadline_watch* watch() const noexcept {
    return watch_.get();
  }

  /// Arms the deadline of a new request of `requester`: after `timeout`,
  /// unless settled first, the watch sends it (timeout_atom, token). A
  /// bound too far to add to now (a configured "forever") never falls due.
  /// Returns the token. Requires a watch.
  uint64_t arm(caf::actor_control_block* requester,
               std::chrono::milliseconds timeout,
               std::function<void(caf::error&)> on_error);

  /// The answer to `token` came: true (and its deadline disarmed) when the
  /// request was still waiting, false when it timed out already (the
  /// answer is late and must be dropped).
  bool settle(uint64_t token);

  /// The deadline of `token` fell due: its error handler gets
  /// caf::sec::request_timeout, unless the answer came first.
  void timed_out(uint64_t token);

private:
  struct call {
    uint64_t deadline = 0;
    std::function<void(caf::error&)> on_error;
  };
  std::shared_ptr<deadline_watch> watch_;
  std::unordered_map<uint64_t, call> calls_;
  uint64_t next_token_ = 1;
};

/// Requests `xs` of `dest` for `self`, bounded by `timeout`: `on_value`
/// gets the answer (R), `on_error` an error, or caf::sec::request_timeout
/// when no answer came in time. With a watch in `calls` the request goes
/// out without a timeout and whichever of the answer and the deadline
/// comes first settles it; without, CAF's request timeout bounds it.
/// `calls` must live in `self`'s state.
template <class R, class Self, class Handle, class OnValue, class OnError,
          class... Ts>
void bounded_request(Self* self, bounded_requests& calls, const Handle& dest,
                     std::chrono::milliseconds timeout, OnValue on_value,
                     OnError on_error, Ts&&... xs) {
  if (calls.watch() == nullptr) {
    self->request(dest, timeout, std::forward<Ts>(xs)...)
      .then([on_value](R& x) mutable { on_value(x); },
            [on_error](caf::error& err) mutable { on_error(err); });
    return;
  }
  auto token = calls.arm(self->ctrl(), timeout, on_error);
  auto* owner = &calls;
  self->request(dest, caf::infinite, std::forward<Ts>(xs)...)
    .then(
      [owner, token, on_value](R& x) mutable {
        if (owner->settle(token))
          on_value(x);
      },
      [owner, token, on_error](caf::error& err) mutable {
        if (owner->settle(token))
          on_error(err);
      });
}

} // namespace ispflow::actors

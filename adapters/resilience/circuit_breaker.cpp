#include "adapters/resilience/circuit_breaker.hpp"

#include "events/errc.hpp"

#include <algorithm>
#include <mutex>
#include <string>

namespace ispflow::adapters::resilience {

namespace {

using std::chrono::milliseconds;

struct counts {
  int32_t calls = 0;
  int32_t failed = 0;
  int32_t slow = 0;
  int32_t slow_failed = 0;

  void add(bool failure, bool slow_call, int32_t sign = 1) {
    calls += sign;
    failed += failure ? sign : 0;
    slow += slow_call ? sign : 0;
    slow_failed += failure && slow_call ? sign : 0;
  }
};

// Outcome bits in a count-based ring.
constexpr uint8_t failed_bit = 1;
constexpr uint8_t slow_bit = 2;

// The last `size` outcomes.
class count_window {
public:
  explicit count_window(int32_t size)
    : ring_(static_cast<size_t>(std::max(size, 1)), 0) {
    // nop
  }

  void add(bool failure, bool slow_call) {
    if (filled_ == ring_.size()) {
      auto old = ring_[head_];
      totals_.add((old & failed_bit) != 0, (old & slow_bit) != 0, -1);
    } else {
      ++filled_;
    }
    ring_[head_] = static_cast<uint8_t>((failure ? failed_bit : 0)
                                        | (slow_call ? slow_bit : 0));
    head_ = (head_ + 1) % ring_.size();
    totals_.add(failure, slow_call);
  }

  counts get() const {
    return totals_;
  }

  void clear() {
    std::fill(ring_.begin(), ring_.end(), 0);
    head_ = 0;
    filled_ = 0;
    totals_ = {};
  }

private:
  std::vector<uint8_t> ring_;
  size_t head_ = 0;
  size_t filled_ = 0;
  counts totals_;
};

int64_t epoch_second(time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch())
    .count();
}

// The outcomes of the last `size` seconds, one bucket per second.
class time_window {
public:
  explicit time_window(int32_t seconds)
    : buckets_(static_cast<size_t>(std::max(seconds, 1))) {
    // nop
  }

  void add(time_point now, bool failure, bool slow_call) {
    auto sec = epoch_second(now);
    auto& b = buckets_[static_cast<size_t>(sec) % buckets_.size()];
    if (b.second != sec) {
      b.second = sec;
      b.totals = {};
    }
    b.totals.add(failure, slow_call);
  }

  counts get(time_point now) const {
    auto sec = epoch_second(now);
    auto oldest = sec - static_cast<int64_t>(buckets_.size()) + 1;
    counts sum;
    for (const auto& b : buckets_) {
      if (b.second >= oldest && b.second <= sec) {
        sum.calls += b.totals.calls;
        sum.failed += b.totals.failed;
        sum.slow += b.totals.slow;
        sum.slow_failed += b.totals.slow_failed;
      }
    }
    return sum;
  }

  void clear() {
    std::fill(buckets_.begin(), buckets_.end(), bucket{});
  }

private:
  struct bucket {
    int64_t second = INT64_MIN;
    counts totals;
  };
  std::vector<bucket> buckets_;
};

breaker_config clamp(breaker_config cfg) {
  auto pct = [](double x) { return x > 0.0 && x <= 100.0 ? x : 100.0; };
  cfg.failure_rate_threshold = pct(cfg.failure_rate_threshold);
  cfg.slow_call_rate_threshold = pct(cfg.slow_call_rate_threshold);
  cfg.permitted_number_of_calls_in_half_open_state
    = std::max(cfg.permitted_number_of_calls_in_half_open_state, 1);
  cfg.sliding_window_size = std::max(cfg.sliding_window_size, 1);
  cfg.minimum_number_of_calls = std::max(cfg.minimum_number_of_calls, 1);
  cfg.slow_call_duration_threshold = std::max(cfg.slow_call_duration_threshold,
                                              milliseconds{1});
  cfg.wait_duration_in_open_state = std::max(cfg.wait_duration_in_open_state,
                                             milliseconds{1});
  cfg.max_wait_duration_in_half_open_state
    = std::max(cfg.max_wait_duration_in_half_open_state, milliseconds{0});
  cfg.half_open_busy_retry_after = std::max(cfg.half_open_busy_retry_after,
                                            milliseconds{1});
  return cfg;
}

milliseconds at_least_1ms(duration d) {
  return std::max(std::chrono::ceil<milliseconds>(d), milliseconds{1});
}

} // namespace

std::string_view to_string(breaker_state x) noexcept {
  switch (x) {
    case breaker_state::closed:
      return "closed";
    case breaker_state::open:
      return "open";
    case breaker_state::half_open:
      return "half_open";
    case breaker_state::forced_open:
      return "forced_open";
    case breaker_state::forced_closed:
      return "forced_closed";
  }
  return "closed";
}

std::ostream& operator<<(std::ostream& os, breaker_state x) {
  return os << to_string(x);
}

int breaker_state_gauge(breaker_state x) noexcept {
  return static_cast<int>(x);
}

std::string_view to_string(transition_reason x) noexcept {
  switch (x) {
    case transition_reason::failure_rate_exceeded:
      return "failure_rate_exceeded";
    case transition_reason::slow_call_rate_exceeded:
      return "slow_call_rate_exceeded";
    case transition_reason::open_wait_elapsed:
      return "open_wait_elapsed";
    case transition_reason::half_open_calls_succeeded:
      return "half_open_calls_succeeded";
    case transition_reason::half_open_wait_exceeded:
      return "half_open_wait_exceeded";
    case transition_reason::forced:
      return "forced";
    case transition_reason::reset:
      return "reset";
  }
  return "reset";
}

std::ostream& operator<<(std::ostream& os, transition_reason x) {
  return os << to_string(x);
}

std::string_view to_string(window_type x) noexcept {
  return x == window_type::time_based ? "time_based" : "count_based";
}

std::string_view to_string(call_outcome x) noexcept {
  switch (x) {
    case call_outcome::success:
      return "success";
    case call_outcome::failure:
      return "failure";
    case call_outcome::ignored:
      return "ignored";
  }
  return "ignored";
}

std::ostream& operator<<(std::ostream& os, const breaker_transition& x) {
  os << x.from << " -> " << x.to << " (" << x.reason;
  if (x.metrics.failure_rate >= 0.0)
    os << ", failure rate " << x.metrics.failure_rate << '%';
  if (x.metrics.slow_call_rate >= 0.0)
    os << ", slow-call rate " << x.metrics.slow_call_rate << '%';
  return os << ", " << x.metrics.number_of_calls << " calls)";
}

caf::error validate(const breaker_config& cfg) {
  auto bad = [](std::string what) {
    return caf::make_error(errc::invalid_config, "breaker." + what);
  };
  if (!(cfg.failure_rate_threshold > 0.0 && cfg.failure_rate_threshold <= 100))
    return bad("failure_rate_threshold must be in (0, 100]");
  if (!(cfg.slow_call_rate_threshold > 0.0
        && cfg.slow_call_rate_threshold <= 100))
    return bad("slow_call_rate_threshold must be in (0, 100]");
  if (cfg.slow_call_duration_threshold.count() < 1)
    return bad("slow_call_duration_threshold must be at least 1 ms");
  if (cfg.permitted_number_of_calls_in_half_open_state < 1)
    return bad("permitted_number_of_calls_in_half_open_state must be >= 1");
  if (cfg.max_wait_duration_in_half_open_state.count() < 0)
    return bad("max_wait_duration_in_half_open_state must be >= 0");
  if (cfg.sliding_window_size < 1)
    return bad("sliding_window_size must be >= 1");
  if (cfg.minimum_number_of_calls < 1)
    return bad("minimum_number_of_calls must be >= 1");
  if (cfg.wait_duration_in_open_state.count() < 1)
    return bad("wait_duration_in_open_state must be at least 1 ms");
  if (cfg.half_open_busy_retry_after.count() < 1)
    return bad("half_open_busy_retry_after must be at least 1 ms");
  return {};
}

struct circuit_breaker::impl {
  breaker_config cfg;
  // minimum_number_of_calls as applied to the closed window.
  int32_t min_calls;

  mutable std::mutex mtx;
  breaker_state state = breaker_state::closed;
  uint64_t epoch = 1;
  time_point since;
  time_point open_until;
  time_point last_now;
  count_window closed_count;
  time_window closed_time;
  count_window trial_window;
  int32_t trials_issued = 0;
  // The counters that opened the breaker, shown while it is open.
  breaker_metrics frozen;
  int64_t not_permitted = 0;
  int64_t total_success = 0;
  int64_t total_failed = 0;
  int64_t times_opened = 0;
  std::vector<transition_listener> listeners;

  impl(breaker_config config, time_point now)
    : cfg(clamp(config)),
      min_calls(
        cfg.sliding_window_type == window_type::count_based
          ? std::min(cfg.minimum_number_of_calls, cfg.sliding_window_size)
          : cfg.minimum_number_of_calls),
      since(now),
      open_until(now),
      last_now(now),
      closed_count(cfg.sliding_window_size),
      closed_time(cfg.sliding_window_size),
      trial_window(cfg.permitted_number_of_calls_in_half_open_state) {
    // nop
  }

  void see(time_point now) {
    last_now = std::max(last_now, now);
  }

  counts closed_counts() const {
    return cfg.sliding_window_type == window_type::count_based
             ? closed_count.get()
             : closed_time.get(last_now);
  }

  breaker_metrics make_metrics(counts c, int32_t minimum) const {
    breaker_metrics m;
    m.number_of_calls = c.calls;
    m.number_of_failed_calls = c.failed;
    m.number_of_slow_calls = c.slow;
    m.number_of_slow_failed_calls = c.slow_failed;
    if (c.calls > 0 && c.calls >= minimum) {
      m.failure_rate = 100.0 * c.failed / c.calls;
      m.slow_call_rate = 100.0 * c.slow / c.calls;
    }
    m.number_of_not_permitted_calls = not_permitted;
    m.total_successful_calls = total_success;
    m.total_failed_calls = total_failed;
    m.times_opened = times_opened;
    return m;
  }

  breaker_metrics current_metrics() const {
    switch (state) {
      case breaker_state::closed:
      case breaker_state::forced_closed:
        return make_metrics(closed_counts(), min_calls);
      case breaker_state::half_open:
        return make_metrics(trial_window.get(),
                            cfg.permitted_number_of_calls_in_half_open_state);
      default: {
        auto m = frozen;
        m.number_of_not_permitted_calls = not_permitted;
        m.total_successful_calls = total_success;
        m.total_failed_calls = total_failed;
        m.times_opened = times_opened;
        return m;
      }
    }
  }

  // Which threshold the metrics reach, if any.
  bool exceeded(const breaker_metrics& m, transition_reason& why) const {
    if (m.failure_rate >= 0.0 && m.failure_rate >= cfg.failure_rate_threshold) {
      why = transition_reason::failure_rate_exceeded;
      return true;
    }
    if (m.slow_call_rate >= 0.0
        && m.slow_call_rate >= cfg.slow_call_rate_threshold) {
      why = transition_reason::slow_call_rate_exceeded;
      return true;
    }
    return false;
  }

  void move_to(breaker_state to, transition_reason why, time_point now,
               std::vector<breaker_transition>& out) {
    breaker_transition tr;
    tr.from = state;
    tr.to = to;
    tr.reason = why;
    tr.at = now;
    auto deciding = current_metrics();
    if (to == breaker_state::open || to == breaker_state::forced_open) {
      ++times_opened;
      frozen = deciding;
      open_until = now + cfg.wait_duration_in_open_state;
    }
    deciding.times_opened = times_opened;
    tr.metrics = deciding;
    state = to;
    since = now;
    ++epoch;
    if (to != breaker_state::open)
      open_until = now;
    if (to == breaker_state::half_open) {
      trial_window.clear();
      trials_issued = 0;
    }
    if (to == breaker_state::closed || to == breaker_state::forced_closed) {
      closed_count.clear();
      closed_time.clear();
    }
    out.push_back(tr);
  }

  // Time-driven transitions.
  void advance(time_point now, std::vector<breaker_transition>& out) {
    if (state == breaker_state::open && now >= open_until)
      move_to(breaker_state::half_open, transition_reason::open_wait_elapsed,
              now, out);
    if (state == breaker_state::half_open
        && cfg.max_wait_duration_in_half_open_state.count() > 0
        && now >= since + cfg.max_wait_duration_in_half_open_state)
      move_to(breaker_state::open, transition_reason::half_open_wait_exceeded,
              now, out);
  }

  void emit(const std::vector<breaker_transition>& out,
            const std::vector<transition_listener>& ls) {
    for (const auto& tr : out) {
      for (const auto& f : ls) {
        if (!f)
          continue;
        try {
          f(tr);
        } catch (...) {
          // A failing listener must not break the caller's call path.
        }
      }
    }
  }
};

circuit_breaker::circuit_breaker(breaker_config cfg, time_point now)
  : impl_(std::make_unique<impl>(cfg, now)) {
  // nop
}

circuit_breaker::~circuit_breaker() = default;

acquire_result circuit_breaker::acquire(time_point now) {
  std::vector<breaker_transition> out;
  std::vector<transition_listener> ls;
  acquire_result res;
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    auto& s = *impl_;
    s.see(now);
    s.advance(now, out);
    res.state = s.state;
    switch (s.state) {
      case breaker_state::closed:
      case breaker_state::forced_closed:
        res.permitted = true;
        res.permit = breaker_permit{s.epoch, false};
        break;
      case breaker_state::half_open:
        if (s.trials_issued
            < s.cfg.permitted_number_of_calls_in_half_open_state) {
          ++s.trials_issued;
          res.permitted = true;
          res.permit = breaker_permit{s.epoch, true};
        } else {
          ++s.not_permitted;
          res.retry_after = s.cfg.half_open_busy_retry_after;
        }
        break;
      case breaker_state::open:
        ++s.not_permitted;
        res.retry_after = at_least_1ms(s.open_until - now);
        break;
      case breaker_state::forced_open:
        ++s.not_permitted;
        res.retry_after = s.cfg.wait_duration_in_open_state;
        break;
    }
    if (!out.empty())
      ls = s.listeners;
  }
  impl_->emit(out, ls);
  return res;
}

void circuit_breaker::record(const breaker_permit& permit, call_outcome outcome,
                             duration took, time_point now) {
  std::vector<breaker_transition> out;
  std::vector<transition_listener> ls;
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    auto& s = *impl_;
    s.see(now);
    s.advance(now, out);
    auto current = permit.epoch == s.epoch;
    if (outcome == call_outcome::ignored) {
      if (current && permit.trial && s.state == breaker_state::half_open)
        s.trials_issued = std::max(s.trials_issued - 1, 0);
    } else {
      auto failure = outcome == call_outcome::failure;
      auto slow = took > s.cfg.slow_call_duration_threshold;
      (failure ? s.total_failed : s.total_success) += 1;
      transition_reason why{};
      if (current) {
        switch (s.state) {
          case breaker_state::closed:
            if (s.cfg.sliding_window_type == window_type::count_based)
              s.closed_count.add(failure, slow);
            else
              s.closed_time.add(now, failure, slow);
            if (s.exceeded(s.current_metrics(), why))
              s.move_to(breaker_state::open, why, now, out);
            break;
          case breaker_state::forced_closed:
            if (s.cfg.sliding_window_type == window_type::count_based)
              s.closed_count.add(failure, slow);
            else
              s.closed_time.add(now, failure, slow);
            break;
          case breaker_state::half_open:
            if (!permit.trial)
              break;
            s.trial_window.add(failure, slow);
            if (s.trial_window.get().calls
                >= s.cfg.permitted_number_of_calls_in_half_open_state) {
              if (s.exceeded(s.current_metrics(), why))
                s.move_to(breaker_state::open, why, now, out);
              else
                s.move_to(breaker_state::closed,
                          transition_reason::half_open_calls_succeeded, now,
                          out);
            }
            break;
          default:
            break; // open states issue no permits
        }
      }
    }
    if (!out.empty())
      ls = s.listeners;
  }
  impl_->emit(out, ls);
}

void circuit_breaker::release(const breaker_permit& permit, time_point now) {
  record(permit, call_outcome::ignored, duration::zero(), now);
}

breaker_state circuit_breaker::tick(time_point now) {
  std::vector<breaker_transition> out;
  std::vector<transition_listener> ls;
  breaker_state result;
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    impl_->see(now);
    impl_->advance(now, out);
    result = impl_->state;
    if (!out.empty())
      ls = impl_->listeners;
  }
  impl_->emit(out, ls);
  return result;
}

namespace {

template <class Impl>
void force(Impl& s, breaker_state to, transition_reason why, time_point now,
           std::vector<breaker_transition>& out) {
  s.see(now);
  s.move_to(to, why, now, out);
}

} // namespace

void circuit_breaker::force_open(time_point now) {
  std::vector<breaker_transition> out;
  std::vector<transition_listener> ls;
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    force(*impl_, breaker_state::forced_open, transition_reason::forced, now,
          out);
    ls = impl_->listeners;
  }
  impl_->emit(out, ls);
}

void circuit_breaker::force_closed(time_point now) {
  std::vector<breaker_transition> out;
  std::vector<transition_listener> ls;
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    force(*impl_, breaker_state::forced_closed, transition_reason::forced, now,
          out);
    ls = impl_->listeners;
  }
  impl_->emit(out, ls);
}

void circuit_breaker::reset(time_point now) {
  std::vector<breaker_transition> out;
  std::vector<transition_listener> ls;
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    force(*impl_, breaker_state::closed, transition_reason::reset, now, out);
    ls = impl_->listeners;
  }
  impl_->emit(out, ls);
}

breaker_state circuit_breaker::state() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->state;
}

breaker_snapshot circuit_breaker::snapshot() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  const auto& s = *impl_;
  breaker_snapshot snap;
  snap.state = s.state;
  snap.since = s.since;
  snap.open_until = s.open_until;
  snap.free_trial_permits
    = s.state == breaker_state::half_open
        ? s.cfg.permitted_number_of_calls_in_half_open_state - s.trials_issued
        : 0;
  snap.metrics = s.current_metrics();
  snap.config = s.cfg;
  return snap;
}

const breaker_config& circuit_breaker::config() const noexcept {
  return impl_->cfg;
}

void circuit_breaker::on_transition(transition_listener listener) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  impl_->listeners.push_back(std::move(listener));
}

} // namespace ispflow::adapters::resilience

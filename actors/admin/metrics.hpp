#pragma once

#include <atomic>
#include <caf/expected.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

// Metrics for /metrics: counters, gauges and histograms with label sets,
// rendered in the Prometheus text exposition format (version 0.0.4).
//
// Registration (a family per metric name) takes a lock and may fail (a bad
// name, or the same name registered as another kind); do it at start-up and
// keep the references. Incrementing a child is one atomic operation, no lock.
// Children and families live as long as the registry and never move.

namespace ispflow::actors::admin {

/// Label values in the order of the family's label names.
using label_values = std::vector<std::string>;

/// Label (name, value) pairs of one sample, e.g. {{"state", "open"}}.
using label_pairs = std::vector<std::pair<std::string, std::string>>;

/// A value that only goes up (resets only with the process).
class counter {
public:
  /// Adds `v`; negative values are ignored (a counter never goes down).
  void inc(double v = 1.0) noexcept {
    if (v > 0)
      value_.fetch_add(v, std::memory_order_relaxed);
  }

  /// The current value.
  double value() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

private:
  std::atomic<double> value_{0};
};

/// A value that goes up and down.
class gauge {
public:
  /// Replaces the value.
  void set(double v) noexcept {
    value_.store(v, std::memory_order_relaxed);
  }

  /// Adds `v` (may be negative).
  void inc(double v = 1.0) noexcept {
    value_.fetch_add(v, std::memory_order_relaxed);
  }

  /// Subtracts `v`.
  void dec(double v = 1.0) noexcept {
    value_.fetch_sub(v, std::memory_order_relaxed);
  }

  /// The current value.
  double value() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

private:
  std::atomic<double> value_{0};
};

/// Observations counted into fixed buckets (upper bounds, ascending), with
/// their sum and count.
class histogram {
public:
  /// `bounds` must be sorted ascending and finite; +Inf is implicit.
  explicit histogram(std::vector<double> bounds);

  /// Counts `v` into the first bucket whose bound is >= v.
  void observe(double v) noexcept;

  /// The upper bounds, without +Inf.
  const std::vector<double>& bounds() const noexcept {
    return bounds_;
  }

  /// Cumulative counts per bound, plus the +Inf bucket last.
  std::vector<uint64_t> cumulative_counts() const;

  /// The sum of all observations.
  double sum() const noexcept {
    return sum_.load(std::memory_order_relaxed);
  }

  /// The number of observations.
  uint64_t count() const noexcept;

private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
};

/// Bucket bounds in seconds for request and step latencies, 1 ms to 60 s.
std::vector<double> default_latency_buckets();

/// The kinds of metric families, as the `# TYPE` line names them.
enum class metric_kind { counter, gauge, histogram };

/// One metric name with its help text and label names, and a child per
/// distinct label value combination.
template <class T>
class family {
public:
  family(std::string name, std::string help, std::vector<std::string> labels,
         std::vector<double> bounds = {})
    : name_(std::move(name)),
      help_(std::move(help)),
      labels_(std::move(labels)),
      bounds_(std::move(bounds)) {
    // nop
  }

  /// The child for `values` (one per label name, in order; missing ones are
  /// empty, extra ones ignored), created on first use. Takes a lock: keep
  /// the reference for hot paths.
  T& with(label_values values) {
    values.resize(labels_.size());
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = children_.find(values);
    if (i == children_.end()) {
      std::unique_ptr<T> child;
      if constexpr (std::is_same_v<T, histogram>)
        child = std::make_unique<T>(bounds_);
      else
        child = std::make_unique<T>();
      i = children_.emplace(std::move(values), std::move(child)).first;
    }
    return *i->second;
  }

  /// The metric name.
  const std::string& name() const noexcept {
    return name_;
  }

  /// The help text.
  const std::string& help() const noexcept {
    return help_;
  }

  /// The label names.
  const std::vector<std::string>& labels() const noexcept {
    return labels_;
  }

  /// The histogram bounds (empty for counters and gauges).
  const std::vector<double>& bounds() const noexcept {
    return bounds_;
  }

  /// Calls `f(values, child)` for every child, in label value order.
  template <class F>
  void for_each(F&& f) const {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& [values, child] : children_)
      f(values, *child);
  }

private:
  std::string name_;
  std::string help_;
  std::vector<std::string> labels_;
  std::vector<double> bounds_;
  mutable std::mutex mtx_;
  std::map<label_values, std::unique_ptr<T>> children_;
};

/// One sample a callback contributes at scrape time.
struct sample {
  label_pairs labels;
  double value = 0;
};

/// Produces the current samples of a callback gauge (or counter) at scrape
/// time, e.g. breaker states or consumer lag. Runs on the scraping thread:
/// it must be thread-safe and quick. An error leaves the family empty for
/// that scrape and is counted in `ispflow_metrics_callback_errors_total`.
using sample_callback = std::function<caf::expected<std::vector<sample>>()>;

/// Every metric family of the process; renders them for /metrics.
class metrics_registry {
public:
  metrics_registry();
  ~metrics_registry();

  metrics_registry(const metrics_registry&) = delete;
  metrics_registry& operator=(const metrics_registry&) = delete;

  /// The counter family `name`, registered on first call. Registering the
  /// same name again with the same kind and labels returns the same family.
  /// Fails with `errc::invalid_input` for an invalid metric or label name,
  /// or a name registered with another kind or other labels.
  caf::expected<family<counter>*>
  counters(const std::string& name, const std::string& help,
           std::vector<std::string> labels = {});

  /// The gauge family `name`; as `counters`.
  caf::expected<family<gauge>*> gauges(const std::string& name,
                                       const std::string& help,
                                       std::vector<std::string> labels = {});

  /// The histogram family `name` with `bounds` (ascending, finite, not
  /// empty); as `counters`, and the bounds must match on re-registration.
  caf::expected<family<histogram>*>
  histograms(const std::string& name, const std::string& help,
             std::vector<double> bounds, std::vector<std::string> labels = {});

  /// Registers a family whose samples `cb` computes at each scrape, rendered
  /// with `kind` (counter or gauge). Returns an id for `remove_callback`.
  /// Fails as `counters` does, also for `metric_kind::histogram`.
  caf::expected<uint64_t> add_callback(const std::string& name,
                                       const std::string& help,
                                       metric_kind kind, sample_callback cb);

  /// Unregisters a callback family; unknown ids are ignored.
  void remove_callback(uint64_t id);

  /// Every family in the text exposition format, sorted by name.
  std::string render() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Whether `name` is a valid Prometheus metric name.
bool valid_metric_name(std::string_view name) noexcept;

/// Whether `name` is a valid label name (reserved `__` prefix excluded).
bool valid_label_name(std::string_view name) noexcept;

/// A sample value as the text format writes it: "NaN", "+Inf", "-Inf", or
/// the shortest decimal that reads back as `v`.
std::string format_value(double v);

/// A label value escaped for the text format (backslash, quote, newline).
std::string escape_label_value(std::string_view v);

/// A help text escaped for the text format (backslash, newline).
std::string escape_help(std::string_view v);

} // namespace ispflow::actors::admin

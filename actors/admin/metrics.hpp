#pragma once

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Metrics for /metrics: counters, gauges and histograms with label sets,
// kept and rendered (text exposition format 0.0.4) by prometheus-cpp's core
// library. prometheus-cpp's own HTTP server (pull) is not used: the admin
// API serves the rendered text on its own sockets.
//
// Registration (a family per metric name) takes a lock and may fail (a bad
// name, or the same name registered as another kind); do it at start-up and
// keep the references. Updating a child is one atomic operation, no lock.
// Children and families live as long as the registry and never move.

namespace ispflow::actors::admin {

/// Label values in the order of the family's label names.
using label_values = std::vector<std::string>;

/// Label (name, value) pairs of one sample, e.g. {{"state", "open"}}.
using label_pairs = std::vector<std::pair<std::string, std::string>>;

/// A value that only goes up (resets only with the process).
class counter {
public:
  using native_type = prometheus::Counter;

  explicit counter(prometheus::Counter& native) noexcept : native_(&native) {
    // nop
  }

  /// Adds `v`; negative values are ignored (a counter never goes down).
  void inc(double v = 1.0) noexcept {
    if (v > 0)
      native_->Increment(v);
  }

  /// The current value.
  double value() const noexcept {
    return native_->Value();
  }

private:
  prometheus::Counter* native_;
};

/// A value that goes up and down.
class gauge {
public:
  using native_type = prometheus::Gauge;

  explicit gauge(prometheus::Gauge& native) noexcept : native_(&native) {
    // nop
  }

  /// Replaces the value.
  void set(double v) noexcept {
    native_->Set(v);
  }

  /// Adds `v` (may be negative).
  void inc(double v = 1.0) noexcept {
    native_->Increment(v);
  }

  /// Subtracts `v`.
  void dec(double v = 1.0) noexcept {
    native_->Decrement(v);
  }

  /// The current value.
  double value() const noexcept {
    return native_->Value();
  }

private:
  prometheus::Gauge* native_;
};

/// Observations counted into fixed buckets (upper bounds, ascending), with
/// their sum and count.
class histogram {
public:
  using native_type = prometheus::Histogram;

  explicit histogram(prometheus::Histogram& native) noexcept
    : native_(&native) {
    // nop
  }

  /// Counts `v` into the first bucket whose bound is >= v.
  void observe(double v) noexcept {
    native_->Observe(v);
  }

  /// The number of observations.
  uint64_t count() const;

  /// The sum of all observations.
  double sum() const;

private:
  prometheus::Histogram* native_;
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
  using native_family = prometheus::Family<typename T::native_type>;

  family(native_family& native, std::vector<std::string> labels,
         std::vector<double> bounds)
    : native_(&native), labels_(std::move(labels)), bounds_(std::move(bounds)) {
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
      std::map<std::string, std::string> labels;
      for (size_t k = 0; k < labels_.size(); ++k)
        labels.emplace(labels_[k], values[k]);
      typename T::native_type* child = nullptr;
      if constexpr (std::is_same_v<T, histogram>)
        child = &native_->Add(labels, prometheus::Histogram::BucketBoundaries{
                                        bounds_.begin(), bounds_.end()});
      else
        child = &native_->Add(labels);
      i = children_.emplace(std::move(values), std::make_unique<T>(*child))
            .first;
    }
    return *i->second;
  }

  /// The label names.
  const std::vector<std::string>& labels() const noexcept {
    return labels_;
  }

  /// The histogram bounds (empty for counters and gauges).
  const std::vector<double>& bounds() const noexcept {
    return bounds_;
  }

private:
  native_family* native_;
  std::vector<std::string> labels_;
  std::vector<double> bounds_;
  std::mutex mtx_;
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
  /// A family without labels exports its single child (0) at once.
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

  /// Every family in the text exposition format, sorted by name (a family
  /// without samples yet, e.g. no label set used, with HELP and TYPE only).
  std::string render() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Registers many families with one line each and remembers the first
/// error, e.g.
///
///   metric_definer def{registry};
///   auto* started = def.counters("x_total", "Help.", {"type"});
///   auto* took = def.histograms("y_seconds", "Help.", {"system"});
///   if (auto err = def.error()) return err;
///
/// After an error, every further call returns nullptr.
class metric_definer {
public:
  explicit metric_definer(metrics_registry& registry) noexcept
    : registry_(registry) {
    // nop
  }

  /// See metrics_registry::counters.
  family<counter>* counters(const std::string& name, const std::string& help,
                            std::vector<std::string> labels = {}) {
    return keep(registry_.counters(name, help, std::move(labels)));
  }

  /// See metrics_registry::gauges.
  family<gauge>* gauges(const std::string& name, const std::string& help,
                        std::vector<std::string> labels = {}) {
    return keep(registry_.gauges(name, help, std::move(labels)));
  }

  /// See metrics_registry::histograms; default_latency_buckets() bounds.
  family<histogram>* histograms(const std::string& name,
                                const std::string& help,
                                std::vector<std::string> labels = {}) {
    return keep(registry_.histograms(name, help, default_latency_buckets(),
                                     std::move(labels)));
  }

  /// See metrics_registry::add_callback.
  void callback(const std::string& name, const std::string& help,
                metric_kind kind, sample_callback cb) {
    if (!err_)
      if (auto id = registry_.add_callback(name, help, kind, std::move(cb));
          !id)
        err_ = std::move(id.error());
  }

  /// The first error, or none.
  const caf::error& error() const noexcept {
    return err_;
  }

private:
  template <class T>
  T* keep(caf::expected<T*> x) {
    if (err_)
      return nullptr;
    if (!x) {
      err_ = std::move(x.error());
      return nullptr;
    }
    return *x;
  }

  metrics_registry& registry_;
  caf::error err_;
};

/// Whether `name` is a valid Prometheus metric name.
bool valid_metric_name(std::string_view name) noexcept;

/// Whether `name` is a valid label name (reserved `__` prefix excluded).
bool valid_label_name(std::string_view name) noexcept;

} // namespace ispflow::actors::admin

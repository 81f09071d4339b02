#include "actors/admin/metrics.hpp"

#include "events/errc.hpp"

#include <algorithm>
#include <cmath>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <set>
#include <sstream>
#include <variant>

namespace ispflow::actors::admin {

// -- histogram ----------------------------------------------------------------

uint64_t histogram::count() const {
  return native_->Collect().histogram.sample_count;
}

double histogram::sum() const {
  return native_->Collect().histogram.sample_sum;
}

std::vector<double> default_latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
          0.5,   1.0,    2.5,   5.0,  10.0,  30.0, 60.0};
}

// -- names --------------------------------------------------------------------

bool valid_metric_name(std::string_view name) noexcept {
  if (name.empty())
    return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
                 || c == ':';
    bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0))
      return false;
  }
  return true;
}

bool valid_label_name(std::string_view name) noexcept {
  if (name.empty() || name.starts_with("__"))
    return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0))
      return false;
  }
  return true;
}

namespace {

struct callback_family {
  uint64_t id = 0;
  std::string name;
  std::string help;
  metric_kind kind = metric_kind::gauge;
  sample_callback cb;
};

// What a name is registered as, to refuse conflicting registrations.
struct registration {
  metric_kind kind = metric_kind::counter;
  std::string help;
  std::vector<std::string> labels;
  std::vector<double> bounds;
  // Exactly one of these is set.
  std::unique_ptr<family<counter>> counters;
  std::unique_ptr<family<gauge>> gauges;
  std::unique_ptr<family<histogram>> histograms;
  std::shared_ptr<callback_family> callback;

  template <class T>
  family<T>* get() {
    if constexpr (std::is_same_v<T, counter>)
      return counters.get();
    else if constexpr (std::is_same_v<T, gauge>)
      return gauges.get();
    else
      return histograms.get();
  }

  template <class T>
  void set(std::unique_ptr<family<T>> x) {
    if constexpr (std::is_same_v<T, counter>)
      counters = std::move(x);
    else if constexpr (std::is_same_v<T, gauge>)
      gauges = std::move(x);
    else
      histograms = std::move(x);
  }
};

template <class T>
constexpr metric_kind kind_of() {
  if constexpr (std::is_same_v<T, counter>)
    return metric_kind::counter;
  else if constexpr (std::is_same_v<T, gauge>)
    return metric_kind::gauge;
  else
    return metric_kind::histogram;
}

// prometheus-cpp 1.0.1 writes HELP text as it is; the text format wants
// backslashes and newlines escaped there.
std::string escape_help(const std::string& help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

template <class T>
auto& build(prometheus::Registry& reg, const std::string& name,
            const std::string& raw_help) {
  auto help = escape_help(raw_help);
  if constexpr (std::is_same_v<T, counter>)
    return prometheus::BuildCounter().Name(name).Help(help).Register(reg);
  else if constexpr (std::is_same_v<T, gauge>)
    return prometheus::BuildGauge().Name(name).Help(help).Register(reg);
  else
    return prometheus::BuildHistogram().Name(name).Help(help).Register(reg);
}

} // namespace

// -- registry -----------------------------------------------------------------

struct metrics_registry::impl {
  prometheus::Registry native;
  mutable std::mutex mtx;
  std::map<std::string, registration> families;
  uint64_t next_id = 1;
  counter* callback_errors = nullptr;

  caf::error check_names(const std::string& name,
                         const std::vector<std::string>& labels) const {
    if (!valid_metric_name(name))
      return caf::make_error(errc::invalid_input,
                             "invalid metric name: " + name);
    for (auto& l : labels)
      if (!valid_label_name(l) || (l == "le"))
        return caf::make_error(errc::invalid_input,
                               "invalid label name for " + name + ": " + l);
    return {};
  }

  template <class T>
  caf::expected<family<T>*>
  get(const std::string& name, const std::string& help,
      std::vector<std::string> labels, std::vector<double> bounds) {
    if (auto err = check_names(name, labels))
      return err;
    std::lock_guard<std::mutex> guard{mtx};
    auto i = families.find(name);
    if (i != families.end()) {
      auto& reg = i->second;
      if (reg.callback || reg.kind != kind_of<T>() || reg.labels != labels
          || reg.bounds != bounds)
        return caf::make_error(errc::invalid_input,
                               "metric registered differently: " + name);
      return reg.get<T>();
    }
    family<T>* raw = nullptr;
    try {
      auto& native_family = build<T>(native, name, help);
      auto fam = std::make_unique<family<T>>(native_family, labels, bounds);
      raw = fam.get();
      registration reg;
      reg.kind = kind_of<T>();
      reg.help = help;
      reg.labels = std::move(labels);
      reg.bounds = std::move(bounds);
      reg.set<T>(std::move(fam));
      families.emplace(name, std::move(reg));
    } catch (const std::exception& e) {
      return caf::make_error(errc::invalid_input, "metric not registered: "
                                                    + name + ": " + e.what());
    }
    // A family without labels has one child: export it (0) from the start,
    // so that rate() and absent() work before the first event.
    if (raw->labels().empty())
      raw->with({});
    return raw;
  }

  // The callback families' samples of this scrape.
  std::vector<prometheus::MetricFamily> collect_callbacks() const {
    std::vector<std::shared_ptr<callback_family>> callbacks;
    {
      std::lock_guard<std::mutex> guard{mtx};
      for (auto& [name, reg] : families)
        if (reg.callback)
          callbacks.push_back(reg.callback);
    }
    // Callbacks run outside the lock: they may be slow or register metrics.
    std::vector<prometheus::MetricFamily> out;
    for (auto& fam : callbacks) {
      prometheus::MetricFamily mf;
      mf.name = fam->name;
      mf.help = escape_help(fam->help);
      mf.type = fam->kind == metric_kind::counter
                  ? prometheus::MetricType::Counter
                  : prometheus::MetricType::Gauge;
      caf::expected<std::vector<sample>> samples{std::vector<sample>{}};
      try {
        samples = fam->cb();
      } catch (...) {
        samples = caf::make_error(errc::unspecified, "callback threw");
      }
      if (!samples) {
        callback_errors->inc();
        out.push_back(std::move(mf));
        continue;
      }
      for (auto& s : *samples) {
        bool ok = std::all_of(s.labels.begin(), s.labels.end(), [](auto& kv) {
          return valid_label_name(kv.first);
        });
        if (!ok) {
          callback_errors->inc();
          continue;
        }
        prometheus::ClientMetric m;
        // In the callback's order (the text format does not sort labels).
        for (auto& [k, v] : s.labels)
          m.label.push_back({k, v});
        if (mf.type == prometheus::MetricType::Counter)
          m.counter.value = s.value;
        else
          m.gauge.value = s.value;
        mf.metric.push_back(std::move(m));
      }
      out.push_back(std::move(mf));
    }
    return out;
  }
};

metrics_registry::metrics_registry() : impl_(std::make_unique<impl>()) {
  auto fam = impl_->get<counter>("ispflow_metrics_callback_errors_total",
                                 "Scrape-time metric callbacks that failed.",
                                 {}, {});
  impl_->callback_errors = &(*fam)->with({});
}

metrics_registry::~metrics_registry() = default;

caf::expected<family<counter>*>
metrics_registry::counters(const std::string& name, const std::string& help,
                           std::vector<std::string> labels) {
  return impl_->get<counter>(name, help, std::move(labels), {});
}

caf::expected<family<gauge>*>
metrics_registry::gauges(const std::string& name, const std::string& help,
                         std::vector<std::string> labels) {
  return impl_->get<gauge>(name, help, std::move(labels), {});
}

caf::expected<family<histogram>*>
metrics_registry::histograms(const std::string& name, const std::string& help,
                             std::vector<double> bounds,
                             std::vector<std::string> labels) {
  if (bounds.empty() || !std::is_sorted(bounds.begin(), bounds.end())
      || std::adjacent_find(bounds.begin(), bounds.end()) != bounds.end()
      || std::any_of(bounds.begin(), bounds.end(),
                     [](double b) { return !std::isfinite(b); }))
    return caf::make_error(errc::invalid_input,
                           "histogram bounds must be finite and ascending: "
                             + name);
  return impl_->get<histogram>(name, help, std::move(labels),
                               std::move(bounds));
}

caf::expected<uint64_t>
metrics_registry::add_callback(const std::string& name, const std::string& help,
                               metric_kind kind, sample_callback cb) {
  if (kind == metric_kind::histogram || !cb)
    return caf::make_error(errc::invalid_input,
                           "a callback family is a counter or gauge: " + name);
  if (auto err = impl_->check_names(name, {}))
    return err;
  std::lock_guard<std::mutex> guard{impl_->mtx};
  if (impl_->families.count(name) > 0)
    return caf::make_error(errc::invalid_input,
                           "metric registered already: " + name);
  auto fam = std::make_shared<callback_family>();
  fam->id = impl_->next_id++;
  fam->name = name;
  fam->help = help;
  fam->kind = kind;
  fam->cb = std::move(cb);
  auto id = fam->id;
  registration reg;
  reg.kind = kind;
  reg.callback = std::move(fam);
  impl_->families.emplace(name, std::move(reg));
  return id;
}

void metrics_registry::remove_callback(uint64_t id) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  for (auto i = impl_->families.begin(); i != impl_->families.end(); ++i) {
    if (i->second.callback && i->second.callback->id == id) {
      impl_->families.erase(i);
      return;
    }
  }
}

std::string metrics_registry::render() const {
  auto all = impl_->collect_callbacks();
  for (auto& mf : impl_->native.Collect())
    all.push_back(std::move(mf));
  // prometheus-cpp leaves out families without children; they are listed
  // anyway (HELP and TYPE, no sample), so that every metric ispflow defines
  // shows in a scrape from the start.
  std::set<std::string> seen;
  for (auto& mf : all)
    seen.insert(mf.name);
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    for (auto& [name, reg] : impl_->families) {
      if (reg.callback || seen.count(name) > 0)
        continue;
      prometheus::MetricFamily mf;
      mf.name = name;
      mf.help = escape_help(reg.help);
      mf.type = reg.kind == metric_kind::counter
                  ? prometheus::MetricType::Counter
                : reg.kind == metric_kind::gauge
                  ? prometheus::MetricType::Gauge
                  : prometheus::MetricType::Histogram;
      all.push_back(std::move(mf));
    }
  }
  std::stable_sort(all.begin(), all.end(),
                   [](auto& x, auto& y) { return x.name < y.name; });
  std::ostringstream out;
  prometheus::TextSerializer{}.Serialize(out, all);
  return out.str();
}

} // namespace ispflow::actors::admin

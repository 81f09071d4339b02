#include "actors/admin/metrics.hpp"

#include "events/errc.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <variant>

namespace ispflow::actors::admin {

// -- histogram ----------------------------------------------------------------

histogram::histogram(std::vector<double> bounds)
  : bounds_(std::move(bounds)),
    buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  for (size_t i = 0; i <= bounds_.size(); ++i)
    buckets_[i].store(0, std::memory_order_relaxed);
}

void histogram::observe(double v) noexcept {
  auto i = static_cast<size_t>(
    std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

std::vector<uint64_t> histogram::cumulative_counts() const {
  std::vector<uint64_t> out;
  out.reserve(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    out.push_back(total);
  }
  return out;
}

uint64_t histogram::count() const noexcept {
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i)
    total += buckets_[i].load(std::memory_order_relaxed);
  return total;
}

std::vector<double> default_latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
          0.5,   1.0,    2.5,   5.0,  10.0,  30.0, 60.0};
}

// -- text format helpers
// --------------------------------------------------------

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

std::string format_value(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

namespace {

void append_labels(std::string& out, const label_pairs& labels) {
  if (labels.empty())
    return;
  out += '{';
  bool first = true;
  for (auto& [k, v] : labels) {
    if (!first)
      out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += escape_label_value(v);
    out += '"';
  }
  out += '}';
}

label_pairs zip(const std::vector<std::string>& names,
                const label_values& values) {
  label_pairs out;
  out.reserve(names.size());
  for (size_t i = 0; i < names.size(); ++i)
    out.emplace_back(names[i], values[i]);
  return out;
}

void append_sample(std::string& out, std::string_view name,
                   const label_pairs& labels, double v) {
  out += name;
  append_labels(out, labels);
  out += ' ';
  out += format_value(v);
  out += '\n';
}

void append_header(std::string& out, const std::string& name,
                   const std::string& help, std::string_view type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += escape_help(help);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

struct callback_family {
  uint64_t id = 0;
  std::string name;
  std::string help;
  metric_kind kind = metric_kind::gauge;
  sample_callback cb;
};

} // namespace

// -- registry
// -------------------------------------------------------------------

struct metrics_registry::impl {
  using entry = std::variant<
    std::unique_ptr<family<counter>>, std::unique_ptr<family<gauge>>,
    std::unique_ptr<family<histogram>>, std::shared_ptr<callback_family>>;
  mutable std::mutex mtx;
  std::map<std::string, entry> families;
  uint64_t next_id = 1;
  counter callback_errors;

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
      auto ptr = std::get_if<std::unique_ptr<family<T>>>(&i->second);
      if (ptr == nullptr || (*ptr)->labels() != labels
          || (*ptr)->bounds() != bounds)
        return caf::make_error(errc::invalid_input,
                               "metric registered differently: " + name);
      return ptr->get();
    }
    auto fam = std::make_unique<family<T>>(name, help, std::move(labels),
                                           std::move(bounds));
    auto raw = fam.get();
    families.emplace(name, std::move(fam));
    return raw;
  }
};

metrics_registry::metrics_registry() : impl_(std::make_unique<impl>()) {
  // nop
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
  impl_->families.emplace(name, std::move(fam));
  return id;
}

void metrics_registry::remove_callback(uint64_t id) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  for (auto i = impl_->families.begin(); i != impl_->families.end(); ++i) {
    auto ptr = std::get_if<std::shared_ptr<callback_family>>(&i->second);
    if (ptr != nullptr && (*ptr)->id == id) {
      impl_->families.erase(i);
      return;
    }
  }
}

std::string metrics_registry::render() const {
  // Callbacks run outside the lock: they may be slow or register metrics.
  std::vector<std::shared_ptr<callback_family>> callbacks;
  std::map<std::string, std::string> rendered;
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    for (auto& [name, entry] : impl_->families) {
      std::string out;
      if (auto c = std::get_if<std::unique_ptr<family<counter>>>(&entry)) {
        auto& fam = **c;
        append_header(out, fam.name(), fam.help(), "counter");
        fam.for_each([&](const label_values& vs, const counter& x) {
          append_sample(out, fam.name(), zip(fam.labels(), vs), x.value());
        });
      } else if (auto g = std::get_if<std::unique_ptr<family<gauge>>>(&entry)) {
        auto& fam = **g;
        append_header(out, fam.name(), fam.help(), "gauge");
        fam.for_each([&](const label_values& vs, const gauge& x) {
          append_sample(out, fam.name(), zip(fam.labels(), vs), x.value());
        });
      } else if (auto h
                 = std::get_if<std::unique_ptr<family<histogram>>>(&entry)) {
        auto& fam = **h;
        append_header(out, fam.name(), fam.help(), "histogram");
        fam.for_each([&](const label_values& vs, const histogram& x) {
          auto labels = zip(fam.labels(), vs);
          auto counts = x.cumulative_counts();
          for (size_t i = 0; i < counts.size(); ++i) {
            auto with_le = labels;
            with_le.emplace_back("le", i < x.bounds().size()
                                         ? format_value(x.bounds()[i])
                                         : std::string{"+Inf"});
            append_sample(out, fam.name() + "_bucket", with_le,
                          static_cast<double>(counts[i]));
          }
          append_sample(out, fam.name() + "_sum", labels, x.sum());
          // _count equals the +Inf bucket of the same snapshot.
          append_sample(out, fam.name() + "_count", labels,
                        static_cast<double>(counts.back()));
        });
      } else {
        callbacks.push_back(std::get<std::shared_ptr<callback_family>>(entry));
        continue;
      }
      rendered.emplace(name, std::move(out));
    }
  }
  for (auto& fam : callbacks) {
    std::string out;
    append_header(out, fam->name, fam->help,
                  fam->kind == metric_kind::counter ? "counter" : "gauge");
    caf::expected<std::vector<sample>> samples{std::vector<sample>{}};
    try {
      samples = fam->cb();
    } catch (...) {
      samples = caf::make_error(errc::unspecified, "callback threw");
    }
    if (samples) {
      for (auto& s : *samples) {
        bool ok = std::all_of(s.labels.begin(), s.labels.end(), [](auto& kv) {
          return valid_label_name(kv.first);
        });
        if (ok)
          append_sample(out, fam->name, s.labels, s.value);
        else
          impl_->callback_errors.inc();
      }
    } else {
      impl_->callback_errors.inc();
    }
    rendered.emplace(fam->name, std::move(out));
  }
  std::string own;
  append_header(own, "ispflow_metrics_callback_errors_total",
                "Scrape-time metric callbacks that failed.", "counter");
  append_sample(own, "ispflow_metrics_callback_errors_total", {},
                impl_->callback_errors.value());
  rendered.emplace("ispflow_metrics_callback_errors_total", std::move(own));
  std::string out;
  for (auto& [name, text] : rendered)
    out += text;
  return out;
}

} // namespace ispflow::actors::admin

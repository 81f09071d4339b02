#include "actors/admin/metrics.hpp"
#include "events/errc.hpp"

#include <cmath>
#include <gtest/gtest.h>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace ispflow::actors::admin;

namespace {

// A small parser of the Prometheus text format (0.0.4): HELP and TYPE lines,
// samples with escaped label values. It rejects what the format does not
// allow, so a rendering bug fails the test.
struct parsed_sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct parsed_family {
  std::string help;
  std::string type;
};

struct exposition {
  std::map<std::string, parsed_family> families;
  std::vector<parsed_sample> samples;
  std::string error;

  std::optional<double>
  value(const std::string& name,
        const std::map<std::string, std::string>& labels = {}) const {
    for (auto& s : samples)
      if (s.name == name && s.labels == labels)
        return s.value;
    return std::nullopt;
  }

  size_t count(const std::string& name) const {
    size_t n = 0;
    for (auto& s : samples)
      if (s.name == name)
        ++n;
    return n;
  }
};

std::string unescape_help(const std::string& s, std::string& err) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (++i == s.size()) {
      err = "dangling backslash in help";
      return out;
    }
    if (s[i] == 'n')
      out += '\n';
    else if (s[i] == '\\')
      out += '\\';
    else
      err = "bad escape in help";
  }
  return out;
}

double parse_number(const std::string& s, std::string& err) {
  if (s == "+Inf")
    return INFINITY;
  if (s == "-Inf")
    return -INFINITY;
  if (s == "NaN")
    return NAN;
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (...) {
    used = 0;
  }
  if (used != s.size() || s.empty())
    err = "bad number: " + s;
  return v;
}

bool name_char(char c, bool first) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'
         || (!first && std::isdigit(static_cast<unsigned char>(c)));
}

// The family a sample belongs to: histogram samples drop their suffix.
std::string family_of(const exposition& e, const std::string& name) {
  for (auto suffix : {"_bucket", "_sum", "_count"}) {
    std::string sfx = suffix;
    if (name.size() > sfx.size()
        && name.compare(name.size() - sfx.size(), sfx.size(), sfx) == 0) {
      auto base = name.substr(0, name.size() - sfx.size());
      auto i = e.families.find(base);
      if (i != e.families.end() && i->second.type == "histogram")
        return base;
    }
  }
  return name;
}

exposition parse(const std::string& text) {
  exposition e;
  if (!text.empty() && text.back() != '\n') {
    e.error = "output does not end with a newline";
    return e;
  }
  std::istringstream in{text};
  std::string line;
  while (std::getline(in, line) && e.error.empty()) {
    if (line.empty()) {
      e.error = "empty line";
      break;
    }
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      auto rest = line.substr(7);
      auto sp = rest.find(' ');
      if (sp == std::string::npos) {
        e.error = "comment without text: " + line;
        break;
      }
      auto name = rest.substr(0, sp);
      auto& fam = e.families[name];
      if (line[2] == 'H') {
        fam.help = unescape_help(rest.substr(sp + 1), e.error);
      } else {
        fam.type = rest.substr(sp + 1);
        if (fam.type != "counter" && fam.type != "gauge"
            && fam.type != "histogram")
          e.error = "unknown type: " + fam.type;
      }
      continue;
    }
    if (line[0] == '#') {
      e.error = "unexpected comment: " + line;
      break;
    }
    parsed_sample s;
    size_t i = 0;
    while (i < line.size() && name_char(line[i], i == 0))
      s.name += line[i++];
    if (s.name.empty()) {
      e.error = "sample without a name: " + line;
      break;
    }
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        std::string key;
        while (i < line.size() && line[i] != '=')
          key += line[i++];
        if (i + 1 >= line.size() || line[i + 1] != '"') {
          e.error = "label without a quoted value: " + line;
          break;
        }
        i += 2;
        std::string value;
        bool closed = false;
        while (i < line.size()) {
          char c = line[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\' && i < line.size()) {
            char n = line[i++];
            if (n == 'n')
              value += '\n';
            else if (n == '\\' || n == '"')
              value += n;
            else
              e.error = "bad escape in label value";
          } else {
            value += c;
          }
        }
        if (!closed) {
          e.error = "unterminated label value: " + line;
          break;
        }
        if (!s.labels.emplace(key, value).second)
          e.error = "duplicate label " + key;
        if (i < line.size() && line[i] == ',')
          ++i;
      }
      if (!e.error.empty())
        break;
      if (i >= line.size()) {
        e.error = "unterminated label set: " + line;
        break;
      }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') {
      e.error = "no value: " + line;
      break;
    }
    s.value = parse_number(line.substr(i + 1), e.error);
    auto fam = e.families.find(family_of(e, s.name));
    if (fam == e.families.end() || fam->second.type.empty()) {
      e.error = "sample before its TYPE line: " + s.name;
      break;
    }
    e.samples.push_back(std::move(s));
  }
  return e;
}

} // namespace

TEST(admin_metrics, renders_counters_with_help_type_and_labels) {
  metrics_registry reg;
  auto fam = reg.counters("ispflow_sagas_started_total", "Sagas started.",
                          {"type", "tenant"});
  ASSERT_TRUE(fam);
  (*fam)->with({"activate", "t1"}).inc();
  (*fam)->with({"activate", "t1"}).inc(2);
  (*fam)->with({"suspend", "t2"}).inc();
  auto e = parse(reg.render());
  ASSERT_EQ(e.error, "");
  EXPECT_EQ(e.families["ispflow_sagas_started_total"].type, "counter");
  EXPECT_EQ(e.families["ispflow_sagas_started_total"].help, "Sagas started.");
  EXPECT_EQ(e.value("ispflow_sagas_started_total",
                    {{"type", "activate"}, {"tenant", "t1"}}),
            3.0);
  EXPECT_EQ(e.value("ispflow_sagas_started_total",
                    {{"type", "suspend"}, {"tenant", "t2"}}),
            1.0);
  EXPECT_EQ(e.count("ispflow_sagas_started_total"), 2u);
}

TEST(admin_metrics, counter_ignores_negative_increments) {
  metrics_registry reg;
  auto& c = (*reg.counters("c_total", "c"))->with({});
  c.inc(5);
  c.inc(-3);
  EXPECT_EQ(c.value(), 5.0);
}

TEST(admin_metrics, gauges_go_up_and_down) {
  metrics_registry reg;
  auto& g = (*reg.gauges("ispflow_sagas_in_flight", "In flight."))->with({});
  g.inc();
  g.inc();
  g.dec();
  auto e = parse(reg.render());
  ASSERT_EQ(e.error, "");
  EXPECT_EQ(e.families["ispflow_sagas_in_flight"].type, "gauge");
  EXPECT_EQ(e.value("ispflow_sagas_in_flight"), 1.0);
  g.set(-2.5);
  EXPECT_EQ(parse(reg.render()).value("ispflow_sagas_in_flight"), -2.5);
}

TEST(admin_metrics, escapes_label_values_and_help) {
  metrics_registry reg;
  auto fam = reg.gauges("g", "line one\nback\\slash", {"path"});
  ASSERT_TRUE(fam);
  std::string nasty = "a\"b\\c\nd";
  (*fam)->with({nasty}).set(1);
  auto text = reg.render();
  EXPECT_NE(text.find(R"(g{path="a\"b\\c\nd"} 1)"), std::string::npos) << text;
  auto e = parse(text);
  ASSERT_EQ(e.error, "");
  EXPECT_EQ(e.families["g"].help, "line one\nback\\slash");
  EXPECT_EQ(e.value("g", {{"path", nasty}}), 1.0);
}

TEST(admin_metrics, histogram_renders_cumulative_buckets_sum_and_count) {
  metrics_registry reg;
  auto fam = reg.histograms("ispflow_step_seconds", "Step latency.",
                            {0.1, 0.5, 1}, {"adapter", "outcome"});
  ASSERT_TRUE(fam);
  auto& h = (*fam)->with({"netbox", "ok"});
  for (double v : {0.05, 0.1, 0.3, 0.7, 2.0})
    h.observe(v);
  auto e = parse(reg.render());
  ASSERT_EQ(e.error, "");
  EXPECT_EQ(e.families["ispflow_step_seconds"].type, "histogram");
  auto bucket = [&](std::string le) {
    return e.value("ispflow_step_seconds_bucket",
                   {{"adapter", "netbox"}, {"outcome", "ok"}, {"le", le}});
  };
  EXPECT_EQ(bucket("0.1"), 2.0);
  EXPECT_EQ(bucket("0.5"), 3.0);
  EXPECT_EQ(bucket("1"), 4.0);
  EXPECT_EQ(bucket("+Inf"), 5.0);
  EXPECT_EQ(e.value("ispflow_step_seconds_count",
                    {{"adapter", "netbox"}, {"outcome", "ok"}}),
            5.0);
  auto sum = e.value("ispflow_step_seconds_sum",
                     {{"adapter", "netbox"}, {"outcome", "ok"}});
  ASSERT_TRUE(sum);
  EXPECT_NEAR(*sum, 3.15, 1e-9);
}

TEST(admin_metrics, rejects_invalid_names_and_conflicting_registrations) {
  metrics_registry reg;
  EXPECT_FALSE(reg.counters("9starts_with_digit", "x"));
  EXPECT_FALSE(reg.counters("has-dash", "x"));
  EXPECT_FALSE(reg.counters("ok_total", "x", {"__reserved"}));
  EXPECT_FALSE(reg.histograms("h", "x", {1, 0.5}));
  EXPECT_FALSE(reg.histograms("h", "x", {}));
  EXPECT_FALSE(reg.histograms("h", "x", {0.1}, {"le"}));
  auto a = reg.counters("ok_total", "x", {"a"});
  ASSERT_TRUE(a);
  auto again = reg.counters("ok_total", "x", {"a"});
  ASSERT_TRUE(again);
  EXPECT_EQ(*a, *again);
  EXPECT_FALSE(reg.gauges("ok_total", "x", {"a"}));
  EXPECT_FALSE(reg.counters("ok_total", "x", {"b"}));
  EXPECT_FALSE(reg.add_callback("ok_total", "x", metric_kind::gauge,
                                [] { return std::vector<sample>{}; }));
}

TEST(admin_metrics, callback_gauges_are_computed_at_scrape_time) {
  metrics_registry reg;
  double lag = 7;
  auto id = reg.add_callback("ispflow_consumer_lag", "Lag.", metric_kind::gauge,
                             [&]() -> caf::expected<std::vector<sample>> {
                               return std::vector<sample>{
                                 {{{"partition", "0"}}, lag},
                                 {{{"partition", "1"}}, lag * 2}};
                             });
  ASSERT_TRUE(id);
  auto e = parse(reg.render());
  ASSERT_EQ(e.error, "");
  EXPECT_EQ(e.value("ispflow_consumer_lag", {{"partition", "1"}}), 14.0);
  lag = 1;
  e = parse(reg.render());
  EXPECT_EQ(e.value("ispflow_consumer_lag", {{"partition", "0"}}), 1.0);
  reg.remove_callback(*id);
  e = parse(reg.render());
  EXPECT_EQ(e.count("ispflow_consumer_lag"), 0u);
}

TEST(admin_metrics, failing_callback_is_counted_and_leaves_its_family_empty) {
  metrics_registry reg;
  ASSERT_TRUE(reg.add_callback("broken", "Fails.", metric_kind::gauge,
                               []() -> caf::expected<std::vector<sample>> {
                                 return caf::make_error(
                                   ispflow::errc::database_unavailable, "down");
                               }));
  auto e = parse(reg.render());
  ASSERT_EQ(e.error, "");
  EXPECT_EQ(e.count("broken"), 0u);
  EXPECT_EQ(e.value("ispflow_metrics_callback_errors_total"), 1.0);
}

TEST(admin_metrics, concurrent_increments_are_not_lost) {
  metrics_registry reg;
  auto fam = reg.counters("hits_total", "Hits.", {"k"});
  auto hfam = reg.histograms("lat_seconds", "Lat.", {0.5});
  ASSERT_TRUE(fam && hfam);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      auto& c = (*fam)->with({t % 2 == 0 ? "even" : "odd"});
      auto& h = (*hfam)->with({});
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(i % 2 == 0 ? 0.25 : 1.0);
      }
    });
  for (auto& th : threads)
    th.join();
  auto e = parse(reg.render());
  ASSERT_EQ(e.error, "");
  EXPECT_EQ(e.value("hits_total", {{"k", "even"}}), 20000.0);
  EXPECT_EQ(e.value("hits_total", {{"k", "odd"}}), 20000.0);
  EXPECT_EQ(e.value("lat_seconds_bucket", {{"le", "0.5"}}), 20000.0);
  EXPECT_EQ(e.value("lat_seconds_count"), 40000.0);
}

TEST(admin_metrics, families_render_sorted_by_name_each_with_one_type_line) {
  metrics_registry reg;
  ASSERT_TRUE(reg.gauges("zeta", "z"));
  ASSERT_TRUE(reg.counters("alpha_total", "a"));
  (*reg.gauges("zeta", "z"))->with({}).set(1);
  auto text = reg.render();
  EXPECT_LT(text.find("# TYPE alpha_total"), text.find("# TYPE zeta"));
  auto e = parse(text);
  ASSERT_EQ(e.error, "");
  // A family without labels exports its 0 before the first increment.
  EXPECT_EQ(e.value("alpha_total"), 0.0);
  EXPECT_EQ(e.value("zeta"), 1.0);
}

TEST(admin_metrics, families_without_children_render_help_and_type_only) {
  metrics_registry reg;
  ASSERT_TRUE(reg.counters("beta_total", "b", {"k"}));
  ASSERT_TRUE(reg.histograms("gamma_seconds", "g", {0.5}, {"k"}));
  ASSERT_TRUE(reg.add_callback("delta", "d", metric_kind::gauge,
                               [] { return std::vector<sample>{}; }));
  auto e = parse(reg.render());
  ASSERT_EQ(e.error, "");
  EXPECT_EQ(e.families["beta_total"].type, "counter");
  EXPECT_EQ(e.families["gamma_seconds"].type, "histogram");
  EXPECT_EQ(e.families["delta"].type, "gauge");
  EXPECT_EQ(e.count("beta_total"), 0u);
  EXPECT_EQ(e.count("gamma_seconds_count"), 0u);
}

TEST(admin_metrics, definer_registers_one_per_line_and_keeps_the_first_error) {
  metrics_registry reg;
  metric_definer def{reg};
  auto* a = def.counters("a_total", "A.", {"k"});
  auto* h = def.histograms("h_seconds", "H.", {"system"});
  ASSERT_FALSE(def.error());
  ASSERT_NE(a, nullptr);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(def.gauges("a_total", "A as gauge."), nullptr);
  EXPECT_TRUE(def.error());
  EXPECT_EQ(def.counters("c_total", "C."), nullptr);
}

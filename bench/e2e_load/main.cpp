// ispflow-e2e-load: offers FTTH activations to billing.events.v1 at fixed
// rates (open loop: a publish is never held back by a slow answer) and
// measures, per rate, how many `subscriber.activated` records reach
// lifecycle.events.v1 per second and the latency from publish to that
// record. Run by deploy/local/bench-e2e.sh against the demo stack; usable
// against any ispflowd whose network can serve the subscribers it names.
//
// Subscriber n is `sub-<n, 6 digits>`, its ONU ALCL<n, 8 digits>, its CPE
// OUI 00259E / HG8245 / CPE<n, 8 digits>, as deploy/local/stack.sh's
// stack_activation_payload names them (the simulators are seeded alike).
#include "bench/support/proc_stats.hpp"
#include "events/cloud_event.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <librdkafka/rdkafkacpp.h>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <rapidjson/document.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <unordered_map>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

struct options {
  std::string bootstrap;
  std::string billing_topic = "billing.events.v1";
  std::string lifecycle_topic = "lifecycle.events.v1";
  std::string tenant = "demo";
  std::string source = "billing.example";
  std::string plan = "fiber-100";
  std::vector<int> rates{100, 200, 400, 800};
  double seconds = 5.0;
  int first = 1;
  int settle_ms = 15000;
  double keep_up = 0.95;
  double max_p99_ms = 0;
  bool keep_going = false;
  // After the steps, one more at half the ceiling (the issue's latency
  // goal is stated at half the sustained rate).
  bool then_half = false;
  // The ceiling a run before this one measured in a stack of its own:
  // this run's first step is the half step of it (0: not such a run).
  double half_of = 0;
  bool timeline = false;
  std::vector<std::string> watch;
};

// What the consumer saw for one subscriber.
struct outcome {
  clock_type::time_point published;
  clock_type::time_point ended;
  bool done = false;
  bool failed = false;
  double fetch_ms = 0; // record's timestamp to its arrival here
  // The record's event time (ispflowd's saga end) to its Kafka time stamp
  // (the relay's produce); -1 when the record had no time.
  double relay_ms = -1;
};

struct shared_state {
  std::mutex mtx;
  std::unordered_map<std::string, outcome> pending; // by subscriber id
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> foreign{0};
  std::atomic<uint64_t> consume_errors{0};
};

std::string payload(const options& o, int n, const std::string& sub) {
  char buf[1024];
  std::snprintf(
    buf, sizeof buf,
    R"({"schema_version":1,"tenant_id":"%s","subscriber_id":"%s","plan_id":"%s","service_type":"ftth","site":"pop-1","access":{"onu_serial":"ALCL%08d","cpe":{"serial":"CPE%08d","oui":"00259E","product_class":"HG8245"}},"credentials":{"username":"%s@%s.example","password":"pw-%s-%08d"}})",
    o.tenant.c_str(), sub.c_str(), o.plan.c_str(), n, n, sub.c_str(),
    o.tenant.c_str(), o.tenant.c_str(), n);
  return buf;
}

// Now as RFC 3339 UTC with microseconds: the event's `time`, which intake
// stores as inbox.event_time (bench-e2e.sh reads publish-to-inbox from it).
std::string now_rfc3339() {
  auto now = std::chrono::system_clock::now();
  auto us = duration_cast<microseconds>(now.time_since_epoch()).count();
  auto secs = static_cast<time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(us % 1000000));
  return buf;
}

std::string cloud_event(const options& o, const std::string& id,
                        const std::string& sub, const std::string& data) {
  return R"({"specversion":"1.0","id":")" + id + R"(","source":")" + o.source
         + R"(","type":"billing.subscription.activated","time":")"
         + now_rfc3339() + R"(","subject":")" + sub + R"(","tenantid":")"
         + o.tenant + R"(","datacontenttype":"application/json","data":)" + data
         + "}";
}

std::string subscriber_name(int n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "sub-%06d", n);
  return buf;
}

// The CloudEvent type, subject and time of a lifecycle record, from its
// ce_* headers (binary mode) or its JSON (structured mode).
void classify(RdKafka::Message& msg, std::string& type, std::string& sub,
              std::string& time) {
  if (auto* hdrs = msg.headers()) {
    for (const auto& h : hdrs->get_all()) {
      std::string value{static_cast<const char*>(h.value()), h.value_size()};
      if (h.key() == "ce_type")
        type = value;
      else if (h.key() == "ce_subject")
        sub = value;
      else if (h.key() == "ce_time")
        time = value;
    }
  }
  rapidjson::Document doc;
  doc.Parse(static_cast<const char*>(msg.payload()), msg.len());
  if (doc.HasParseError() || !doc.IsObject())
    return;
  if (type.empty() && doc.HasMember("type") && doc["type"].IsString())
    type = doc["type"].GetString();
  if (time.empty() && doc.HasMember("time") && doc["time"].IsString())
    time = doc["time"].GetString();
  const rapidjson::Value* data = &doc;
  if (doc.HasMember("data") && doc["data"].IsObject())
    data = &doc["data"];
  if (data->HasMember("subscriber_id") && (*data)["subscriber_id"].IsString())
    sub = (*data)["subscriber_id"].GetString();
  else if (sub.empty() && doc.HasMember("subject") && doc["subject"].IsString())
    sub = doc["subject"].GetString();
}

void consume(const options& o, RdKafka::KafkaConsumer& c, shared_state& st) {
  while (!st.stop.load()) {
    std::unique_ptr<RdKafka::Message> msg{c.consume(50)};
    if (msg->err() == RdKafka::ERR__TIMED_OUT
        || msg->err() == RdKafka::ERR__PARTITION_EOF)
      continue;
    if (msg->err() != RdKafka::ERR_NO_ERROR) {
      ++st.consume_errors;
      continue;
    }
    auto now = clock_type::now();
    auto wall_ms = duration_cast<milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
    auto ts = msg->timestamp();
    double fetch_ms
      = ts.type == RdKafka::MessageTimestamp::MSG_TIMESTAMP_NOT_AVAILABLE
          ? 0.0
          : static_cast<double>(wall_ms - ts.timestamp);
    std::string type, sub, time;
    classify(*msg, type, sub, time);
    auto time_ms = ispflow::events::rfc3339_to_unix_ms(time);
    double relay_ms
      = !time_ms
            || ts.type == RdKafka::MessageTimestamp::MSG_TIMESTAMP_NOT_AVAILABLE
          ? -1.0
          : static_cast<double>(ts.timestamp - *time_ms);
    bool ok = type == "subscriber.activated";
    bool failed = type == "subscriber.activated_failed";
    if (!ok && !failed)
      continue;
    std::lock_guard<std::mutex> guard{st.mtx};
    auto i = st.pending.find(sub);
    if (i == st.pending.end() || i->second.done) {
      ++st.foreign;
      continue;
    }
    i->second.done = true;
    i->second.failed = failed;
    i->second.ended = now;
    i->second.fetch_ms = fetch_ms;
    i->second.relay_ms = relay_ms;
  }
  static_cast<void>(o);
}

double percentile(std::vector<double>& xs, double p) {
  if (xs.empty())
    return 0;
  auto k = static_cast<size_t>(p * static_cast<double>(xs.size() - 1) + 0.5);
  return xs[std::min(k, xs.size() - 1)];
}

// Latencies of the activations published in one second of a step: publish
// to here, the saga's end (the lifecycle record's event time) to the
// record's Kafka time stamp (the relay's produce), and that time stamp to
// here.
struct second_latencies {
  std::vector<double> total;
  std::vector<double> relay;
  std::vector<double> fetch;
};

// One line per second of a step's publishing: how many activations were
// published in it, their latency (p50, p99, max), and two parts of it
// (p50, p99): the saga's end to the relay's produce, and the produce to
// here. So a warm-up transient or a stall shows where a step's p99 came
// from, and in which part.
void print_timeline(int rate, std::map<long, second_latencies>& by_second) {
  std::printf("timeline rate=%d: second n p50 p99 max, saga end to relay "
              "p50 p99, record to here p50 p99 (ms, by publish time)\n",
              rate);
  for (auto& [second, x] : by_second) {
    std::sort(x.total.begin(), x.total.end());
    std::sort(x.relay.begin(), x.relay.end());
    std::sort(x.fetch.begin(), x.fetch.end());
    std::printf("  %4ld %5zu %7.1f %7.1f %7.1f %7.1f %7.1f %7.1f %7.1f\n",
                second, x.total.size(), percentile(x.total, 0.50),
                percentile(x.total, 0.99), x.total.back(),
                percentile(x.relay, 0.50), percentile(x.relay, 0.99),
                percentile(x.fetch, 0.50), percentile(x.fetch, 0.99));
  }
}

struct step_result {
  int rate = 0;
  size_t published = 0;
  size_t activated = 0;
  size_t failed = 0;
  size_t missing = 0;
  size_t produce_errors = 0;
  double offered = 0;   // achieved publish rate
  double sustained = 0; // activations per second, first to last completion
  double p50 = 0, p90 = 0, p99 = 0, max = 0;
  double fetch_p50 = 0, fetch_p99 = 0;
  double relay_p50 = 0, relay_p99 = 0;
  bool kept_up = false;
};

// The highest rate the steps sustained: what a step that kept up
// completed (at most what was offered), or what one that fell behind
// completed per second.
double ceiling_of(const std::vector<step_result>& steps) {
  double best = 0;
  for (auto& r : steps)
    best = std::max(best,
                    r.kept_up ? std::min(r.sustained, r.offered) : r.sustained);
  return best;
}

class delivery_counter : public RdKafka::DeliveryReportCb {
public:
  std::atomic<size_t> errors{0};
  void dr_cb(RdKafka::Message& m) override {
    if (m.err() != RdKafka::ERR_NO_ERROR)
      ++errors;
  }
};

std::unique_ptr<RdKafka::Conf>
make_conf(const options& o,
          std::vector<std::pair<std::string, std::string>> props) {
  std::unique_ptr<RdKafka::Conf> conf{
    RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
  std::string err;
  props.emplace_back("bootstrap.servers", o.bootstrap);
  for (auto& [k, v] : props)
    if (conf->set(k, v, err) != RdKafka::Conf::CONF_OK) {
      std::fprintf(stderr, "e2e-load: %s=%s: %s\n", k.c_str(), v.c_str(),
                   err.c_str());
      return nullptr;
    }
  return conf;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"End-to-end activations per second and latency, publish on "
               "billing.events.v1 to subscriber.activated on "
               "lifecycle.events.v1"};
  options o;
  app.add_option("--bootstrap", o.bootstrap, "Kafka bootstrap.servers")
    ->required();
  app.add_option("--billing-topic", o.billing_topic);
  app.add_option("--lifecycle-topic", o.lifecycle_topic);
  app.add_option("--tenant", o.tenant);
  app.add_option("--source", o.source, "ce_source of the events");
  app.add_option("--plan", o.plan);
  app.add_option("--rates", o.rates, "offered activations/s, one step each")
    ->delimiter(',');
  app.add_option("--seconds", o.seconds, "length of each step");
  app.add_option("--first", o.first, "number of the first subscriber");
  app.add_option("--settle-ms", o.settle_ms,
                 "longest wait after a step's last publish for its outcomes");
  app.add_option("--keep-up", o.keep_up,
                 "a step keeps up when activations/s >= this x offered and "
                 "every outcome arrived");
  app.add_option("--max-p99-ms", o.max_p99_ms,
                 "a step with a larger p99 does not keep up (0: no limit)");
  app.add_flag("--keep-going", o.keep_going,
               "run every rate even after one falls behind");
  app.add_flag("--then-half", o.then_half,
               "after the steps, one more at half the highest rate "
               "sustained (a step that fell behind counts with what it "
               "sustained); its subscribers, at most the highest rate x "
               "seconds / 2, follow those of every step given");
  app
    .add_option("--half-of", o.half_of,
                "this run's first step is the half step of this ceiling, "
                "measured by a run before it in a stack of its own")
    ->check(CLI::NonNegativeNumber);
  app.add_flag("--timeline", o.timeline,
               "also print each step's latency per second of publishing");
  app
    .add_option("--watch", o.watch,
                "name=pid of a process whose CPU use is printed per step")
    ->delimiter(',');
  CLI11_PARSE(app, argc, argv);

  std::vector<std::pair<std::string, int>> watched;
  for (auto& w : o.watch) {
    auto eq = w.find('=');
    if (eq == std::string::npos)
      continue;
    watched.emplace_back(w.substr(0, eq), std::stoi(w.substr(eq + 1)));
  }

  delivery_counter dr;
  auto pconf = make_conf(
    o, {{"linger.ms", "0"}, {"acks", "all"}, {"enable.idempotence", "true"}});
  if (!pconf)
    return 2;
  std::string err;
  pconf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&dr), err);
  std::unique_ptr<RdKafka::Producer> producer{
    RdKafka::Producer::create(pconf.get(), err)};
  if (!producer) {
    std::fprintf(stderr, "e2e-load: producer: %s\n", err.c_str());
    return 1;
  }

  auto cconf = make_conf(o, {{"group.id", "ispflow-e2e-load"},
                             {"enable.auto.commit", "false"},
                             {"fetch.wait.max.ms", "5"},
                             {"fetch.error.backoff.ms", "5"},
                             {"enable.partition.eof", "false"}});
  if (!cconf)
    return 2;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer{
    RdKafka::KafkaConsumer::create(cconf.get(), err)};
  if (!consumer) {
    std::fprintf(stderr, "e2e-load: consumer: %s\n", err.c_str());
    return 1;
  }
  // Every partition from the start, without a group join (seconds on the
  // mock): records of earlier runs name other subscribers and are ignored.
  RdKafka::Metadata* md = nullptr;
  std::unique_ptr<RdKafka::Topic> topic{
    RdKafka::Topic::create(producer.get(), o.lifecycle_topic, nullptr, err)};
  if (producer->metadata(false, topic.get(), &md, 10000)
      != RdKafka::ERR_NO_ERROR) {
    std::fprintf(stderr, "e2e-load: no metadata for %s\n",
                 o.lifecycle_topic.c_str());
    return 1;
  }
  std::vector<RdKafka::TopicPartition*> parts;
  for (auto* t : *md->topics())
    for (auto* p : *t->partitions())
      parts.push_back(RdKafka::TopicPartition::create(
        o.lifecycle_topic, p->id(), RdKafka::Topic::OFFSET_BEGINNING));
  delete md;
  if (parts.empty()) {
    std::fprintf(stderr, "e2e-load: %s has no partitions\n",
                 o.lifecycle_topic.c_str());
    return 1;
  }
  consumer->assign(parts);
  RdKafka::TopicPartition::destroy(parts);

  // Before the first record leaves, the idempotent producer asks the
  // cluster for its producer id, and for the billing topic's partitions
  // and leaders: about a second, which the first records of the first
  // step would otherwise wait for (and count as latency). So the billing
  // topic's metadata, and one record on a topic of its own, delivered
  // before the clock starts.
  {
    RdKafka::Metadata* billing_md = nullptr;
    std::unique_ptr<RdKafka::Topic> billing{
      RdKafka::Topic::create(producer.get(), o.billing_topic, nullptr, err)};
    if (!billing
        || producer->metadata(false, billing.get(), &billing_md, 10000)
             != RdKafka::ERR_NO_ERROR)
      std::fprintf(stderr, "e2e-load: no metadata for %s yet\n",
                   o.billing_topic.c_str());
    delete billing_md;
    std::string warm = "e2e-load warm-up";
    auto rc = producer->produce(o.billing_topic + ".e2e-load-warmup",
                                RdKafka::Topic::PARTITION_UA,
                                RdKafka::Producer::RK_MSG_COPY, warm.data(),
                                warm.size(), nullptr, 0, 0, nullptr, nullptr);
    if (rc == RdKafka::ERR_NO_ERROR)
      rc = producer->flush(10000);
    if (rc != RdKafka::ERR_NO_ERROR)
      std::fprintf(stderr,
                   "e2e-load: the producer's warm-up record was not "
                   "delivered (%s); the first records may wait for the "
                   "producer id\n",
                   RdKafka::err2str(rc).c_str());
  }

  shared_state st;
  std::thread reader{[&] { consume(o, *consumer, st); }};

  std::printf("# e2e load: %d cores, load average %s at start, %.1f s per "
              "step, rates",
              static_cast<int>(std::thread::hardware_concurrency()),
              ispflow::bench::load_average("/").c_str(), o.seconds);
  for (auto r : o.rates)
    std::printf(" %d", r);
  std::printf("/s\n");
  std::fflush(stdout);

  auto run_id
    = std::to_string(duration_cast<milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count());
  int next = o.first;
  std::vector<step_result> results;
  auto rates = o.rates;
  // The half step's index in rates, once it is added.
  std::optional<size_t> half_step;
  for (size_t step = 0; step < rates.size(); ++step) {
    auto rate = rates[step];
    step_result r;
    r.rate = rate;
    auto count = static_cast<int>(rate * o.seconds);
    std::vector<std::string> subs;
    subs.reserve(static_cast<size_t>(count));
    std::map<std::string, long> cpu_before;
    for (auto& [name, pid] : watched)
      cpu_before[name] = ispflow::bench::cpu_ticks_with_children(pid);
    auto errors_before = dr.errors.load();
    auto interval = std::chrono::duration<double>(1.0 / rate);
    auto start = clock_type::now();
    for (int i = 0; i < count; ++i) {
      auto due = start + duration_cast<clock_type::duration>(interval * i);
      auto now = clock_type::now();
      if (due > now)
        std::this_thread::sleep_until(due);
      int n = next++;
      auto sub = subscriber_name(n);
      auto value = cloud_event(o, "e2e-" + run_id + "-" + std::to_string(n),
                               sub, payload(o, n, sub));
      auto* headers = RdKafka::Headers::create();
      headers->add("content-type", "application/cloudevents+json");
      {
        std::lock_guard<std::mutex> guard{st.mtx};
        st.pending[sub].published = clock_type::now();
      }
      for (;;) {
        auto rc = producer->produce(o.billing_topic,
                                    RdKafka::Topic::PARTITION_UA,
                                    RdKafka::Producer::RK_MSG_COPY,
                                    value.data(), value.size(), sub.data(),
                                    sub.size(), 0, headers, nullptr);
        if (rc == RdKafka::ERR__QUEUE_FULL) {
          producer->poll(1);
          continue;
        }
        if (rc != RdKafka::ERR_NO_ERROR) {
          delete headers;
          ++r.produce_errors;
        }
        break;
      }
      producer->poll(0);
      subs.push_back(sub);
    }
    auto published_at = clock_type::now();
    producer->flush(5000);
    r.published = subs.size();
    r.offered = static_cast<double>(subs.size())
                / std::chrono::duration<double>(published_at - start).count();
    // Wait for every outcome, or the settle time.
    auto deadline = published_at + milliseconds{o.settle_ms};
    for (;;) {
      size_t open = 0;
      {
        std::lock_guard<std::mutex> guard{st.mtx};
        for (auto& s : subs)
          if (!st.pending[s].done)
            ++open;
      }
      if (open == 0 || clock_type::now() >= deadline)
        break;
      std::this_thread::sleep_for(milliseconds{20});
    }
    std::vector<double> lat;
    std::vector<double> fetch;
    std::vector<double> relay;
    // Latencies by the second of the step in which they were published.
    std::map<long, second_latencies> by_second;
    std::optional<clock_type::time_point> first_end, last_end;
    {
      std::lock_guard<std::mutex> guard{st.mtx};
      for (auto& s : subs) {
        auto& x = st.pending[s];
        if (!x.done) {
          ++r.missing;
          continue;
        }
        if (x.failed) {
          ++r.failed;
          continue;
        }
        ++r.activated;
        first_end = std::min(first_end.value_or(x.ended), x.ended);
        last_end = std::max(last_end.value_or(x.ended), x.ended);
        fetch.push_back(x.fetch_ms);
        if (x.relay_ms >= 0)
          relay.push_back(x.relay_ms);
        lat.push_back(duration_cast<microseconds>(x.ended - x.published).count()
                      / 1000.0);
        if (o.timeline) {
          auto& sec
            = by_second[duration_cast<std::chrono::seconds>(x.published - start)
                          .count()];
          sec.total.push_back(lat.back());
          sec.fetch.push_back(x.fetch_ms);
          if (x.relay_ms >= 0)
            sec.relay.push_back(x.relay_ms);
        }
      }
    }
    r.produce_errors += dr.errors.load() - errors_before;
    std::sort(lat.begin(), lat.end());
    r.p50 = percentile(lat, 0.50);
    r.p90 = percentile(lat, 0.90);
    r.p99 = percentile(lat, 0.99);
    r.max = lat.empty() ? 0 : lat.back();
    std::sort(fetch.begin(), fetch.end());
    r.fetch_p50 = percentile(fetch, 0.50);
    r.fetch_p99 = percentile(fetch, 0.99);
    std::sort(relay.begin(), relay.end());
    r.relay_p50 = percentile(relay, 0.50);
    r.relay_p99 = percentile(relay, 0.99);
    // Completions per second between the first and the last one: a step
    // that falls behind stretches its completions over a longer time.
    auto span
      = first_end
          ? std::chrono::duration<double>(*last_end - *first_end).count()
          : 0.0;
    r.sustained = span > 0 ? static_cast<double>(r.activated - 1) / span : 0;
    r.kept_up = r.missing == 0 && r.failed == 0 && r.produce_errors == 0
                && r.sustained >= o.keep_up * rate
                && (o.max_p99_ms <= 0 || r.p99 <= o.max_p99_ms);
    std::printf("rate=%d offered=%.1f/s published=%zu activated=%zu failed=%zu "
                "missing=%zu produce_errors=%zu sustained=%.1f/s "
                "p50=%.1fms p90=%.1fms p99=%.1fms max=%.1fms "
                "saga_end_to_relay_p50=%.1fms p99=%.1fms "
                "lifecycle_record_to_here_p50=%.1fms p99=%.1fms load=%s %s",
                rate, r.offered, r.published, r.activated, r.failed, r.missing,
                r.produce_errors, r.sustained, r.p50, r.p90, r.p99, r.max,
                r.relay_p50, r.relay_p99, r.fetch_p50, r.fetch_p99,
                ispflow::bench::load_average("/").c_str(),
                r.kept_up ? "kept_up" : "BEHIND");
    auto step_s
      = std::chrono::duration<double>(clock_type::now() - start).count();
    for (auto& [name, pid] : watched) {
      auto after = ispflow::bench::cpu_ticks_with_children(pid);
      if (after < 0 || cpu_before[name] < 0)
        continue;
      auto cpu_s = ispflow::bench::ticks_to_seconds(after - cpu_before[name]);
      std::printf(" cpu_%s=%.0f%%/%.1fms", name.c_str(), 100.0 * cpu_s / step_s,
                  r.activated > 0
                    ? 1000.0 * cpu_s / static_cast<double>(r.activated)
                    : 0.0);
    }
    std::printf("\n");
    if (o.timeline)
      print_timeline(rate, by_second);
    std::fflush(stdout);
    results.push_back(r);
    auto last = step + 1 == rates.size();
    if (o.then_half && !half_step && (last || (!r.kept_up && !o.keep_going))) {
      auto half = static_cast<int>(std::lround(ceiling_of(results) / 2));
      if (half > 0) {
        // The rates after a step that fell behind are not run.
        rates.resize(step + 1);
        rates.push_back(half);
        half_step = rates.size() - 1;
        // The remaining subscribers of the steps not run are skipped:
        // the half step's follow every step's.
        for (size_t k = step + 1; k < o.rates.size(); ++k)
          next += static_cast<int>(o.rates[k] * o.seconds);
        continue;
      }
    }
    if (!r.kept_up && !o.keep_going)
      break;
  }
  st.stop = true;
  reader.join();
  consumer->close();

  double sustained = 0;
  int best_rate = 0;
  for (auto& r : results)
    if (r.kept_up && std::min(r.sustained, r.offered) > sustained) {
      // A step that kept up completed what was offered, not more.
      sustained = std::min(r.sustained, r.offered);
      best_rate = r.rate;
    }
  std::printf("sustained_activations_per_second=%.1f (highest rate kept up: "
              "%d/s) foreign_records=%" PRIu64 " consume_errors=%" PRIu64
              " load=%s\n",
              sustained, best_rate, st.foreign.load(), st.consume_errors.load(),
              ispflow::bench::load_average("/").c_str());
  // What a half step in a stack of its own is half of (bench-e2e.sh).
  if (o.half_of <= 0)
    std::printf("ceiling_activations_per_second=%.1f\n", ceiling_of(results));
  auto print_half = [](const step_result& h, double ceiling,
                       const char* where) {
    std::printf("half_step: %d/s, half the ceiling of %.1f/s%s: kept up %s, "
                "p50=%.1fms p99=%.1fms (goal p99 < 100 ms: %s)\n",
                h.rate, ceiling, where, h.kept_up ? "yes" : "no", h.p50, h.p99,
                h.kept_up && h.p99 < 100 ? "met" : "missed");
  };
  if (half_step && results.size() > *half_step)
    print_half(results[*half_step],
               ceiling_of({results.begin(), results.begin() + *half_step}), "");
  else if (o.half_of > 0 && !results.empty())
    print_half(results.front(), o.half_of, " (in a stack of its own)");
  return results.empty() ? 1 : 0;
}

#include "adapters/resilience/breaker_events.hpp"

#include "events/cloud_event.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

namespace ispflow::adapters::resilience {

namespace {

// Keys and names come from configuration; the schema wants ASCII-safe JSON
// strings of bounded length. Non-ASCII bytes become '?' so that the payload
// is always valid UTF-8.
void append_string(std::string& out, std::string_view s, size_t max_len) {
  out += '"';
  size_t n = 0;
  for (char ch : s) {
    if (n++ >= max_len)
      break;
    auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else if (c >= 0x80) {
      out += '?';
    } else {
      out += ch;
    }
  }
  out += '"';
}

void append_key(std::string& out, std::string_view key) {
  if (out.size() > 1)
    out += ',';
  append_string(out, key, key.size());
  out += ':';
}

void append_rate(std::string& out, double x) {
  if (!std::isfinite(x) || x < 0.0)
    x = -1.0;
  x = std::min(x, 100.0);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  out += buf;
}

int64_t micros_since_epoch(wall_time t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           t.time_since_epoch())
    .count();
}

} // namespace

std::string_view breaker_event_type(breaker_state to) noexcept {
  switch (to) {
    case breaker_state::open:
    case breaker_state::forced_open:
      return "saga.breaker_opened";
    case breaker_state::half_open:
      return "saga.breaker_half_open";
    case breaker_state::closed:
    case breaker_state::forced_closed:
      return "saga.breaker_closed";
  }
  return "saga.breaker_closed";
}

events::kafka_record
breaker_transition_record(const breaker_key& key,
                          const breaker_transition& transition,
                          const sagas::output_settings& settings,
                          wall_time at) {
  const auto& m = transition.metrics;
  auto endpoint = key.endpoint.empty() ? std::string{"default"} : key.endpoint;
  std::string json = "{";
  append_key(json, "schema_version");
  json += '1';
  append_key(json, "tenant_id");
  append_string(json, key.tenant, 64);
  append_key(json, "adapter");
  append_string(json, key.adapter, 64);
  append_key(json, "endpoint");
  append_string(json, endpoint, 512);
  append_key(json, "from");
  append_string(json, to_string(transition.from), 32);
  append_key(json, "to");
  append_string(json, to_string(transition.to), 32);
  append_key(json, "reason");
  append_string(json, to_string(transition.reason), 64);
  append_key(json, "failure_rate");
  append_rate(json, m.failure_rate);
  append_key(json, "slow_call_rate");
  append_rate(json, m.slow_call_rate);
  append_key(json, "calls");
  json += std::to_string(std::max(m.number_of_calls, int32_t{0}));
  append_key(json, "failed_calls");
  json += std::to_string(std::max(m.number_of_failed_calls, int32_t{0}));
  append_key(json, "slow_calls");
  json += std::to_string(std::max(m.number_of_slow_calls, int32_t{0}));
  json += '}';

  auto subject = key.tenant + "/" + key.adapter + "/" + endpoint;
  events::cloud_event ev;
  ev.id = subject + "/" + std::to_string(micros_since_epoch(at)) + "/"
          + std::string{to_string(transition.to)};
  ev.source = settings.source;
  ev.type = std::string{breaker_event_type(transition.to)};
  ev.time = settings.clock
              ? settings.clock()
              : sagas::rfc3339(
                std::chrono::time_point_cast<sagas::time_point::duration>(at));
  ev.subject = std::move(subject);
  ev.tenant_id = key.tenant;
  ev.traceparent = settings.traceparent;
  ev.data = std::move(json);
  return events::encode_binary(ev, settings.saga_topic);
}

void publish_breaker_transitions(breaker_registry& registry,
                                 breaker_record_sink sink,
                                 sagas::output_settings settings) {
  if (!sink)
    return;
  registry.on_transition(
    [sink = std::move(sink), settings = std::move(settings)](
      const breaker_key& key, const breaker_transition& tr) {
      sink(breaker_transition_record(key, tr, settings,
                                     std::chrono::system_clock::now()));
    });
}

} // namespace ispflow::adapters::resilience

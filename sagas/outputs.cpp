#include "sagas/outputs.hpp"

#include "events/cloud_event.hpp"
#include "sagas/repair_saga.hpp"

#include <array>
#include <cstdint>
#include <ctime>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <string_view>

namespace ispflow::sagas {

namespace {

// -- text hygiene -------------------------------------------------------------

// The length of the well-formed UTF-8 sequence at the start of `s`, or 0.
size_t utf8_sequence(std::string_view s) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  auto c = byte(0);
  if (c < 0x80)
    return 1;
  size_t n = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0)
      lo = 0xA0; // no overlong forms
    else if (c == 0xED)
      hi = 0x9F; // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0)
      lo = 0x90;
    else if (c == 0xF4)
      hi = 0x8F; // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < n || byte(1) < lo || byte(1) > hi)
    return 0;
  for (size_t i = 2; i < n; ++i)
    if (byte(i) < 0x80 || byte(i) > 0xBF)
      return 0;
  return n;
}

// `s` as valid UTF-8 (each invalid byte becomes U+FFFD), at most
// `max_code_points` long.
std::string clean_text(std::string_view s, size_t max_code_points) {
  std::string out;
  out.reserve(s.size());
  size_t code_points = 0;
  while (!s.empty() && code_points < max_code_points) {
    if (auto n = utf8_sequence(s); n > 0) {
      out.append(s.substr(0, n));
      s.remove_prefix(n);
    } else {
      out.append("\xEF\xBF\xBD");
      s.remove_prefix(1);
    }
    ++code_points;
  }
  return out;
}

// The schema limit of a free-text field, or 0 for other fields (which come
// from validated input or from the engine and are only made valid UTF-8).
size_t text_limit(std::string_view key) {
  if (key == "error" || key == "last_error" || key == "attention_error")
    return 2048;
  if (key == "reason")
    return 1024;
  return 0;
}

std::string field_text(std::string_view key, std::string_view value) {
  auto limit = text_limit(key);
  return clean_text(value, limit > 0 ? limit : value.size());
}

// -- JSON ---------------------------------------------------------------------

class json_object {
public:
  json_object() : writer_(buffer_) {
    writer_.StartObject();
  }

  void field(std::string_view key, std::string_view value) {
    name(key);
    writer_.String(value.data(),
                   static_cast<rapidjson::SizeType>(value.size()));
  }

  // Without it, a string literal would pick the bool overload.
  void field(std::string_view key, const char* value) {
    field(key, std::string_view{value});
  }

  void field(std::string_view key, int64_t value) {
    name(key);
    writer_.Int64(value);
  }

  void field(std::string_view key, bool value) {
    name(key);
    writer_.Bool(value);
  }

  std::string finish() {
    writer_.EndObject();
    return {buffer_.GetString(), buffer_.GetSize()};
  }

private:
  void name(std::string_view key) {
    writer_.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  }

  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

// -- envelope -----------------------------------------------------------------

int64_t micros_since_epoch(time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(
           t.time_since_epoch())
    .count();
}

events::kafka_record make_record(std::string type, std::string data,
                                 const saga_instance& inst,
                                 const output_settings& settings, size_t index,
                                 const std::string& topic) {
  events::cloud_event ev;
  ev.id = output_event_id(inst, index);
  ev.source = settings.source;
  ev.type = std::move(type);
  ev.time = settings.clock ? settings.clock() : rfc3339(inst.updated_at);
  ev.subject = inst.subscriber_id;
  ev.tenant_id = inst.tenant_id;
  // The saga's own trace (its billing event's) wins over the default.
  ev.traceparent = inst.traceparent.empty() ? settings.traceparent
                                            : inst.traceparent;
  ev.data = std::move(data);
  return events::encode_binary(ev, topic);
}

constexpr std::array<std::string_view, 9> saga_reserved{
  "schema_version", "tenant_id", "subscriber_id", "saga_id",      "saga",
  "saga_version",   "state",     "step",          "causation_id",
};

constexpr std::array<std::string_view, 5> lifecycle_reserved{
  "schema_version", "tenant_id", "subscriber_id", "saga_id", "causation_id",
};

template <size_t N>
bool reserved(const std::array<std::string_view, N>& keys,
              std::string_view key) {
  for (auto k : keys)
    if (k == key)
      return true;
  return false;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size()
         && s.substr(s.size() - suffix.size()) == suffix;
}

} // namespace

std::string output_event_id(const saga_instance& inst, size_t index) {
  return inst.id + "/" + std::to_string(micros_since_epoch(inst.updated_at))
         + "/" + std::to_string(index);
}

std::string rfc3339(time_point t) {
  auto us = micros_since_epoch(t);
  auto secs = us / 1'000'000;
  auto frac = us % 1'000'000;
  if (frac < 0) {
    frac += 1'000'000;
    --secs;
  }
  auto tt = static_cast<std::time_t>(secs);
  std::tm utc{};
  gmtime_r(&tt, &utc);
  char buf[40];
  auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  std::string out{buf, n};
  auto digits = std::to_string(frac);
  out += '.';
  out.append(6 - digits.size(), '0');
  out += digits;
  out += 'Z';
  return out;
}

events::kafka_record
saga_event_record(const emit_saga_event& ev, const saga_instance& inst,
                  const output_settings& settings, size_t index) {
  json_object json;
  json.field("schema_version", int64_t{1});
  json.field("tenant_id", inst.tenant_id);
  json.field("subscriber_id", inst.subscriber_id);
  json.field("saga_id", inst.id);
  json.field("saga", inst.name);
  json.field("saga_version", int64_t{inst.version});
  json.field("state", to_string(inst.state));
  if (!ev.step.empty())
    json.field("step", ev.step);
  json.field("causation_id", inst.causation);
  for (auto& [key, value] : ev.fields)
    if (!reserved(saga_reserved, key))
      json.field(key, field_text(key, value));
  return make_record(ev.type, json.finish(), inst, settings, index,
                     settings.saga_topic);
}

events::kafka_record
lifecycle_record(const emit_lifecycle& ev, const saga_instance& inst,
                 const output_settings& settings, size_t index) {
  bool failure = ends_with(ev.type, "_failed");
  json_object json;
  json.field("schema_version", int64_t{1});
  json.field("tenant_id", inst.tenant_id);
  json.field("subscriber_id", inst.subscriber_id);
  json.field("saga_id", inst.id);
  json.field("causation_id", inst.causation);
  for (auto& [key, value] : ev.fields) {
    if (reserved(lifecycle_reserved, key))
      continue;
    if (key == "compensated") {
      json.field(key, value == "true");
    } else if (failure && key == "error") {
      // Billing must always be told why.
      auto text = field_text(key, value);
      json.field(key, text.empty() ? std::string{"unspecified error"} : text);
    } else if (key == "failed_step") {
      // Empty when an operator cancelled the saga before it started.
      json.field(key, field_text(key, value));
    } else if (!value.empty()) {
      // An id that was never produced is absent, not empty.
      json.field(key, field_text(key, value));
    }
  }
  return make_record(ev.type, json.finish(), inst, settings, index,
                     settings.lifecycle_topic);
}

events::kafka_record drift_repaired_record(const saga_instance& inst,
                                           const output_settings& settings,
                                           size_t index) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  auto put = [&w](const char* key, std::string_view value) {
    w.Key(key);
    auto text = clean_text(value, value.size());
    w.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  };
  auto payload = [&inst](const std::string& key) {
    auto i = inst.payload.find(key);
    return i == inst.payload.end() ? std::string{} : i->second;
  };
  w.StartObject();
  w.Key("schema_version");
  w.Int(1);
  put("scan_id", payload("drift.scan_id"));
  put("tenant_id", inst.tenant_id);
  put("subscriber_id", inst.subscriber_id);
  w.Key("findings");
  w.StartArray();
  for (size_t n = 0;; ++n) {
    auto prefix = "drift.findings." + std::to_string(n) + ".";
    auto kind = payload(prefix + "kind");
    if (kind.empty())
      break;
    w.StartObject();
    put("system", payload(prefix + "system"));
    put("kind", kind);
    put("expected", payload(prefix + "expected"));
    put("observed", payload(prefix + "observed"));
    w.EndObject();
  }
  w.EndArray();
  put("repair", inst.id);
  put("saga_id", inst.id);
  w.EndObject();
  return make_record("drift.repaired", {buf.GetString(), buf.GetSize()}, inst,
                     settings, index, settings.saga_topic);
}

std::vector<events::kafka_record>
output_records(const std::vector<saga_command>& commands,
               const saga_instance& inst, const output_settings& settings) {
  std::vector<events::kafka_record> result;
  bool repair = inst.name == repair_saga;
  for (size_t i = 0; i < commands.size(); ++i) {
    if (auto x = std::get_if<emit_saga_event>(&commands[i])) {
      result.push_back(saga_event_record(*x, inst, settings, i));
    } else if (auto y = std::get_if<emit_lifecycle>(&commands[i])) {
      // A repair tells the operators, not billing: drift.repaired when it
      // completed; its failure shows in its saga.* events.
      if (!repair)
        result.push_back(lifecycle_record(*y, inst, settings, i));
      else if (!ends_with(y->type, "_failed"))
        result.push_back(drift_repaired_record(inst, settings, i));
    }
  }
  return result;
}

std::string trace_id(const saga_instance& inst) {
  // "00-<trace id>-<parent id>-<flags>"
  auto& tp = inst.traceparent;
  if (tp.size() != 55 || tp[2] != '-' || tp[35] != '-')
    return {};
  return tp.substr(3, 32);
}

} // namespace ispflow::sagas

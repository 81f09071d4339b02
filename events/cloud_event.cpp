#include "events/cloud_event.hpp"

#include "events/detail/envelope.hpp"
#include "events/intake_errors.hpp"
#include "events/json/bounded_parse.hpp"

#include <chrono>
#include <ctime>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace ispflow::events {

namespace {

intake_error envelope_error(std::string detail) {
  return {std::string{intake_errors::malformed_envelope}, std::move(detail)};
}

intake_error json_error(std::string detail) {
  return {std::string{intake_errors::malformed_json}, std::move(detail)};
}

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i]))
      return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// True if `value` is `media_type` with at most a `charset=utf-8` parameter.
bool is_media_type(std::string_view value, std::string_view media_type) {
  auto semi = value.find(';');
  if (!iequals(trim(value.substr(0, semi)), media_type))
    return false;
  if (semi == std::string_view::npos)
    return true;
  auto param = trim(value.substr(semi + 1));
  auto eq = param.find('=');
  if (eq == std::string_view::npos
      || !iequals(trim(param.substr(0, eq)), "charset"))
    return false;
  auto charset = trim(param.substr(eq + 1));
  if (charset.size() >= 2 && charset.front() == '"' && charset.back() == '"')
    charset = charset.substr(1, charset.size() - 2);
  return iequals(charset, "utf-8");
}

const kafka_header* find_header(const kafka_record& rec,
                                std::string_view name) {
  for (auto& h : rec.headers)
    if (!h.null_value && iequals(h.key, name))
      return &h;
  return nullptr;
}

std::string header_or_empty(const kafka_record& rec, std::string_view name) {
  auto* h = find_header(rec, name);
  return h ? h->value : std::string{};
}

bool digits(std::string_view s, size_t pos, size_t n, int& out) {
  if (pos + n > s.size())
    return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

// Checks the attributes shared by both modes once they are filled in.
std::optional<intake_error> check_attributes(const cloud_event& ev,
                                             const char* prefix) {
  auto name = [prefix](const char* attr) { return std::string{prefix} + attr; };
  // Lengths first: nothing below copies an oversized value into a detail.
  struct attribute {
    std::string name;
    const std::string* value;
    size_t max_bytes;
  };
  for (auto& [attr, value, max_bytes] :
       {attribute{name("id"), &ev.id, intake_limits::id_bytes},
        attribute{name("source"), &ev.source, intake_limits::source_bytes},
        attribute{name("type"), &ev.type, intake_limits::type_bytes},
        attribute{name("time"), &ev.time, intake_limits::time_bytes},
        attribute{name("subject"), &ev.subject, intake_limits::subject_bytes},
        attribute{name("tenantid"), &ev.tenant_id, intake_limits::tenant_bytes},
        attribute{"traceparent", &ev.traceparent, intake_limits::trace_bytes},
        attribute{"tracestate", &ev.tracestate, intake_limits::trace_bytes}})
    if (value->size() > max_bytes)
      return envelope_error(attr + ": " + std::to_string(value->size())
                            + " bytes, longer than the limit of "
                            + std::to_string(max_bytes));
  if (ev.specversion.empty())
    return envelope_error(name("specversion") + ": missing");
  if (ev.specversion != "1.0")
    return envelope_error(name("specversion") + ": must be \"1.0\", got \""
                          + ev.specversion + "\"");
  if (ev.id.empty())
    return envelope_error(name("id") + ": missing");
  if (ev.source.empty())
    return envelope_error(name("source") + ": missing");
  if (ev.type.empty())
    return envelope_error(name("type") + ": missing");
  if (!ev.time.empty() && !is_rfc3339(ev.time))
    return envelope_error(name("time") + ": not an RFC 3339 date-time: \""
                          + ev.time + "\"");
  return std::nullopt;
}

} // namespace

std::ostream& operator<<(std::ostream& os, const cloud_event& x) {
  os << "cloud_event{specversion=" << x.specversion << ", id=" << x.id
     << ", source=" << x.source << ", type=" << x.type;
  if (!x.time.empty())
    os << ", time=" << x.time;
  if (!x.subject.empty())
    os << ", subject=" << x.subject;
  if (!x.tenant_id.empty())
    os << ", tenantid=" << x.tenant_id;
  os << ", datacontenttype=" << x.datacontenttype;
  if (!x.traceparent.empty())
    os << ", traceparent=" << x.traceparent;
  if (!x.tracestate.empty())
    os << ", tracestate=" << x.tracestate;
  return os << ", data=" << x.data << "}";
}

std::ostream& operator<<(std::ostream& os, const intake_error& x) {
  return os << x.code << ": " << x.detail;
}

std::optional<int64_t> rfc3339_to_unix_ms(std::string_view s) {
  // 0123456789012345678
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM)
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(s, 0, 4, year) || s.size() < 20 || s[4] != '-'
      || !digits(s, 5, 2, month) || s[7] != '-' || !digits(s, 8, 2, day)
      || (s[10] != 'T' && s[10] != 't') || !digits(s, 11, 2, hour)
      || s[13] != ':' || !digits(s, 14, 2, minute) || s[16] != ':'
      || !digits(s, 17, 2, second))
    return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59
      || second > 60)
    return std::nullopt;
  static constexpr int days_in_month[] = {31, 29, 31, 30, 31, 30,
                                          31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > days_in_month[month - 1] || (month == 2 && day == 29 && !leap))
    return std::nullopt;
  size_t pos = 19;
  int64_t millis = 0;
  if (s[pos] == '.') {
    size_t start = ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - start < 3)
        millis = millis * 10 + (s[pos] - '0');
      ++pos;
    }
    if (pos == start)
      return std::nullopt;
    for (auto n = pos - start; n < 3; ++n)
      millis *= 10;
  }
  if (pos >= s.size())
    return std::nullopt;
  int64_t offset_minutes = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    if (pos + 1 != s.size())
      return std::nullopt;
  } else {
    if (s[pos] != '+' && s[pos] != '-')
      return std::nullopt;
    int off_h = 0, off_m = 0;
    if (pos + 6 != s.size() || !digits(s, pos + 1, 2, off_h)
        || s[pos + 3] != ':' || !digits(s, pos + 4, 2, off_m) || off_h > 23
        || off_m > 59)
      return std::nullopt;
    offset_minutes = (s[pos] == '-' ? -1 : 1) * (off_h * 60 + off_m);
  }
  // Days since 1970-01-01 of the civil date (proleptic Gregorian).
  int64_t y = year - (month <= 2 ? 1 : 0);
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = era * 146097 + doe - 719468;
  int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second
                 - offset_minutes * 60;
  return secs * 1000 + millis;
}

bool is_rfc3339(std::string_view s) {
  return rfc3339_to_unix_ms(s).has_value();
}

std::string rfc3339_now() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&secs, &utc);
  char buf[32];
  auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  std::string out{buf, n};
  auto frac = static_cast<int>(ms % 1000);
  out += '.';
  out += static_cast<char>('0' + frac / 100);
  out += static_cast<char>('0' + frac / 10 % 10);
  out += static_cast<char>('0' + frac % 10);
  out += 'Z';
  return out;
}

namespace detail {

envelope_reader::envelope_reader()
  : pool_(buffer_, sizeof buffer_), doc_(&pool_) {
  // nop
}

std::optional<intake_error>
envelope_reader::read_envelope(const kafka_record& rec) {
  auto* content_type = find_header(rec, "content-type");
  structured = content_type != nullptr
               && is_media_type(content_type->value,
                                "application/cloudevents+json");
  auto& ev = event;
  if (!structured) {
    if (content_type != nullptr
        && !is_media_type(content_type->value, "application/json"))
      return envelope_error("content-type: unsupported \"" + content_type->value
                            + "\" (expected application/json or "
                              "application/cloudevents+json)");
    ev.specversion = header_or_empty(rec, "ce_specversion");
    ev.id = header_or_empty(rec, "ce_id");
    ev.source = header_or_empty(rec, "ce_source");
    ev.type = header_or_empty(rec, "ce_type");
    ev.time = header_or_empty(rec, "ce_time");
    ev.subject = header_or_empty(rec, "ce_subject");
    ev.tenant_id = header_or_empty(rec, "ce_tenantid");
    ev.datacontenttype = content_type ? content_type->value
                                      : std::string{"application/json"};
    ev.traceparent = header_or_empty(rec, "traceparent");
    ev.tracestate = header_or_empty(rec, "tracestate");
    return check_attributes(ev, "ce_");
  }
  if (auto err = json::parse_bounded(doc_, rec.value))
    return json_error("structured event " + err->message);
  if (!doc_.IsObject())
    return json_error("structured event is not a JSON object");
  // Every attribute is a string; a member of any other type is malformed.
  std::optional<intake_error> bad;
  auto attr = [&](const char* name, std::string& out) {
    auto i = doc_.FindMember(name);
    if (i == doc_.MemberEnd() || i->value.IsNull())
      return;
    if (!i->value.IsString()) {
      if (!bad)
        bad = envelope_error(std::string{name} + ": must be a string");
      return;
    }
    out.assign(i->value.GetString(), i->value.GetStringLength());
  };
  ev.specversion.clear();
  ev.datacontenttype.clear();
  attr("specversion", ev.specversion);
  attr("id", ev.id);
  attr("source", ev.source);
  attr("type", ev.type);
  attr("time", ev.time);
  attr("subject", ev.subject);
  attr("tenantid", ev.tenant_id);
  attr("datacontenttype", ev.datacontenttype);
  attr("traceparent", ev.traceparent);
  attr("tracestate", ev.tracestate);
  if (bad)
    return bad;
  if (auto err = check_attributes(ev, ""))
    return err;
  if (ev.datacontenttype.empty())
    ev.datacontenttype = "application/json";
  else if (!is_media_type(ev.datacontenttype, "application/json"))
    return envelope_error("datacontenttype: unsupported \"" + ev.datacontenttype
                          + "\" (expected application/json)");
  if (doc_.HasMember("data_base64"))
    return envelope_error("data_base64: not supported, send JSON in data");
  return std::nullopt;
}

std::optional<intake_error>
envelope_reader::read_payload(const kafka_record& rec) {
  if (structured) {
    auto i = doc_.FindMember("data");
    if (i == doc_.MemberEnd())
      return json_error("/data: missing");
    if (!i->value.IsObject())
      return json_error("/data: payload must be a JSON object");
    payload = &i->value;
    return std::nullopt;
  }
  if (auto err = json::parse_bounded(doc_, rec.value))
    return json_error("payload " + err->message);
  if (!doc_.IsObject())
    return json_error("payload must be a JSON object");
  payload = &doc_;
  return std::nullopt;
}

std::string envelope_reader::compact_payload() const {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> writer{buf};
  payload->Accept(writer);
  return {buf.GetString(), buf.GetSize()};
}

} // namespace detail

decode_result decode_cloud_event(const kafka_record& rec) {
  detail::envelope_reader reader;
  if (auto err = reader.read_envelope(rec))
    return std::move(*err);
  if (auto err = reader.read_payload(rec))
    return std::move(*err);
  reader.event.data = reader.compact_payload();
  return std::move(reader.event);
}

kafka_record encode_binary(const cloud_event& ev, std::string topic) {
  kafka_record rec;
  rec.topic = std::move(topic);
  rec.key = ev.subject;
  rec.null_key = ev.subject.empty();
  rec.value = ev.data;
  auto add = [&rec](const char* key, const std::string& value) {
    if (!value.empty())
      rec.headers.push_back(kafka_header{key, value, false});
  };
  add("ce_specversion", ev.specversion);
  add("ce_id", ev.id);
  add("ce_source", ev.source);
  add("ce_type", ev.type);
  add("ce_time", ev.time);
  add("ce_subject", ev.subject);
  add("ce_tenantid", ev.tenant_id);
  add("content-type", ev.datacontenttype);
  add("traceparent", ev.traceparent);
  add("tracestate", ev.tracestate);
  return rec;
}

} // namespace ispflow::events

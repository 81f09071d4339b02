#include "events/intake_check.hpp"

#include "common/hex.hpp"
#include "events/cloud_event.hpp"
#include "events/detail/envelope.hpp"
#include "events/detail/schema_access.hpp"
#include "events/intake_errors.hpp"
#include "events/schema_registry.hpp"
#include "events/source_signature.hpp"

#include <chrono>
#include <openssl/sha.h>
#include <optional>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <utility>

namespace ispflow::events {

namespace {

int64_t unix_ms_now() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

constexpr std::string_view accepted_type = "intake.accepted";

std::string_view string_member(const rapidjson::Value& obj, const char* name) {
  auto i = obj.FindMember(name);
  if (i == obj.MemberEnd() || !i->value.IsString())
    return {};
  return {i->value.GetString(), i->value.GetStringLength()};
}

std::string accepted_payload(const cloud_event& ev, const kafka_record& rec) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  auto str = [&w](const char* key, const std::string& value) {
    w.Key(key);
    w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  };
  w.StartObject();
  w.Key("schema_version");
  w.Int(1);
  str("tenant_id", ev.tenant_id);
  str("subscriber_id", ev.subject);
  str("event_source", ev.source);
  str("event_id", ev.id);
  str("event_type", ev.type);
  str("topic", rec.topic);
  w.Key("partition");
  w.Int(rec.partition);
  w.Key("offset");
  w.Int64(rec.offset);
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

dead_letter refuse(const kafka_record& rec, const intake_settings& settings,
                   intake_error err) {
  return refuse_record(rec, settings.dead_letter_topic, err.code,
                       std::move(err.detail));
}

intake_error error(std::string_view code, std::string detail) {
  return {std::string{code}, std::move(detail)};
}

// PostgreSQL text and jsonb cannot hold U+0000 and text must be UTF-8. Such
// input could never be recorded, so it is refused here; otherwise it would
// fail its whole batch on every retry and stall the partition.
bool storable(std::string_view text) {
  if (text.find('\0') != std::string_view::npos)
    return false;
  auto* p = reinterpret_cast<const unsigned char*>(text.data());
  auto* end = p + text.size();
  while (p < end) {
    int n = *p < 0x80           ? 0
            : (*p >> 5) == 0x6  ? 1
            : (*p >> 4) == 0xe  ? 2
            : (*p >> 3) == 0x1e ? 3
                                : -1;
    if (n < 0 || end - p <= n)
      return n == 0;
    for (int i = 1; i <= n; ++i)
      if ((p[i] & 0xc0) != 0x80)
        return false;
    p += n + 1;
  }
  return true;
}

// The JSON pointer of the first string (or key) in `v` holding U+0000.
std::optional<std::string> find_nul(const rapidjson::Value& v,
                                    const std::string& at) {
  if (v.IsString())
    return std::string_view{v.GetString(), v.GetStringLength()}.find('\0')
               == std::string_view::npos
             ? std::nullopt
             : std::optional<std::string>{at.empty() ? "(root)" : at};
  if (v.IsObject()) {
    for (auto& m : v.GetObject()) {
      auto key = std::string{m.name.GetString(), m.name.GetStringLength()};
      auto here = at + "/" + key;
      if (key.find('\0') != std::string::npos)
        return here;
      if (auto hit = find_nul(m.value, here))
        return hit;
    }
  } else if (v.IsArray()) {
    size_t i = 0;
    for (auto& e : v.GetArray())
      if (auto hit = find_nul(e, at + "/" + std::to_string(i++)))
        return hit;
  }
  return std::nullopt;
}

constexpr std::string_view reserved_source_prefix = "ispflow/";

// True if `key` starts with "ispflow_" in any letter case: the header names
// ispflow writes on its own records.
bool reserved_header(std::string_view key) {
  constexpr std::string_view prefix = dead_letter_reserved_header_prefix;
  if (key.size() < prefix.size())
    return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    auto c = key[i];
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i])
      return false;
  }
  return true;
}

// The `ce_id` of an event's `intake.accepted` announcement:
// "intake.accepted:<tenant>:<source>:<id>", or, when that is longer than
// intake_limits::id_bytes (a 256-byte ce_id with a long source), the same
// with "sha256:" and the hex SHA-256 of "<tenant>:<source>:<id>" in place
// of that text, so that the announcement is a valid CloudEvent too.
std::string announcement_id(const cloud_event& ev) {
  auto identity = ev.tenant_id + ":" + ev.source + ":" + ev.id;
  auto prefix = std::string{accepted_type} + ":";
  if (prefix.size() + identity.size() <= intake_limits::id_bytes)
    return prefix + identity;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(identity.data()),
         identity.size(), digest);
  return prefix + "sha256:"
         + common::hex_encode(
           {reinterpret_cast<const char*>(digest), sizeof digest});
}

} // namespace

source_policy source_policy::allow_any() {
  source_policy out;
  out.any_ = true;
  return out;
}

void source_policy::allow(const std::string& source,
                          const std::vector<std::string>& tenants) {
  auto& set = tenants_[source];
  set.insert(tenants.begin(), tenants.end());
}

bool source_policy::allows(std::string_view source,
                           std::string_view tenant) const {
  if (source.substr(0, reserved_source_prefix.size()) == reserved_source_prefix)
    return false;
  if (any_)
    return true;
  auto i = tenants_.find(source);
  return i != tenants_.end()
         && (i->second.count(tenant) > 0 || i->second.count("*") > 0);
}

void source_policy::require_signature(const std::string& source,
                                      std::vector<std::string> keys) {
  if (keys.empty())
    keys_.erase(source);
  else
    keys_[source] = std::move(keys);
}

const std::vector<std::string>*
source_policy::signing_keys(std::string_view source) const {
  auto i = keys_.find(source);
  return i == keys_.end() ? nullptr : &i->second;
}

dead_letter refuse_record(const kafka_record& rec,
                          std::string_view dead_letter_topic,
                          std::string_view code, std::string detail) {
  dead_letter out;
  kafka_record copy = rec;
  copy.topic = std::string{dead_letter_topic};
  copy.partition = -1;
  copy.offset = -1;
  // The headers after ours are the record's; a producer's own `ispflow_*`
  // header is renamed, so that every `ispflow_*` header of the copy is ours
  // and a reader taking the first `ispflow_error` gets our reason.
  for (auto& h : copy.headers)
    if (reserved_header(h.key))
      h.key.insert(0, dead_letter_renamed_header_prefix);
  copy.headers.push_back(
    kafka_header{"ispflow_error", std::string{code}, false});
  copy.headers.push_back(kafka_header{"ispflow_error_detail", detail, false});
  copy.headers.push_back(
    kafka_header{"ispflow_source_topic", rec.topic, false});
  copy.headers.push_back(kafka_header{"ispflow_source_partition",
                                      std::to_string(rec.partition), false});
  copy.headers.push_back(
    kafka_header{"ispflow_source_offset", std::to_string(rec.offset), false});
  out.error = std::string{code};
  out.detail = std::move(detail);
  out.record = rec;
  out.emits.push_back(std::move(copy));
  return out;
}

intake_decision check_billing_record(const kafka_record& rec,
                                     const intake_settings& settings) {
  const auto& registry = schema_registry::builtin();
  detail::envelope_reader reader;
  if (auto err = reader.read_envelope(rec))
    return refuse(rec, settings, std::move(*err));
  const auto& ev = reader.event;
  for (auto [name, value] : {std::pair{"id", &ev.id},
                             {"source", &ev.source},
                             {"type", &ev.type},
                             {"time", &ev.time},
                             {"subject", &ev.subject},
                             {"tenantid", &ev.tenant_id},
                             {"traceparent", &ev.traceparent}})
    if (!storable(*value))
      return refuse(rec, settings,
                    error(intake_errors::malformed_envelope,
                          std::string{reader.structured ? "" : "ce_"} + name
                            + ": must be UTF-8 text without NUL bytes"));
  if (ev.tenant_id.empty())
    return refuse(rec, settings,
                  error(intake_errors::malformed_envelope,
                        reader.structured ? "tenantid: missing"
                                          : "ce_tenantid: missing"));
  if (ev.subject.empty())
    return refuse(rec, settings,
                  error(intake_errors::malformed_envelope,
                        reader.structured ? "subject: missing"
                                          : "ce_subject: missing"));
  // A source with a key proves each event: before anything else of the
  // record is believed (a forged one acts on nothing).
  if (settings.signing_keys)
    if (auto* keys = settings.signing_keys(ev.source)) {
      if (auto why = verify_signature(ev, rec, *keys))
        return refuse(rec, settings,
                      error(intake_errors::signature_invalid, std::move(*why)));
      auto now = settings.now_ms ? settings.now_ms() : unix_ms_now();
      if (auto why = check_signed_time(ev.time, now, settings.signed_window))
        return refuse(rec, settings,
                      error(intake_errors::signature_invalid, std::move(*why)));
    }
  if (!registry.is_billing_input(ev.type))
    return refuse(
      rec, settings,
      error(intake_errors::unknown_type,
            "ce_type: \"" + ev.type + "\" is not a billing input type"));
  if (auto err = reader.read_payload(rec))
    return refuse(rec, settings, std::move(*err));
  if (auto at = find_nul(*reader.payload, ""))
    return refuse(rec, settings,
                  error(intake_errors::malformed_json,
                        *at + ": U+0000 cannot be stored"));
  if (auto err = detail::schema_access::validate(registry, ev.type,
                                                 *reader.payload))
    return refuse(rec, settings, std::move(*err));
  if (settings.known_tenant && !settings.known_tenant(ev.tenant_id))
    return refuse(
      rec, settings,
      error(intake_errors::unknown_tenant,
            "ce_tenantid: tenant \"" + ev.tenant_id + "\" is not configured"));
  if (settings.source_allows
      && !settings.source_allows(ev.source, ev.tenant_id))
    return refuse(rec, settings,
                  error(intake_errors::tenant_not_allowed,
                        "ce_source \"" + ev.source
                          + "\" may not speak for tenant \"" + ev.tenant_id
                          + "\" (intake.sources)"));
  if (auto tenant = string_member(*reader.payload, "tenant_id");
      tenant != ev.tenant_id)
    return refuse(rec, settings,
                  error(intake_errors::envelope_mismatch,
                        "/tenant_id: \"" + std::string{tenant}
                          + "\" differs from ce_tenantid \"" + ev.tenant_id
                          + "\""));
  if (auto subscriber = string_member(*reader.payload, "subscriber_id");
      subscriber != ev.subject)
    return refuse(rec, settings,
                  error(intake_errors::envelope_mismatch,
                        "/subscriber_id: \"" + std::string{subscriber}
                          + "\" differs from ce_subject \"" + ev.subject
                          + "\""));
  accepted_event out;
  out.source = ev.source;
  out.id = ev.id;
  out.type = ev.type;
  out.time = ev.time;
  out.tenant_id = ev.tenant_id;
  out.subject = ev.subject;
  out.traceparent = ev.traceparent;
  out.data = reader.compact_payload();
  out.origin = rec;
  cloud_event saga_event;
  // Inbox identity is (tenant, source, id), so the announcement's is too.
  saga_event.id = announcement_id(ev);
  saga_event.source = "ispflow";
  saga_event.type = std::string{accepted_type};
  saga_event.time = settings.clock ? settings.clock() : rfc3339_now();
  saga_event.subject = ev.subject;
  saga_event.tenant_id = ev.tenant_id;
  saga_event.traceparent = ev.traceparent;
  saga_event.tracestate = ev.tracestate;
  saga_event.data = accepted_payload(ev, rec);
  out.emits.push_back(encode_binary(saga_event, settings.saga_topic));
  return out;
}

} // namespace ispflow::events

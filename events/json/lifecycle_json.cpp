#include "events/json/lifecycle_json.hpp"

#include "events/detail/json_util.hpp"

namespace ispflow::events::json {

using detail::get_bool;
using detail::get_int;
using detail::get_string;
using detail::json_writer;

namespace {

// Every `_failed` type shares this schema.
constexpr const char* failed_schema_type = "subscriber.activated_failed";

template <class T>
caf::expected<T>
read_common(std::string_view json, const char* type, rapidjson::Document& doc) {
  if (auto err = detail::parse_valid(doc, type, json))
    return err;
  T x;
  x.schema_version = static_cast<int32_t>(get_int(doc, "schema_version", 1));
  x.tenant_id = get_string(doc, "tenant_id");
  x.subscriber_id = get_string(doc, "subscriber_id");
  x.saga_id = get_string(doc, "saga_id");
  x.causation_id = get_string(doc, "causation_id");
  return x;
}

template <class T>
void write_common(json_writer& w, const T& x) {
  w.begin();
  w.field("schema_version", int64_t{x.schema_version});
  w.field("tenant_id", x.tenant_id);
  w.field("subscriber_id", x.subscriber_id);
  w.field("saga_id", x.saga_id);
  w.field("causation_id", x.causation_id);
}

} // namespace

template <>
caf::expected<subscriber_activated>
from_json<subscriber_activated>(std::string_view json) {
  rapidjson::Document doc;
  auto x = read_common<subscriber_activated>(
    json, subscriber_activated::event_type, doc);
  if (x) {
    x->plan_id = get_string(doc, "plan_id");
    x->ip_address = get_string(doc, "ip_address");
    x->onu_id = get_string(doc, "onu_id");
    x->cpe_id = get_string(doc, "cpe_id");
  }
  return x;
}

template <>
caf::expected<subscriber_suspended>
from_json<subscriber_suspended>(std::string_view json) {
  rapidjson::Document doc;
  return read_common<subscriber_suspended>(
    json, subscriber_suspended::event_type, doc);
}

template <>
caf::expected<subscriber_resumed>
from_json<subscriber_resumed>(std::string_view json) {
  rapidjson::Document doc;
  return read_common<subscriber_resumed>(json, subscriber_resumed::event_type,
                                         doc);
}

template <>
caf::expected<subscriber_plan_changed>
from_json<subscriber_plan_changed>(std::string_view json) {
  rapidjson::Document doc;
  auto x = read_common<subscriber_plan_changed>(
    json, subscriber_plan_changed::event_type, doc);
  if (x)
    x->plan_id = get_string(doc, "plan_id");
  return x;
}

template <>
caf::expected<subscriber_terminated>
from_json<subscriber_terminated>(std::string_view json) {
  rapidjson::Document doc;
  return read_common<subscriber_terminated>(
    json, subscriber_terminated::event_type, doc);
}

template <>
caf::expected<subscriber_failed>
from_json<subscriber_failed>(std::string_view json) {
  rapidjson::Document doc;
  auto x = read_common<subscriber_failed>(json, failed_schema_type, doc);
  if (x) {
    x->failed_step = get_string(doc, "failed_step");
    x->error = get_string(doc, "error");
    x->compensated = get_bool(doc, "compensated");
  }
  return x;
}

std::string to_json(const subscriber_activated& x) {
  json_writer w;
  write_common(w, x);
  w.field("plan_id", x.plan_id);
  w.optional("ip_address", x.ip_address);
  w.optional("onu_id", x.onu_id);
  w.optional("cpe_id", x.cpe_id);
  w.end();
  return w.str();
}

std::string to_json(const subscriber_suspended& x) {
  json_writer w;
  write_common(w, x);
  w.end();
  return w.str();
}

std::string to_json(const subscriber_resumed& x) {
  json_writer w;
  write_common(w, x);
  w.end();
  return w.str();
}

std::string to_json(const subscriber_plan_changed& x) {
  json_writer w;
  write_common(w, x);
  w.field("plan_id", x.plan_id);
  w.end();
  return w.str();
}

std::string to_json(const subscriber_terminated& x) {
  json_writer w;
  write_common(w, x);
  w.end();
  return w.str();
}

std::string to_json(const subscriber_failed& x) {
  json_writer w;
  write_common(w, x);
  w.field("failed_step", x.failed_step);
  w.field("error", x.error);
  w.flag("compensated", x.compensated);
  w.end();
  return w.str();
}

} // namespace ispflow::events::json

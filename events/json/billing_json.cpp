#include "events/json/billing_json.hpp"

#include "events/detail/json_util.hpp"

namespace ispflow::events::json {

using detail::get_int;
using detail::get_object;
using detail::get_string;
using detail::json_writer;

namespace {

// Reads the fields every billing input has.
template <class T>
void read_common(const rapidjson::Value& doc, T& x) {
  x.schema_version = static_cast<int32_t>(get_int(doc, "schema_version", 1));
  x.tenant_id = get_string(doc, "tenant_id");
  x.subscriber_id = get_string(doc, "subscriber_id");
  x.effective_at = get_string(doc, "effective_at");
}

template <class T>
void write_common(json_writer& w, const T& x) {
  w.begin();
  w.field("schema_version", int64_t{x.schema_version});
  w.field("tenant_id", x.tenant_id);
  w.field("subscriber_id", x.subscriber_id);
  w.optional("effective_at", x.effective_at);
}

bool has_access(const access_identifiers& a) {
  return !a.onu_serial.empty() || a.pon_port >= 0 || !a.nas_port_id.empty()
         || !a.nas_identifier.empty() || !a.cpe.serial.empty();
}

} // namespace

template <>
caf::expected<subscription_activated>
from_json<subscription_activated>(std::string_view json) {
  rapidjson::Document doc;
  if (auto err = detail::parse_valid(doc, subscription_activated::event_type,
                                     json))
    return err;
  subscription_activated x;
  read_common(doc, x);
  x.plan_id = get_string(doc, "plan_id");
  x.service_type = get_string(doc, "service_type");
  x.site = get_string(doc, "site");
  x.account_id = get_string(doc, "account_id");
  if (auto* access = get_object(doc, "access")) {
    x.access.onu_serial = get_string(*access, "onu_serial");
    x.access.pon_port = get_int(*access, "pon_port", -1);
    x.access.nas_port_id = get_string(*access, "nas_port_id");
    x.access.nas_identifier = get_string(*access, "nas_identifier");
    if (auto* cpe = get_object(*access, "cpe")) {
      x.access.cpe.serial = get_string(*cpe, "serial");
      x.access.cpe.oui = get_string(*cpe, "oui");
      x.access.cpe.product_class = get_string(*cpe, "product_class");
    }
  }
  if (auto* cred = get_object(doc, "credentials")) {
    x.credentials.username = get_string(*cred, "username");
    x.credentials.password = get_string(*cred, "password");
  }
  return x;
}

template <>
caf::expected<subscription_suspended>
from_json<subscription_suspended>(std::string_view json) {
  rapidjson::Document doc;
  if (auto err = detail::parse_valid(doc, subscription_suspended::event_type,
                                     json))
    return err;
  subscription_suspended x;
  read_common(doc, x);
  x.reason = get_string(doc, "reason");
  return x;
}

template <>
caf::expected<subscription_resumed>
from_json<subscription_resumed>(std::string_view json) {
  rapidjson::Document doc;
  if (auto err = detail::parse_valid(doc, subscription_resumed::event_type,
                                     json))
    return err;
  subscription_resumed x;
  read_common(doc, x);
  return x;
}

template <>
caf::expected<subscription_plan_changed>
from_json<subscription_plan_changed>(std::string_view json) {
  rapidjson::Document doc;
  if (auto err = detail::parse_valid(doc, subscription_plan_changed::event_type,
                                     json))
    return err;
  subscription_plan_changed x;
  read_common(doc, x);
  x.plan_id = get_string(doc, "plan_id");
  x.previous_plan_id = get_string(doc, "previous_plan_id");
  return x;
}

template <>
caf::expected<subscription_terminated>
from_json<subscription_terminated>(std::string_view json) {
  rapidjson::Document doc;
  if (auto err = detail::parse_valid(doc, subscription_terminated::event_type,
                                     json))
    return err;
  subscription_terminated x;
  read_common(doc, x);
  x.reason = get_string(doc, "reason");
  return x;
}

std::string to_json(const subscription_activated& x) {
  json_writer w;
  write_common(w, x);
  w.field("plan_id", x.plan_id);
  w.field("service_type", x.service_type);
  w.field("site", x.site);
  w.optional("account_id", x.account_id);
  if (has_access(x.access)) {
    w.begin("access");
    w.optional("onu_serial", x.access.onu_serial);
    if (x.access.pon_port >= 0)
      w.field("pon_port", x.access.pon_port);
    w.optional("nas_port_id", x.access.nas_port_id);
    w.optional("nas_identifier", x.access.nas_identifier);
    if (!x.access.cpe.serial.empty()) {
      w.begin("cpe");
      w.field("serial", x.access.cpe.serial);
      w.field("oui", x.access.cpe.oui);
      w.optional("product_class", x.access.cpe.product_class);
      w.end();
    }
    w.end();
  }
  if (!x.credentials.username.empty()) {
    w.begin("credentials");
    w.field("username", x.credentials.username);
    w.field("password", x.credentials.password);
    w.end();
  }
  w.end();
  return w.str();
}

std::string to_json(const subscription_suspended& x) {
  json_writer w;
  write_common(w, x);
  w.field("reason", x.reason);
  w.end();
  return w.str();
}

std::string to_json(const subscription_resumed& x) {
  json_writer w;
  write_common(w, x);
  w.end();
  return w.str();
}

std::string to_json(const subscription_plan_changed& x) {
  json_writer w;
  write_common(w, x);
  w.field("plan_id", x.plan_id);
  w.optional("previous_plan_id", x.previous_plan_id);
  w.end();
  return w.str();
}

std::string to_json(const subscription_terminated& x) {
  json_writer w;
  write_common(w, x);
  w.optional("reason", x.reason);
  w.end();
  return w.str();
}

} // namespace ispflow::events::json

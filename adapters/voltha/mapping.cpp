#include "adapters/voltha/mapping.hpp"

#include "adapters/voltha/device.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <rapidjson/document.h>

namespace ispflow::adapters::voltha {

using events::adapter_outcome;

std::string_view to_string(admin_state x) noexcept {
  switch (x) {
    case admin_state::unknown:
      return "UNKNOWN";
    case admin_state::preprovisioned:
      return "PREPROVISIONED";
    case admin_state::enabled:
      return "ENABLED";
    case admin_state::disabled:
      return "DISABLED";
    case admin_state::downloading_image:
      return "DOWNLOADING_IMAGE";
  }
  return "UNKNOWN";
}

std::string_view to_string(oper_status x) noexcept {
  switch (x) {
    case oper_status::unknown:
      return "UNKNOWN";
    case oper_status::discovered:
      return "DISCOVERED";
    case oper_status::activating:
      return "ACTIVATING";
    case oper_status::testing:
      return "TESTING";
    case oper_status::active:
      return "ACTIVE";
    case oper_status::failed:
      return "FAILED";
    case oper_status::reconciling:
      return "RECONCILING";
    case oper_status::reconciling_failed:
      return "RECONCILING_FAILED";
    case oper_status::rebooted:
      return "REBOOTED";
  }
  return "UNKNOWN";
}

std::string_view to_string(connect_status x) noexcept {
  switch (x) {
    case connect_status::unknown:
      return "UNKNOWN";
    case connect_status::unreachable:
      return "UNREACHABLE";
    case connect_status::reachable:
      return "REACHABLE";
  }
  return "UNKNOWN";
}

std::string to_string(grpc_code x) {
  static constexpr std::array<const char*, 17> names{
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
  };
  auto i = static_cast<size_t>(x);
  if (i < names.size())
    return names[i];
  return "CODE_" + std::to_string(i);
}

adapter_outcome outcome_of(grpc_code code, call_effect effect) noexcept {
  switch (code) {
    case grpc_code::ok:
      return adapter_outcome::succeeded;
    case grpc_code::deadline_exceeded:
      return effect == call_effect::write ? adapter_outcome::unknown_outcome
                                          : adapter_outcome::retryable_failure;
    case grpc_code::unavailable:
    case grpc_code::resource_exhausted:
    case grpc_code::aborted:
    case grpc_code::internal:
    case grpc_code::unknown:
    case grpc_code::cancelled:
      return adapter_outcome::retryable_failure;
    case grpc_code::invalid_argument:
    case grpc_code::not_found:
    case grpc_code::already_exists:
    case grpc_code::permission_denied:
    case grpc_code::failed_precondition:
    case grpc_code::out_of_range:
    case grpc_code::unimplemented:
    case grpc_code::data_loss:
    case grpc_code::unauthenticated:
      return adapter_outcome::permanent_failure;
  }
  return adapter_outcome::permanent_failure;
}

bool is_connect_point_not_found(std::string_view body) noexcept {
  return body.find("ConnectPoint not found") != std::string_view::npos;
}

adapter_outcome outcome_of(const http_answer& answer,
                           service_call call) noexcept {
  switch (answer.transport) {
    case http_transport::not_sent:
      return adapter_outcome::retryable_failure;
    case http_transport::lost_after_send:
      return call == service_call::read ? adapter_outcome::retryable_failure
                                        : adapter_outcome::unknown_outcome;
    case http_transport::completed:
      break;
  }
  auto s = answer.status;
  if (s == 200 || s == 201 || s == 204)
    return adapter_outcome::succeeded;
  if (s == 500 && is_connect_point_not_found(answer.body)
      && call != service_call::read)
    return call == service_call::remove ? adapter_outcome::succeeded
                                        : adapter_outcome::permanent_failure;
  if (s >= 500 || s == 408 || s == 429)
    return adapter_outcome::retryable_failure;
  return adapter_outcome::permanent_failure;
}

adapter_outcome connect_point_missing(oper_status onu) noexcept {
  return onu == oper_status::active ? adapter_outcome::permanent_failure
                                    : adapter_outcome::retryable_failure;
}

std::string uni_connect_point::location() const {
  return device_id + "/" + std::to_string(port_no);
}

std::string onos_device_id(uint64_t datapath_id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "of:%016llx",
                static_cast<unsigned long long>(datapath_id));
  return buf;
}

std::string port_name(std::string_view serial, uint32_t uni) {
  std::string res{serial};
  res += '-';
  res += std::to_string(uni);
  return res;
}

namespace {

std::string percent_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string res;
  for (unsigned char c : text) {
    bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                 || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'
                 || c == '~';
    if (plain) {
      res += static_cast<char>(c);
    } else {
      res += '%';
      res += hex[c >> 4];
      res += hex[c & 0x0F];
    }
  }
  return res;
}

} // namespace

std::string service_path(std::string_view port, const service_tags& tags) {
  std::string res = "/onos/olt/oltapp/services/";
  res += percent_encode(port);
  if (tags.s_tag != 0 || tags.c_tag != 0) {
    res += '/';
    res += std::to_string(tags.s_tag);
    res += '/';
    res += std::to_string(tags.c_tag);
    res += '/';
    res += std::to_string(tags.tp_id);
  }
  return res;
}

} // namespace ispflow::adapters::voltha

namespace ispflow::adapters::voltha {

std::string programmed_path(const uni_connect_point& cp) {
  // ':' is a valid path character; Jersey hands "of:..." to the resource.
  return "/onos/olt/oltapp/programmed-subscribers/" + cp.device_id + "/"
         + std::to_string(cp.port_no);
}

namespace {

// A tag as the UniTagInformation codec writes it (a number; a numeric
// string is accepted too).
std::optional<long> tag_value(const rapidjson::Value& obj, const char* key) {
  auto i = obj.FindMember(key);
  if (i == obj.MemberEnd())
    return std::nullopt;
  if (i->value.IsInt64())
    return static_cast<long>(i->value.GetInt64());
  if (i->value.IsString()) {
    char* end = nullptr;
    auto text = i->value.GetString();
    auto v = std::strtol(text, &end, 10);
    if (end != text && *end == '\0')
      return v;
  }
  return std::nullopt;
}

} // namespace

std::optional<bool> lists_service(std::string_view body,
                                  const uni_connect_point& cp,
                                  const service_tags& tags) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject())
    return std::nullopt;
  auto entries = doc.FindMember("entries");
  if (entries == doc.MemberEnd() || !entries->value.IsArray())
    return std::nullopt;
  auto location = cp.location();
  bool any = tags.s_tag == 0 && tags.c_tag == 0;
  for (auto& e : entries->value.GetArray()) {
    if (!e.IsObject())
      return std::nullopt;
    auto loc = e.FindMember("location");
    if (loc == e.MemberEnd() || !loc->value.IsString())
      return std::nullopt;
    if (location != loc->value.GetString())
      continue;
    if (any)
      return true;
    auto info = e.FindMember("tagInfo");
    if (info == e.MemberEnd() || !info->value.IsObject())
      return std::nullopt;
    auto s_tag = tag_value(info->value, "ponSTag");
    auto c_tag = tag_value(info->value, "ponCTag");
    auto tp_id = tag_value(info->value, "technologyProfileId");
    if (s_tag == tags.s_tag && c_tag == tags.c_tag && tp_id == tags.tp_id)
      return true;
  }
  return false;
}

} // namespace ispflow::adapters::voltha

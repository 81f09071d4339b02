#include "adapters/genieacs/wire.hpp"

#include "events/json/bounded_parse.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace ispflow::adapters::genieacs {

namespace {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

void put(json_writer& w, std::string_view s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

std::string_view trim_base(std::string_view base) {
  while (!base.empty() && base.back() == '/')
    base.remove_suffix(1);
  return base;
}

} // namespace

std::string url_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (auto ch : text) {
    auto c = static_cast<unsigned char>(ch);
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                      || (c >= '0' && c <= '9') || c == '-' || c == '.'
                      || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0x0F];
    }
  }
  return out;
}

std::string path_id(std::string_view device_id) {
  return url_encode(device_id);
}

std::string unique_key_for(std::string_view operation,
                           std::string_view idempotency_key) {
  std::string out{"ispflow:"};
  out += operation;
  out += ':';
  out += idempotency_key;
  return out;
}

std::string task_item_url(std::string_view base_url, std::string_view task_id) {
  std::string url{trim_base(base_url)};
  url += "/tasks/";
  url += url_encode(task_id);
  return url;
}

std::string query_url(std::string_view base_url, std::string_view collection,
                      std::string_view query_json,
                      std::string_view projection) {
  std::string url{trim_base(base_url)};
  url += '/';
  url += collection;
  url += "/?query=";
  url += url_encode(query_json);
  if (!projection.empty()) {
    url += "&projection=";
    url += url_encode(projection);
  }
  return url;
}

std::string task_url(std::string_view base_url, std::string_view device_id,
                     std::chrono::milliseconds timeout) {
  std::string url{trim_base(base_url)};
  url += "/devices/";
  url += path_id(device_id);
  url += "/tasks?connection_request&timeout=";
  url += std::to_string(timeout.count());
  return url;
}

std::string device_query(std::string_view serial, std::string_view oui,
                         std::string_view product_class) {
  rapidjson::StringBuffer buf;
  json_writer w{buf};
  w.StartObject();
  w.Key("_deviceId._SerialNumber");
  put(w, serial);
  if (!oui.empty()) {
    w.Key("_deviceId._OUI");
    put(w, oui);
  }
  if (!product_class.empty()) {
    w.Key("_deviceId._ProductClass");
    put(w, product_class);
  }
  w.EndObject();
  return buf.GetString();
}

std::string field_query(std::string_view field, std::string_view value) {
  rapidjson::StringBuffer buf;
  json_writer w{buf};
  w.StartObject();
  put(w, field);
  put(w, value);
  w.EndObject();
  return buf.GetString();
}

std::string unique_key_query(std::string_view device, std::string_view key) {
  rapidjson::StringBuffer buf;
  json_writer w{buf};
  w.StartObject();
  w.Key("device");
  put(w, device);
  w.Key("uniqueKey");
  put(w, key);
  w.EndObject();
  return buf.GetString();
}

std::string set_parameters_task(
  const std::vector<std::pair<std::string, std::string>>& values,
  std::string_view unique_key) {
  rapidjson::StringBuffer buf;
  json_writer w{buf};
  w.StartObject();
  w.Key("name");
  w.String("setParameterValues");
  w.Key("parameterValues");
  w.StartArray();
  for (const auto& [path, value] : values) {
    w.StartArray();
    put(w, path);
    put(w, value);
    w.String("xsd:string");
    w.EndArray();
  }
  w.EndArray();
  w.Key("uniqueKey");
  put(w, unique_key);
  w.EndObject();
  return buf.GetString();
}

std::string factory_reset_task(std::string_view unique_key) {
  rapidjson::StringBuffer buf;
  json_writer w{buf};
  w.StartObject();
  w.Key("name");
  w.String("factoryReset");
  w.Key("uniqueKey");
  put(w, unique_key);
  w.EndObject();
  return buf.GetString();
}

std::string_view to_string(task_result x) noexcept {
  switch (x) {
    case task_result::done:
      return "done";
    case task_result::queued:
      return "queued";
    case task_result::faulted:
      return "faulted";
    case task_result::connection_error:
      return "connection_error";
    case task_result::no_device:
      return "no_device";
    case task_result::rejected:
      return "rejected";
    case task_result::server_error:
      return "server_error";
    case task_result::unexpected:
      break;
  }
  return "unexpected";
}

task_result classify_task_reply(int status, std::string_view reason) noexcept {
  if (status == 200)
    return task_result::done;
  if (status == 202) {
    if (reason == "Task queued but not processed")
      return task_result::queued;
    if (reason == "Task faulted")
      return task_result::faulted;
    return task_result::connection_error;
  }
  if (status == 404)
    return task_result::no_device;
  if (status >= 500 || status == 429)
    return task_result::server_error;
  if (status >= 400)
    return task_result::rejected;
  return task_result::unexpected;
}

namespace {

std::optional<std::string> id_of(const rapidjson::Value& v) {
  if (!v.IsObject())
    return std::nullopt;
  auto i = v.FindMember("_id");
  if (i == v.MemberEnd() || !i->value.IsString())
    return std::nullopt;
  return std::string{i->value.GetString()};
}

} // namespace

std::optional<std::vector<std::string>> parse_ids(std::string_view body) {
  rapidjson::Document doc;
  ispflow::events::json::parse_bounded(doc, body);
  if (doc.HasParseError() || !doc.IsArray())
    return std::nullopt;
  std::vector<std::string> out;
  for (const auto& v : doc.GetArray()) {
    auto id = id_of(v);
    if (!id)
      return std::nullopt;
    out.push_back(std::move(*id));
  }
  return out;
}

std::optional<std::string> parse_id(std::string_view body) {
  rapidjson::Document doc;
  ispflow::events::json::parse_bounded(doc, body);
  if (doc.HasParseError())
    return std::nullopt;
  return id_of(doc);
}

std::optional<std::string> first_fault(std::string_view body) {
  rapidjson::Document doc;
  ispflow::events::json::parse_bounded(doc, body);
  if (doc.HasParseError() || !doc.IsArray() || doc.Empty()
      || !doc[0].IsObject())
    return std::nullopt;
  const auto& f = doc[0];
  auto text = [&f](const char* key) {
    auto i = f.FindMember(key);
    return i != f.MemberEnd() && i->value.IsString()
             ? std::string{i->value.GetString()}
             : std::string{};
  };
  auto code = text("code");
  auto message = text("message");
  if (message.empty())
    return code;
  return code + ": " + message;
}

std::string error_text(int status, std::string_view body) {
  constexpr size_t max_len = 300;
  if (body.empty())
    return "HTTP " + std::to_string(status);
  if (body.size() <= max_len)
    return std::string{body};
  return std::string{body.substr(0, max_len)} + "...";
}

} // namespace ispflow::adapters::genieacs

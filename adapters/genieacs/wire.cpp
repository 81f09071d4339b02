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

std::string tag_url(std::string_view base_url, std::string_view device_id,
                    std::string_view tag) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string url{trim_base(base_url)};
  url += "/devices/";
  url += path_id(device_id);
  url += "/tags/";
  for (unsigned char ch : tag) {
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
        || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-') {
      url += static_cast<char>(ch);
    } else {
      url += '%';
      url += hex[ch >> 4];
      url += hex[ch & 0x0F];
    }
  }
  return url;
}

std::optional<std::optional<std::vector<std::string>>>
parse_tags(std::string_view body) {
  using tags = std::vector<std::string>;
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsArray())
    return std::nullopt;
  if (doc.Empty())
    return std::optional<tags>{};
  if (!doc[0].IsObject())
    return std::nullopt;
  tags out;
  if (auto t = doc[0].FindMember("_tags");
      t != doc[0].MemberEnd() && t->value.IsArray())
    for (const auto& tag : t->value.GetArray())
      if (tag.IsString())
        out.emplace_back(tag.GetString(), tag.GetStringLength());
  return std::optional<tags>{std::move(out)};
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
    case task_result::offline:
      return "offline";
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
    if (reason == "Device is offline")
      return task_result::offline;
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

std::string_view to_string(data_model x) noexcept {
  switch (x) {
    case data_model::tr098:
      return "tr098";
    case data_model::tr181:
      return "tr181";
    case data_model::unknown:
      break;
  }
  return "auto";
}

std::optional<data_model> parse_data_model(std::string_view text) noexcept {
  if (text == "tr098" || text == "tr-098")
    return data_model::tr098;
  if (text == "tr181" || text == "tr-181")
    return data_model::tr181;
  if (text == "auto")
    return data_model::unknown;
  return std::nullopt;
}

namespace {

constexpr const char* tr098_cr_url
  = "InternetGatewayDevice.ManagementServer.ConnectionRequestURL";
constexpr const char* tr181_cr_url
  = "Device.ManagementServer.ConnectionRequestURL";

std::string text_of(const rapidjson::Value& v) {
  if (v.IsString())
    return std::string{v.GetString(), v.GetStringLength()};
  if (v.IsBool())
    return v.GetBool() ? "true" : "false";
  rapidjson::StringBuffer buf;
  json_writer w{buf};
  v.Accept(w);
  return buf.GetString();
}

int64_t time_at(const rapidjson::Value& doc, const char* key) {
  auto i = doc.FindMember(key);
  if (i == doc.MemberEnd() || !i->value.IsString())
    return 0;
  return parse_time_ms(i->value.GetString()).value_or(0);
}

} // namespace

std::string device_lookup_projection() {
  std::string out{"_id,_deviceId._ProductClass,"};
  out += tr098_cr_url;
  out += ',';
  out += tr181_cr_url;
  return out;
}

std::optional<std::vector<device_info>> parse_devices(std::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsArray())
    return std::nullopt;
  std::vector<device_info> out;
  for (const auto& v : doc.GetArray()) {
    auto id = id_of(v);
    if (!id)
      return std::nullopt;
    device_info d;
    d.id = std::move(*id);
    if (auto* pc = at_path(v, "_deviceId._ProductClass");
        pc != nullptr && pc->IsString())
      d.product_class = pc->GetString();
    if (at_path(v, tr098_cr_url) != nullptr)
      d.model = data_model::tr098;
    else if (at_path(v, tr181_cr_url) != nullptr)
      d.model = data_model::tr181;
    out.push_back(std::move(d));
  }
  return out;
}

data_model choose_data_model(const tenant_settings& ts,
                             const std::string& product_class,
                             data_model detected) {
  if (auto i = ts.product_class_models.find(product_class);
      i != ts.product_class_models.end() && i->second != data_model::unknown)
    return i->second;
  if (ts.model != data_model::unknown)
    return ts.model;
  if (detected != data_model::unknown)
    return detected;
  return data_model::tr098;
}

std::optional<int64_t> parse_time_ms(std::string_view t) noexcept {
  // YYYY-MM-DDTHH:MM:SS[.fff]Z
  auto digits = [&t](size_t pos, size_t n) -> std::optional<int> {
    if (pos + n > t.size())
      return std::nullopt;
    int v = 0;
    for (size_t i = pos; i < pos + n; ++i) {
      if (t[i] < '0' || t[i] > '9')
        return std::nullopt;
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  if (t.size() < 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T'
      || t[13] != ':' || t[16] != ':')
    return std::nullopt;
  auto y = digits(0, 4);
  auto mo = digits(5, 2);
  auto d = digits(8, 2);
  auto h = digits(11, 2);
  auto mi = digits(14, 2);
  auto s = digits(17, 2);
  if (!y || !mo || !d || !h || !mi || !s || *mo < 1 || *mo > 12 || *d < 1
      || *d > 31 || *h > 23 || *mi > 59 || *s > 60)
    return std::nullopt;
  size_t pos = 19;
  int64_t ms = 0;
  if (t[pos] == '.') {
    ++pos;
    int64_t scale = 100;
    size_t start = pos;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
      ms += (t[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start)
      return std::nullopt;
  }
  if (pos + 1 != t.size() || t[pos] != 'Z')
    return std::nullopt;
  // Days from civil (Howard Hinnant's algorithm).
  int yy = *y - (*mo <= 2 ? 1 : 0);
  int era = (yy >= 0 ? yy : yy - 399) / 400;
  int yoe = yy - era * 400;
  int mp = (*mo + 9) % 12;
  int doy = (153 * mp + 2) / 5 + *d - 1;
  int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = static_cast<int64_t>(era) * 146097 + doe - 719468;
  return ((days * 24 + *h) * 60 + *mi) * 60'000 + int64_t{*s} * 1000 + ms;
}

std::optional<std::optional<device_times>>
parse_device_times(std::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsArray())
    return std::nullopt;
  if (doc.Empty())
    return std::optional<device_times>{};
  if (!doc[0].IsObject())
    return std::nullopt;
  device_times out;
  out.last_inform = time_at(doc[0], "_lastInform");
  out.last_boot = time_at(doc[0], "_lastBoot");
  out.last_bootstrap = time_at(doc[0], "_lastBootstrap");
  return std::optional<device_times>{out};
}

std::optional<std::optional<std::map<std::string, std::string>>>
parse_values(std::string_view body, const std::vector<std::string>& paths) {
  using values = std::map<std::string, std::string>;
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsArray())
    return std::nullopt;
  if (doc.Empty())
    return std::optional<values>{};
  if (!doc[0].IsObject())
    return std::nullopt;
  values out;
  for (const auto& path : paths) {
    auto* node = at_path(doc[0], path);
    if (node == nullptr || !node->IsObject())
      continue;
    // A parameter whose value GenieACS never fetched has no `_value`.
    auto v = node->FindMember("_value");
    out[path] = v == node->MemberEnd() ? std::string{} : text_of(v->value);
  }
  return std::optional<values>{std::move(out)};
}

const rapidjson::Value* at_path(const rapidjson::Value& doc,
                                std::string_view path) {
  const rapidjson::Value* node = &doc;
  while (!path.empty()) {
    auto dot = path.find('.');
    auto name = path.substr(0, dot);
    if (!node->IsObject())
      return nullptr;
    auto i = node->FindMember(rapidjson::Value{rapidjson::StringRef(
      name.data(), static_cast<rapidjson::SizeType>(name.size()))});
    if (i == node->MemberEnd())
      return nullptr;
    node = &i->value;
    path = dot == std::string_view::npos ? std::string_view{}
                                         : path.substr(dot + 1);
  }
  return node;
}

} // namespace ispflow::adapters::genieacs

#include "adapters/genieacs/observe.hpp"

#include "adapters/genieacs/wire.hpp"
#include "events/errc.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace ispflow::adapters::genieacs {

namespace {

std::string value_at(const rapidjson::Value& doc, std::string_view path) {
  auto* node = at_path(doc, path);
  if (node == nullptr || !node->IsObject())
    return {};
  auto v = node->FindMember("_value");
  if (v == node->MemberEnd() || !v->value.IsString())
    return {};
  return {v->value.GetString(), v->value.GetStringLength()};
}

} // namespace

std::string ids_query(const std::vector<std::string>& ids) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  w.StartObject();
  w.Key("_id");
  w.StartObject();
  w.Key("$in");
  w.StartArray();
  for (const auto& id : ids)
    w.String(id.data(), static_cast<rapidjson::SizeType>(id.size()));
  w.EndArray();
  w.EndObject();
  w.EndObject();
  return buf.GetString();
}

std::string observe_projection(const tenant_settings& ts) {
  return "_id,_tags," + ts.pppoe_username_path + ","
         + ts.tr181_pppoe_username_path;
}

std::optional<std::map<std::string, observed_device>>
parse_observed(std::string_view body, const tenant_settings& ts) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsArray())
    return std::nullopt;
  std::map<std::string, observed_device> out;
  for (const auto& d : doc.GetArray()) {
    if (!d.IsObject())
      return std::nullopt;
    auto id = d.FindMember("_id");
    if (id == d.MemberEnd() || !id->value.IsString())
      return std::nullopt;
    observed_device x;
    x.pppoe_username = value_at(d, ts.pppoe_username_path);
    if (x.pppoe_username.empty())
      x.pppoe_username = value_at(d, ts.tr181_pppoe_username_path);
    if (auto t = d.FindMember("_tags");
        t != d.MemberEnd() && t->value.IsArray())
      for (const auto& tag : t->value.GetArray())
        if (tag.IsString())
          x.tags.emplace_back(tag.GetString(), tag.GetStringLength());
    out[id->value.GetString()] = std::move(x);
  }
  return out;
}

caf::expected<std::map<std::string, observed_device>>
observe_devices(const tenant_settings& ts, const std::vector<std::string>& ids,
                const fetch_fn& fetch, uint64_t& requests) {
  std::map<std::string, observed_device> out;
  for (size_t first = 0; first < ids.size(); first += observe_chunk) {
    auto last = std::min(ids.size(), first + observe_chunk);
    std::vector<std::string> chunk(ids.begin() + first, ids.begin() + last);
    http::request req;
    req.url = query_url(ts.base_url, "devices", ids_query(chunk),
                        observe_projection(ts));
    req.timeout = ts.call_timeout;
    req.connect_timeout = ts.connect_timeout;
    if (!ts.reuse_connections)
      req.headers.emplace_back("Connection", "close");
    if (!ts.authorization.empty())
      req.headers.emplace_back("Authorization", ts.authorization);
    ++requests;
    auto res = fetch(std::move(req));
    if (!res.has_response())
      return caf::make_error(errc::unspecified,
                             "genieacs: devices: "
                               + std::string{to_string(res.error)} + ": "
                               + res.error_text);
    if (res.status != 200)
      return caf::make_error(errc::unspecified,
                             "genieacs: devices: "
                               + error_text(res.status, res.body));
    auto found = parse_observed(res.body, ts);
    if (!found)
      return caf::make_error(errc::unspecified,
                             "genieacs: devices: unreadable answer");
    out.merge(*found);
  }
  return out;
}

} // namespace ispflow::adapters::genieacs

#include "actors/admin/request.hpp"

#include "events/cloud_event.hpp"
#include "events/json/bounded_parse.hpp"

#include <algorithm>
#include <charconv>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace ispflow::actors::admin::detail {

namespace {

constexpr char b64_chars[]
  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

} // namespace

std::string base64(std::string_view in, bool url) {
  std::string out;
  size_t i = 0;
  auto at = [&](size_t k) { return static_cast<unsigned char>(in[k]); };
  while (i + 2 < in.size()) {
    uint32_t n = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    for (int s = 18; s >= 0; s -= 6)
      out += b64_chars[(n >> s) & 63];
    i += 3;
  }
  if (i + 1 == in.size()) {
    uint32_t n = at(i) << 16;
    out += b64_chars[(n >> 18) & 63];
    out += b64_chars[(n >> 12) & 63];
    if (!url)
      out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t n = (at(i) << 16) | (at(i + 1) << 8);
    out += b64_chars[(n >> 18) & 63];
    out += b64_chars[(n >> 12) & 63];
    out += b64_chars[(n >> 6) & 63];
    if (!url)
      out += '=';
  }
  if (url)
    for (auto& c : out)
      c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

std::optional<std::string> unbase64(std::string_view in) {
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+' || c == '-')
      v = 62;
    else if (c == '/' || c == '_')
      v = 63;
    else if (c == '=')
      break;
    else
      return std::nullopt;
    buf = (buf << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xff);
    }
  }
  return out;
}

// A time filter: empty gives `fallback`, otherwise it must be RFC 3339.
std::optional<std::string> time_param(const std::string& value,
                                      const char* fallback) {
  if (value.empty())
    return std::string{fallback};
  if (!events::is_rfc3339(value))
    return std::nullopt;
  return value;
}

std::optional<uint32_t> limit_param(const std::string& value, uint32_t def,
                                    uint32_t max) {
  if (value.empty())
    return def;
  uint64_t n = 0;
  auto res = std::from_chars(value.data(), value.data() + value.size(), n);
  if (res.ec != std::errc{} || res.ptr != value.data() + value.size() || n == 0)
    return std::nullopt;
  return static_cast<uint32_t>(std::min<uint64_t>(n, max));
}

std::optional<int64_t> id_param(const std::string& value) {
  int64_t n = 0;
  auto res = std::from_chars(value.data(), value.data() + value.size(), n);
  if (res.ec != std::errc{} || res.ptr != value.data() + value.size() || n <= 0)
    return std::nullopt;
  return n;
}

std::string saga_cursor(const std::string& ts, const std::string& id) {
  return base64("s1|" + ts + "|" + id, true);
}

std::optional<std::pair<std::string, std::string>>
parse_saga_cursor(const std::string& cursor) {
  auto text = unbase64(cursor);
  if (!text || !text->starts_with("s1|"))
    return std::nullopt;
  auto rest = text->substr(3);
  auto bar = rest.find('|');
  if (bar == std::string::npos || !events::is_rfc3339(rest.substr(0, bar)))
    return std::nullopt;
  return std::make_pair(rest.substr(0, bar), rest.substr(bar + 1));
}

std::string dead_letter_cursor(int64_t id) {
  return base64("d1|" + std::to_string(id), true);
}

std::optional<int64_t> parse_dead_letter_cursor(const std::string& cursor) {
  auto text = unbase64(cursor);
  if (!text || !text->starts_with("d1|"))
    return std::nullopt;
  return id_param(text->substr(3));
}

std::variant<redrive_events_request, std::string>
parse_redrive_events(const std::string& body_text, uint32_t default_limit,
                     uint32_t max_limit) {
  rapidjson::Document body;
  events::json::parse_bounded(body, body_text);
  if (body.HasParseError() || !body.IsObject())
    return std::string{"the body must be a JSON object"};
  auto text = [&](const char* key) -> std::optional<std::string> {
    if (!body.HasMember(key) || !body[key].IsString())
      return std::nullopt;
    return std::string{body[key].GetString()};
  };
  auto from = text("from");
  auto to = text("to");
  if (!from || !to || !events::is_rfc3339(*from) || !events::is_rfc3339(*to))
    return std::string{"from and to are required RFC 3339 date-times"};
  redrive_events_request out;
  out.from = std::move(*from);
  out.to = std::move(*to);
  out.tenant = text("tenant").value_or("");
  if (body.HasMember("types")) {
    if (!body["types"].IsArray())
      return std::string{"types must be an array"};
    for (auto& t : body["types"].GetArray()) {
      if (!t.IsString())
        return std::string{"types must be strings"};
      out.types.emplace_back(t.GetString());
    }
  }
  out.dry_run = body.HasMember("dry_run") && body["dry_run"].IsBool()
                && body["dry_run"].GetBool();
  out.limit = default_limit;
  if (body.HasMember("limit")) {
    if (!body["limit"].IsUint() || body["limit"].GetUint() == 0)
      return std::string{"limit must be a positive integer"};
    out.limit = std::min(body["limit"].GetUint(), max_limit);
  }
  return out;
}

std::variant<redrive_dead_letter_request, std::string>
parse_redrive_dead_letter(const std::string& body_text) {
  redrive_dead_letter_request out;
  if (body_text.empty())
    return out;
  rapidjson::Document body;
  events::json::parse_bounded(body, body_text);
  if (body.HasParseError() || !body.IsObject())
    return std::string{"the body must be a JSON object"};
  if (body.HasMember("payload")) {
    auto& p = body["payload"];
    if (p.IsString()) {
      out.corrected = std::string{p.GetString(), p.GetStringLength()};
    } else {
      rapidjson::StringBuffer pb;
      rapidjson::Writer<rapidjson::StringBuffer> pw{pb};
      p.Accept(pw);
      out.corrected = pb.GetString();
    }
  }
  return out;
}

std::variant<dismiss_dead_letter_request, std::string>
parse_dismiss_dead_letter(const std::string& body_text) {
  constexpr size_t max_reason = 500;
  rapidjson::Document body;
  events::json::parse_bounded(body, body_text);
  if (body.HasParseError() || !body.IsObject())
    return std::string{"the body must be a JSON object with a reason"};
  auto i = body.FindMember("reason");
  if (i == body.MemberEnd() || !i->value.IsString())
    return std::string{"reason is required (a string)"};
  dismiss_dead_letter_request out;
  out.reason.assign(i->value.GetString(), i->value.GetStringLength());
  if (out.reason.find_first_not_of(" \t\r\n") == std::string::npos)
    return std::string{"reason must not be empty"};
  if (out.reason.size() > max_reason)
    return std::string{"reason must be at most 500 bytes"};
  return out;
}

} // namespace ispflow::actors::admin::detail

#include "adapters/netbox/wire.hpp"

#include "events/json/bounded_parse.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace ispflow::adapters::netbox {

std::string_view to_string(token_scheme x) noexcept {
  return x == token_scheme::bearer ? "bearer" : "token";
}

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

std::string api_url(std::string_view base_url, std::string_view path,
                    const query_params& params) {
  while (!base_url.empty() && base_url.back() == '/')
    base_url.remove_suffix(1);
  std::string url{base_url};
  url += "/api";
  if (path.empty() || path.front() != '/')
    url += '/';
  url += path;
  if (url.back() != '/')
    url += '/';
  char sep = '?';
  for (const auto& [key, value] : params) {
    url += sep;
    url += url_encode(key);
    url += '=';
    url += url_encode(value);
    sep = '&';
  }
  return url;
}

std::string authorization_value(token_scheme scheme, std::string_view token) {
  std::string out = scheme == token_scheme::bearer ? "Bearer " : "Token ";
  out += token;
  return out;
}

std::string_view address_without_length(std::string_view cidr) noexcept {
  return cidr.substr(0, cidr.find('/'));
}

std::optional<std::string> ipv4_network_of(std::string_view cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string_view::npos)
    return std::nullopt;
  auto addr = cidr.substr(0, slash);
  auto len_text = cidr.substr(slash + 1);
  unsigned len = 0;
  auto [lp, lec] = std::from_chars(len_text.data(),
                                   len_text.data() + len_text.size(), len);
  if (lec != std::errc{} || lp != len_text.data() + len_text.size() || len > 32)
    return std::nullopt;
  std::array<unsigned, 4> octets{};
  size_t pos = 0;
  for (size_t i = 0; i < 4; ++i) {
    auto end = i < 3 ? addr.find('.', pos) : addr.size();
    if (end == std::string_view::npos || end == pos)
      return std::nullopt;
    auto part = addr.substr(pos, end - pos);
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(),
                                   octets[i]);
    if (ec != std::errc{} || p != part.data() + part.size() || octets[i] > 255)
      return std::nullopt;
    pos = end + 1;
  }
  uint32_t ip = (octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8)
                | octets[3];
  uint32_t mask = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
  ip &= mask;
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 0xFF)
         + "." + std::to_string((ip >> 8) & 0xFF) + "."
         + std::to_string(ip & 0xFF) + "/" + std::to_string(len);
}

void add_tenant_filter(const tenant_settings& t, query_params& out) {
  if (t.tenant_id > 0)
    out.emplace_back("tenant_id", std::to_string(t.tenant_id));
  else if (!t.tenant_slug.empty())
    out.emplace_back("tenant", t.tenant_slug);
}

query_params address_lookup_query(const tenant_settings& t,
                                  std::string_view subscriber_id) {
  query_params q;
  q.emplace_back("cf_" + t.subscriber_field, std::string{subscriber_id});
  add_tenant_filter(t, q);
  q.emplace_back("limit", "1000");
  return q;
}

query_params address_query(std::string_view address) {
  query_params q;
  q.emplace_back("address", std::string{address});
  q.emplace_back("limit", "1000");
  return q;
}

std::optional<std::string> address_in_prefix(std::string_view address,
                                             std::string_view prefix) {
  auto net = ipv4_network_of(prefix);
  if (!net || address.find('/') != std::string_view::npos)
    return std::nullopt;
  auto len = prefix.substr(prefix.find('/'));
  auto cidr = std::string{address} + std::string{len};
  auto mine = ipv4_network_of(cidr);
  if (!mine || *mine != *net)
    return std::nullopt;
  return cidr;
}

query_params prefix_query(const tenant_settings& t,
                          std::string_view input_site) {
  query_params q;
  add_tenant_filter(t, q);
  if (t.site_id > 0)
    q.emplace_back("site_id", std::to_string(t.site_id));
  else if (!t.site_slug.empty())
    q.emplace_back("site", t.site_slug);
  else if (!input_site.empty())
    q.emplace_back("site", std::string{input_site});
  if (!t.prefix_role.empty())
    q.emplace_back("role", t.prefix_role);
  q.emplace_back("status", "active");
  q.emplace_back("limit", "1000");
  return q;
}

namespace {

// The "tenant" member of a write: by id when known, else by slug; none
// without either.
void write_tenant(rapidjson::Writer<rapidjson::StringBuffer>& w,
                  const tenant_settings& t) {
  if (t.tenant_id > 0) {
    w.Key("tenant");
    w.Int64(t.tenant_id);
  } else if (!t.tenant_slug.empty()) {
    w.Key("tenant");
    w.StartObject();
    w.Key("slug");
    w.String(t.tenant_slug.data(),
             static_cast<rapidjson::SizeType>(t.tenant_slug.size()));
    w.EndObject();
  }
}

} // namespace

std::string allocation_body(const tenant_settings& t,
                            std::string_view subscriber_id,
                            std::string_view idempotency_key) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  auto str = [&w](std::string_view s) {
    w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  };
  w.StartObject();
  write_tenant(w, t);
  w.Key("status");
  w.String("active");
  w.Key("description");
  str(std::string{"subscriber "} + std::string{subscriber_id});
  if (!t.tag_slug.empty()) {
    w.Key("tags");
    w.StartArray();
    w.StartObject();
    w.Key("slug");
    str(t.tag_slug);
    w.EndObject();
    w.EndArray();
  }
  w.Key("custom_fields");
  w.StartObject();
  str(t.subscriber_field);
  str(subscriber_id);
  if (!t.key_field.empty()) {
    str(t.key_field);
    str(idempotency_key);
  }
  w.EndObject();
  w.EndObject();
  return buf.GetString();
}

std::string assignment_body(const tenant_settings& t, std::string_view address,
                            std::string_view subscriber_id,
                            std::string_view idempotency_key) {
  rapidjson::Document doc;
  auto body = allocation_body(t, subscriber_id, idempotency_key);
  doc.Parse(body.data(), body.size());
  auto& a = doc.GetAllocator();
  doc.AddMember(
    "address",
    rapidjson::Value{address.data(),
                     static_cast<rapidjson::SizeType>(address.size()), a},
    a);
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  doc.Accept(w);
  return buf.GetString();
}

namespace {

bool parse(rapidjson::Document& doc, std::string_view body) {
  ispflow::events::json::parse_bounded(doc, body);
  return !doc.HasParseError();
}

std::optional<address_ref> read_address(const rapidjson::Value& v,
                                        std::string_view field = {}) {
  if (!v.IsObject())
    return std::nullopt;
  auto id = v.FindMember("id");
  auto addr = v.FindMember("address");
  if (id == v.MemberEnd() || !id->value.IsInt64() || addr == v.MemberEnd()
      || !addr->value.IsString())
    return std::nullopt;
  address_ref out;
  out.id = id->value.GetInt64();
  out.address = addr->value.GetString();
  if (auto t = v.FindMember("tenant");
      t != v.MemberEnd() && t->value.IsObject()) {
    if (auto tid = t->value.FindMember("id");
        tid != t->value.MemberEnd() && tid->value.IsInt64())
      out.tenant_id = tid->value.GetInt64();
    if (auto slug = t->value.FindMember("slug");
        slug != t->value.MemberEnd() && slug->value.IsString())
      out.tenant_slug = slug->value.GetString();
  }
  if (auto tags = v.FindMember("tags");
      tags != v.MemberEnd() && tags->value.IsArray())
    for (const auto& tag : tags->value.GetArray())
      if (tag.IsObject())
        if (auto slug = tag.FindMember("slug");
            slug != tag.MemberEnd() && slug->value.IsString())
          out.tags.emplace_back(slug->value.GetString());
  auto cfs = v.FindMember("custom_fields");
  if (!field.empty() && cfs != v.MemberEnd() && cfs->value.IsObject()) {
    std::string name{field};
    auto x = cfs->value.FindMember(name.c_str());
    if (x != cfs->value.MemberEnd() && x->value.IsString())
      out.subscriber = x->value.GetString();
  }
  return out;
}

std::optional<prefix_ref> read_prefix(const rapidjson::Value& v) {
  if (!v.IsObject())
    return std::nullopt;
  auto id = v.FindMember("id");
  auto pfx = v.FindMember("prefix");
  if (id == v.MemberEnd() || !id->value.IsInt64() || pfx == v.MemberEnd()
      || !pfx->value.IsString())
    return std::nullopt;
  return prefix_ref{id->value.GetInt64(), pfx->value.GetString()};
}

template <class T, class F>
std::optional<std::vector<T>> read_results(std::string_view body, F read) {
  rapidjson::Document doc;
  if (!parse(doc, body) || !doc.IsObject())
    return std::nullopt;
  auto results = doc.FindMember("results");
  if (results == doc.MemberEnd() || !results->value.IsArray())
    return std::nullopt;
  std::vector<T> out;
  for (const auto& item : results->value.GetArray()) {
    auto x = read(item);
    if (!x)
      return std::nullopt;
    out.push_back(std::move(*x));
  }
  return out;
}

} // namespace

std::optional<std::vector<address_ref>>
parse_addresses(std::string_view body, std::string_view subscriber_field) {
  return read_results<address_ref>(body, [subscriber_field](const auto& v) {
    return read_address(v, subscriber_field);
  });
}

std::vector<address_ref> exact_matches(std::vector<address_ref> xs,
                                       std::string_view subscriber_id) {
  xs.erase(std::remove_if(xs.begin(), xs.end(),
                          [subscriber_id](const address_ref& x) {
                            return x.subscriber != subscriber_id;
                          }),
           xs.end());
  return xs;
}

bool of_tenant(const tenant_settings& t, const address_ref& a) {
  if (t.tenant_id > 0)
    return a.tenant_id == t.tenant_id;
  if (!t.tenant_slug.empty())
    return a.tenant_slug == t.tenant_slug;
  return true;
}

assignment plan_assignment(const tenant_settings& t,
                           std::string_view subscriber_id,
                           std::string_view idempotency_key,
                           const std::vector<address_ref>& hits) {
  using action = assignment::action;
  assignment out;
  bool tenanted = t.tenant_id > 0 || !t.tenant_slug.empty();
  for (const auto& a : hits) {
    if (!a.subscriber.empty() && a.subscriber != subscriber_id) {
      out.what = action::refuse;
      out.reason = a.address + " (id " + std::to_string(a.id)
                   + ") belongs to subscriber " + a.subscriber;
      return out;
    }
    bool other_tenant = a.tenant_id != 0 || !a.tenant_slug.empty();
    if (tenanted && other_tenant && !of_tenant(t, a)) {
      out.what = action::refuse;
      out.reason = a.address + " (id " + std::to_string(a.id)
                   + ") belongs to NetBox tenant "
                   + (a.tenant_slug.empty() ? std::to_string(a.tenant_id)
                                            : a.tenant_slug);
      return out;
    }
  }
  if (hits.empty())
    return out;
  auto complete = [&](const address_ref& a) {
    return a.subscriber == subscriber_id && (!tenanted || of_tenant(t, a))
           && (t.tag_slug.empty()
               || std::find(a.tags.begin(), a.tags.end(), t.tag_slug)
                    != a.tags.end());
  };
  for (const auto& a : hits)
    if (complete(a)) {
      out.what = action::done;
      out.id = a.id;
      return out;
    }
  auto mine = std::find_if(hits.begin(), hits.end(), [&](const auto& x) {
    return x.subscriber == subscriber_id;
  });
  const auto& a = mine != hits.end() ? *mine : hits.front();
  out.what = action::claim;
  out.id = a.id;
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  auto str = [&w](std::string_view x) {
    w.String(x.data(), static_cast<rapidjson::SizeType>(x.size()));
  };
  w.StartObject();
  write_tenant(w, t);
  if (!t.tag_slug.empty()) {
    // PATCH replaces the list: the address's own tags stay.
    auto tags = a.tags;
    if (std::find(tags.begin(), tags.end(), t.tag_slug) == tags.end())
      tags.push_back(t.tag_slug);
    w.Key("tags");
    w.StartArray();
    for (const auto& slug : tags) {
      w.StartObject();
      w.Key("slug");
      str(slug);
      w.EndObject();
    }
    w.EndArray();
  }
  w.Key("custom_fields");
  w.StartObject();
  str(t.subscriber_field);
  str(subscriber_id);
  if (!t.key_field.empty()) {
    str(t.key_field);
    str(idempotency_key);
  }
  w.EndObject();
  w.EndObject();
  out.body = buf.GetString();
  return out;
}

std::optional<std::vector<prefix_ref>> parse_prefixes(std::string_view body) {
  return read_results<prefix_ref>(body,
                                  [](const auto& v) { return read_prefix(v); });
}

std::optional<address_ref> parse_address(std::string_view body) {
  rapidjson::Document doc;
  if (!parse(doc, body))
    return std::nullopt;
  if (doc.IsArray()) {
    if (doc.Empty())
      return std::nullopt;
    return read_address(doc[0]);
  }
  return read_address(doc);
}

std::string next_link(std::string_view body) {
  rapidjson::Document doc;
  if (!parse(doc, body) || !doc.IsObject())
    return {};
  auto next = doc.FindMember("next");
  if (next == doc.MemberEnd() || !next->value.IsString())
    return {};
  return next->value.GetString();
}

std::string follow_link(std::string_view base_url, std::string_view link) {
  auto origin = [](std::string_view url) {
    auto scheme = url.find("://");
    if (scheme == std::string_view::npos)
      return std::string_view{};
    auto path = url.find('/', scheme + 3);
    return path == std::string_view::npos ? url : url.substr(0, path);
  };
  std::string_view path_and_query = link;
  if (auto o = origin(link); !o.empty())
    path_and_query = link.substr(o.size());
  std::string out{origin(base_url)};
  if (path_and_query.empty() || path_and_query.front() != '/')
    out += '/';
  out += path_and_query;
  return out;
}

std::vector<unknown_choice> unknown_choices(std::string_view body) {
  static constexpr std::string_view head = "Select a valid choice. ";
  static constexpr std::string_view tail
    = " is not one of the available choices.";
  std::vector<unknown_choice> out;
  rapidjson::Document doc;
  if (!parse(doc, body) || !doc.IsObject())
    return out;
  for (const auto& m : doc.GetObject()) {
    if (!m.value.IsArray())
      continue;
    for (const auto& msg : m.value.GetArray()) {
      if (!msg.IsString())
        continue;
      std::string_view text{msg.GetString(), msg.GetStringLength()};
      if (text.size() < head.size() + tail.size()
          || text.substr(0, head.size()) != head
          || text.substr(text.size() - tail.size()) != tail)
        continue;
      out.push_back(
        unknown_choice{m.name.GetString(),
                       std::string{text.substr(
                         head.size(), text.size() - head.size() - tail.size())},
                       std::string{text}});
    }
  }
  return out;
}

std::string error_message(int status, std::string_view body) {
  rapidjson::Document doc;
  if (parse(doc, body) && doc.IsObject()) {
    auto d = doc.FindMember("detail");
    if (d != doc.MemberEnd() && d->value.IsString())
      return d->value.GetString();
  }
  constexpr size_t max_len = 300;
  if (!body.empty()) {
    if (body.size() <= max_len)
      return std::string{body};
    return std::string{body.substr(0, max_len)} + "...";
  }
  return "HTTP " + std::to_string(status);
}

} // namespace ispflow::adapters::netbox

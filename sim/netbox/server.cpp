#include "sim/netbox/server.hpp"

#include "events/errc.hpp"
#include "sim/common/host.hpp"
#include "sim/common/run.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <regex>
#include <set>
#include <yaml-cpp/yaml.h>

namespace ispflow::sim::netbox {

namespace {

using writer = rapidjson::Writer<rapidjson::StringBuffer>;

struct tenant {
  int64_t id = 0;
  std::string name;
  std::string slug;
  std::string description;
};

struct site {
  int64_t id = 0;
  std::string name;
  std::string slug;
  int64_t tenant_id = 0;
};

struct role {
  int64_t id = 0;
  std::string name;
  std::string slug;
};

struct tag {
  int64_t id = 0;
  std::string name;
  std::string slug;
};

struct prefix {
  int64_t id = 0;
  uint32_t net = 0;
  int len = 32;
  int64_t site_id = 0;
  int64_t tenant_id = 0;
  int64_t role_id = 0;
  std::string status = "active";
  bool is_pool = false;
  bool full = false;
  std::string description;
  std::string created;
};

struct ip_addr {
  int64_t id = 0;
  uint32_t ip = 0;
  int len = 32;
  int64_t tenant_id = 0;
  std::string status = "active";
  std::string role;
  std::string dns_name;
  std::string description;
  std::vector<int64_t> tag_ids;
  // JSON text of each set custom field.
  std::map<std::string, std::string> cf;
  std::string created;
  std::string last_updated;
};

const std::vector<std::string> ip_statuses = {"active", "reserved",
                                              "deprecated", "dhcp", "slaac"};
const std::vector<std::string> prefix_statuses = {"container", "active",
                                                  "reserved", "deprecated"};

std::string label_of(const std::string& value) {
  if (value == "dhcp")
    return "DHCP";
  if (value == "slaac")
    return "SLAAC";
  std::string out = value;
  if (!out.empty())
    out[0]
      = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
  return out;
}

std::string ip_to_string(uint32_t ip) {
  in_addr a{};
  a.s_addr = htonl(ip);
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return buf;
}

std::optional<std::pair<uint32_t, int>> parse_cidr(const std::string& text,
                                                   bool mask_required) {
  auto slash = text.find('/');
  std::string host = text.substr(0, slash);
  int len = 32;
  if (slash == std::string::npos) {
    if (mask_required)
      return std::nullopt;
  } else {
    try {
      size_t used = 0;
      len = std::stoi(text.substr(slash + 1), &used);
      if (used != text.size() - slash - 1)
        return std::nullopt;
    } catch (...) {
      return std::nullopt;
    }
    if (len < 0 || len > 32)
      return std::nullopt;
  }
  in_addr a{};
  if (inet_pton(AF_INET, host.c_str(), &a) != 1)
    return std::nullopt;
  return std::make_pair(ntohl(a.s_addr), len);
}

uint32_t mask_of(int len) {
  return len == 0 ? 0u : ~uint32_t{0} << (32 - len);
}

std::string cidr(uint32_t ip, int len) {
  return ip_to_string(ip) + "/" + std::to_string(len);
}

std::string json_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  writer w{buf};
  v.Accept(w);
  return buf.GetString();
}

std::string quote(const std::string& s) {
  rapidjson::StringBuffer buf;
  writer w{buf};
  w.String(s);
  return buf.GetString();
}

// A validation error in NetBox's `{field:[msgs]}` form.
std::string field_error(const std::string& field, const std::string& msg) {
  return "{" + quote(field) + ":[" + quote(msg) + "]}";
}

bool well_formed_token(const std::string& header, std::string& token) {
  static const std::regex v1{"Token ([0-9a-fA-F]{40})"};
  static const std::regex v2{"Bearer (nbt_[A-Za-z0-9]+\\.[A-Za-z0-9]+)"};
  std::smatch m;
  if (std::regex_match(header, m, v1) || std::regex_match(header, m, v2)) {
    token = m[1];
    return true;
  }
  return false;
}

} // namespace

struct server::impl {
  options opts;
  common::http_host host;
  mutable std::mutex mtx;
  std::vector<tenant> tenants;
  std::vector<site> sites;
  std::vector<role> roles;
  std::vector<tag> tags;
  std::vector<prefix> prefixes;
  std::map<int64_t, ip_addr> ips;
  /// How many of `ips` hold each address, in address order: what an
  /// allocation looks through (put and drop keep it in step with `ips`).
  std::map<uint32_t, uint32_t> used_addresses;
  // Per prefix id: (its first usable address, an address) such that every
  // address from the first up to (not including) the second is in use.
  // free_ips finds and uses it; drop lowers it. Recorded with the first
  // address, so an edited prefix does not use a stale one.
  mutable std::map<int64_t, std::pair<uint64_t, uint64_t>> dense_from;
  /// The ids of `ips` by custom field and stored value (as `cf` holds it):
  /// an index for a look-up by one custom field (put and drop keep it).
  std::map<std::string, std::multimap<std::string, int64_t>> by_custom_field;
  std::vector<std::string> custom_fields{"subscriber_id", "idempotency_key"};
  int64_t next_ip_id = 1;
  int64_t next_tenant_id = 1;
  std::size_t allocations = 0;
  // Counted under `mtx` by const list handlers too.
  mutable contract_checks checks_seen;
  std::mt19937_64 request_ids{42};

  explicit impl(options o) : opts(std::move(o)), host(make_hooks()) {
    // nop
  }

  common::host_hooks make_hooks() {
    common::host_hooks h;
    h.route = [this](const httplib::Request& req, httplib::Response& res) {
      route(req, res);
      res.set_header("X-Request-ID", request_id());
    };
    h.state_json = [this] { return state_json(); };
    h.control = [this](const httplib::Request& req, httplib::Response& res) {
      return control(req, res);
    };
    h.extra_faults = [this](std::string_view json) { extra_faults(json); };
    h.default_headers = {{"API-Version", opts.api_version}};
    return h;
  }

  std::string request_id() {
    std::lock_guard<std::mutex> guard{mtx};
    auto a = request_ids();
    auto b = request_ids();
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%08x-%04x-4%03x-a%03x-%012llx",
                  static_cast<unsigned>(a >> 32),
                  static_cast<unsigned>((a >> 16) & 0xffff),
                  static_cast<unsigned>(a & 0xfff),
                  static_cast<unsigned>((b >> 48) & 0xfff),
                  static_cast<unsigned long long>(b & 0xffffffffffffULL));
    return buf;
  }

  // -- seed ------------------------------------------------------------------

  void default_seed() {
    auto now = common::now_iso8601();
    tenants = {{1, "Demo", "demo", "Default simulator tenant"},
               {2, "Acme", "acme", "Second tenant"}};
    sites = {{1, "POP 1", "pop-1", 1}, {2, "POP 2", "pop-2", 2}};
    roles = {{1, "Subscriber", "subscriber"}};
    tags = {{1, "subscriber", "subscriber"}};
    auto add = [&](int64_t id, const char* text, int64_t site, int64_t ten) {
      auto c = parse_cidr(text, true);
      prefix p;
      p.id = id;
      p.net = c->first;
      p.len = c->second;
      p.site_id = site;
      p.tenant_id = ten;
      p.role_id = 1;
      p.created = now;
      prefixes.push_back(p);
    };
    add(1, "100.64.0.0/30", 1, 1);
    add(2, "100.64.0.8/29", 1, 1);
    add(3, "100.65.0.0/28", 2, 2);
    next_tenant_id = 3;
  }

  template <class T>
  static int64_t find_slug(const std::vector<T>& xs, const std::string& s) {
    for (const auto& x : xs)
      if (x.slug == s)
        return x.id;
    return 0;
  }

  caf::error load_seed(const std::string& path) {
    try {
      auto root = YAML::LoadFile(path);
      auto now = common::now_iso8601();
      int64_t n = 0;
      if (auto cfs = root["custom_fields"]) {
        custom_fields.clear();
        for (const auto& c : cfs)
          custom_fields.push_back(c.as<std::string>());
      }
      n = 0;
      for (const auto& t : root["tenants"]) {
        tenant x;
        x.id = t["id"] ? t["id"].as<int64_t>() : ++n;
        n = std::max(n, x.id);
        x.slug = t["slug"].as<std::string>();
        x.name = t["name"] ? t["name"].as<std::string>() : x.slug;
        x.description = t["description"].as<std::string>("");
        tenants.push_back(x);
      }
      next_tenant_id = n + 1;
      n = 0;
      for (const auto& t : root["sites"]) {
        site x;
        x.id = t["id"] ? t["id"].as<int64_t>() : ++n;
        n = std::max(n, x.id);
        x.slug = t["slug"].as<std::string>();
        x.name = t["name"] ? t["name"].as<std::string>() : x.slug;
        if (t["tenant"])
          x.tenant_id = find_slug(tenants, t["tenant"].as<std::string>());
        sites.push_back(x);
      }
      n = 0;
      for (const auto& t : root["roles"]) {
        role x;
        x.id = t["id"] ? t["id"].as<int64_t>() : ++n;
        n = std::max(n, x.id);
        x.slug = t["slug"].as<std::string>();
        x.name = t["name"] ? t["name"].as<std::string>() : x.slug;
        roles.push_back(x);
      }
      n = 0;
      for (const auto& t : root["tags"]) {
        tag x;
        x.id = t["id"] ? t["id"].as<int64_t>() : ++n;
        n = std::max(n, x.id);
        x.slug = t["slug"].as<std::string>();
        x.name = t["name"] ? t["name"].as<std::string>() : x.slug;
        tags.push_back(x);
      }
      n = 0;
      for (const auto& t : root["prefixes"]) {
        prefix x;
        x.id = t["id"] ? t["id"].as<int64_t>() : ++n;
        n = std::max(n, x.id);
        auto c = parse_cidr(t["prefix"].as<std::string>(), true);
        if (!c)
          return caf::make_error(errc::invalid_config,
                                 std::string{"seed: bad prefix"});
        x.net = c->first & mask_of(c->second);
        x.len = c->second;
        if (t["site"])
          x.site_id = find_slug(sites, t["site"].as<std::string>());
        if (t["tenant"])
          x.tenant_id = find_slug(tenants, t["tenant"].as<std::string>());
        if (t["role"])
          x.role_id = find_slug(roles, t["role"].as<std::string>());
        x.status = t["status"].as<std::string>("active");
        x.is_pool = t["is_pool"].as<bool>(false);
        x.full = t["full"].as<bool>(false);
        x.description = t["description"].as<std::string>("");
        x.created = now;
        prefixes.push_back(x);
      }
      for (const auto& t : root["ip_addresses"]) {
        ip_addr x;
        x.id = next_ip_id++;
        auto c = parse_cidr(t["address"].as<std::string>(), true);
        if (!c)
          return caf::make_error(errc::invalid_config,
                                 std::string{"seed: bad address"});
        x.ip = c->first;
        x.len = c->second;
        if (t["tenant"])
          x.tenant_id = find_slug(tenants, t["tenant"].as<std::string>());
        x.status = t["status"].as<std::string>("active");
        x.dns_name = t["dns_name"].as<std::string>("");
        x.description = t["description"].as<std::string>("");
        for (const auto& kv : t["custom_fields"])
          x.cf[kv.first.as<std::string>()] = quote(kv.second.as<std::string>());
        x.created = x.last_updated = now;
        put(x);
      }
    } catch (const std::exception& e) {
      return caf::make_error(errc::invalid_config,
                             std::string{"seed: "} + e.what());
    }
    return caf::none;
  }

  // -- JSON rendering ------------------------------------------------------

  std::string base;

  void brief(writer& w, const char* path, int64_t id, const std::string& name,
             const std::string& slug) const {
    w.StartObject();
    w.Key("id");
    w.Int64(id);
    w.Key("url");
    w.String(base + path + std::to_string(id) + "/");
    w.Key("display");
    w.String(name);
    w.Key("name");
    w.String(name);
    w.Key("slug");
    w.String(slug);
    w.EndObject();
  }

  template <class T>
  const T* by_id(const std::vector<T>& xs, int64_t id) const {
    for (const auto& x : xs)
      if (x.id == id)
        return &x;
    return nullptr;
  }

  void tenant_ref(writer& w, int64_t id) const {
    if (auto* t = by_id(tenants, id))
      brief(w, "/api/tenancy/tenants/", t->id, t->name, t->slug);
    else
      w.Null();
  }

  void choice(writer& w, const std::string& value) const {
    w.StartObject();
    w.Key("value");
    w.String(value);
    w.Key("label");
    w.String(label_of(value));
    w.EndObject();
  }

  void family(writer& w) const {
    w.StartObject();
    w.Key("value");
    w.Int(4);
    w.Key("label");
    w.String("IPv4");
    w.EndObject();
  }

  void write_tenant(writer& w, const tenant& t) const {
    w.StartObject();
    w.Key("id");
    w.Int64(t.id);
    w.Key("url");
    w.String(base + "/api/tenancy/tenants/" + std::to_string(t.id) + "/");
    w.Key("display");
    w.String(t.name);
    w.Key("name");
    w.String(t.name);
    w.Key("slug");
    w.String(t.slug);
    w.Key("group");
    w.Null();
    w.Key("description");
    w.String(t.description);
    w.Key("tags");
    w.StartArray();
    w.EndArray();
    w.Key("custom_fields");
    w.StartObject();
    w.EndObject();
    w.EndObject();
  }

  void write_site(writer& w, const site& s) const {
    w.StartObject();
    w.Key("id");
    w.Int64(s.id);
    w.Key("url");
    w.String(base + "/api/dcim/sites/" + std::to_string(s.id) + "/");
    w.Key("display");
    w.String(s.name);
    w.Key("name");
    w.String(s.name);
    w.Key("slug");
    w.String(s.slug);
    w.Key("status");
    choice(w, "active");
    w.Key("tenant");
    tenant_ref(w, s.tenant_id);
    w.EndObject();
  }

  void write_tag(writer& w, const tag& t) const {
    w.StartObject();
    w.Key("id");
    w.Int64(t.id);
    w.Key("url");
    w.String(base + "/api/extras/tags/" + std::to_string(t.id) + "/");
    w.Key("display");
    w.String(t.name);
    w.Key("name");
    w.String(t.name);
    w.Key("slug");
    w.String(t.slug);
    w.Key("color");
    w.String("9e9e9e");
    w.EndObject();
  }

  void write_prefix(writer& w, const prefix& p) const {
    w.StartObject();
    w.Key("id");
    w.Int64(p.id);
    w.Key("url");
    w.String(base + "/api/ipam/prefixes/" + std::to_string(p.id) + "/");
    w.Key("display");
    w.String(cidr(p.net, p.len));
    w.Key("family");
    family(w);
    w.Key("prefix");
    w.String(cidr(p.net, p.len));
    w.Key("site");
    if (auto* s = by_id(sites, p.site_id))
      brief(w, "/api/dcim/sites/", s->id, s->name, s->slug);
    else
      w.Null();
    w.Key("scope_type");
    if (p.site_id != 0)
      w.String("dcim.site");
    else
      w.Null();
    w.Key("scope_id");
    if (p.site_id != 0)
      w.Int64(p.site_id);
    else
      w.Null();
    w.Key("vrf");
    w.Null();
    w.Key("tenant");
    tenant_ref(w, p.tenant_id);
    w.Key("vlan");
    w.Null();
    w.Key("status");
    choice(w, p.status);
    w.Key("role");
    if (auto* r = by_id(roles, p.role_id))
      brief(w, "/api/ipam/roles/", r->id, r->name, r->slug);
    else
      w.Null();
    w.Key("is_pool");
    w.Bool(p.is_pool);
    w.Key("mark_utilized");
    w.Bool(false);
    w.Key("description");
    w.String(p.description);
    w.Key("tags");
    w.StartArray();
    w.EndArray();
    w.Key("custom_fields");
    w.StartObject();
    w.EndObject();
    w.Key("created");
    w.String(p.created);
    w.Key("last_updated");
    w.String(p.created);
    w.EndObject();
  }

  void write_ip(writer& w, const ip_addr& a) const {
    w.StartObject();
    w.Key("id");
    w.Int64(a.id);
    w.Key("url");
    w.String(base + "/api/ipam/ip-addresses/" + std::to_string(a.id) + "/");
    w.Key("display");
    w.String(cidr(a.ip, a.len));
    w.Key("family");
    family(w);
    w.Key("address");
    w.String(cidr(a.ip, a.len));
    w.Key("vrf");
    w.Null();
    w.Key("tenant");
    tenant_ref(w, a.tenant_id);
    w.Key("status");
    choice(w, a.status);
    w.Key("role");
    if (a.role.empty())
      w.Null();
    else
      choice(w, a.role);
    w.Key("assigned_object_type");
    w.Null();
    w.Key("assigned_object_id");
    w.Null();
    w.Key("assigned_object");
    w.Null();
    w.Key("nat_inside");
    w.Null();
    w.Key("nat_outside");
    w.StartArray();
    w.EndArray();
    w.Key("dns_name");
    w.String(a.dns_name);
    w.Key("description");
    w.String(a.description);
    w.Key("comments");
    w.String("");
    w.Key("tags");
    w.StartArray();
    for (auto id : a.tag_ids)
      if (auto* t = by_id(tags, id))
        write_tag(w, *t);
    w.EndArray();
    w.Key("custom_fields");
    w.StartObject();
    for (const auto& name : custom_fields) {
      w.Key(name.c_str());
      auto i = a.cf.find(name);
      if (i == a.cf.end())
        w.Null();
      else
        w.RawValue(i->second.data(), i->second.size(), rapidjson::kObjectType);
    }
    w.EndObject();
    w.Key("created");
    w.String(a.created);
    w.Key("last_updated");
    w.String(a.last_updated);
    w.EndObject();
  }

  // -- HTTP helpers ----------------------------------------------------------

  static void detail(httplib::Response& res, int status, const char* text) {
    common::reply_json(res, status,
                       std::string{R"({"detail":)"} + quote(text) + "}");
  }

  void set_base(const httplib::Request& req) {
    auto host_hdr = req.get_header_value("Host");
    if (host_hdr.empty())
      host_hdr = "127.0.0.1:" + std::to_string(host.port());
    base = "http://" + host_hdr;
  }

  bool authorized(const httplib::Request& req, httplib::Response& res) const {
    auto header = req.get_header_value("Authorization");
    if (header.empty()) {
      detail(res, 403, "Authentication credentials were not provided.");
      return false;
    }
    std::string token;
    if (!well_formed_token(header, token)
        || (!opts.tokens.empty()
            && std::find(opts.tokens.begin(), opts.tokens.end(), token)
                 == opts.tokens.end())) {
      detail(res, 403, "Invalid token");
      return false;
    }
    return true;
  }

  // NetBox's list pagination: OptionalLimitOffsetPagination
  // (netbox/netbox/api/pagination.py) on DRF's LimitOffsetPagination. No
  // `limit`: PAGINATE_COUNT capped by MAX_PAGE_SIZE; `limit=0`: MAX_PAGE_SIZE
  // (everything when there is no cap); a larger `limit` is cut to
  // MAX_PAGE_SIZE, so a client asking for 1000 may get fewer results and a
  // `next` link; a negative or unreadable one falls back to PAGINATE_COUNT.
  // `next`/`previous` are absolute URLs of the same query with `limit` set
  // to the page size actually used and `offset` moved (DRF's
  // get_next_link/get_previous_link; the first page has no offset).
  template <class F>
  void paginate(const httplib::Request& req, httplib::Response& res,
                std::size_t count, F&& write_item) const {
    const std::size_t max_size = opts.max_page_size;
    const std::size_t default_size = opts.paginate_count;
    std::size_t limit = max_size ? std::min(default_size, max_size)
                                 : default_size;
    if (req.has_param("limit")) {
      auto text = req.get_param_value("limit");
      long long v = -1;
      try {
        size_t used = 0;
        v = std::stoll(text, &used);
        if (used != text.size())
          v = -1;
      } catch (...) {
        v = -1;
      }
      if (v < 0)
        limit = default_size;
      else if (max_size)
        limit = v == 0 ? max_size
                       : std::min<std::size_t>(static_cast<std::size_t>(v),
                                               max_size);
      else
        limit = static_cast<std::size_t>(v);
    }
    std::size_t offset = 0;
    if (req.has_param("offset")) {
      try {
        auto v = std::stoll(req.get_param_value("offset"));
        offset = v > 0 ? static_cast<std::size_t>(v) : 0;
      } catch (...) {
        offset = 0;
      }
    }
    ++checks_seen.lookups;
    if (offset > 0)
      ++checks_seen.pages_followed;
    auto page_url = [&](std::optional<std::size_t> off) {
      std::string url = base + req.path + "?";
      for (const auto& [k, v] : req.params)
        if (k != "limit" && k != "offset")
          url += k + "=" + httplib::detail::encode_query_param(v) + "&";
      url += "limit=" + std::to_string(limit);
      if (off)
        url += "&offset=" + std::to_string(*off);
      return url;
    };
    rapidjson::StringBuffer buf;
    writer w{buf};
    w.StartObject();
    w.Key("count");
    w.Uint64(count);
    w.Key("next");
    if (limit > 0 && offset + limit < count)
      w.String(page_url(offset + limit));
    else
      w.Null();
    w.Key("previous");
    if (limit > 0 && offset > 0)
      w.String(offset <= limit ? page_url(std::nullopt)
                               : page_url(offset - limit));
    else
      w.Null();
    w.Key("results");
    w.StartArray();
    auto end = limit > 0 ? std::min(count, offset + limit) : count;
    for (std::size_t i = offset; i < end; ++i)
      write_item(w, i);
    w.EndArray();
    w.EndObject();
    common::reply_json(res, 200, buf.GetString());
  }

  // A filter value that names no object (or no choice) is a 400, not an
  // empty list: django-filter's ModelMultipleChoiceFilter and
  // MultipleChoiceFilter validate every value (NetBox's ScopedFilterSet
  // site/site_id in netbox/dcim/base_filtersets.py, TenancyFilterSet
  // tenant/tenant_id in netbox/tenancy/filtersets.py, PrefixFilterSet
  // role/role_id and status in netbox/ipam/filtersets.py), and the API's
  // filter backend answers the form errors as
  // {"site":["Select a valid choice. pop-9 is not one of the available
  // choices."]}; an id that is not a number gives "\"x\" is not a valid
  // value.". One message per filter (the first bad value).
  struct filter_check {
    const char* param;
    std::function<bool(const std::string&)> known;
    // An `*_id` filter: values must be integers (or "null").
    bool by_id = false;
  };

  bool filters_valid(const httplib::Request& req, httplib::Response& res,
                     const std::vector<filter_check>& checks) const {
    std::string body;
    for (const auto& f : checks) {
      auto n = req.get_param_value_count(f.param);
      for (size_t i = 0; i < n; ++i) {
        auto v = req.get_param_value(f.param, i);
        if (v == "null" && f.by_id)
          continue;
        std::string msg;
        if (f.by_id
            && (v.empty() || v.find_first_not_of("0123456789") != v.npos))
          msg = "\"" + v + "\" is not a valid value.";
        else if (!f.known(v))
          msg = "Select a valid choice. " + v
                + " is not one of the available choices.";
        else
          continue;
        body += (body.empty() ? "" : ",") + quote(f.param) + ":[" + quote(msg)
                + "]";
        break;
      }
    }
    if (body.empty())
      return true;
    ++checks_seen.lookups;
    ++checks_seen.unknown_choices;
    common::reply_json(res, 400, "{" + body + "}");
    return false;
  }

  template <class T>
  std::function<bool(const std::string&)>
  slug_in(const std::vector<T>& xs) const {
    return [&xs](const std::string& v) {
      return std::any_of(xs.begin(), xs.end(),
                         [&](const T& x) { return x.slug == v; });
    };
  }

  template <class T>
  std::function<bool(const std::string&)>
  id_in(const std::vector<T>& xs) const {
    return [&xs](const std::string& v) {
      return std::any_of(xs.begin(), xs.end(),
                         [&](const T& x) { return std::to_string(x.id) == v; });
    };
  }

  static std::function<bool(const std::string&)>
  one_of(const std::vector<std::string>& xs) {
    return [&xs](const std::string& v) {
      return std::find(xs.begin(), xs.end(), v) != xs.end();
    };
  }

  // True when `value` is one of the values of the (repeatable) parameter, or
  // when the parameter is absent.
  static bool any_of(const httplib::Request& req, const std::string& key,
                     const std::function<bool(const std::string&)>& pred) {
    auto n = req.get_param_value_count(key);
    if (n == 0)
      return true;
    for (size_t i = 0; i < n; ++i)
      if (pred(req.get_param_value(key, i)))
        return true;
    return false;
  }

  static bool id_is(int64_t id, const std::string& text) {
    if (text == "null")
      return id == 0;
    try {
      return std::stoll(text) == id;
    } catch (...) {
      return false;
    }
  }

  template <class T>
  std::string slug_of(const std::vector<T>& xs, int64_t id) const {
    auto* x = by_id(xs, id);
    return x ? x->slug : std::string{};
  }

  // -- routes ----------------------------------------------------------------

  void route(const httplib::Request& req, httplib::Response& res) {
    if (req.path.rfind("/api", 0) != 0) {
      detail(res, 404, "Not found.");
      return;
    }
    if (req.path.back() != '/') {
      // Django's APPEND_SLASH: a permanent redirect to the slashed path.
      std::string location = req.path + "/";
      auto q = req.target.find('?');
      if (q != std::string::npos)
        location += req.target.substr(q);
      res.status = 301;
      res.set_header("Location", location);
      return;
    }
    if (!authorized(req, res))
      return;
    static const std::regex prefix_re{"/api/ipam/prefixes/([0-9]+)/"};
    static const std::regex avail_re{
      "/api/ipam/prefixes/([0-9]+)/available-ips/"};
    static const std::regex ip_re{"/api/ipam/ip-addresses/([0-9]+)/"};
    static const std::regex tenant_re{"/api/tenancy/tenants/([0-9]+)/"};
    std::smatch m;
    const auto& p = req.path;
    const auto& method = req.method;
    auto not_allowed = [&] {
      common::reply_json(
        res, 405, R"({"detail":"Method \")" + method + R"(\" not allowed."})");
    };
    std::lock_guard<std::mutex> guard{mtx};
    // The base URL of links is shared state too: set it under the lock.
    set_base(req);
    if (p == "/api/status/") {
      common::reply_json(res, 200,
                         R"({"netbox-version":")" + opts.api_version
                           + R"(.0","python-version":"3.12.0","plugins":{},)"
                             R"("rq-workers-running":1})");
    } else if (p == "/api/ipam/prefixes/") {
      method == "GET" ? list_prefixes(req, res) : not_allowed();
    } else if (std::regex_match(p, m, avail_re)) {
      auto id = std::stoll(m[1]);
      if (method == "GET")
        get_available(req, res, id);
      else if (method == "POST")
        post_available(req, res, id);
      else
        not_allowed();
    } else if (std::regex_match(p, m, prefix_re)) {
      auto* x = by_id(prefixes, std::stoll(m[1]));
      if (method != "GET")
        return not_allowed();
      if (!x)
        return detail(res, 404, "Not found.");
      rapidjson::StringBuffer buf;
      writer w{buf};
      write_prefix(w, *x);
      common::reply_json(res, 200, buf.GetString());
    } else if (p == "/api/ipam/ip-addresses/") {
      if (method == "GET")
        list_ips(req, res);
      else if (method == "POST")
        post_ip(req, res);
      else
        not_allowed();
    } else if (std::regex_match(p, m, ip_re)) {
      ip_detail(req, res, std::stoll(m[1]));
    } else if (p == "/api/tenancy/tenants/") {
      if (method == "GET")
        list_simple(req, res, tenants,
                    [this](writer& w, const tenant& t) { write_tenant(w, t); });
      else if (method == "POST")
        post_tenant(req, res);
      else
        not_allowed();
    } else if (std::regex_match(p, m, tenant_re)) {
      auto* t = by_id(tenants, std::stoll(m[1]));
      if (!t)
        return detail(res, 404, "Not found.");
      rapidjson::StringBuffer buf;
      writer w{buf};
      write_tenant(w, *t);
      common::reply_json(res, 200, buf.GetString());
    } else if (p == "/api/dcim/sites/") {
      list_simple(req, res, sites,
                  [this](writer& w, const site& s) { write_site(w, s); });
    } else if (p == "/api/extras/tags/") {
      list_simple(req, res, tags,
                  [this](writer& w, const tag& t) { write_tag(w, t); });
    } else if (p == "/api/ipam/roles/") {
      list_simple(req, res, roles, [this](writer& w, const role& r) {
        brief(w, "/api/ipam/roles/", r.id, r.name, r.slug);
      });
    } else {
      detail(res, 404, "Not found.");
    }
  }

  template <class T, class F>
  void list_simple(const httplib::Request& req, httplib::Response& res,
                   const std::vector<T>& xs, F write_one) const {
    std::vector<const T*> hits;
    for (const auto& x : xs)
      if (any_of(req, "slug", [&](auto& v) { return v == x.slug; })
          && any_of(req, "id", [&](auto& v) { return id_is(x.id, v); }))
        hits.push_back(&x);
    paginate(req, res, hits.size(),
             [&](writer& w, std::size_t i) { write_one(w, *hits[i]); });
  }

  void list_prefixes(const httplib::Request& req, httplib::Response& res) {
    if (!filters_valid(req, res,
                       {{"tenant", slug_in(tenants)},
                        {"tenant_id", id_in(tenants), true},
                        {"site", slug_in(sites)},
                        {"site_id", id_in(sites), true},
                        {"role", slug_in(roles)},
                        {"role_id", id_in(roles), true},
                        {"status", one_of(prefix_statuses)}}))
      return;
    std::vector<const prefix*> hits;
    for (const auto& x : prefixes) {
      bool ok
        = any_of(req, "id", [&](auto& v) { return id_is(x.id, v); })
          && any_of(req, "tenant_id",
                    [&](auto& v) { return id_is(x.tenant_id, v); })
          && any_of(req, "tenant",
                    [&](auto& v) { return v == slug_of(tenants, x.tenant_id); })
          && any_of(req, "site_id",
                    [&](auto& v) { return id_is(x.site_id, v); })
          && any_of(req, "site",
                    [&](auto& v) { return v == slug_of(sites, x.site_id); })
          && any_of(req, "role_id",
                    [&](auto& v) { return id_is(x.role_id, v); })
          && any_of(req, "role",
                    [&](auto& v) { return v == slug_of(roles, x.role_id); })
          && any_of(req, "status", [&](auto& v) { return v == x.status; })
          && any_of(req, "is_pool",
                    [&](auto& v) {
                      return (v == "true" || v == "True") == x.is_pool;
                    })
          && any_of(req, "prefix",
                    [&](auto& v) { return v == cidr(x.net, x.len); })
          && any_of(req, "family", [&](auto& v) { return v == "4"; });
      if (ok)
        hits.push_back(&x);
    }
    paginate(req, res, hits.size(),
             [&](writer& w, std::size_t i) { write_prefix(w, *hits[i]); });
  }

  bool ip_matches(const httplib::Request& req, const ip_addr& a) const {
    for (const auto& [key, value] : req.params) {
      if (key.rfind("cf_", 0) != 0)
        continue;
      auto name = key.substr(3);
      if (std::find(custom_fields.begin(), custom_fields.end(), name)
          == custom_fields.end())
        continue;
      if (!any_of(req, key, [&](auto& v) {
            auto i = a.cf.find(name);
            if (i == a.cf.end())
              return v == "null";
            return i->second == quote(v) || i->second == v;
          }))
        return false;
    }
    auto n_tags = req.get_param_value_count("tag");
    for (size_t i = 0; i < n_tags; ++i) {
      auto slug = req.get_param_value("tag", i);
      bool has = false;
      for (auto id : a.tag_ids)
        has = has || slug_of(tags, id) == slug;
      if (!has)
        return false;
    }
    return any_of(req, "id", [&](auto& v) { return id_is(a.id, v); })
           && any_of(req, "tenant_id",
                     [&](auto& v) { return id_is(a.tenant_id, v); })
           && any_of(req, "tenant",
                     [&](auto& v) {
                       return v == slug_of(tenants, a.tenant_id);
                     })
           && any_of(req, "status", [&](auto& v) { return v == a.status; })
           && any_of(req, "dns_name", [&](auto& v) { return v == a.dns_name; })
           && any_of(req, "description",
                     [&](auto& v) { return v == a.description; })
           // netbox/ipam/filtersets.py IPAddressFilterSet.filter_address:
           // `address__net_in` (netbox/ipam/lookups.py NetIn), so a value
           // without a mask matches the host whatever its mask length.
           && any_of(req, "address",
                     [&](auto& v) {
                       auto c = parse_cidr(v, false);
                       return c && c->first == a.ip;
                     })
           && any_of(req, "parent", [&](auto& v) {
                auto c = parse_cidr(v, true);
                return c
                       && (a.ip & mask_of(c->second))
                            == (c->first & mask_of(c->second));
              });
  }

  void list_ips(const httplib::Request& req, httplib::Response& res) {
    if (!filters_valid(req, res,
                       {{"tenant", slug_in(tenants)},
                        {"tenant_id", id_in(tenants), true},
                        {"status", one_of(ip_statuses)},
                        {"tag", slug_in(tags)}}))
      return;
    // One custom field with one value (a look-up by subscriber) is served
    // from `by_custom_field`, as a database index would: the candidates
    // still pass the whole filter, so the answer is a scan's, in id order.
    std::string field;
    std::string value;
    for (const auto& [key, v] : req.params)
      if (key.rfind("cf_", 0) == 0 && req.get_param_value_count(key) == 1
          && v != "null"
          && std::find(custom_fields.begin(), custom_fields.end(),
                       key.substr(3))
               != custom_fields.end()) {
        field = key.substr(3);
        value = v;
        break;
      }
    std::vector<const ip_addr*> hits;
    if (field.empty()) {
      for (const auto& [id, a] : ips)
        if (ip_matches(req, a))
          hits.push_back(&a);
    } else {
      // The value as stored: quoted text, or a bare number or boolean.
      std::vector<int64_t> ids;
      if (auto index = by_custom_field.find(field);
          index != by_custom_field.end())
        for (const auto& stored : {quote(value), value}) {
          auto [from, to] = index->second.equal_range(stored);
          for (auto k = from; k != to; ++k)
            ids.push_back(k->second);
        }
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      for (auto id : ids)
        if (const auto& a = ips.at(id); ip_matches(req, a))
          hits.push_back(&a);
    }
    paginate(req, res, hits.size(),
             [&](writer& w, std::size_t i) { write_ip(w, *hits[i]); });
  }

  // -- writes ----------------------------------------------------------------

  // Resolves a related object given by id or by a unique-attribute dict.
  template <class T>
  std::optional<int64_t> resolve(const std::vector<T>& xs,
                                 const rapidjson::Value& v,
                                 std::string& error) const {
    if (v.IsNull())
      return 0;
    if (v.IsInt64()) {
      if (by_id(xs, v.GetInt64()))
        return v.GetInt64();
      error = "Related object not found using the provided numeric ID: "
              + std::to_string(v.GetInt64());
      return std::nullopt;
    }
    if (v.IsObject()) {
      std::vector<const T*> hits;
      for (const auto& x : xs) {
        bool ok = true;
        for (auto& m : v.GetObject()) {
          std::string k = m.name.GetString();
          if (k == "id")
            ok = ok && m.value.IsInt64() && m.value.GetInt64() == x.id;
          else if (k == "slug")
            ok = ok && m.value.IsString() && x.slug == m.value.GetString();
          else if (k == "name")
            ok = ok && m.value.IsString() && x.name == m.value.GetString();
          else
            ok = false;
        }
        if (ok)
          hits.push_back(&x);
      }
      if (hits.size() == 1)
        return hits.front()->id;
      error = std::string{"Related object not found using the provided "
                          "attributes: "}
              + json_text(v);
      return std::nullopt;
    }
    error = "Incorrect type. Expected pk value, received "
            + std::string{v.IsString() ? "str" : "other"} + ".";
    return std::nullopt;
  }

  // Applies the writable fields of `body` to `a`; an error body on failure.
  std::optional<std::string> apply_fields(const rapidjson::Value& body,
                                          ip_addr& a, bool allow_address) {
    if (!body.IsObject())
      return std::string{R"({"non_field_errors":["Invalid data. Expected a )"
                         R"(dictionary, but got list."]})"};
    for (auto& m : body.GetObject()) {
      std::string key = m.name.GetString();
      const auto& v = m.value;
      std::string err;
      if (key == "address") {
        if (!allow_address)
          continue;
        auto c = v.IsString() ? parse_cidr(v.GetString(), true) : std::nullopt;
        if (!c)
          return field_error("address", "Enter a valid IPv4 or IPv6 address "
                                        "with optional mask.");
        a.ip = c->first;
        a.len = c->second;
      } else if (key == "tenant") {
        auto id = resolve(tenants, v, err);
        if (!id)
          return field_error("tenant", err);
        a.tenant_id = *id;
      } else if (key == "status") {
        if (!v.IsString()
            || std::find(ip_statuses.begin(), ip_statuses.end(), v.GetString())
                 == ip_statuses.end())
          return field_error(
            "status",
            "\"" + (v.IsString() ? std::string{v.GetString()} : json_text(v))
              + "\" is not a valid choice.");
        a.status = v.GetString();
      } else if (key == "dns_name" || key == "description" || key == "role") {
        if (!v.IsString() && !v.IsNull())
          return field_error(key, "Not a valid string.");
        std::string s = v.IsString() ? v.GetString() : "";
        (key == "dns_name"      ? a.dns_name
         : key == "description" ? a.description
                                : a.role)
          = s;
      } else if (key == "tags") {
        if (!v.IsArray())
          return field_error("tags", "Expected a list of items.");
        std::vector<int64_t> ids;
        for (const auto& t : v.GetArray()) {
          auto id = resolve(tags, t, err);
          if (!id)
            return field_error("tags", err);
          ids.push_back(*id);
        }
        a.tag_ids = ids;
      } else if (key == "custom_fields") {
        if (!v.IsObject())
          return field_error("custom_fields", "Invalid data.");
        for (auto& cf : v.GetObject()) {
          std::string name = cf.name.GetString();
          if (std::find(custom_fields.begin(), custom_fields.end(), name)
              == custom_fields.end())
            return field_error("custom_fields", "Unknown field name '" + name
                                                  + "' in custom field data.");
          if (cf.value.IsNull())
            a.cf.erase(name);
          else
            a.cf[name] = json_text(cf.value);
        }
      }
    }
    return std::nullopt;
  }

  // Stores `a` (new, or replacing the address of the same id).
  void put(const ip_addr& a) {
    if (auto i = ips.find(a.id); i != ips.end())
      drop(i);
    ips[a.id] = a;
    ++used_addresses[a.ip];
    for (const auto& [field, value] : a.cf)
      by_custom_field[field].emplace(value, a.id);
  }

  void drop(std::map<int64_t, ip_addr>::iterator i) {
    if (auto u = used_addresses.find(i->second.ip);
        u != used_addresses.end() && --u->second == 0) {
      used_addresses.erase(u);
      for (auto& [id, dense] : dense_from)
        dense.second = std::min<uint64_t>(dense.second, i->second.ip);
    }
    for (const auto& [field, value] : i->second.cf) {
      auto& index = by_custom_field[field];
      auto [from, to] = index.equal_range(value);
      for (auto k = from; k != to; ++k)
        if (k->second == i->first) {
          index.erase(k);
          break;
        }
    }
    ips.erase(i);
  }

  std::vector<uint32_t> free_ips(const prefix& p, std::size_t want) const {
    std::vector<uint32_t> out;
    if (p.full)
      return out;
    uint64_t size = uint64_t{1} << (32 - p.len);
    uint64_t first = p.net;
    uint64_t last = p.net + size - 1;
    if (!p.is_pool && p.len < 31) {
      ++first;
      --last;
    }
    // The addresses in use from the prefix's first on, in order: one pass
    // over them as the candidates go up (listing and sorting every address
    // per call cost more than the rest of the allocation). It starts past
    // the addresses known to be all in use (allocation fills a prefix from
    // its start, so walking them made each allocation linear in the
    // addresses allocated before).
    auto start = first;
    if (auto d = dense_from.find(p.id);
        d != dense_from.end() && d->second.first == first)
      start = std::max(first, d->second.second);
    auto u = used_addresses.lower_bound(static_cast<uint32_t>(
      std::min<uint64_t>(start, std::numeric_limits<uint32_t>::max())));
    uint64_t ip = start;
    for (; ip <= last && out.size() < want; ++ip) {
      while (u != used_addresses.end() && u->first < ip)
        ++u;
      if (u == used_addresses.end() || u->first != ip)
        out.push_back(static_cast<uint32_t>(ip));
    }
    dense_from[p.id] = {first, out.empty() ? ip : out.front()};
    return out;
  }

  void get_available(const httplib::Request& req, httplib::Response& res,
                     int64_t id) {
    auto* p = by_id(prefixes, id);
    if (!p)
      return detail(res, 404, "Not found.");
    std::size_t limit = 50;
    try {
      if (req.has_param("limit"))
        limit = static_cast<std::size_t>(
          std::max(0L, std::stol(req.get_param_value("limit"))));
    } catch (...) {
      limit = 50;
    }
    if (limit == 0 || limit > 1000)
      limit = 1000;
    rapidjson::StringBuffer buf;
    writer w{buf};
    w.StartArray();
    for (auto ip : free_ips(*p, limit)) {
      w.StartObject();
      w.Key("family");
      w.Int(4);
      w.Key("address");
      w.String(cidr(ip, p->len));
      w.Key("vrf");
      w.Null();
      w.EndObject();
    }
    w.EndArray();
    common::reply_json(res, 200, buf.GetString());
  }

  void post_available(const httplib::Request& req, httplib::Response& res,
                      int64_t id) {
    auto* p = by_id(prefixes, id);
    if (!p)
      return detail(res, 404, "Not found.");
    rapidjson::Document doc;
    doc.Parse(req.body.c_str(), req.body.size());
    if (doc.HasParseError())
      return detail(res, 400, "JSON parse error");
    bool many = doc.IsArray();
    std::vector<const rapidjson::Value*> items;
    if (many)
      for (const auto& v : doc.GetArray())
        items.push_back(&v);
    else
      items.push_back(&doc);
    auto avail = free_ips(*p, items.size());
    if (avail.size() < items.size()) {
      avail = free_ips(*p, uint64_t{1} << 32);
      std::string msg = "An insufficient number of IP addresses are available "
                        "within "
                        + cidr(p->net, p->len) + " ("
                        + std::to_string(items.size()) + " requested, "
                        + std::to_string(avail.size()) + " available)";
      return detail(res, 409, msg.c_str());
    }
    std::vector<ip_addr> made;
    for (std::size_t i = 0; i < items.size(); ++i) {
      ip_addr a;
      a.ip = avail[i];
      a.len = p->len;
      if (auto err = apply_fields(*items[i], a, false))
        return common::reply_json(res, 400, *err);
      made.push_back(std::move(a));
    }
    rapidjson::StringBuffer buf;
    writer w{buf};
    if (many)
      w.StartArray();
    auto now = common::now_iso8601();
    for (auto& a : made) {
      a.id = next_ip_id++;
      a.created = a.last_updated = now;
      put(a);
      ++allocations;
      write_ip(w, a);
    }
    if (many)
      w.EndArray();
    common::reply_json(res, 201, buf.GetString());
  }

  void post_ip(const httplib::Request& req, httplib::Response& res) {
    rapidjson::Document doc;
    doc.Parse(req.body.c_str(), req.body.size());
    if (doc.HasParseError())
      return detail(res, 400, "JSON parse error");
    if (!doc.IsObject() || !doc.HasMember("address"))
      return common::reply_json(
        res, 400, field_error("address", "This field is required."));
    ip_addr a;
    if (auto err = apply_fields(doc, a, true))
      return common::reply_json(res, 400, *err);
    a.id = next_ip_id++;
    a.created = a.last_updated = common::now_iso8601();
    put(a);
    rapidjson::StringBuffer buf;
    writer w{buf};
    write_ip(w, a);
    common::reply_json(res, 201, buf.GetString());
  }

  void ip_detail(const httplib::Request& req, httplib::Response& res,
                 int64_t id) {
    auto i = ips.find(id);
    if (req.method == "GET" || req.method == "PATCH" || req.method == "PUT") {
      if (i == ips.end())
        return detail(res, 404, "Not found.");
      if (req.method != "GET") {
        rapidjson::Document doc;
        doc.Parse(req.body.c_str(), req.body.size());
        if (doc.HasParseError())
          return detail(res, 400, "JSON parse error");
        auto copy = i->second;
        if (auto err = apply_fields(doc, copy, true))
          return common::reply_json(res, 400, *err);
        copy.last_updated = common::now_iso8601();
        put(copy);
        i = ips.find(id);
      }
      rapidjson::StringBuffer buf;
      writer w{buf};
      write_ip(w, i->second);
      return common::reply_json(res, 200, buf.GetString());
    }
    if (req.method == "DELETE") {
      if (i == ips.end())
        return detail(res, 404, "Not found.");
      drop(i);
      res.status = 204;
      return;
    }
    common::reply_json(res, 405,
                       R"({"detail":"Method \")" + req.method
                         + R"(\" not allowed."})");
  }

  void post_tenant(const httplib::Request& req, httplib::Response& res) {
    rapidjson::Document doc;
    doc.Parse(req.body.c_str(), req.body.size());
    if (doc.HasParseError() || !doc.IsObject())
      return detail(res, 400, "JSON parse error");
    if (!doc.HasMember("name") || !doc["name"].IsString())
      return common::reply_json(res, 400,
                                field_error("name", "This field is required."));
    if (!doc.HasMember("slug") || !doc["slug"].IsString())
      return common::reply_json(res, 400,
                                field_error("slug", "This field is required."));
    tenant t;
    t.name = doc["name"].GetString();
    t.slug = doc["slug"].GetString();
    if (doc.HasMember("description") && doc["description"].IsString())
      t.description = doc["description"].GetString();
    if (find_slug(tenants, t.slug) != 0)
      return common::reply_json(
        res, 400, field_error("slug", "tenant with this slug already exists."));
    t.id = next_tenant_id++;
    tenants.push_back(t);
    rapidjson::StringBuffer buf;
    writer w{buf};
    write_tenant(w, t);
    common::reply_json(res, 201, buf.GetString());
  }

  // -- control ---------------------------------------------------------------

  void extra_faults(std::string_view json) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    std::lock_guard<std::mutex> guard{mtx};
    for (auto& p : prefixes)
      p.full = false;
    if (doc.HasParseError() || !doc.IsObject()
        || !doc.HasMember("full_prefixes") || !doc["full_prefixes"].IsArray())
      return;
    for (const auto& v : doc["full_prefixes"].GetArray())
      if (v.IsInt64())
        for (auto& p : prefixes)
          if (p.id == v.GetInt64())
            p.full = true;
  }

  bool control(const httplib::Request& req, httplib::Response& res) {
    static const std::regex full_re{"/_sim/prefixes/([0-9]+)/full"};
    std::smatch m;
    if (std::regex_match(req.path, m, full_re) && req.method == "POST") {
      rapidjson::Document doc;
      doc.Parse(req.body.c_str(), req.body.size());
      bool full = doc.HasParseError() || !doc.IsObject()
                  || !doc.HasMember("full") || !doc["full"].IsBool()
                  || doc["full"].GetBool();
      std::lock_guard<std::mutex> guard{mtx};
      for (auto& p : prefixes)
        if (p.id == std::stoll(m[1])) {
          p.full = full;
          common::reply_json(res, 200,
                             full ? R"({"full":true})" : R"({"full":false})");
          return true;
        }
      detail(res, 404, "Not found.");
      return true;
    }
    return false;
  }

  std::string state_json() const {
    std::lock_guard<std::mutex> guard{mtx};
    rapidjson::StringBuffer buf;
    writer w{buf};
    w.StartObject();
    w.Key("allocations");
    w.Uint64(allocations);
    // What clients checked of the contract: list look-ups, pages followed
    // through `next`, and look-ups refused for an unknown slug or id.
    w.Key("contract_checks");
    w.StartObject();
    w.Key("lookups");
    w.Uint64(checks_seen.lookups);
    w.Key("pages_followed");
    w.Uint64(checks_seen.pages_followed);
    w.Key("unknown_choices");
    w.Uint64(checks_seen.unknown_choices);
    w.Key("max_page_size");
    w.Uint64(opts.max_page_size);
    w.EndObject();
    w.Key("prefixes");
    w.StartArray();
    for (const auto& p : prefixes) {
      w.StartObject();
      w.Key("id");
      w.Int64(p.id);
      w.Key("prefix");
      w.String(cidr(p.net, p.len));
      w.Key("full");
      w.Bool(p.full);
      w.Key("available");
      w.Uint64(free_ips(p, 1u << 20).size());
      w.EndObject();
    }
    w.EndArray();
    w.Key("ip_addresses");
    w.StartArray();
    for (const auto& [id, a] : ips) {
      w.StartObject();
      w.Key("id");
      w.Int64(id);
      w.Key("address");
      w.String(cidr(a.ip, a.len));
      w.Key("tenant_id");
      w.Int64(a.tenant_id);
      w.Key("custom_fields");
      w.StartObject();
      for (const auto& [k, v] : a.cf) {
        w.Key(k.c_str());
        w.RawValue(v.data(), v.size(), rapidjson::kObjectType);
      }
      w.EndObject();
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return buf.GetString();
  }
};

server::server(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

server::~server() {
  stop();
}

caf::expected<std::unique_ptr<server>> server::start(options opts) {
  auto faults = common::parse_faults(opts.faults_json);
  if (!faults)
    return faults.error();
  auto seed_file = opts.seed_file;
  auto faults_json = opts.faults_json;
  auto state = std::make_unique<impl>(std::move(opts));
  if (seed_file.empty()) {
    state->default_seed();
  } else if (auto err = state->load_seed(seed_file)) {
    return err;
  }
  if (!faults_json.empty())
    state->extra_faults(faults_json);
  auto port = state->host.start(state->opts.port, *faults);
  if (!port)
    return port.error();
  return std::unique_ptr<server>{new server(std::move(state))};
}

uint16_t server::port() const noexcept {
  return impl_->host.port();
}

void server::stop() {
  impl_->host.stop();
}

std::vector<ip_address_view> server::ip_addresses() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  std::vector<ip_address_view> out;
  for (const auto& [id, a] : impl_->ips) {
    ip_address_view v;
    v.id = id;
    v.address = cidr(a.ip, a.len);
    v.tenant_id = a.tenant_id;
    v.status = a.status;
    v.dns_name = a.dns_name;
    v.description = a.description;
    for (const auto& name : impl_->custom_fields) {
      auto i = a.cf.find(name);
      v.custom_fields[name] = i == a.cf.end() ? "null" : i->second;
    }
    for (auto t : a.tag_ids)
      v.tags.push_back(impl_->slug_of(impl_->tags, t));
    out.push_back(std::move(v));
  }
  return out;
}

contract_checks server::checks() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->checks_seen;
}

std::size_t server::allocation_count() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->allocations;
}

void server::set_prefix_full(int64_t prefix_id, bool full) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  for (auto& p : impl_->prefixes)
    if (p.id == prefix_id)
      p.full = full;
}

void server::set_faults(common::fault_config cfg) {
  impl_->host.set_faults(std::move(cfg));
}

common::fault_config server::faults() const {
  return impl_->host.faults();
}

} // namespace ispflow::sim::netbox

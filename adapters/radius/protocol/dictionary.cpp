#include "adapters/radius/protocol/dictionary.hpp"

#include "events/errc.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <unordered_map>

namespace ispflow::adapters::radius {

namespace {

caf::error invalid(std::string detail) {
  return caf::make_error(errc::invalid_input, std::move(detail));
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

uint64_t key_of(uint32_t vendor, uint32_t type) {
  return (uint64_t{vendor} << 32) | type;
}

template <class T>
bool parse_uint(std::string_view s, T& out) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    base = 16;
  }
  if (s.empty())
    return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

std::vector<std::string_view> tokens(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
      ++i;
    if (i >= line.size() || line[i] == '#')
      break;
    size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t')
      ++j;
    out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

std::optional<data_type> type_from(std::string_view s, uint32_t& fixed) {
  fixed = 0;
  if (auto br = s.find('['); br != std::string_view::npos) {
    auto close = s.find(']', br);
    if (close == std::string_view::npos
        || !parse_uint(s.substr(br + 1, close - br - 1), fixed))
      return std::nullopt;
    s = s.substr(0, br);
  }
  static const std::pair<std::string_view, data_type> table[] = {
    {"string", data_type::string},
    {"octets", data_type::octets},
    {"ipaddr", data_type::ipaddr},
    {"integer", data_type::integer},
    {"uint32", data_type::integer},
    {"date", data_type::date},
    {"ipv6addr", data_type::ipv6addr},
    {"ipv6prefix", data_type::ipv6prefix},
    {"ipv4prefix", data_type::ipv4prefix},
    {"ifid", data_type::ifid},
    {"integer64", data_type::integer64},
    {"byte", data_type::byte},
    {"short", data_type::short_},
    {"uint16", data_type::short_},
    {"signed", data_type::signed_},
    {"ether", data_type::ether},
    {"tlv", data_type::tlv},
    {"vsa", data_type::vsa},
    {"combo-ip", data_type::combo_ip},
    {"abinary", data_type::other},
    {"evs", data_type::other},
    {"extended", data_type::other},
    {"long-extended", data_type::other},
  };
  auto ls = lower(s);
  for (auto& [name, t] : table)
    if (ls == name)
      return t;
  return std::nullopt;
}

std::string hex_of(std::span<const uint8_t> v) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out = "0x";
  for (auto b : v) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

bool parse_hex(std::string_view s, std::vector<uint8_t>& out) {
  if (s.size() % 2 != 0)
    return false;
  out.clear();
  for (size_t i = 0; i < s.size(); i += 2) {
    uint8_t b = 0;
    auto [p, ec] = std::from_chars(s.data() + i, s.data() + i + 2, b, 16);
    if (ec != std::errc{} || p != s.data() + i + 2)
      return false;
    out.push_back(b);
  }
  return true;
}

uint64_t read_be(std::span<const uint8_t> v) {
  uint64_t x = 0;
  for (auto b : v)
    x = (x << 8) | b;
  return x;
}

void put_be(std::vector<uint8_t>& out, uint64_t v, size_t n) {
  for (size_t i = n; i > 0; --i)
    out.push_back(static_cast<uint8_t>(v >> (8 * (i - 1))));
}

} // namespace

std::string_view to_string(data_type x) {
  switch (x) {
    case data_type::string:
      return "string";
    case data_type::octets:
      return "octets";
    case data_type::ipaddr:
      return "ipaddr";
    case data_type::integer:
      return "integer";
    case data_type::date:
      return "date";
    case data_type::ipv6addr:
      return "ipv6addr";
    case data_type::ipv6prefix:
      return "ipv6prefix";
    case data_type::ipv4prefix:
      return "ipv4prefix";
    case data_type::ifid:
      return "ifid";
    case data_type::integer64:
      return "integer64";
    case data_type::byte:
      return "byte";
    case data_type::short_:
      return "short";
    case data_type::signed_:
      return "signed";
    case data_type::ether:
      return "ether";
    case data_type::tlv:
      return "tlv";
    case data_type::vsa:
      return "vsa";
    case data_type::combo_ip:
      return "combo-ip";
    case data_type::other:
      return "other";
  }
  return "other";
}

struct dictionary::impl {
  std::vector<attribute_def> attrs;
  std::unordered_map<std::string, size_t> by_name;
  std::unordered_map<uint64_t, size_t> by_number;
  std::vector<vendor_def> vendors;
  std::unordered_map<std::string, size_t> vendor_by_name;
  std::unordered_map<uint32_t, size_t> vendor_by_id;
  // attribute name (lower) -> value name (lower) -> number, and back.
  std::unordered_map<std::string, std::unordered_map<std::string, uint64_t>>
    values;
  std::unordered_map<std::string, std::unordered_map<uint64_t, std::string>>
    names;
  size_t value_count = 0;
  size_t files = 0;

  caf::error parse_text(std::string_view text, const std::string& file,
                        const std::string& base_dir, int depth);
  caf::error load_file(const std::string& path, int depth);
  caf::error add_vendor(std::vector<std::string_view>& t,
                        const std::string& where);
  caf::error add_attribute(std::vector<std::string_view>& t, uint32_t vendor,
                           const std::string& where);
};

caf::error dictionary::impl::load_file(const std::string& path, int depth) {
  if (depth > 16)
    return invalid("radius dictionary: $INCLUDE nesting too deep at " + path);
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return invalid("radius dictionary: cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  ++files;
  auto slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  return parse_text(ss.str(), path, dir, depth);
}

caf::error dictionary::impl::add_vendor(std::vector<std::string_view>& t,
                                        const std::string& where) {
  if (t.size() < 3)
    return invalid("radius dictionary: VENDOR needs a name and a number at "
                   + where);
  vendor_def v;
  v.name = std::string{t[1]};
  if (!parse_uint(t[2], v.id))
    return invalid("radius dictionary: bad vendor number at " + where);
  if (t.size() > 3 && t[3].starts_with("format=")) {
    auto f = t[3].substr(7);
    unsigned ts = 0;
    unsigned ls = 0;
    if (std::sscanf(std::string{f}.c_str(), "%u,%u", &ts, &ls) != 2
        || !(ts == 1 || ts == 2 || ts == 4) || ls > 2)
      return invalid("radius dictionary: bad vendor format at " + where);
    v.format.type_size = static_cast<uint8_t>(ts);
    v.format.length_size = static_cast<uint8_t>(ls);
  }
  auto idx = vendors.size();
  vendor_by_name[lower(v.name)] = idx;
  vendor_by_id[v.id] = idx;
  vendors.push_back(std::move(v));
  return {};
}

caf::error dictionary::impl::add_attribute(std::vector<std::string_view>& t,
                                           uint32_t vendor,
                                           const std::string& where) {
  if (t.size() < 4)
    return invalid("radius dictionary: ATTRIBUTE needs name, number, type at "
                   + where);
  attribute_def d;
  d.name = std::string{t[1]};
  d.oid = std::string{t[2]};
  d.vendor = vendor;
  auto last_dot = t[2].rfind('.');
  d.nested = last_dot != std::string_view::npos;
  auto last = d.nested ? t[2].substr(last_dot + 1) : t[2];
  if (!parse_uint(last, d.type))
    return invalid("radius dictionary: bad attribute number '"
                   + std::string{t[2]} + "' at " + where);
  auto kind = type_from(t[3], d.fixed_size);
  if (!kind)
    return invalid("radius dictionary: unknown type '" + std::string{t[3]}
                   + "' at " + where);
  d.kind = *kind;
  for (size_t i = 4; i < t.size(); ++i) {
    // Old syntax names the vendor as a fifth token.
    if (auto v = vendor_by_name.find(lower(t[i])); v != vendor_by_name.end()) {
      d.vendor = vendors[v->second].id;
      continue;
    }
    std::string_view flags = t[i];
    while (!flags.empty()) {
      auto comma = flags.find(',');
      auto f = flags.substr(0, comma);
      if (f == "has_tag")
        d.has_tag = true;
      else if (f == "array")
        d.array = true;
      else if (f == "concat")
        d.concat = true;
      else if (f == "virtual")
        d.virtual_ = true;
      else if (f.starts_with("encrypt="))
        parse_uint(f.substr(8), d.encrypt);
      flags = comma == std::string_view::npos ? std::string_view{}
                                              : flags.substr(comma + 1);
    }
  }
  auto idx = attrs.size();
  by_name[lower(d.name)] = idx;
  if (!d.nested)
    by_number[key_of(d.vendor, d.type)] = idx;
  attrs.push_back(std::move(d));
  return {};
}

caf::error
dictionary::impl::parse_text(std::string_view text, const std::string& file,
                             const std::string& base_dir, int depth) {
  uint32_t vendor = 0;
  size_t line_no = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{}
                                        : text.substr(nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    auto t = tokens(line);
    if (t.empty())
      continue;
    auto where = file + ":" + std::to_string(line_no);
    auto kw = t[0];
    if (kw == "$INCLUDE" || kw == "$INCLUDE-") {
      if (t.size() < 2)
        return invalid("radius dictionary: $INCLUDE without a file at "
                       + where);
      std::string path{t[1]};
      if (!path.starts_with("/"))
        path = base_dir + "/" + path;
      if (kw == "$INCLUDE-") {
        std::ifstream probe(path);
        if (!probe)
          continue;
      }
      if (auto err = load_file(path, depth + 1))
        return err;
    } else if (kw == "VENDOR") {
      if (auto err = add_vendor(t, where))
        return err;
    } else if (kw == "BEGIN-VENDOR") {
      if (t.size() < 2)
        return invalid("radius dictionary: BEGIN-VENDOR without a name at "
                       + where);
      auto v = vendor_by_name.find(lower(t[1]));
      if (v == vendor_by_name.end())
        return invalid("radius dictionary: unknown vendor '" + std::string{t[1]}
                       + "' at " + where);
      vendor = vendors[v->second].id;
    } else if (kw == "END-VENDOR") {
      vendor = 0;
    } else if (kw == "ATTRIBUTE") {
      if (auto err = add_attribute(t, vendor, where))
        return err;
    } else if (kw == "VALUE") {
      if (t.size() < 4)
        return invalid("radius dictionary: VALUE needs attribute, name, "
                       "number at "
                       + where);
      uint64_t n = 0;
      if (!parse_uint(t[3], n))
        return invalid("radius dictionary: bad VALUE number at " + where);
      auto a = lower(t[1]);
      values[a][lower(t[2])] = n;
      names[a][n] = std::string{t[2]};
      ++value_count;
    } else if (kw == "BEGIN-TLV" || kw == "END-TLV" || kw == "PROTOCOL"
               || kw == "BEGIN-PROTOCOL" || kw == "END-PROTOCOL"
               || kw == "FLAGS") {
      // Children of a TLV carry dotted oids, so the block adds nothing.
      continue;
    } else {
      return invalid("radius dictionary: unknown keyword '" + std::string{kw}
                     + "' at " + where);
    }
  }
  return {};
}

dictionary::dictionary() : impl_(std::make_unique<impl>()) {
  // nop
}

dictionary::~dictionary() = default;
dictionary::dictionary(dictionary&&) noexcept = default;
dictionary& dictionary::operator=(dictionary&&) noexcept = default;

caf::expected<dictionary> dictionary::load(const std::string& path) {
  dictionary d;
  try {
    if (auto err = d.impl_->load_file(path, 0))
      return err;
  } catch (const std::exception& e) {
    return invalid(std::string{"radius dictionary: "} + e.what());
  }
  return d;
}

caf::expected<dictionary> dictionary::parse(std::string_view text,
                                            const std::string& base_dir) {
  dictionary d;
  try {
    if (auto err = d.impl_->parse_text(text, "<text>", base_dir, 0))
      return err;
  } catch (const std::exception& e) {
    return invalid(std::string{"radius dictionary: "} + e.what());
  }
  return d;
}

const attribute_def* dictionary::find(std::string_view name) const {
  auto i = impl_->by_name.find(lower(name));
  return i == impl_->by_name.end() ? nullptr : &impl_->attrs[i->second];
}

const attribute_def* dictionary::find(uint32_t vendor, uint32_t type) const {
  auto i = impl_->by_number.find(key_of(vendor, type));
  return i == impl_->by_number.end() ? nullptr : &impl_->attrs[i->second];
}

const vendor_def* dictionary::find_vendor(std::string_view name) const {
  auto i = impl_->vendor_by_name.find(lower(name));
  return i == impl_->vendor_by_name.end() ? nullptr
                                          : &impl_->vendors[i->second];
}

const vendor_def* dictionary::find_vendor(uint32_t id) const {
  auto i = impl_->vendor_by_id.find(id);
  return i == impl_->vendor_by_id.end() ? nullptr : &impl_->vendors[i->second];
}

std::optional<uint64_t>
dictionary::value_of(std::string_view attribute,
                     std::string_view value_name) const {
  auto a = impl_->values.find(lower(attribute));
  if (a == impl_->values.end())
    return std::nullopt;
  auto v = a->second.find(lower(value_name));
  if (v == a->second.end())
    return std::nullopt;
  return v->second;
}

std::optional<std::string> dictionary::value_name(std::string_view attribute,
                                                  uint64_t number) const {
  auto a = impl_->names.find(lower(attribute));
  if (a == impl_->names.end())
    return std::nullopt;
  auto v = a->second.find(number);
  if (v == a->second.end())
    return std::nullopt;
  return v->second;
}

vendor_format dictionary::format_of(uint32_t vendor) const {
  if (auto* v = find_vendor(vendor))
    return v->format;
  return vendor_format{};
}

vendor_format_fn dictionary::formats() const {
  return [this](uint32_t vendor) { return format_of(vendor); };
}

caf::expected<attribute> dictionary::make(std::string_view name,
                                          std::string_view text) const {
  auto* d = find(name);
  if (d == nullptr)
    return invalid("radius: unknown attribute '" + std::string{name} + "'");
  if (d->nested || d->virtual_)
    return invalid("radius: attribute '" + d->name
                   + "' cannot be sent as a top-level attribute");
  attribute a;
  a.vendor = d->vendor;
  a.type = d->type;
  auto bad = [&] {
    return invalid("radius: '" + std::string{text} + "' is not a valid "
                   + std::string{to_string(d->kind)} + " for " + d->name);
  };
  auto number = [&](uint64_t& n) {
    if (auto v = value_of(d->name, text)) {
      n = *v;
      return true;
    }
    return parse_uint(text, n);
  };
  std::string s{text};
  switch (d->kind) {
    case data_type::string:
      a.value.assign(text.begin(), text.end());
      break;
    case data_type::octets:
      if (text.starts_with("0x") || text.starts_with("0X")) {
        if (!parse_hex(text.substr(2), a.value))
          return bad();
      } else {
        a.value.assign(text.begin(), text.end());
      }
      break;
    case data_type::ipaddr:
    case data_type::combo_ip: {
      uint8_t buf[16];
      if (inet_pton(AF_INET, s.c_str(), buf) == 1)
        a.value.assign(buf, buf + 4);
      else if (d->kind == data_type::combo_ip
               && inet_pton(AF_INET6, s.c_str(), buf) == 1)
        a.value.assign(buf, buf + 16);
      else
        return bad();
      break;
    }
    case data_type::ipv6addr: {
      uint8_t buf[16];
      if (inet_pton(AF_INET6, s.c_str(), buf) != 1)
        return bad();
      a.value.assign(buf, buf + 16);
      break;
    }
    case data_type::ipv6prefix:
    case data_type::ipv4prefix: {
      bool v6 = d->kind == data_type::ipv6prefix;
      auto slash = s.find('/');
      unsigned len = 0;
      if (slash == std::string::npos
          || !parse_uint(std::string_view{s}.substr(slash + 1), len)
          || len > (v6 ? 128u : 32u))
        return bad();
      uint8_t buf[16];
      if (inet_pton(v6 ? AF_INET6 : AF_INET, s.substr(0, slash).c_str(), buf)
          != 1)
        return bad();
      a.value = {0, static_cast<uint8_t>(len)};
      size_t bytes = v6 ? (len + 7) / 8 : 4;
      a.value.insert(a.value.end(), buf, buf + bytes);
      break;
    }
    case data_type::integer:
    case data_type::date:
    case data_type::byte:
    case data_type::short_:
    case data_type::integer64: {
      uint64_t n = 0;
      if (!number(n))
        return bad();
      size_t width = d->kind == data_type::byte        ? 1
                     : d->kind == data_type::short_    ? 2
                     : d->kind == data_type::integer64 ? 8
                                                       : 4;
      if (width < 8 && n >= (uint64_t{1} << (8 * width)))
        return bad();
      put_be(a.value, n, width);
      break;
    }
    case data_type::signed_: {
      int32_t n = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
      if (ec != std::errc{} || p != s.data() + s.size())
        return bad();
      put_be(a.value, static_cast<uint32_t>(n), 4);
      break;
    }
    case data_type::ether:
    case data_type::ifid: {
      size_t want = d->kind == data_type::ether ? 6 : 8;
      std::string hex;
      for (char c : s)
        if (c != ':' && c != '-' && c != '.')
          hex.push_back(c);
      if (!parse_hex(hex, a.value) || a.value.size() != want)
        return bad();
      break;
    }
    default:
      return invalid("radius: type " + std::string{to_string(d->kind)} + " of "
                     + d->name + " cannot be built from text");
  }
  if (d->fixed_size != 0 && a.value.size() != d->fixed_size)
    return bad();
  return a;
}

std::string dictionary::format(const attribute& a) const {
  auto* d = find(a.vendor, a.type);
  std::span<const uint8_t> v{a.value};
  if (d == nullptr)
    return hex_of(v);
  char buf[INET6_ADDRSTRLEN] = {};
  switch (d->kind) {
    case data_type::string:
      return a.as_text();
    case data_type::ipaddr:
      if (v.size() == 4 && inet_ntop(AF_INET, v.data(), buf, sizeof(buf)))
        return buf;
      break;
    case data_type::combo_ip:
      if (v.size() == 4 && inet_ntop(AF_INET, v.data(), buf, sizeof(buf)))
        return buf;
      if (v.size() == 16 && inet_ntop(AF_INET6, v.data(), buf, sizeof(buf)))
        return buf;
      break;
    case data_type::ipv6addr:
      if (v.size() == 16 && inet_ntop(AF_INET6, v.data(), buf, sizeof(buf)))
        return buf;
      break;
    case data_type::ipv6prefix:
      if (v.size() >= 2 && v.size() <= 18 && v[1] <= 128) {
        uint8_t full[16] = {};
        std::copy(v.begin() + 2, v.end(), full);
        if (inet_ntop(AF_INET6, full, buf, sizeof(buf)))
          return std::string{buf} + "/" + std::to_string(v[1]);
      }
      break;
    case data_type::ipv4prefix:
      if (v.size() == 6 && v[1] <= 32
          && inet_ntop(AF_INET, v.data() + 2, buf, sizeof(buf)))
        return std::string{buf} + "/" + std::to_string(v[1]);
      break;
    case data_type::integer:
    case data_type::date:
    case data_type::byte:
    case data_type::short_:
    case data_type::integer64: {
      size_t width = d->kind == data_type::byte        ? 1
                     : d->kind == data_type::short_    ? 2
                     : d->kind == data_type::integer64 ? 8
                                                       : 4;
      if (v.size() != width)
        break;
      auto n = read_be(v);
      if (auto name = value_name(d->name, n))
        return *name;
      return std::to_string(n);
    }
    case data_type::signed_:
      if (v.size() == 4)
        return std::to_string(static_cast<int32_t>(read_be(v)));
      break;
    default:
      break;
  }
  return hex_of(v);
}

std::string dictionary::name_of(const attribute& a) const {
  if (auto* d = find(a.vendor, a.type))
    return d->name;
  if (a.vendor == 0)
    return "Attr-" + std::to_string(a.type);
  return "Attr-26." + std::to_string(a.vendor) + "." + std::to_string(a.type);
}

size_t dictionary::attribute_count() const {
  return impl_->attrs.size();
}

size_t dictionary::value_count() const {
  return impl_->value_count;
}

size_t dictionary::vendor_count() const {
  return impl_->vendors.size();
}

size_t dictionary::file_count() const {
  return impl_->files;
}

} // namespace ispflow::adapters::radius

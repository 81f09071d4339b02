#include "adapters/postgres/codec.hpp"

#include "adapters/postgres/outbox_store.hpp"
#include "events/errc.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <rapidjson/document.h>

namespace ispflow::adapters::postgres::detail {

namespace {

constexpr char b64_alphabet[]
  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> make_b64_table() {
  std::array<int8_t, 256> t{};
  for (auto& x : t)
    x = -1;
  for (int i = 0; i < 64; ++i)
    t[static_cast<unsigned char>(b64_alphabet[i])] = static_cast<int8_t>(i);
  return t;
}

constexpr auto b64_table = make_b64_table();

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
size_t utf8_sequence(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  auto cont = [&](size_t k) {
    return i + k < s.size()
           && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
  };
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF)
    return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2))
      return 0;
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F))
      return 0; // overlong or surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3))
      return 0;
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    if ((c == 0xF0 && c1 < 0x90) || (c == 0xF4 && c1 > 0x8F))
      return 0;
    return 4;
  }
  return 0;
}

bool digits(std::string_view s, size_t pos, size_t n, int& value) {
  if (pos + n > s.size())
    return false;
  value = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    value = value * 10 + (s[i] - '0');
  }
  return true;
}

// Bytes that the escapers below pass through as they are: printable ASCII
// other than the backslash, and the quote where `quote_passes` (COPY text;
// JSON escapes it).
template <bool quote_passes>
constexpr bool passes_as_is(unsigned char c) {
  return c >= 0x20 && c < 0x7F && c != '\\' && (quote_passes || c != '"');
}

// Appends `s` with NUL and bytes that are not valid UTF-8 as U+FFFD (text
// PostgreSQL can hold), valid multi-byte sequences as they are, and every
// other byte through `escape(out, byte)`. Runs of bytes that need nothing
// are appended in one piece: most of a payload is such a run, and a byte
// at a time cost the saga store ~6 us per outbox record (bench/codec).
template <bool quote_passes, class Escape>
void append_clean_text(std::string& out, std::string_view s, Escape escape) {
  size_t run = 0; // the first byte not yet appended
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (passes_as_is<quote_passes>(c)) {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      if (auto n = utf8_sequence(s, i); n != 0) {
        i += n;
        continue;
      }
    }
    out.append(s.data() + run, i - run);
    if (c == '\0' || c >= 0x80)
      out += "\xEF\xBF\xBD";
    else
      escape(out, c);
    run = ++i;
  }
  out.append(s.data() + run, s.size() - run);
}

} // namespace

void append_base64(std::string& out, std::string_view bytes) {
  auto start = out.size();
  out.resize(start + (bytes.size() + 2) / 3 * 4);
  char* p = out.data() + start;
  size_t i = 0;
  auto at = [&](size_t k) {
    return static_cast<uint32_t>(static_cast<unsigned char>(bytes[k]));
  };
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    *p++ = b64_alphabet[(v >> 18) & 63];
    *p++ = b64_alphabet[(v >> 12) & 63];
    *p++ = b64_alphabet[(v >> 6) & 63];
    *p++ = b64_alphabet[v & 63];
  }
  if (auto rest = bytes.size() - i; rest > 0) {
    uint32_t v = at(i) << 16;
    if (rest == 2)
      v |= at(i + 1) << 8;
    *p++ = b64_alphabet[(v >> 18) & 63];
    *p++ = b64_alphabet[(v >> 12) & 63];
    *p++ = rest == 2 ? b64_alphabet[(v >> 6) & 63] : '=';
    *p++ = '=';
  }
}

std::optional<std::string> decode_base64(std::string_view text) {
  std::string out;
  out.reserve(text.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (char ch : text) {
    if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
      continue;
    if (ch == '=') {
      ++pad;
      continue;
    }
    auto v = b64_table[static_cast<unsigned char>(ch)];
    if (v < 0 || pad > 0)
      return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if (pad > 2)
    return std::nullopt;
  return out;
}

bool is_clean_text(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c - 1U < 0x7FU) { // ASCII other than NUL
      ++i;
      continue;
    }
    if (c == 0)
      return false;
    auto n = utf8_sequence(s, i);
    if (n == 0)
      return false;
    i += n;
  }
  return true;
}

std::string text_array(const std::vector<std::string>& xs) {
  std::string out = "{";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out += ',';
    out += '"';
    for (char c : xs[i]) {
      if (c == '"' || c == '\\')
        out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

void append_json_text(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  append_clean_text<false>(out, s, [](std::string& o, unsigned char c) {
    switch (c) {
      case '"':
        o += "\\\"";
        break;
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\r':
        o += "\\r";
        break;
      case '\t':
        o += "\\t";
        break;
      default:
        if (c < 0x20) {
          o += "\\u00";
          o += hex[c >> 4];
          o += hex[c & 15];
        } else {
          o += static_cast<char>(c);
        }
    }
  });
  out += '"';
}

void append_headers_json(std::string& out,
                         const std::vector<events::kafka_header>& headers) {
  out += '[';
  bool first = true;
  for (auto& h : headers) {
    if (!first)
      out += ',';
    first = false;
    if (is_clean_text(h.key)) {
      out += "{\"key\":";
      append_json_text(out, h.key);
    } else {
      out += "{\"key_base64\":\"";
      append_base64(out, h.key);
      out += '"';
    }
    if (h.null_value) {
      out += ",\"value\":\"\",\"null\":true}";
    } else if (is_clean_text(h.value)) {
      out += ",\"text\":";
      append_json_text(out, h.value);
      out += '}';
    } else {
      out += ",\"value\":\"";
      append_base64(out, h.value);
      out += "\"}";
    }
  }
  out += ']';
}

namespace {

// `text_value`: a value that is clean text goes as "text" (a packed row's
// form), not base64 in "value".
void append_record_json(std::string& out, const events::kafka_record& r,
                        bool text_value) {
  out += "{\"topic\":";
  append_json_text(out, r.topic);
  if (r.null_key) {
    out += ",\"key\":null";
  } else {
    out += ",\"key\":\"";
    append_base64(out, r.key);
    out += '"';
  }
  if (text_value && is_clean_text(r.value)) {
    out += ",\"text\":";
    append_json_text(out, r.value);
  } else {
    out += ",\"value\":\"";
    append_base64(out, r.value);
    out += '"';
  }
  out += ",\"headers\":";
  append_headers_json(out, r.headers);
  out += '}';
}

// About the size of a record in a packed row (append_record_json with
// text values, before JSON escapes).
size_t packed_size(const events::kafka_record& r) {
  size_t n = 64 + r.topic.size() + (r.key.size() + 2) / 3 * 4 + r.value.size();
  for (auto& h : r.headers)
    n += 24 + h.key.size() + h.value.size();
  return n;
}

} // namespace

void append_records_json(std::string& out,
                         const std::vector<events::kafka_record>& records) {
  out += '[';
  for (size_t i = 0; i < records.size(); ++i) {
    if (i > 0)
      out += ',';
    append_record_json(out, records[i], false);
  }
  out += ']';
}

void append_records_json(std::string& out, const packed_row& row) {
  out += '[';
  for (size_t i = 0; i < row.records.size(); ++i) {
    if (i > 0)
      out += ',';
    append_record_json(out, *row.records[i], true);
  }
  out += ']';
}

std::vector<packed_row>
pack_records(const std::vector<const std::vector<events::kafka_record>*>& in) {
  std::vector<packed_row> rows;
  // Per topic, the row that still takes records (a handful of topics).
  std::vector<std::pair<std::string_view, size_t>> open;
  for (auto* records : in) {
    for (auto& r : *records) {
      auto size = packed_size(r);
      auto at = std::find_if(open.begin(), open.end(),
                             [&](auto& x) { return x.first == r.topic; });
      if (at == open.end()
          || rows[at->second].records.size() >= outbox_store::records_per_row
          || rows[at->second].bytes + size > packed_row::max_bytes) {
        if (at == open.end())
          at = open.emplace(open.end(), r.topic, 0);
        at->second = rows.size();
        rows.push_back(packed_row{r.topic, {}, 0});
      }
      rows[at->second].records.push_back(&r);
      rows[at->second].bytes += size;
    }
  }
  return rows;
}

void append_copy_text(std::string& out, std::string_view s) {
  append_clean_text<true>(out, s, [](std::string& o, unsigned char c) {
    switch (c) {
      case '\\':
        o += "\\\\";
        break;
      case '\n':
        o += "\\n";
        break;
      case '\r':
        o += "\\r";
        break;
      case '\t':
        o += "\\t";
        break;
      default:
        o += static_cast<char>(c);
    }
  });
}

void append_copy_rows(std::string& out, const std::vector<packed_row>& rows) {
  std::string records;
  for (auto& row : rows) {
    append_copy_text(out, row.topic);
    out += '\t';
    records.clear();
    append_records_json(records, row);
    append_copy_text(out, records);
    out += '\t';
    out += std::to_string(row.records.size());
    out += '\t';
    append_copy_text(out, packed_row_headers);
    out += '\n';
  }
}

namespace {

caf::error malformed_headers(const char* what) {
  return caf::make_error(errc::database_error,
                         std::string{"malformed stored headers: "} + what);
}

// Sets `out` to `item`'s "text" as it is, else to its "value" decoded
// from base64. Returns what is wrong, or nullptr.
const char* text_or_base64(const rapidjson::Value& item, std::string& out) {
  if (auto t = item.FindMember("text");
      t != item.MemberEnd() && t->value.IsString()) {
    out.assign(t->value.GetString(), t->value.GetStringLength());
    return nullptr;
  }
  auto v = item.FindMember("value");
  if (v == item.MemberEnd() || !v->value.IsString())
    return "without value";
  auto bytes
    = decode_base64({v->value.GetString(), v->value.GetStringLength()});
  if (!bytes)
    return "value is not base64";
  out = std::move(*bytes);
  return nullptr;
}

caf::expected<std::vector<events::kafka_header>>
headers_of(const rapidjson::Value& doc) {
  auto bad = malformed_headers;
  if (!doc.IsArray())
    return bad("not a JSON array");
  std::vector<events::kafka_header> result;
  result.reserve(doc.Size());
  for (auto& item : doc.GetArray()) {
    if (!item.IsObject())
      return bad("element is not an object");
    events::kafka_header h;
    if (auto k = item.FindMember("key");
        k != item.MemberEnd() && k->value.IsString()) {
      h.key.assign(k->value.GetString(), k->value.GetStringLength());
    } else if (auto kb = item.FindMember("key_base64");
               kb != item.MemberEnd() && kb->value.IsString()) {
      auto key
        = decode_base64({kb->value.GetString(), kb->value.GetStringLength()});
      if (!key)
        return bad("key_base64 is not base64");
      h.key = std::move(*key);
    } else {
      return bad("header without key");
    }
    if (auto n = item.FindMember("null");
        n != item.MemberEnd() && n->value.IsBool())
      h.null_value = n->value.GetBool();
    if (!h.null_value)
      if (auto why = text_or_base64(item, h.value))
        return bad(why);
    result.push_back(std::move(h));
  }
  return result;
}

} // namespace

caf::expected<std::vector<events::kafka_header>>
parse_headers_json(std::string_view json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError())
    return malformed_headers("not a JSON array");
  return headers_of(doc);
}

caf::expected<std::vector<events::kafka_record>>
parse_records_json(std::string_view json) {
  auto bad = [](const char* what) {
    return caf::make_error(errc::database_error,
                           std::string{"malformed stored records: "} + what);
  };
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsArray())
    return bad("not a JSON array");
  std::vector<events::kafka_record> result;
  result.reserve(doc.Size());
  for (auto& item : doc.GetArray()) {
    if (!item.IsObject())
      return bad("element is not an object");
    events::kafka_record r;
    auto topic = item.FindMember("topic");
    if (topic == item.MemberEnd() || !topic->value.IsString())
      return bad("record without topic");
    r.topic.assign(topic->value.GetString(), topic->value.GetStringLength());
    auto key = item.FindMember("key");
    r.null_key = key == item.MemberEnd() || key->value.IsNull();
    if (!r.null_key) {
      if (!key->value.IsString())
        return bad("key is not a string");
      auto bytes
        = decode_base64({key->value.GetString(), key->value.GetStringLength()});
      if (!bytes)
        return bad("key is not base64");
      r.key = std::move(*bytes);
    }
    if (auto why = text_or_base64(item, r.value))
      return bad(why);
    auto headers = item.FindMember("headers");
    if (headers == item.MemberEnd())
      return bad("record without headers");
    auto hs = headers_of(headers->value);
    if (!hs)
      return std::move(hs.error());
    r.headers = std::move(*hs);
    result.push_back(std::move(r));
  }
  return result;
}

bool is_rfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(s, 0, 4, year) || s.size() < 20 || s[4] != '-'
      || !digits(s, 5, 2, month) || s[7] != '-' || !digits(s, 8, 2, day)
      || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
      || !digits(s, 11, 2, hour) || s[13] != ':' || !digits(s, 14, 2, minute)
      || s[16] != ':' || !digits(s, 17, 2, second))
    return false;
  std::chrono::year_month_day ymd{
    std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
    std::chrono::day{static_cast<unsigned>(day)}};
  if (year < 1 || !ymd.ok() || hour > 23 || minute > 59 || second > 60)
    return false;
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    size_t start = ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9')
      ++pos;
    if (pos == start)
      return false;
  }
  if (pos == s.size())
    return false;
  if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size())
    return true;
  int oh = 0, om = 0;
  return (s[pos] == '+' || s[pos] == '-') && pos + 6 == s.size()
         && digits(s, pos + 1, 2, oh) && s[pos + 3] == ':'
         && digits(s, pos + 4, 2, om) && oh <= 15 && om <= 59;
}

} // namespace ispflow::adapters::postgres::detail

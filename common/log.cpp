#include "common/log.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <ostream>
#include <shared_mutex>
#include <spdlog/formatter.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <utility>

namespace ispflow::common {

namespace {

// -- escaping -----------------------------------------------------------------

/// Length of the valid UTF-8 sequence starting at `s[i]` (a byte >= 0x80),
/// or 0 if it is not one.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  auto cont = [&](size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return k < s.size() && at(k) >= lo && at(k) <= hi;
  };
  auto c = at(i);
  if (c >= 0xC2 && c <= 0xDF)
    return cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
    unsigned char hi = c == 0xED ? 0x9F : 0xBF;
    return cont(i + 1, lo, hi) && cont(i + 2) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
    unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
    return cont(i + 1, lo, hi) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  }
  return 0;
}

constexpr char hex_digits[] = "0123456789abcdef";

/// The code point of the valid `n`-byte UTF-8 sequence at `s[i]`.
uint32_t code_point(std::string_view s, size_t i, size_t n) {
  auto at = [&](size_t k) { return static_cast<uint32_t>(s[i + k]) & 0xFF; };
  switch (n) {
    case 2:
      return ((at(0) & 0x1F) << 6) | (at(1) & 0x3F);
    case 3:
      return ((at(0) & 0x0F) << 12) | ((at(1) & 0x3F) << 6) | (at(2) & 0x3F);
    default:
      return ((at(0) & 0x07) << 18) | ((at(1) & 0x3F) << 12)
             | ((at(2) & 0x3F) << 6) | (at(3) & 0x3F);
  }
}

/// Non-ASCII code points a terminal or log viewer acts on: the C1 controls
/// (U+0080..U+009F; U+009B is an 8-bit CSI, U+0085 a line break), the line
/// and paragraph separators and the bidirectional embeddings, overrides and
/// isolates that reorder what is shown.
bool is_unsafe_code_point(uint32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || (cp >= 0x2028 && cp <= 0x202E)
         || (cp >= 0x2066 && cp <= 0x2069);
}

/// Appends "\uXXXX".
void append_u_escape(std::string& out, uint32_t cp) {
  out += "\\u";
  for (int shift = 12; shift >= 0; shift -= 4)
    out += hex_digits[(cp >> shift) & 0xF];
}

/// Appends `s` as a JSON string literal. Control characters (also the
/// non-ASCII ones of is_unsafe_code_point) are escaped and invalid UTF-8
/// becomes U+FFFD, so the line always parses.
void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c < 0x20 || c == 0x7F) {
            out += "\\u00";
            out += hex_digits[c >> 4];
            out += hex_digits[c & 0xF];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    if (auto n = utf8_sequence_length(s, i); n > 0) {
      if (auto cp = code_point(s, i, n); is_unsafe_code_point(cp))
        append_u_escape(out, cp);
      else
        out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
  out += '"';
}

/// Whether a text-format value must be quoted.
bool needs_quotes(std::string_view s) {
  if (s.empty())
    return true;
  return std::any_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c <= 0x20 || c == 0x7F || ch == '"' || ch == '=' || ch == '\\';
  });
}

/// Appends `s` for the text format: control characters escaped (also the
/// non-ASCII ones of is_unsafe_code_point, as \uXXXX), invalid UTF-8
/// replaced, quoted when `quote` is set.
void append_text(std::string& out, std::string_view s, bool quote) {
  if (quote)
    out += '"';
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c == '\n') {
        out += "\\n";
      } else if (c == '\r') {
        out += "\\r";
      } else if (c == '\t') {
        out += "\\t";
      } else if (c < 0x20 || c == 0x7F) {
        out += "\\x";
        out += hex_digits[c >> 4];
        out += hex_digits[c & 0xF];
      } else if (quote && (c == '"' || c == '\\')) {
        out += '\\';
        out += static_cast<char>(c);
      } else {
        out += static_cast<char>(c);
      }
      ++i;
      continue;
    }
    if (auto n = utf8_sequence_length(s, i); n > 0) {
      if (auto cp = code_point(s, i, n); is_unsafe_code_point(cp))
        append_u_escape(out, cp);
      else
        out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  if (quote)
    out += '"';
}

// -- formatter ----------------------------------------------------------------

/// Payloads produced by `log` start with this byte and are already rendered;
/// anything else (a direct spdlog call) is escaped as the message.
constexpr char rendered_marker = '\x1e';

std::string_view level_name(spdlog::level::level_enum lvl) {
  switch (lvl) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

/// "2026-11-23T15:04:05.123Z".
void append_timestamp(std::string& out,
                      std::chrono::system_clock::time_point tp) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(tp.time_since_epoch()).count();
  auto secs = static_cast<std::time_t>(ms / 1000);
  auto millis = ms % 1000;
  if (millis < 0) {
    millis += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::array<char, 32> buf{};
  auto n = std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%S", &tm);
  out.append(buf.data(), n);
  out += '.';
  out += static_cast<char>('0' + millis / 100);
  out += static_cast<char>('0' + (millis / 10) % 10);
  out += static_cast<char>('0' + millis % 10);
  out += 'Z';
}

/// Renders whole lines in our JSON or text format.
class line_formatter final : public spdlog::formatter {
public:
  line_formatter(log_format format, std::string instance)
    : format_(format), instance_(std::move(instance)) {
    // nop
  }

  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override {
    std::string line;
    line.reserve(128 + msg.payload.size());
    std::string_view payload{msg.payload.data(), msg.payload.size()};
    std::string_view name{msg.logger_name.data(), msg.logger_name.size()};
    bool rendered = !payload.empty() && payload.front() == rendered_marker;
    if (rendered)
      payload.remove_prefix(1);
    if (format_ == log_format::json) {
      line += "{\"ts\":\"";
      append_timestamp(line, msg.time);
      line += "\",\"level\":\"";
      line += level_name(msg.level);
      line += "\",\"logger\":";
      append_json_string(line, name);
      line += ',';
      if (!instance_.empty()) {
        line += "\"instance\":";
        append_json_string(line, instance_);
        line += ',';
      }
      if (rendered) {
        line += payload;
      } else {
        line += "\"msg\":";
        append_json_string(line, payload);
      }
      line += "}\n";
    } else {
      append_timestamp(line, msg.time);
      line += ' ';
      std::string lvl{level_name(msg.level)};
      std::transform(lvl.begin(), lvl.end(), lvl.begin(),
                     [](unsigned char c) { return std::toupper(c); });
      lvl.resize(std::max<size_t>(lvl.size(), 5), ' ');
      line += lvl;
      line += ' ';
      if (!instance_.empty()) {
        line += '[';
        append_text(line, instance_, false);
        line += "] ";
      }
      append_text(line, name, false);
      line += ": ";
      if (rendered)
        line += payload;
      else
        append_text(line, payload, false);
      line += '\n';
    }
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<line_formatter>(format_, instance_);
  }

private:
  log_format format_;
  std::string instance_;
};

// -- backend ------------------------------------------------------------------

spdlog::level::level_enum to_spdlog(log_level x) {
  switch (x) {
    case log_level::trace:
      return spdlog::level::trace;
    case log_level::debug:
      return spdlog::level::debug;
    case log_level::info:
      return spdlog::level::info;
    case log_level::warn:
      return spdlog::level::warn;
    case log_level::error:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

/// One configured sink with the module loggers that write to it.
class backend {
public:
  backend(log_format format, spdlog::sink_ptr sink, std::string instance = {})
    : format_(format), sink_(std::move(sink)) {
    sink_->set_formatter(
      std::make_unique<line_formatter>(format_, std::move(instance)));
    sink_->set_level(spdlog::level::trace);
  }

  log_format format() const noexcept {
    return format_;
  }

  /// The logger for `name`, created on first use.
  std::shared_ptr<spdlog::logger> get(std::string_view name) {
    {
      std::shared_lock guard{mtx_};
      if (auto i = loggers_.find(name); i != loggers_.end())
        return i->second;
    }
    std::unique_lock guard{mtx_};
    if (auto i = loggers_.find(name); i != loggers_.end())
      return i->second;
    auto lg = make_logger(std::string{name});
    loggers_.emplace(std::string{name}, lg);
    return lg;
  }

  /// A logger on this sink that is not cached (e.g. spdlog's default).
  std::shared_ptr<spdlog::logger> make_logger(std::string name) const {
    auto lg = std::make_shared<spdlog::logger>(std::move(name), sink_);
    lg->set_level(spdlog::level::trace);
    lg->flush_on(spdlog::level::warn);
    return lg;
  }

private:
  log_format format_;
  spdlog::sink_ptr sink_;
  std::shared_mutex mtx_;
  std::map<std::string, std::shared_ptr<spdlog::logger>, std::less<>> loggers_;
};

std::mutex backend_mtx;
std::shared_ptr<backend> current_backend;
std::atomic<int> current_level{static_cast<int>(log_level::info)};

std::mutex instance_mtx;
std::string instance_name;

std::string log_instance() {
  std::lock_guard guard{instance_mtx};
  return instance_name;
}

std::shared_ptr<backend> make_stderr_backend(log_format format,
                                             std::string instance = {}) {
  return std::make_shared<backend>(
    format, std::make_shared<spdlog::sinks::stderr_sink_mt>(),
    std::move(instance));
}

std::shared_ptr<backend> active_backend() {
  std::lock_guard guard{backend_mtx};
  if (!current_backend)
    current_backend = make_stderr_backend(log_format::json);
  return current_backend;
}

void install(const log_settings& settings, std::shared_ptr<backend> be) {
  auto dflt = be->make_logger("ispflow");
  dflt->set_level(to_spdlog(settings.level));
  {
    std::lock_guard guard{backend_mtx};
    current_backend = std::move(be);
    current_level = static_cast<int>(settings.level);
  }
  // Direct spdlog calls (e.g. from a library) end up in the same stream.
  spdlog::set_default_logger(std::move(dflt));
}

/// Renders message and fields as the JSON members after "logger".
void render_json(std::string& out, std::string_view msg,
                 std::initializer_list<log_field> fields) {
  out += "\"msg\":";
  append_json_string(out, msg);
  for (const auto& f : fields) {
    out += ',';
    append_json_string(out, f.key);
    out += ':';
    append_json_string(out, f.is_secret ? std::string_view{"***"} : f.value);
  }
}

/// Renders message and fields as `msg key=value key="a value"`.
void render_text(std::string& out, std::string_view msg,
                 std::initializer_list<log_field> fields) {
  append_text(out, msg, false);
  for (const auto& f : fields) {
    out += ' ';
    append_text(out, f.key, needs_quotes(f.key));
    out += '=';
    auto value = f.is_secret ? std::string_view{"***"} : f.value;
    append_text(out, value, needs_quotes(value));
  }
}

} // namespace

std::string escape_control(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  append_text(out, text, false);
  return out;
}

std::string_view to_string(log_level x) {
  switch (x) {
    case log_level::trace:
      return "trace";
    case log_level::debug:
      return "debug";
    case log_level::info:
      return "info";
    case log_level::warn:
      return "warn";
    case log_level::error:
      return "error";
  }
  return "info";
}

std::string_view to_string(log_format x) {
  return x == log_format::text ? "text" : "json";
}

std::string current_log_instance() {
  return log_instance();
}

void set_log_instance(std::string id) {
  std::lock_guard guard{instance_mtx};
  instance_name = std::move(id);
}

void setup_logging(const log_settings& settings) {
  install(settings, make_stderr_backend(settings.format, log_instance()));
}

void setup_logging(const log_settings& settings, std::ostream& out) {
  install(settings,
          std::make_shared<backend>(
            settings.format,
            std::make_shared<spdlog::sinks::ostream_sink_mt>(out, true),
            log_instance()));
}

bool log_enabled(log_level level) noexcept {
  return static_cast<int>(level) >= current_level.load();
}

void log(log_level level, std::string_view logger, std::string_view msg,
         std::initializer_list<log_field> fields) noexcept {
  if (!log_enabled(level))
    return;
  try {
    auto be = active_backend();
    std::string payload;
    payload.reserve(64 + msg.size() + fields.size() * 32);
    payload += rendered_marker;
    if (be->format() == log_format::json)
      render_json(payload, msg, fields);
    else
      render_text(payload, msg, fields);
    be->get(logger)->log(to_spdlog(level),
                         spdlog::string_view_t{payload.data(), payload.size()});
  } catch (...) {
    // Logging must never take the caller down.
  }
}

// -- redact_dsn ---------------------------------------------------------------

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size()
         && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
              return std::tolower(static_cast<unsigned char>(x))
                     == std::tolower(static_cast<unsigned char>(y));
            });
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size()
         && iequals(s.substr(0, prefix.size()), prefix);
}

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}

/// A span of the input to replace with "***".
struct span {
  size_t first;
  size_t last;
};

std::string replace_spans(std::string_view s, const std::vector<span>& spans) {
  std::string out;
  size_t pos = 0;
  for (const auto& sp : spans) {
    out.append(s.substr(pos, sp.first - pos));
    out += "***";
    pos = sp.last;
  }
  out.append(s.substr(pos));
  return out;
}

/// Key/value form: `host=h password='it''s' user=u`, as libpq parses it.
std::string redact_kv(std::string_view s) {
  std::vector<span> spans;
  size_t i = 0;
  auto n = s.size();
  while (i < n) {
    while (i < n && is_space(s[i]))
      ++i;
    if (i >= n)
      break;
    auto key_first = i;
    while (i < n && s[i] != '=' && !is_space(s[i]))
      ++i;
    auto key = s.substr(key_first, i - key_first);
    while (i < n && is_space(s[i]))
      ++i;
    if (i >= n || s[i] != '=')
      break; // Malformed: libpq rejects it, nothing after is a value.
    ++i;
    while (i < n && is_space(s[i]))
      ++i;
    auto value_first = i;
    if (i < n && s[i] == '\'') {
      ++i;
      while (i < n && s[i] != '\'') {
        if (s[i] == '\\' && i + 1 < n)
          ++i;
        ++i;
      }
      if (i < n)
        ++i; // closing quote
    } else {
      while (i < n && !is_space(s[i])) {
        if (s[i] == '\\' && i + 1 < n)
          ++i;
        ++i;
      }
    }
    if (iequals(key, "password"))
      spans.push_back({value_first, i});
  }
  return replace_spans(s, spans);
}

/// URI form: `postgresql://user:pw@host:5432/db?password=pw&sslmode=...`.
std::string redact_uri(std::string_view s, size_t authority_first) {
  std::vector<span> spans;
  auto authority_last = s.find_first_of("/?#", authority_first);
  if (authority_last == std::string_view::npos)
    authority_last = s.size();
  auto authority = s.substr(authority_first, authority_last - authority_first);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    auto userinfo = authority.substr(0, at);
    if (auto colon = userinfo.find(':'); colon != std::string_view::npos)
      spans.push_back({authority_first + colon + 1, authority_first + at});
  }
  if (auto q = s.find('?', authority_last); q != std::string_view::npos) {
    auto end = s.find('#', q);
    if (end == std::string_view::npos)
      end = s.size();
    auto i = q + 1;
    while (i < end) {
      auto amp = s.find('&', i);
      if (amp == std::string_view::npos || amp > end)
        amp = end;
      auto param = s.substr(i, amp - i);
      if (auto eq = param.find('=');
          eq != std::string_view::npos
          && iequals(param.substr(0, eq), "password"))
        spans.push_back({i + eq + 1, amp});
      i = amp + 1;
    }
  }
  return replace_spans(s, spans);
}

} // namespace

std::string redact_dsn(std::string_view dsn) {
  try {
    for (std::string_view scheme : {"postgresql://", "postgres://"})
      if (istarts_with(dsn, scheme))
        return redact_uri(dsn, scheme.size());
    return redact_kv(dsn);
  } catch (...) {
    return "***";
  }
}

} // namespace ispflow::common

#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <string>
#include <string_view>

namespace ispflow::common {

// -- settings -----------------------------------------------------------------

/// Severity of a log line, lowest first.
enum class log_level : uint8_t { trace, debug, info, warn, error };

/// How log lines are written.
enum class log_format : uint8_t {
  /// One JSON object per line (the default, for log shippers).
  json,
  /// A readable line for a terminal.
  text,
};

/// Stable lower-case name of a level, e.g. "warn".
std::string_view to_string(log_level x);

/// Stable lower-case name of a format, e.g. "json".
std::string_view to_string(log_format x);

/// The `log` section of the configuration.
struct log_settings {
  /// Lines below this level are dropped.
  log_level level = log_level::info;
  /// Line format.
  log_format format = log_format::json;
};

// -- structured fields --------------------------------------------------------

/// A value that must never appear in a log line; it is always written as
/// "***". Holds a view: the referenced text must outlive the log call.
struct secret {
  /// Wraps `value`.
  explicit constexpr secret(std::string_view value) noexcept : value_(value) {
    // nop
  }

  /// The wrapped text, for the rare code that must hand it on (not to logs).
  constexpr std::string_view reveal() const noexcept {
    return value_;
  }

private:
  std::string_view value_;
};

/// Marks `value` as a secret: `{"password", redacted(pw)}` logs "***".
constexpr secret redacted(std::string_view value) noexcept {
  return secret{value};
}

/// One structured field of a log line: a key and a string value. Holds views,
/// so fields are meant to be built in the argument list of `log`.
struct log_field {
  /// A field whose value is written (escaped) as given.
  constexpr log_field(std::string_view k, std::string_view v) noexcept
    : key(k), value(v) {
    // nop
  }

  /// A field whose value is written as "***".
  constexpr log_field(std::string_view k, secret) noexcept
    : key(k), value("***"), is_secret(true) {
    // nop
  }

  /// Field name, e.g. "tenant".
  std::string_view key;
  /// Field value; "***" for secrets.
  std::string_view value;
  /// Whether the caller passed a secret.
  bool is_secret = false;
};

// -- setup and logging --------------------------------------------------------

/// Configures logging for the process: every module logger writes to one
/// thread-safe stderr sink in the given format at the given level. Safe to
/// call again (e.g. after reading the configuration); later calls replace the
/// sink and level of all module loggers.
void setup_logging(const log_settings& settings);

/// Names this instance on every line written after the next
/// `setup_logging` ("instance" in JSON, "[id]" in text); "" (the default)
/// leaves it out.
void set_log_instance(std::string id);

/// The instance named by `set_log_instance` ("" until then): outgoing
/// calls carry it so that the called system can tell the instances apart.
std::string current_log_instance();

/// Like `setup_logging(settings)`, but writes to `out`, flushing every line.
/// `out` must stay alive until logging is set up again. Meant for tests.
void setup_logging(const log_settings& settings, std::ostream& out);

/// Whether a line at `level` would be written; lets callers skip building
/// expensive fields.
bool log_enabled(log_level level) noexcept;

/// Writes one line for module `logger` (e.g. "intake") with message `msg` and
/// structured fields, e.g.
/// `log(log_level::info, "intake", "event recorded", {{"tenant", t}})`.
/// Keys and values are escaped; secrets are written as "***". Never throws.
/// Before any `setup_logging`, lines go to stderr as JSON at level info.
void log(log_level level, std::string_view logger, std::string_view msg,
         std::initializer_list<log_field> fields = {}) noexcept;

/// `log(log_level::trace, ...)`.
inline void log_trace(std::string_view logger, std::string_view msg,
                      std::initializer_list<log_field> fields = {}) noexcept {
  log(log_level::trace, logger, msg, fields);
}

/// `log(log_level::debug, ...)`.
inline void log_debug(std::string_view logger, std::string_view msg,
                      std::initializer_list<log_field> fields = {}) noexcept {
  log(log_level::debug, logger, msg, fields);
}

/// `log(log_level::info, ...)`.
inline void log_info(std::string_view logger, std::string_view msg,
                     std::initializer_list<log_field> fields = {}) noexcept {
  log(log_level::info, logger, msg, fields);
}

/// `log(log_level::warn, ...)`.
inline void log_warn(std::string_view logger, std::string_view msg,
                     std::initializer_list<log_field> fields = {}) noexcept {
  log(log_level::warn, logger, msg, fields);
}

/// `log(log_level::error, ...)`.
inline void log_error(std::string_view logger, std::string_view msg,
                      std::initializer_list<log_field> fields = {}) noexcept {
  log(log_level::error, logger, msg, fields);
}

// -- text from outside -------------------------------------------------------

/// `text` made safe for a terminal or a log line, the way every log line is
/// written: control characters are escaped (\n, \r, \t, other C0 controls
/// and DEL as \xNN; the C1 controls U+0080..U+009F, the line and paragraph
/// separators U+2028/U+2029 and the bidirectional controls U+202A..U+202E and
/// U+2066..U+2069 as \uXXXX), invalid UTF-8 becomes U+FFFD; everything else,
/// including other non-ASCII text, is kept. So input can neither forge a line
/// nor send an escape sequence (e.g. "\x1b[2J") to an operator's terminal.
/// Use it for text from input written anywhere but through `log`, which
/// applies it already.
std::string escape_control(std::string_view text);

// -- secrets in connection strings --------------------------------------------

/// Returns the libpq connection string `dsn` with its password replaced by
/// "***": `password=...` (quoted or not, any spacing) in key/value form, and
/// the user-info password and a `password` query parameter in
/// `postgresql://` / `postgres://` URIs. Everything else is kept.
std::string redact_dsn(std::string_view dsn);

} // namespace ispflow::common

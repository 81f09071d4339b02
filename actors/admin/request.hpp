#pragma once

// Internal to ispflow::admin: the pure parsers of what a client sends --
// query parameters, cursors, path ids and JSON bodies. They touch neither the
// network nor the database, so they are unit- and fuzz-tested on their own
// (fuzz/admin_request.cpp).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace ispflow::actors::admin::detail {

/// Base64 of `in` (RFC 4648); `url` selects the URL-safe alphabet without
/// padding (cursors).
std::string base64(std::string_view in, bool url = false);

/// Decodes either base64 alphabet; stops at the first '='. Nothing when a
/// character is outside both alphabets.
std::optional<std::string> unbase64(std::string_view in);

/// A time filter: empty gives `fallback`, otherwise it must be RFC 3339.
std::optional<std::string> time_param(const std::string& value,
                                      const char* fallback);

/// A page size: empty gives `def`, else a positive decimal capped at `max`.
std::optional<uint32_t> limit_param(const std::string& value, uint32_t def,
                                    uint32_t max);

/// A positive decimal id (dead letters), or nothing.
std::optional<int64_t> id_param(const std::string& value);

/// The opaque cursor after the saga created at `ts` with id `id`.
std::string saga_cursor(const std::string& ts, const std::string& id);

/// (created_at, id) of a cursor made by `saga_cursor`, or nothing.
std::optional<std::pair<std::string, std::string>>
parse_saga_cursor(const std::string& cursor);

/// The opaque cursor after dead letter `id`.
std::string dead_letter_cursor(int64_t id);

/// The id of a cursor made by `dead_letter_cursor`, or nothing.
std::optional<int64_t> parse_dead_letter_cursor(const std::string& cursor);

/// The body of `POST /v1/events/redrive`.
struct redrive_events_request {
  /// Window over `inbox.received_at`, RFC 3339, from inclusive.
  std::string from;
  std::string to;
  /// Empty for every tenant the token may see.
  std::string tenant;
  /// Empty for every type.
  std::vector<std::string> types;
  bool dry_run = false;
  uint32_t limit = 0;
};

/// Parses the body of `POST /v1/events/redrive`; limit defaults to
/// `default_limit` and is capped at `max_limit`. Otherwise the message of the
/// 400 `invalid_request` answer.
std::variant<redrive_events_request, std::string>
parse_redrive_events(const std::string& body, uint32_t default_limit,
                     uint32_t max_limit);

/// What the optional body of `POST /v1/dead-letters/{id}/redrive` asks.
struct redrive_dead_letter_request {
  /// The corrected payload (a string member as is, anything else as compact
  /// JSON), or nothing to re-drive the stored value.
  std::optional<std::string> corrected;
};

/// Parses the optional body of `POST /v1/dead-letters/{id}/redrive`
/// (empty: no correction). Otherwise the message of the 400
/// `invalid_request` answer.
std::variant<redrive_dead_letter_request, std::string>
parse_redrive_dead_letter(const std::string& body);

/// What the body of `POST /v1/dead-letters/{id}/dismiss` asks.
struct dismiss_dead_letter_request {
  /// Why the operator dismisses it (1 to 500 bytes), kept in the audit.
  std::string reason;
};

/// Parses the body of `POST /v1/dead-letters/{id}/dismiss`:
/// `{"reason": "..."}`. Otherwise the message of the 400 answer.
std::variant<dismiss_dead_letter_request, std::string>
parse_dismiss_dead_letter(const std::string& body);

} // namespace ispflow::actors::admin::detail

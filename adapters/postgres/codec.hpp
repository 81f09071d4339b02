#pragma once

// Internal to ispflow_adapters_postgres: not a public header. Encodes what
// the store sends to PostgreSQL as JSON parameters, byte for byte.

#include "events/records.hpp"

#include <caf/expected.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ispflow::adapters::postgres::detail {

/// Appends the standard base64 (RFC 4648, padded) encoding of `bytes`.
void append_base64(std::string& out, std::string_view bytes);

/// Decodes standard base64, ignoring whitespace; nullopt if malformed.
std::optional<std::string> decode_base64(std::string_view text);

/// True if `s` is valid UTF-8 without NUL, so that it survives PostgreSQL
/// text and jsonb unchanged.
bool is_clean_text(std::string_view s);

/// Appends `s` as a quoted JSON string. Bytes that are not valid UTF-8 and
/// NUL become U+FFFD, because PostgreSQL text cannot hold them.
void append_json_text(std::string& out, std::string_view s);

/// A PostgreSQL text[] literal: each element double-quoted, with `"` and
/// `\` escaped.
std::string text_array(const std::vector<std::string>& xs);

/// A PostgreSQL integer array literal, e.g. "{1,2,3}" (int[] or bigint[]).
template <class Int>
std::string int_array(const std::vector<Int>& xs) {
  std::string out = "{";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out += ',';
    out += std::to_string(xs[i]);
  }
  out += '}';
  return out;
}

/// Appends a JSON array of headers in the stored format: per header
/// {"key":<text>,"text":<value>} when the value is clean text, else
/// {"key":<text>,"value":<base64>}, and {"key":<text>,"value":"",
/// "null":true} for a null value; "key_base64" instead of "key" when the
/// key is not clean text. (Rows written before "text" existed carry every
/// value as base64 with "null":false; both forms are read.)
void append_headers_json(std::string& out,
                         const std::vector<events::kafka_header>& headers);

/// Appends a JSON array of records to insert into the outbox, one object
/// per record: {"topic":<text>,"key":<base64>|null,"value":<base64>,
/// "headers":<stored header format>}; key null for a null key. The format
/// the intake store writes its outbox rows in.
void append_records_json(std::string& out,
                         const std::vector<events::kafka_record>& records);

/// The records of a saga write, packed for the outbox: one row per topic,
/// up to `outbox_store::records_per_row` records and about `max_bytes` of
/// them, in the order of each row's first record (a topic's records keep
/// their order across rows).
struct packed_row {
  /// What stays in the row's own page (toast_tuple_target, schema/0024)
  /// with the other columns and some room for JSON escapes: a larger row
  /// would go to the TOAST table in chunks of 2 kB, and cost the server
  /// about what a row per record does.
  static constexpr size_t max_bytes = 7000;
  std::string_view topic;
  std::vector<const events::kafka_record*> records;
  /// About the size of `records` in the row.
  size_t bytes = 0;
};
std::vector<packed_row>
pack_records(const std::vector<const std::vector<events::kafka_record>*>& in);

/// Appends a packed row's records in the format of append_records_json,
/// but for a value that is clean text: {"text":<value>} instead of base64
/// in "value".
void append_records_json(std::string& out, const packed_row& row);

/// Parses the formats of both append_records_json back into records.
caf::expected<std::vector<events::kafka_record>>
parse_records_json(std::string_view json);

// -- COPY text format ---------------------------------------------------------
// Fields of a `COPY ... FROM STDIN` line (text format): tab-separated, `\N`
// for NULL, backslash escapes for backslash, tab, newline and return.

/// Appends `s` as a COPY text field; bytes that are not valid UTF-8 and NUL
/// become U+FFFD, as in append_json_text.
void append_copy_text(std::string& out, std::string_view s);

/// The `headers` of a packed row: not an array, so that the relay of a
/// version before schema/0024, which reads every row as one record, fails
/// its round on the row instead of publishing it as an empty record.
inline constexpr const char* packed_row_headers = R"({"packed": true})";

/// Appends one COPY line per packed row for the outbox columns (topic,
/// records, record_count, headers), each line ended by a newline.
void append_copy_rows(std::string& out, const std::vector<packed_row>& rows);

/// Parses the stored header format back into headers.
caf::expected<std::vector<events::kafka_header>>
parse_headers_json(std::string_view json);

/// True if `s` is an RFC 3339 date-time with a valid calendar date and time
/// zone offset, so that a cast to timestamptz cannot fail.
bool is_rfc3339(std::string_view s);

} // namespace ispflow::adapters::postgres::detail

#pragma once

// The one way JSON from outside the process is parsed: Kafka records, admin
// API request bodies and stored payloads, adapter replies. Header-only, for
// modules that already use RapidJSON (link ispflow::rapidjson).
//
// RapidJSON's default parser recurses once per nesting level, so a text of
// a million '[' overflows the thread's stack and kills the process; so do
// the recursive walks over a parsed DOM (Accept, the schema validator).
// `parse_bounded` parses iteratively (kParseIterativeFlag: the parser's
// stack lives on the heap) and refuses, before parsing, a text larger than
// `json_limits::max_bytes` or nested deeper than `json_limits::max_depth`,
// so every later walk over the DOM is bounded as well.

#include <cstddef>
#include <optional>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>
#include <string>
#include <string_view>

namespace ispflow::events::json {

/// Limits on one JSON text from outside.
struct json_limits {
  /// Largest text accepted, in bytes (default 4 MiB).
  size_t max_bytes = 4 * 1024 * 1024;
  /// Deepest nesting of arrays and objects accepted; the root object or
  /// array is level 1 (default 64; billing payloads use 3).
  size_t max_depth = 64;
};

/// Why a text was refused.
struct json_error {
  /// Byte offset at which the text was refused.
  size_t offset = 0;
  /// A predicate that reads after a subject, e.g. "is not valid JSON at
  /// offset 3: Invalid value.", "is nested deeper than 64 levels (at offset
  /// 64)" or "is 5000000 bytes, over the limit of 4194304".
  std::string message;
  /// True when a limit, not the syntax, refused the text.
  bool over_limit = false;
};

/// The offset of the first array or object opened deeper than `max_depth`
/// levels, if any. A linear scan that skips strings; the syntax is left to
/// the parser.
inline std::optional<size_t> too_deep_at(std::string_view text,
                                         size_t max_depth) {
  // The depth never exceeds the number of '[' and '{' in the whole text:
  // with at most `max_depth` of them (almost every real payload), no scan
  // is needed. find (memchr) counts them far faster than the loop below.
  size_t openers = 0;
  for (char opener : {'[', '{'}) {
    auto rest = text;
    for (auto at = rest.find(opener);
         at != std::string_view::npos && openers <= max_depth;
         at = rest.find(opener)) {
      ++openers;
      rest.remove_prefix(at + 1);
    }
  }
  if (openers <= max_depth)
    return std::nullopt;
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::nullopt;
}

/// The offset of the first `\u` escape in a string of `text` that encodes
/// a lone UTF-16 low surrogate (U+DC00 to U+DFFF not preceded by a high
/// surrogate escape), if any. RapidJSON 1.1.0 refuses a lone high
/// surrogate but decodes a lone low one into bytes that are not UTF-8
/// (kParseValidateEncodingFlag checks the raw text, not what escapes
/// produce), which PostgreSQL then refuses. A linear scan; the rest of the
/// syntax is left to the parser.
inline std::optional<size_t> lone_surrogate_at(std::string_view text) {
  // Only a `\u` can start an escape found below: without one, there is
  // nothing to scan (the common case, found with memchr).
  if (text.find("\\u") == std::string_view::npos)
    return std::nullopt;
  auto escape = [&text](size_t at) -> long {
    // The code unit of a `\uXXXX` escape at `at`, or -1.
    if (at + 6 > text.size() || text[at] != '\\' || text[at + 1] != 'u')
      return -1;
    long v = 0;
    for (size_t k = at + 2; k < at + 6; ++k) {
      char c = text[k];
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0)
        return -1;
      v = v * 16 + d;
    }
    return v;
  };
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (!in_string) {
      in_string = c == '"';
    } else if (c == '"') {
      in_string = false;
    } else if (c == '\\') {
      auto unit = escape(i);
      if (unit >= 0xDC00 && unit <= 0xDFFF)
        return i;
      if (unit >= 0xD800 && unit <= 0xDBFF) {
        // A pair: the low half that follows is part of it (anything else
        // after a high surrogate is a parse error).
        auto low = escape(i + 6);
        i += low >= 0xDC00 && low <= 0xDFFF ? 11 : 5;
      } else {
        i += unit >= 0 ? 5 : 1;
      }
    }
  }
  return std::nullopt;
}

/// Parses `text` (UTF-8, validated, escapes included) into `doc` without
/// recursion and within `limits`. Replaces `doc.Parse(text)`: on any failure
/// `doc.HasParseError()` is true, as after a failed Parse, and the error says
/// why.
template <class Document>
std::optional<json_error>
parse_bounded(Document& doc, std::string_view text, json_limits limits = {}) {
  constexpr unsigned flags = rapidjson::kParseIterativeFlag
                             | rapidjson::kParseValidateEncodingFlag;
  auto refuse = [&doc](size_t offset, std::string message) {
    // Leaves the document in a failed state for callers that only look at
    // HasParseError(): an empty text is always a parse error.
    doc.template Parse<flags>("", 0);
    return json_error{offset, std::move(message), true};
  };
  if (text.size() > limits.max_bytes)
    return refuse(limits.max_bytes, "is " + std::to_string(text.size())
                                      + " bytes, over the limit of "
                                      + std::to_string(limits.max_bytes));
  if (auto at = too_deep_at(text, limits.max_depth))
    return refuse(*at, "is nested deeper than "
                         + std::to_string(limits.max_depth)
                         + " levels (at offset " + std::to_string(*at) + ")");
  if (auto at = lone_surrogate_at(text)) {
    auto refused = refuse(*at, "is not valid JSON at offset "
                                 + std::to_string(*at)
                                 + ": lone UTF-16 surrogate in \\u escape.");
    refused.over_limit = false;
    return refused;
  }
  doc.template Parse<flags>(text.data(), text.size());
  if (doc.HasParseError())
    return json_error{doc.GetErrorOffset(),
                      "is not valid JSON at offset "
                        + std::to_string(doc.GetErrorOffset()) + ": "
                        + rapidjson::GetParseError_En(doc.GetParseError()),
                      false};
  return std::nullopt;
}

} // namespace ispflow::events::json

// Fuzz target: what the admin API parses from a client before any database
// work (actors/admin/request.*, actors/admin/auth.*): query parameters,
// pagination cursors, path ids, JSON bodies and the Authorization header.
//
// Input format: the first byte picks the parser (modulo 5), the rest is its
// input:
//   0  a query string ("tenant=a&limit=5&cursor=..."), split and URL-decoded
//      by cpp-httplib as the server does, then every list filter is parsed
//   1  the body of POST /v1/events/redrive
//   2  the body of POST /v1/dead-letters/{id}/redrive
//   3  an Authorization header value
//   4  a raw path segment or cursor (id, cursors, base64)
//
// Properties checked besides "no crash, no leak, no UB": limits are within
// 1..max, accepted times are RFC 3339, a cursor that parses re-encodes to
// one that parses to the same position, base64 round-trips, accepted bodies
// respect their documented bounds, a bearer token is a trimmed, non-empty
// part of the header.

#include "actors/admin/auth.hpp"
#include "actors/admin/request.hpp"
#include "events/cloud_event.hpp"
#include "fuzz/fuzz_check.hpp"

#include <httplib.h>
#include <rapidjson/document.h>
#include <string>
#include <string_view>
#include <variant>

namespace {

using namespace ispflow::actors::admin;
using namespace ispflow::actors::admin::detail;

void check_cursors(const std::string& cursor) {
  if (auto pos = parse_saga_cursor(cursor)) {
    FUZZ_CHECK(ispflow::events::is_rfc3339(pos->first));
    auto again = parse_saga_cursor(saga_cursor(pos->first, pos->second));
    FUZZ_CHECK(again && *again == *pos);
  }
  if (auto id = parse_dead_letter_cursor(cursor)) {
    FUZZ_CHECK(*id > 0);
    FUZZ_CHECK(parse_dead_letter_cursor(dead_letter_cursor(*id)) == id);
  }
}

void check_time(const std::string& value, const char* fallback) {
  if (auto t = time_param(value, fallback))
    FUZZ_CHECK(value.empty() ? *t == fallback
                             : ispflow::events::is_rfc3339(*t));
}

void query(const std::string& text) {
  httplib::Params params;
  httplib::detail::parse_query_text(text, params);
  auto first = [&](const char* key) {
    auto i = params.find(key);
    return i == params.end() ? std::string{} : i->second;
  };
  check_time(first("from"), "-infinity");
  check_time(first("to"), "infinity");
  if (auto limit = limit_param(first("limit"), 50, 500))
    FUZZ_CHECK(*limit >= 1 && *limit <= 500);
  check_cursors(first("cursor"));
  for (auto& [key, value] : params) {
    check_cursors(value);
    if (auto id = id_param(value))
      FUZZ_CHECK(*id > 0);
  }
}

void redrive_events_body(const std::string& body) {
  auto parsed = parse_redrive_events(body, 1000, 10000);
  if (auto* ok = std::get_if<redrive_events_request>(&parsed)) {
    FUZZ_CHECK(ispflow::events::is_rfc3339(ok->from));
    FUZZ_CHECK(ispflow::events::is_rfc3339(ok->to));
    FUZZ_CHECK(ok->limit >= 1 && ok->limit <= 10000);
  } else {
    FUZZ_CHECK(!std::get<std::string>(parsed).empty());
  }
}

void redrive_dead_letter_body(const std::string& body) {
  auto parsed = parse_redrive_dead_letter(body);
  auto* ok = std::get_if<redrive_dead_letter_request>(&parsed);
  if (body.empty())
    FUZZ_CHECK(ok != nullptr && !ok->corrected);
  if (ok == nullptr || !ok->corrected)
    return;
  // A corrected payload that was not a JSON string is compact JSON.
  rapidjson::Document doc;
  doc.Parse(body.c_str(), body.size());
  FUZZ_CHECK(doc.IsObject() && doc.HasMember("payload"));
  if (!doc["payload"].IsString()) {
    rapidjson::Document again;
    again.Parse(ok->corrected->c_str(), ok->corrected->size());
    FUZZ_CHECK(!again.HasParseError());
  }
}

void bearer(const std::string& header) {
  auto token = authenticator::bearer_token(header);
  if (!token)
    return;
  FUZZ_CHECK(!token->empty());
  FUZZ_CHECK(token->front() != ' ');
  FUZZ_CHECK(token->back() != ' ' && token->back() != '\r');
  FUZZ_CHECK(token->data() >= header.data()
             && token->data() + token->size() <= header.data() + header.size());
}

void segment(const std::string& text) {
  if (auto id = id_param(text))
    FUZZ_CHECK(*id > 0);
  if (auto id = id_param(httplib::detail::decode_url(text, false)))
    FUZZ_CHECK(*id > 0);
  check_cursors(text);
  FUZZ_CHECK(unbase64(base64(text)) == text);
  FUZZ_CHECK(unbase64(base64(text, true)) == text);
  (void) unbase64(text);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  std::string rest{reinterpret_cast<const char*>(data) + 1, size - 1};
  switch (data[0] % 5) {
    case 0:
      query(rest);
      break;
    case 1:
      redrive_events_body(rest);
      break;
    case 2:
      redrive_dead_letter_body(rest);
      break;
    case 3:
      bearer(rest);
      break;
    default:
      segment(rest);
      break;
  }
  return 0;
}

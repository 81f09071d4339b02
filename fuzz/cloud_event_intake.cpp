// Fuzz target: the CloudEvents decoder and the whole intake check of one
// Kafka record of the billing topic (events/cloud_event.*,
// events/intake_check.*).
//
// Input format (see README.md): header lines, an empty line, then the
// record value (the rest of the input, any bytes):
//
//   ce_id:evt-1            -> header "ce_id" = "evt-1" (bytes after the
//   content-type:...          first ':' as they are, no trimming)
//   traceparent            -> a line without ':' is a header with a null
//                             value
//                          -> empty line: end of the headers
//   {"schema_version":1,...}
//
// Without an empty line every line is a header and the value is empty.
//
// Signatures: each record is checked twice, without signing keys and with
// keys for the source "billing.acme" (two keys, as during a rotation). A
// header `ispflow-signature` whose value is "@k1" or "@k2" is replaced by
// the valid signature of the record with key 1 or 2 (so the fuzzer reaches
// signed events; it cannot find an HMAC by itself).
//
// Properties checked besides "no crash, no leak, no UB":
// - an accepted record also decodes with decode_cloud_event, to the same
//   envelope and compact payload, which is well-formed UTF-8;
// - its `intake.accepted` saga record decodes again and its payload is
//   valid against the intake.accepted schema;
// - a refused record has a code and a detail, and its dead-letter copy
//   keeps the value and every original header, byte for byte, in order
//   (one named `ispflow_*`, in any letter case, under the name
//   `x-original-ispflow_*`), followed by `ispflow_error` with the code;
//   no header of the record keeps an `ispflow_*` name;
// - with keys, "billing.acme" is accepted only with a signature made with
//   one of its keys; a verdict differing from the one without keys is
//   `signature_invalid`; a record signed with a key gets the same verdict
//   as without keys unless its signature cannot apply (a line break in an
//   attribute, several signature headers).

#include "events/cloud_event.hpp"
#include "events/intake_check.hpp"
#include "events/intake_errors.hpp"
#include "events/schema_registry.hpp"
#include "events/source_signature.hpp"
#include "fuzz/fuzz_check.hpp"

#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>
#include <variant>

namespace {

using namespace ispflow::events;

// True if `key` starts with "ispflow_" in any letter case.
bool reserved(std::string_view key) {
  constexpr std::string_view prefix = dead_letter_reserved_header_prefix;
  if (key.size() < prefix.size())
    return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(key[i])) != prefix[i])
      return false;
  return true;
}

kafka_record to_record(std::string_view in) {
  kafka_record rec;
  rec.topic = "billing.events.v1";
  rec.partition = 3;
  rec.offset = 42;
  rec.key = "sub-1";
  while (!in.empty()) {
    auto eol = in.find('\n');
    auto line = in.substr(0, eol);
    in = eol == std::string_view::npos ? std::string_view{}
                                       : in.substr(eol + 1);
    if (line.empty())
      break;
    auto colon = line.find(':');
    kafka_header h;
    if (colon == std::string_view::npos) {
      h.key = std::string{line};
      h.null_value = true;
    } else {
      h.key = std::string{line.substr(0, colon)};
      h.value = std::string{line.substr(colon + 1)};
    }
    rec.headers.push_back(std::move(h));
  }
  rec.value = std::string{in};
  return rec;
}

// True if `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no
// UTF-16 surrogates, nothing above U+10FFFF), which PostgreSQL stores.
bool well_formed_utf8(std::string_view text) {
  auto* p = reinterpret_cast<const unsigned char*>(text.data());
  auto* end = p + text.size();
  while (p < end) {
    unsigned c = *p;
    int n = c < 0x80                 ? 0
            : c >= 0xC2 && c <= 0xDF ? 1
            : c >= 0xE0 && c <= 0xEF ? 2
            : c >= 0xF0 && c <= 0xF4 ? 3
                                     : -1;
    if (n == 0) {
      ++p;
      continue;
    }
    if (n < 0 || end - p <= n)
      return false;
    unsigned lo = 0x80, hi = 0xBF;
    if (c == 0xE0)
      lo = 0xA0;
    else if (c == 0xED)
      hi = 0x9F; // U+D800..U+DFFF
    else if (c == 0xF0)
      lo = 0x90;
    else if (c == 0xF4)
      hi = 0x8F;
    if (p[1] < lo || p[1] > hi)
      return false;
    for (int i = 2; i <= n; ++i)
      if ((p[i] & 0xC0) != 0x80)
        return false;
    p += n + 1;
  }
  return true;
}

void check_accepted(const kafka_record& rec, const decode_result& decoded,
                    const accepted_event& ok) {
  auto* ev = std::get_if<cloud_event>(&decoded);
  FUZZ_CHECK(ev != nullptr);
  FUZZ_CHECK(ev->id == ok.id && ev->source == ok.source);
  FUZZ_CHECK(ev->type == ok.type && ev->time == ok.time);
  FUZZ_CHECK(ev->tenant_id == ok.tenant_id && ev->subject == ok.subject);
  FUZZ_CHECK(ev->data == ok.data);
  FUZZ_CHECK(!ok.tenant_id.empty() && !ok.subject.empty());
  // What is stored is UTF-8: a `\u` escape of a lone surrogate once
  // decoded to bytes PostgreSQL refuses (crash-lone-surrogate-escape).
  FUZZ_CHECK(well_formed_utf8(ok.data));
  // The original record is kept whole: a batch that the database refuses
  // for one event's data dead-letters that event byte for byte.
  FUZZ_CHECK(ok.origin.value == rec.value);
  FUZZ_CHECK(ok.origin.headers == rec.headers);
  FUZZ_CHECK(ok.emits.size() == 1);
  auto again = decode_cloud_event(ok.emits.front());
  auto* saga = std::get_if<cloud_event>(&again);
  FUZZ_CHECK(saga != nullptr);
  FUZZ_CHECK(saga->type == "intake.accepted");
  FUZZ_CHECK(saga->subject == ok.subject && saga->tenant_id == ok.tenant_id);
  // The intake.accepted schema caps event_source and event_id at 256
  // characters; intake caps ce_source and ce_id at 256 bytes at decode, so
  // every accepted event's announcement fits its schema (a longer source
  // once broke it: crash-overlong-source).
  FUZZ_CHECK(
    !schema_registry::builtin().validate("intake.accepted", saga->data));
}

void check_refused(const kafka_record& rec, const dead_letter& dl) {
  FUZZ_CHECK(!dl.error.empty());
  FUZZ_CHECK(!dl.detail.empty());
  FUZZ_CHECK(dl.record == rec);
  FUZZ_CHECK(dl.emits.size() == 1);
  auto& copy = dl.emits.front();
  FUZZ_CHECK(copy.value == rec.value);
  FUZZ_CHECK(copy.key == rec.key && copy.null_key == rec.null_key);
  FUZZ_CHECK(copy.headers.size() > rec.headers.size());
  for (size_t i = 0; i < rec.headers.size(); ++i) {
    auto& in = rec.headers[i];
    auto& out = copy.headers[i];
    FUZZ_CHECK(out.value == in.value && out.null_value == in.null_value);
    if (reserved(in.key))
      FUZZ_CHECK(out.key
                 == std::string{dead_letter_renamed_header_prefix} + in.key);
    else
      FUZZ_CHECK(out.key == in.key);
  }
  // Ours follow the original headers, and every `ispflow_*` header of the
  // copy is ours: a producer's own `ispflow_error` is renamed (it once
  // stayed ahead of ours: crash-forged-ispflow-error-header), so the first
  // `ispflow_error` a reader finds is the reason ispflow gave.
  auto& code = copy.headers[rec.headers.size()];
  FUZZ_CHECK(code.key == "ispflow_error" && code.value == dl.error);
  for (size_t i = 0; i < rec.headers.size(); ++i)
    FUZZ_CHECK(!reserved(copy.headers[i].key));
  auto* first = copy.header("ispflow_error");
  FUZZ_CHECK(first == &code);
}

const std::string key_1(32, '1');
const std::string key_2 = "the previous key, retired soon; 2";
constexpr std::string_view keyed_source = "billing.acme";

// True if the input asks for a signature: a signature header whose value is
// a key name, "@k1" or "@k2".
bool asks_for_signature(const kafka_header& h) {
  return h.key == signature_header && (h.value == "@k1" || h.value == "@k2");
}

// Signs the record where the input asks for it: such a header gets the real
// signature with that key; returns how many it signed. The record is
// decoded (to build the signature base) only when a header asks.
int sign_where_asked(kafka_record& rec) {
  if (std::none_of(rec.headers.begin(), rec.headers.end(), asks_for_signature))
    return 0;
  int signed_count = 0;
  auto decoded = decode_cloud_event(rec);
  auto* ev = std::get_if<cloud_event>(&decoded);
  if (!ev)
    return 0;
  for (auto& h : rec.headers) {
    if (!asks_for_signature(h))
      continue;
    auto& key = h.value == "@k1" ? key_1 : key_2;
    h.value = sign_v1(key, signature_base(*ev, rec.value));
    ++signed_count;
  }
  return signed_count;
}

// `decoded` is decode_cloud_event(rec): the decoder is a pure function of
// the record, so the caller runs it once per record and every check reuses
// the result.
void check_decision(const kafka_record& rec, const decode_result& decoded,
                    const intake_decision& d) {
  if (auto* ok = std::get_if<accepted_event>(&d))
    check_accepted(rec, decoded, *ok);
  else
    check_refused(rec, std::get<dead_letter>(d));
}

std::string verdict(const intake_decision& d) {
  if (auto* dl = std::get_if<dead_letter>(&d))
    return dl->error + ": " + dl->detail;
  return "accepted";
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto rec = to_record({reinterpret_cast<const char*>(data), size});
  auto signed_count = sign_where_asked(rec);
  // The decoder alone must not crash either, whatever it concludes; its
  // result is compared with every accepted verdict below.
  auto decoded = decode_cloud_event(rec);
  intake_settings settings;
  settings.clock = [] { return std::string{"2024-05-01T12:00:00.000Z"}; };
  auto decision = check_billing_record(rec, settings);
  check_decision(rec, decoded, decision);

  static const std::vector<std::string> keys{key_1, key_2};
  auto keyed = settings;
  keyed.signing_keys = [](std::string_view source) {
    return source == keyed_source ? &keys : nullptr;
  };
  auto with_keys = check_billing_record(rec, keyed);
  check_decision(rec, decoded, with_keys);
  auto plain = verdict(decision);
  auto checked = verdict(with_keys);
  if (checked != plain) {
    auto* dl = std::get_if<dead_letter>(&with_keys);
    FUZZ_CHECK(dl != nullptr && dl->error == intake_errors::signature_invalid);
  }
  auto* ev = std::get_if<cloud_event>(&decoded);
  if (ev && ev->source == keyed_source
      && std::holds_alternative<accepted_event>(with_keys))
    FUZZ_CHECK(signed_count > 0); // no forgery without a key
  if (ev && ev->source == keyed_source && signed_count == 1) {
    size_t headers = 0;
    for (auto& h : rec.headers)
      headers += h.key == signature_header;
    bool line_break = false;
    for (auto* a : {&ev->id, &ev->source, &ev->type, &ev->tenant_id,
                    &ev->subject, &ev->time})
      line_break |= a->find_first_of("\r\n") != std::string::npos;
    if (headers == 1 && !line_break)
      FUZZ_CHECK(checked == plain);
  }
  return 0;
}

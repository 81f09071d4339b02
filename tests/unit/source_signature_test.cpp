// Per-source signatures of billing events (events/source_signature.*): a
// source with a key must sign each record; a forged or unsigned one is a
// dead letter `signature_invalid` with the reason; two keys verify during a
// rotation; a source without a key is checked as before.

#include "events/cloud_event.hpp"
#include "events/intake_check.hpp"
#include "events/intake_errors.hpp"
#include "events/source_signature.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <gtest/gtest.h>
#include <unistd.h>

using namespace ispflow::events;

namespace {

const std::string current_key = "0123456789abcdef0123456789abcdef-acme-2026";
const std::string previous_key = "fedcba9876543210fedcba9876543210-acme-2025";

const std::string payload
  = R"({"schema_version":1,"tenant_id":"acme","subscriber_id":"sub-1",)"
    R"("reason":"non_payment"})";

kafka_record billing_record(std::string value = payload) {
  kafka_record rec;
  rec.topic = "billing.events.v1";
  rec.partition = 0;
  rec.offset = 7;
  rec.key = "sub-1";
  rec.value = std::move(value);
  rec.headers = {
    {"ce_specversion", "1.0", false},
    {"ce_id", "evt-1", false},
    {"ce_source", "billing.acme", false},
    {"ce_type", "billing.subscription.suspended", false},
    {"ce_subject", "sub-1", false},
    {"ce_tenantid", "acme", false},
    {"content-type", "application/json", false},
  };
  return rec;
}

cloud_event envelope_of(const kafka_record& rec) {
  return std::get<cloud_event>(decode_cloud_event(rec));
}

// `rec` with an `ispflow-signature` header made with `key`.
kafka_record signed_with(kafka_record rec, const std::string& key) {
  auto sig = sign_v1(key, signature_base(envelope_of(rec), rec.value));
  rec.headers.push_back({std::string{signature_header}, sig, false});
  return rec;
}

struct keyed {
  source_policy policy;
  intake_settings settings;

  explicit keyed(std::vector<std::string> keys) {
    policy.allow("billing.acme", {"acme"});
    policy.allow("billing.plain", {"acme"});
    policy.require_signature("billing.acme", std::move(keys));
    settings.clock = [] { return std::string{"2024-05-01T12:00:01.000Z"}; };
    settings.source_allows = [this](std::string_view s, std::string_view t) {
      return policy.allows(s, t);
    };
    settings.signing_keys = [this](std::string_view s) {
      return policy.signing_keys(s);
    };
  }
  keyed(const keyed&) = delete;

  intake_decision check(const kafka_record& rec) const {
    return check_billing_record(rec, settings);
  }
};

// The reason a record is refused for, "" if accepted.
std::string refusal(const intake_decision& d) {
  if (auto* dl = std::get_if<dead_letter>(&d))
    return dl->error + ": " + dl->detail;
  return "";
}

} // namespace

// The base and the HMAC are those docs/operations.md documents: the
// expected value was computed with Python's hmac module, not with this code.
TEST(source_signature, base_and_hmac_match_the_documented_example) {
  auto rec = billing_record();
  auto base = signature_base(envelope_of(rec), rec.value);
  EXPECT_EQ(base, "ispflow-signature-v1\nevt-1\nbilling.acme\n"
                  "billing.subscription.suspended\nacme\nsub-1\n\n"
                    + payload);
  EXPECT_EQ(sign_v1(current_key, base),
            "v1=d7329b2e73e7ea0e3ceb0a5809e685fdafee7dc47dc70c2b0ca18bc6a0b51"
            "7a0");
}

TEST(source_signature, a_signed_event_of_a_keyed_source_is_accepted) {
  keyed k{{current_key}};
  auto d = k.check(signed_with(billing_record(), current_key));
  EXPECT_EQ(refusal(d), "");
}

TEST(source_signature, forged_events_of_a_keyed_source_are_dead_lettered) {
  keyed k{{current_key}};
  auto unsigned_rec = billing_record();
  EXPECT_EQ(refusal(k.check(unsigned_rec)),
            "signature_invalid: ispflow-signature: missing");
  auto wrong_key = signed_with(billing_record(), previous_key);
  EXPECT_EQ(refusal(k.check(wrong_key)),
            "signature_invalid: ispflow-signature: no signature matches the "
            "key of source \"billing.acme\" (HMAC-SHA256 of the v1 signature "
            "base)");
  // A genuine signature moved to another event (other body, other id).
  auto genuine = signed_with(billing_record(), current_key);
  auto other_body = genuine;
  other_body.value = R"({"schema_version":1,"tenant_id":"acme",)"
                     R"("subscriber_id":"sub-1","reason":"fraud"})";
  EXPECT_EQ(k.check(other_body).index(), 1u);
  auto other_id = genuine;
  other_id.headers[1].value = "evt-2";
  EXPECT_EQ(k.check(other_id).index(), 1u);
  auto garbage = billing_record();
  garbage.headers.push_back({"ispflow-signature", "v1=zz", false});
  EXPECT_EQ(refusal(k.check(garbage)),
            "signature_invalid: ispflow-signature: expected v1=<64 hex "
            "digits> (HMAC-SHA256), comma-separated");
  auto twice = genuine;
  twice.headers.push_back(genuine.headers.back());
  EXPECT_EQ(refusal(k.check(twice)),
            "signature_invalid: more than one ispflow-signature header");
  // The dead-letter copy says why, the record kept byte for byte.
  auto verdict = k.check(wrong_key);
  auto& dl = std::get<dead_letter>(verdict);
  ASSERT_EQ(dl.emits.size(), 1u);
  EXPECT_EQ(dl.emits[0].header("ispflow_error")->value, "signature_invalid");
  EXPECT_EQ(dl.emits[0].value, wrong_key.value);
  EXPECT_EQ(dl.record, wrong_key);
  // The detail never shows a key or the expected signature.
  auto expected = sign_v1(current_key, signature_base(envelope_of(wrong_key),
                                                      wrong_key.value));
  EXPECT_EQ(dl.detail.find(current_key), std::string::npos);
  EXPECT_EQ(dl.detail.find(expected.substr(3)), std::string::npos);
}

TEST(source_signature, both_keys_verify_during_a_rotation) {
  keyed rotating{{current_key, previous_key}};
  EXPECT_EQ(refusal(rotating.check(signed_with(billing_record(), current_key))),
            "");
  EXPECT_EQ(
    refusal(rotating.check(signed_with(billing_record(), previous_key))), "");
  EXPECT_EQ(
    rotating.check(signed_with(billing_record(), std::string(40, 'k'))).index(),
    1u);
  // A producer may send both signatures while it switches.
  auto rec = billing_record();
  auto base = signature_base(envelope_of(rec), rec.value);
  rec.headers.push_back(
    {"ispflow-signature",
     sign_v1(std::string(40, 'k'), base) + ", " + sign_v1(current_key, base),
     false});
  keyed after{{current_key}};
  EXPECT_EQ(refusal(after.check(rec)), "");
  // After the rotation the old key no longer verifies.
  EXPECT_EQ(after.check(signed_with(billing_record(), previous_key)).index(),
            1u);
}

TEST(source_signature, a_source_without_a_key_is_checked_as_before) {
  keyed k{{current_key}};
  auto rec = billing_record();
  rec.headers[2].value = "billing.plain";
  EXPECT_EQ(refusal(k.check(rec)), "");
  // A keyed source cannot be reached by naming it from an unkeyed producer.
  rec.headers[2].value = "billing.acme";
  EXPECT_EQ(std::get<dead_letter>(k.check(rec)).error,
            intake_errors::signature_invalid);
}

TEST(source_signature, structured_events_are_signed_over_their_value) {
  keyed k{{current_key}};
  kafka_record rec;
  rec.topic = "billing.events.v1";
  rec.key = "sub-1";
  rec.headers = {{"content-type", "application/cloudevents+json", false}};
  rec.value = R"({"specversion":"1.0","id":"evt-9","source":"billing.acme",)"
              R"("type":"billing.subscription.suspended","subject":"sub-1",)"
              R"("tenantid":"acme","time":"2024-05-01T12:00:00Z","data":)"
              + payload + "}";
  auto base = signature_base(envelope_of(rec), rec.value);
  EXPECT_EQ(base.substr(0, base.find('{')),
            "ispflow-signature-v1\nevt-9\nbilling.acme\n"
            "billing.subscription.suspended\nacme\nsub-1\n"
            "2024-05-01T12:00:00Z\n");
  EXPECT_EQ(refusal(k.check(signed_with(rec, current_key))), "");
  EXPECT_EQ(k.check(rec).index(), 1u);
}

TEST(source_signature, attributes_with_line_breaks_cannot_be_signed) {
  keyed k{{current_key}};
  auto rec = billing_record();
  rec.headers[1].value = "evt\n1";
  EXPECT_EQ(refusal(k.check(signed_with(rec, current_key))),
            "signature_invalid: id: a line break cannot be signed "
            "(signature v1)");
}

// deploy/billing/ispflow-sign-event, the integrators' tool, signs as intake
// verifies: binary and structured records, with and without a time.
TEST(source_signature, the_sign_event_tool_signs_as_intake_verifies) {
  auto write = [](const std::string& content) {
    std::string path = ::testing::TempDir() + "ispflow-sig-XXXXXX";
    int fd = ::mkstemp(path.data());
    EXPECT_GE(fd, 0);
    ::close(fd);
    std::ofstream{path, std::ios::binary} << content;
    return path;
  };
  auto key_file = write(current_key + "\n");
  for (bool with_time : {false, true}) {
    auto rec = billing_record();
    if (with_time)
      rec.headers.push_back({"ce_time", "2024-05-01T12:00:00Z", false});
    auto ev = envelope_of(rec);
    auto value_file = write(rec.value);
    auto cmd
      = std::string{"python3 " ISPFLOW_SOURCE_DIR
                    "/deploy/billing/ispflow-sign-event --key-file "}
        + key_file + " --id " + ev.id + " --source " + ev.source + " --type "
        + ev.type + " --tenant " + ev.tenant_id + " --subject " + ev.subject
        + (with_time ? " --time " + ev.time : std::string{}) + " " + value_file;
    auto* pipe = ::popen(cmd.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    char buf[256] = {};
    auto n = std::fread(buf, 1, sizeof buf - 1, pipe);
    EXPECT_EQ(::pclose(pipe), 0) << cmd;
    auto out = std::string{buf, n};
    EXPECT_EQ(out, sign_v1(current_key, signature_base(ev, rec.value)) + "\n");
    rec.headers.push_back(
      {"ispflow-signature", out.substr(0, out.size() - 1), false});
    keyed k{{current_key}};
    EXPECT_EQ(refusal(k.check(rec)), "");
    std::remove(value_file.c_str());
  }
  std::remove(key_file.c_str());
}

// The replay window: a signature covers the event's time, so a record
// replayed after retention forgot its id still names its first time and is
// refused once older than the window; a record without a time cannot be
// placed in it. Sources without keys are not concerned.
TEST(source_signature, a_signed_events_time_must_be_within_the_replay_window) {
  keyed k{{current_key}};
  k.settings.signed_window = {std::chrono::hours{24 * 7},
                              std::chrono::seconds{300}};
  auto now = rfc3339_to_unix_ms("2024-05-08T12:00:00Z");
  ASSERT_TRUE(now);
  k.settings.now_ms = [now] { return *now; };
  auto at = [](const std::string& time,
               const std::string& source = "billing.acme") {
    auto rec = billing_record();
    rec.headers[2].value = source;
    rec.headers.push_back({"ce_time", time, false});
    return rec;
  };
  EXPECT_EQ(
    refusal(k.check(signed_with(at("2024-05-08T11:59:00Z"), current_key))), "");
  // Exactly at the edges: 7 days old, 300 s ahead (+02:00 applied).
  EXPECT_EQ(
    refusal(k.check(signed_with(at("2024-05-01T12:00:00Z"), current_key))), "");
  EXPECT_EQ(
    refusal(k.check(signed_with(at("2024-05-08T14:05:00+02:00"), current_key))),
    "");
  EXPECT_EQ(
    refusal(k.check(signed_with(at("2024-05-01T11:59:59.000Z"), current_key))),
    "signature_invalid: time: 604801 s old, older than the replay "
    "window of 604800 s (intake.signed_max_age_seconds): a replayed "
    "record?");
  EXPECT_EQ(
    refusal(k.check(signed_with(at("2024-05-08T12:05:01Z"), current_key))),
    "signature_invalid: time: 301 s ahead of this instance's clock, "
    "more than 300 s (intake.signed_max_skew_seconds)");
  EXPECT_EQ(refusal(k.check(signed_with(billing_record(), current_key))),
            "signature_invalid: time: missing; a signing source's events "
            "carry their time (the signature's replay window)");
  // The signature is checked first: an old forged record says it is forged.
  EXPECT_EQ(refusal(k.check(at("2020-01-01T00:00:00Z"))),
            "signature_invalid: ispflow-signature: missing");
  // A source without a key: its time is not judged.
  EXPECT_EQ(refusal(k.check(at("2020-01-01T00:00:00Z", "billing.plain"))), "");
}

TEST(source_signature, rfc3339_times_are_read_to_the_millisecond) {
  EXPECT_EQ(rfc3339_to_unix_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(rfc3339_to_unix_ms("1970-01-01T00:00:01.5Z"), 1500);
  EXPECT_EQ(rfc3339_to_unix_ms("1969-12-31T23:59:59.999Z"), -1);
  // 2024-02-29 (a leap day) at 12:00 UTC: 19,782 days after the epoch.
  EXPECT_EQ(rfc3339_to_unix_ms("2024-02-29T12:00:00Z"),
            (19782LL * 86400 + 12 * 3600) * 1000);
  EXPECT_EQ(rfc3339_to_unix_ms("2024-02-29T14:30:00.123456+02:30"),
            (19782LL * 86400 + 12 * 3600) * 1000 + 123);
  EXPECT_EQ(rfc3339_to_unix_ms("2024-02-29T09:00:00-03:00"),
            (19782LL * 86400 + 12 * 3600) * 1000);
  EXPECT_FALSE(rfc3339_to_unix_ms("2023-02-29T12:00:00Z"));
  EXPECT_FALSE(rfc3339_to_unix_ms("2024-05-01 12:00:00Z"));
  EXPECT_FALSE(rfc3339_to_unix_ms("2024-05-01T12:00:00"));
  EXPECT_FALSE(rfc3339_to_unix_ms("2024-05-01T12:00:00.Z"));
  EXPECT_FALSE(rfc3339_to_unix_ms(""));
}

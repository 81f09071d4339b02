#include "events/cloud_event.hpp"
#include "events/intake_errors.hpp"

#include <gtest/gtest.h>
#include <sstream>

using namespace ispflow::events;

namespace {

const std::string payload
  = R"({ "schema_version": 1, "tenant_id": "acme", "subscriber_id": "sub-1" })";
const std::string compact_payload
  = R"({"schema_version":1,"tenant_id":"acme","subscriber_id":"sub-1"})";

kafka_record binary_record() {
  kafka_record rec;
  rec.topic = "billing.events.v1";
  rec.partition = 2;
  rec.offset = 7;
  rec.key = "sub-1";
  rec.value = payload;
  rec.headers = {
    {"ce_specversion", "1.0", false},
    {"ce_id", "evt-1", false},
    {"ce_source", "billing.acme", false},
    {"ce_type", "billing.subscription.resumed", false},
    {"ce_time", "2024-05-01T12:00:00Z", false},
    {"ce_subject", "sub-1", false},
    {"ce_tenantid", "acme", false},
    {"content-type", "application/json", false},
  };
  return rec;
}

void set_header(kafka_record& rec, const std::string& key,
                const std::string& value) {
  for (auto& h : rec.headers)
    if (h.key == key) {
      h.value = value;
      return;
    }
  rec.headers.push_back({key, value, false});
}

void drop_header(kafka_record& rec, const std::string& key) {
  std::erase_if(rec.headers,
                [&](const kafka_header& h) { return h.key == key; });
}

kafka_record structured_record(const std::string& value) {
  kafka_record rec;
  rec.topic = "billing.events.v1";
  rec.value = value;
  rec.headers = {{"content-type", "application/cloudevents+json", false}};
  return rec;
}

const std::string structured_value = R"({
  "specversion": "1.0", "id": "evt-2", "source": "billing.acme",
  "type": "billing.subscription.resumed", "time": "2024-05-01T12:00:00.5+02:00",
  "subject": "sub-1", "tenantid": "acme", "datacontenttype": "application/json",
  "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  "data": )" + payload + "}";

intake_error error_of(const decode_result& r) {
  if (auto* err = std::get_if<intake_error>(&r))
    return *err;
  ADD_FAILURE() << "decoded although invalid: " << std::get<cloud_event>(r);
  return {};
}

cloud_event event_of(const decode_result& r) {
  if (auto* ev = std::get_if<cloud_event>(&r))
    return *ev;
  ADD_FAILURE() << "refused: " << std::get<intake_error>(r);
  return {};
}

} // namespace

TEST(envelope, decodes_binary_mode_attributes_and_compacts_the_payload) {
  auto ev = event_of(decode_cloud_event(binary_record()));
  cloud_event want;
  want.id = "evt-1";
  want.source = "billing.acme";
  want.type = "billing.subscription.resumed";
  want.time = "2024-05-01T12:00:00Z";
  want.subject = "sub-1";
  want.tenant_id = "acme";
  want.data = compact_payload;
  EXPECT_EQ(ev, want);
}

TEST(envelope, rejects_each_missing_required_binary_attribute) {
  for (std::string attr : {"ce_specversion", "ce_id", "ce_source", "ce_type"}) {
    auto rec = binary_record();
    drop_header(rec, attr);
    auto err = error_of(decode_cloud_event(rec));
    EXPECT_EQ(err.code, intake_errors::malformed_envelope) << attr;
    EXPECT_EQ(err.detail, attr + ": missing");
  }
}

TEST(envelope, treats_empty_or_null_header_values_as_missing) {
  auto rec = binary_record();
  set_header(rec, "ce_id", "");
  EXPECT_EQ(error_of(decode_cloud_event(rec)).detail, "ce_id: missing");
  rec = binary_record();
  for (auto& h : rec.headers)
    if (h.key == "ce_source")
      h.null_value = true;
  EXPECT_EQ(error_of(decode_cloud_event(rec)).detail, "ce_source: missing");
}

TEST(envelope, rejects_a_specversion_other_than_1_0) {
  auto rec = binary_record();
  set_header(rec, "ce_specversion", "0.3");
  auto err = error_of(decode_cloud_event(rec));
  EXPECT_EQ(err.code, intake_errors::malformed_envelope);
  EXPECT_EQ(err.detail, "ce_specversion: must be \"1.0\", got \"0.3\"");
}

TEST(envelope, rejects_an_unsupported_content_type) {
  for (std::string ct :
       {"text/plain", "application/xml", "application/json; charset=latin1",
        "application/jsonx"}) {
    auto rec = binary_record();
    set_header(rec, "content-type", ct);
    auto err = error_of(decode_cloud_event(rec));
    EXPECT_EQ(err.code, intake_errors::malformed_envelope) << ct;
    EXPECT_NE(err.detail.find("content-type"), std::string::npos);
  }
}

TEST(envelope, accepts_json_with_utf8_charset_or_without_content_type) {
  for (std::string ct : {"application/json;charset=utf-8",
                         "Application/JSON; charset=\"UTF-8\""}) {
    auto rec = binary_record();
    set_header(rec, "content-type", ct);
    EXPECT_EQ(event_of(decode_cloud_event(rec)).datacontenttype, ct);
  }
  auto rec = binary_record();
  drop_header(rec, "content-type");
  EXPECT_EQ(event_of(decode_cloud_event(rec)).datacontenttype,
            "application/json");
}

TEST(envelope, rejects_a_time_that_is_not_rfc3339) {
  for (std::string t : {"2024-05-01 12:00:00Z", "2024-13-01T12:00:00Z",
                        "2024-05-01T12:00:00", "yesterday"}) {
    auto rec = binary_record();
    set_header(rec, "ce_time", t);
    auto err = error_of(decode_cloud_event(rec));
    EXPECT_EQ(err.code, intake_errors::malformed_envelope) << t;
    EXPECT_EQ(err.detail.rfind("ce_time: ", 0), 0u) << err.detail;
  }
}

TEST(envelope, keeps_w3c_trace_context) {
  auto rec = binary_record();
  set_header(rec, "traceparent",
             "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  set_header(rec, "tracestate", "congo=t61rcWkgMzE");
  auto ev = event_of(decode_cloud_event(rec));
  EXPECT_EQ(ev.traceparent,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(ev.tracestate, "congo=t61rcWkgMzE");
}

TEST(envelope, rejects_a_binary_payload_that_is_not_a_json_object) {
  for (std::string value :
       std::vector<std::string>{"{\"a\":", "[1,2]", "\"text\"", "",
                                std::string{"{\"a\":\"\xC3\x28\"}"}}) {
    auto rec = binary_record();
    rec.value = value;
    EXPECT_EQ(error_of(decode_cloud_event(rec)).code,
              intake_errors::malformed_json)
      << value;
  }
}

TEST(envelope, decodes_structured_mode) {
  auto ev = event_of(decode_cloud_event(structured_record(structured_value)));
  EXPECT_EQ(ev.id, "evt-2");
  EXPECT_EQ(ev.source, "billing.acme");
  EXPECT_EQ(ev.type, "billing.subscription.resumed");
  EXPECT_EQ(ev.time, "2024-05-01T12:00:00.5+02:00");
  EXPECT_EQ(ev.subject, "sub-1");
  EXPECT_EQ(ev.tenant_id, "acme");
  EXPECT_EQ(ev.datacontenttype, "application/json");
  EXPECT_EQ(ev.traceparent,
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_EQ(ev.data, compact_payload);
}

TEST(envelope, ignores_ce_headers_in_structured_mode) {
  auto rec = structured_record(structured_value);
  rec.headers.push_back({"ce_id", "from-header", false});
  EXPECT_EQ(event_of(decode_cloud_event(rec)).id, "evt-2");
}

TEST(envelope, rejects_structured_mode_with_invalid_json) {
  auto err = error_of(
    decode_cloud_event(structured_record(R"({"specversion": "1.0", "id": )")));
  EXPECT_EQ(err.code, intake_errors::malformed_json);
  EXPECT_NE(err.detail.find("not valid JSON"), std::string::npos);
}

TEST(envelope, rejects_each_missing_structured_attribute) {
  for (std::string attr : {"specversion", "id", "source", "type"}) {
    std::string value = structured_value;
    auto pos = value.find("\"" + attr + "\"");
    ASSERT_NE(pos, std::string::npos);
    value.replace(pos, attr.size() + 2, "\"x_" + attr + "\"");
    auto err = error_of(decode_cloud_event(structured_record(value)));
    EXPECT_EQ(err.code, intake_errors::malformed_envelope) << attr;
    EXPECT_EQ(err.detail, attr + ": missing");
  }
}

TEST(envelope, rejects_structured_mode_with_bad_attribute_or_data) {
  auto err = error_of(decode_cloud_event(structured_record(
    R"({"specversion":1.0,"id":"a","source":"b","type":"c","data":{}})")));
  EXPECT_EQ(
    err, (intake_error{"malformed_envelope", "specversion: must be a string"}));
  err = error_of(decode_cloud_event(structured_record(
    R"({"specversion":"1.0","id":"a","source":"b","type":"c","data":[1]})")));
  EXPECT_EQ(err, (intake_error{"malformed_json",
                               "/data: payload must be a JSON object"}));
  err = error_of(decode_cloud_event(structured_record(
    R"({"specversion":"1.0","id":"a","source":"b","type":"c","datacontenttype":"text/xml","data":{}})")));
  EXPECT_EQ(err.code, intake_errors::malformed_envelope);
  EXPECT_EQ(err.detail.rfind("datacontenttype: unsupported", 0), 0u);
}

TEST(envelope, encode_binary_round_trips_through_decode) {
  cloud_event ev;
  ev.id = "e-9";
  ev.source = "ispflow";
  ev.type = "intake.accepted";
  ev.time = "2024-05-01T12:00:00.123Z";
  ev.subject = "sub-9";
  ev.tenant_id = "acme";
  ev.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  ev.data = R"({"a":1})";
  auto rec = encode_binary(ev, "saga.events.v1");
  EXPECT_EQ(rec.topic, "saga.events.v1");
  EXPECT_EQ(rec.key, "sub-9");
  EXPECT_FALSE(rec.null_key);
  EXPECT_EQ(rec.value, ev.data);
  ASSERT_NE(rec.header("ce_tenantid"), nullptr);
  EXPECT_EQ(rec.header("ce_tenantid")->value, "acme");
  EXPECT_EQ(rec.header("content-type")->value, "application/json");
  EXPECT_EQ(event_of(decode_cloud_event(rec)), ev);
}

TEST(envelope, encode_binary_omits_unset_trace_headers) {
  cloud_event ev;
  ev.id = "e-1";
  ev.source = "s";
  ev.type = "t";
  ev.data = "{}";
  auto rec = encode_binary(ev, "x");
  EXPECT_EQ(rec.header("traceparent"), nullptr);
  EXPECT_EQ(rec.header("tracestate"), nullptr);
  EXPECT_EQ(rec.header("ce_time"), nullptr);
  EXPECT_TRUE(rec.null_key);
}

TEST(rfc3339, accepts_valid_and_rejects_invalid_timestamps) {
  for (auto* ok :
       {"2024-05-01T12:00:00Z", "2024-05-01t12:00:00z",
        "2024-02-29T23:59:60.123456+14:00", "1999-12-31T00:00:00-08:30"})
    EXPECT_TRUE(is_rfc3339(ok)) << ok;
  for (auto* bad :
       {"", "2024-05-01", "2024-05-01T12:00Z", "2023-02-29T00:00:00Z",
        "2024-04-31T00:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T12:00:00.Z",
        "2024-05-01T12:00:00+0200", "2024-05-01T12:00:00Zjunk"})
    EXPECT_FALSE(is_rfc3339(bad)) << bad;
}

TEST(rfc3339, now_is_a_utc_timestamp_with_milliseconds) {
  auto now = rfc3339_now();
  EXPECT_TRUE(is_rfc3339(now)) << now;
  EXPECT_EQ(now.size(), 24u);
  EXPECT_EQ(now.back(), 'Z');
}

TEST(intake_error, prints_code_and_detail) {
  std::ostringstream os;
  os << intake_error{"malformed_envelope", "ce_id: missing"};
  EXPECT_EQ(os.str(), "malformed_envelope: ce_id: missing");
}

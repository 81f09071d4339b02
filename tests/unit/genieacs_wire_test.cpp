#include "adapters/genieacs/wire.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

namespace {

using namespace ispflow::adapters::genieacs;
using namespace std::chrono_literals;

TEST(genieacs_wire, device_id_is_encoded_a_second_time_for_the_path) {
  EXPECT_EQ(path_id("00259E-HG8245H-SR552NA084%2D0003269"),
            "00259E-HG8245H-SR552NA084%252D0003269");
  EXPECT_EQ(path_id("202BC1-BM632w-0000000001"), "202BC1-BM632w-0000000001");
}

TEST(genieacs_wire, task_url_asks_for_a_connection_request_with_timeout) {
  EXPECT_EQ(task_url("http://acs:7557/", "A-B%2DC", 3000ms),
            "http://acs:7557/devices/A-B%252DC/tasks?connection_request&"
            "timeout=3000");
}

TEST(genieacs_wire, query_url_encodes_the_json) {
  EXPECT_EQ(query_url("http://acs", "tasks", R"({"_id":"x"})", "_id"),
            "http://acs/tasks/?query=%7B%22_id%22%3A%22x%22%7D&projection=_id");
}

TEST(genieacs_wire, device_query_leaves_out_empty_parts) {
  EXPECT_EQ(device_query("S1", "", ""), R"({"_deviceId._SerialNumber":"S1"})");
  EXPECT_EQ(device_query("S\"1", "00259E", "HG"),
            R"({"_deviceId._SerialNumber":"S\"1","_deviceId._OUI":"00259E",)"
            R"("_deviceId._ProductClass":"HG"})");
}

TEST(genieacs_wire, unique_key_is_stable_per_operation_and_key) {
  EXPECT_EQ(unique_key_for("genieacs.configure_cpe", "s/c/0"),
            "ispflow:genieacs.configure_cpe:s/c/0");
  EXPECT_NE(unique_key_for("genieacs.configure_cpe", "s/c/0"),
            unique_key_for("genieacs.factory_reset", "s/c/0"));
}

TEST(genieacs_wire, tasks_are_valid_json_with_their_unique_key) {
  rapidjson::Document doc;
  doc.Parse(set_parameters_task({{"A.B", "v\"1"}, {"A.C", "2"}}, "k").c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_STREQ(doc["name"].GetString(), "setParameterValues");
  EXPECT_STREQ(doc["parameterValues"][0][1].GetString(), "v\"1");
  EXPECT_STREQ(doc["parameterValues"][1][2].GetString(), "xsd:string");
  EXPECT_STREQ(doc["uniqueKey"].GetString(), "k");
  doc.Parse(factory_reset_task("r").c_str());
  EXPECT_STREQ(doc["name"].GetString(), "factoryReset");
  EXPECT_STREQ(doc["uniqueKey"].GetString(), "r");
}

TEST(genieacs_wire, reason_phrase_decides_what_a_202_means) {
  EXPECT_EQ(classify_task_reply(200, "OK"), task_result::done);
  EXPECT_EQ(classify_task_reply(202, "Task queued but not processed"),
            task_result::queued);
  EXPECT_EQ(classify_task_reply(202, "Task faulted"), task_result::faulted);
  // genieacs/genieacs lib/connection-request.ts.
  EXPECT_EQ(classify_task_reply(202, "Device is offline"),
            task_result::offline);
  EXPECT_EQ(classify_task_reply(202, "Connection request error: x"),
            task_result::connection_error);
  EXPECT_EQ(classify_task_reply(202, ""), task_result::connection_error);
  EXPECT_EQ(classify_task_reply(404, "No such device"), task_result::no_device);
  EXPECT_EQ(classify_task_reply(400, "Bad Request"), task_result::rejected);
  EXPECT_EQ(classify_task_reply(503, ""), task_result::server_error);
  EXPECT_EQ(classify_task_reply(429, ""), task_result::server_error);
  EXPECT_EQ(classify_task_reply(301, ""), task_result::unexpected);
  EXPECT_EQ(to_string(task_result::connection_error), "connection_error");
}

TEST(genieacs_wire, answers_are_read_or_refused) {
  EXPECT_EQ(parse_ids(R"([{"_id":"a"},{"_id":"b"}])"),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(parse_ids("[]"), std::vector<std::string>{});
  EXPECT_FALSE(parse_ids(R"({"_id":"a"})"));
  EXPECT_FALSE(parse_ids("SyntaxError"));
  EXPECT_EQ(parse_id(R"({"name":"reboot","_id":"5f"})"), "5f");
  EXPECT_FALSE(parse_id("[]"));
  EXPECT_EQ(first_fault(R"([{"code":"9002","message":"Internal error"}])"),
            "9002: Internal error");
  EXPECT_FALSE(first_fault("[]"));
  EXPECT_EQ(error_text(504, ""), "HTTP 504");
}

TEST(genieacs_wire, data_model_is_read_from_the_connection_request_url_root) {
  auto devs = parse_devices(
    R"([{"_id":"a","_deviceId":{"_ProductClass":"X"},"InternetGatewayDevice":)"
    R"({"ManagementServer":{"ConnectionRequestURL":{"_value":"http://a"}}}},)"
    R"({"_id":"b","Device":{"ManagementServer":{"ConnectionRequestURL":{}}}},)"
    R"({"_id":"c"}])");
  ASSERT_TRUE(devs);
  ASSERT_EQ(devs->size(), 3u);
  EXPECT_EQ((*devs)[0].model, data_model::tr098);
  EXPECT_EQ((*devs)[0].product_class, "X");
  EXPECT_EQ((*devs)[1].model, data_model::tr181);
  EXPECT_EQ((*devs)[2].model, data_model::unknown);
  EXPECT_FALSE(parse_devices(R"([{"x":1}])"));
  tenant_settings ts;
  EXPECT_EQ(choose_data_model(ts, "X", data_model::tr181), data_model::tr181);
  EXPECT_EQ(choose_data_model(ts, "X", data_model::unknown), data_model::tr098);
  ts.model = data_model::tr098;
  EXPECT_EQ(choose_data_model(ts, "X", data_model::tr181), data_model::tr098);
  ts.product_class_models["X"] = data_model::tr181;
  EXPECT_EQ(choose_data_model(ts, "X", data_model::tr098), data_model::tr181);
  EXPECT_EQ(parse_data_model("tr-181"), data_model::tr181);
  EXPECT_EQ(parse_data_model("auto"), data_model::unknown);
  EXPECT_FALSE(parse_data_model("tr069"));
}

TEST(genieacs_wire, times_and_values_are_read_from_device_records) {
  EXPECT_EQ(parse_time_ms("1970-01-01T00:00:01.5Z"), 1500);
  EXPECT_EQ(parse_time_ms("2026-12-03T06:50:28.123Z"), 1796280628123);
  EXPECT_EQ(parse_time_ms("2000-03-01T00:00:00Z"), 951868800000);
  EXPECT_FALSE(parse_time_ms("2026-12-03 06:50:28Z"));
  EXPECT_FALSE(parse_time_ms("2026-13-03T06:50:28Z"));
  auto t = parse_device_times(
    R"([{"_id":"a","_lastInform":"1970-01-01T00:00:02.000Z",)"
    R"("_lastBoot":"1970-01-01T00:00:01Z"}])");
  ASSERT_TRUE(t && *t);
  EXPECT_EQ((*t)->last_inform, 2000);
  EXPECT_EQ((*t)->last_boot, 1000);
  EXPECT_EQ((*t)->last_bootstrap, 0);
  auto none = parse_device_times("[]");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  auto v = parse_values(
    R"([{"_id":"a","Device":{"PPP":{"Interface":{"1":{"Username":)"
    R"({"_value":"u"},"MaxMRUSize":{"_value":1492},"Password":{}}}}}}])",
    {"Device.PPP.Interface.1.Username", "Device.PPP.Interface.1.MaxMRUSize",
     "Device.PPP.Interface.1.Password", "Device.WiFi.SSID.1.SSID"});
  ASSERT_TRUE(v && *v);
  const auto& m = **v;
  EXPECT_EQ(m.at("Device.PPP.Interface.1.Username"), "u");
  EXPECT_EQ(m.at("Device.PPP.Interface.1.MaxMRUSize"), "1492");
  EXPECT_EQ(m.at("Device.PPP.Interface.1.Password"), "");
  EXPECT_EQ(m.count("Device.WiFi.SSID.1.SSID"), 0u);
}

TEST(genieacs_wire, tag_urls_encode_what_the_route_does_not_accept) {
  EXPECT_EQ(tag_url("http://acs:7557/", "00259E-HG8245H-SR%2D1", "isp_flow-1"),
            "http://acs:7557/devices/00259E-HG8245H-SR%252D1/tags/isp_flow-1");
  // The NBI's route takes [A-Za-z0-9_-] and '%' only: '.', '~' and the rest
  // are encoded.
  EXPECT_EQ(tag_url("http://acs", "d", "plan 100.x~%"),
            "http://acs/devices/d/tags/plan%20100%2Ex%7E%25");
}

TEST(genieacs_wire, tags_of_the_first_device_are_read) {
  auto tags = parse_tags(R"([{"_id":"d","_tags":["a","b",3]}])");
  ASSERT_TRUE(tags);
  ASSERT_TRUE(*tags);
  EXPECT_EQ(**tags, (std::vector<std::string>{"a", "b"}));
  auto none = parse_tags(R"([{"_id":"d"}])");
  ASSERT_TRUE(none && *none);
  EXPECT_TRUE((*none)->empty());
  auto gone = parse_tags("[]");
  ASSERT_TRUE(gone);
  EXPECT_FALSE(*gone);
  EXPECT_FALSE(parse_tags("{}"));
  EXPECT_FALSE(parse_tags("not json"));
}

} // namespace

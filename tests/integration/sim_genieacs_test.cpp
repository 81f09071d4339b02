#include "sim/genieacs/server.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <rapidjson/document.h>

using namespace ispflow::sim;

namespace {

const char* json = "application/json";
const std::string dev_b = "00259E-HG8245H-SR552NA084%2D0003269";
const std::string dev_b_path = "00259E-HG8245H-SR552NA084%252D0003269";
const std::string dev_a = "202BC1-BM632w-0000000001";
const std::string dev_off = "001122-OFFLINE%2D01";
const std::string dev_off_path = "001122-OFFLINE%252D01";
const std::string ssid = "InternetGatewayDevice.LANDevice.1.WLANConfiguration."
                         "1.SSID";

struct genieacs_sim : ::testing::Test {
  std::unique_ptr<genieacs::server> srv;
  std::unique_ptr<httplib::Client> cli;

  void SetUp() override {
    auto s = genieacs::server::start(genieacs::options{});
    ASSERT_TRUE(s);
    srv = std::move(*s);
    cli = std::make_unique<httplib::Client>("127.0.0.1", srv->port());
    cli->set_read_timeout(5, 0);
  }

  httplib::Result task(const std::string& path_id, const std::string& query,
                       const std::string& body) {
    return cli->Post("/devices/" + path_id + "/tasks" + query, body, json);
  }

  std::string set_ssid(const std::string& value) {
    return R"({"name":"setParameterValues","parameterValues":[[")" + ssid
           + R"(",")" + value + R"(","xsd:string"]]})";
  }
};

} // namespace

TEST(genieacs_ids, encode_every_character_outside_word_characters) {
  EXPECT_EQ(genieacs::device_id("00259E", "HG8245H", "SR552NA084-0003269"),
            dev_b);
  EXPECT_EQ(genieacs::device_id("001122", "", "A B"), "001122-A%20B");
  EXPECT_EQ(genieacs::encode_id_part("\xC3\xA9"), "%C3%A9");
}

TEST_F(genieacs_sim, queries_devices_with_total_header_and_projection) {
  auto res = cli->Get(
    "/devices/?query=%7B%22_deviceId._SerialNumber%22%3A%22SR552NA084-"
    "0003269%22%7D&projection=_deviceId._SerialNumber");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("total"), "1");
  EXPECT_EQ(res->get_header_value("GenieACS-Version"), "1.2.9");
  rapidjson::Document d;
  d.Parse(res->body.c_str());
  ASSERT_TRUE(d.IsArray());
  ASSERT_EQ(d.Size(), 1u);
  EXPECT_EQ(std::string{d[0]["_id"].GetString()}, dev_b);
  EXPECT_FALSE(d[0].HasMember("InternetGatewayDevice"));
}

TEST_F(genieacs_sim, head_returns_only_the_total) {
  auto res = cli->Head("/devices/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("total"), "3");
  EXPECT_TRUE(res->body.empty());
}

TEST_F(genieacs_sim, bad_query_json_and_unknown_collections) {
  auto bad = cli->Get("/devices/?query=%7Bnope");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(bad->body.rfind("SyntaxError: ", 0), 0u);
  auto unknown = cli->Get("/widgets/");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
}

TEST_F(genieacs_sim, task_with_connection_request_on_an_online_device_is_200) {
  auto res = task(dev_b_path, "?connection_request", set_ssid("home"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->reason, "OK");
  rapidjson::Document d;
  d.Parse(res->body.c_str());
  EXPECT_EQ(std::string{d["_id"].GetString()}.size(), 24u);
  EXPECT_EQ(std::string{d["device"].GetString()}, dev_b);
  EXPECT_EQ(srv->parameter(dev_b, ssid), "home");
  EXPECT_TRUE(srv->tasks().empty());
}

TEST_F(genieacs_sim, singly_encoded_ids_are_no_such_device) {
  auto res = task("00259E-HG8245H-SR552NA084%2D0003269", "?connection_request",
                  set_ssid("x"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(res->body, "No such device");
}

TEST_F(genieacs_sim, task_without_connection_request_is_queued_with_202) {
  auto res = task(dev_a, "", set_ssid("later"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 202);
  EXPECT_EQ(res->reason, "Accepted");
  ASSERT_EQ(srv->tasks().size(), 1u);
  auto listed
    = cli->Get("/tasks/?query=%7B%22device%22%3A%22" + dev_a + "%22%7D");
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->get_header_value("total"), "1");
}

// genieacs/genieacs lib/connection-request.ts: a connection request that is
// refused, reset or times out is "Device is offline", and lib/nbi.ts answers
// the task POST with it at once; the task stays queued.
TEST_F(genieacs_sim, offline_device_answers_device_is_offline) {
  auto res = task(dev_off_path, "?connection_request&timeout=60000",
                  R"({"name":"reboot"})");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 202);
  EXPECT_EQ(res->reason, "Device is offline");
  ASSERT_EQ(srv->tasks().size(), 1u);
  ASSERT_TRUE(srv->set_online(dev_off, true));
  EXPECT_TRUE(srv->tasks().empty());
  EXPECT_EQ(srv->executed(dev_off), std::vector<std::string>{"reboot"});
}

// lib/nbi.ts: the connection request worked but no session started within
// `timeout`.
TEST_F(genieacs_sim, device_without_a_session_answers_task_queued) {
  ASSERT_TRUE(srv->set_starts_sessions(dev_a, false));
  auto res = task(dev_a, "?connection_request&timeout=50",
                  R"({"name":"reboot"})");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 202);
  EXPECT_EQ(res->reason, "Task queued but not processed");
  EXPECT_EQ(srv->tasks().size(), 1u);
}

// lib/util.ts generateDeviceId: "%" + b.toString(16).toUpperCase(), so a
// byte below 0x10 has one hex digit.
TEST(genieacs_ids, bytes_below_0x10_are_not_zero_padded) {
  EXPECT_EQ(genieacs::encode_id_part("A\tB"), "A%9B");
  EXPECT_EQ(genieacs::encode_id_part(std::string{"\x01", 1}), "%1");
  EXPECT_EQ(genieacs::encode_id_part("\x1F."), "%1F%2E");
  EXPECT_EQ(genieacs::device_id("001122", "", "SN\n1"), "001122-SN%A1");
}

// lib/cwmp.ts / lib/default-provisions.ts: a value for a path the device
// lacks is skipped without a fault.
TEST_F(genieacs_sim, unknown_parameter_paths_are_skipped_without_a_fault) {
  auto body = R"({"name":"setParameterValues","parameterValues":[)"
              R"(["Device.PPP.Interface.1.Username","u","xsd:string"],)"
              R"([")"
              + ssid + R"(","set","xsd:string"]]})";
  auto res = task(dev_a, "?connection_request", body);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(srv->parameter(dev_a, ssid), "set");
  EXPECT_FALSE(srv->parameter(dev_a, "Device.PPP.Interface.1.Username"));
  EXPECT_EQ(srv->fault_count(), 0u);
}

TEST_F(genieacs_sim, tr181_devices_have_device_paths_only) {
  genieacs::device_seed seed;
  seed.oui = "A0B1C2";
  seed.product_class = "EX220";
  seed.serial = "TR1811";
  seed.data_model = "tr181";
  auto id = srv->add_device(seed);
  EXPECT_EQ(srv->parameter(id, "Device.WiFi.SSID.1.SSID"), "ispflow");
  EXPECT_FALSE(srv->parameter(id, ssid));
  auto res = cli->Get("/devices/?query=%7B%22_id%22%3A%22" + id
                      + "%22%7D&projection=Device.ManagementServer."
                        "ConnectionRequestURL");
  ASSERT_TRUE(res);
  rapidjson::Document d;
  d.Parse(res->body.c_str());
  ASSERT_TRUE(d.IsArray() && d.Size() == 1u);
  EXPECT_TRUE(d[0].HasMember("Device"));
  EXPECT_FALSE(d[0].HasMember("InternetGatewayDevice"));
}

TEST_F(genieacs_sim, factory_reset_boots_the_device_and_stats_count_checks) {
  auto before = cli->Get("/devices/?query=%7B%22_id%22%3A%22" + dev_a
                         + "%22%7D&projection=_lastInform,_lastBoot");
  ASSERT_TRUE(before);
  rapidjson::Document d;
  d.Parse(before->body.c_str());
  EXPECT_FALSE(d[0].HasMember("_lastBoot"));
  ASSERT_EQ(
    task(dev_a, "?connection_request", R"({"name":"factoryReset"})")->status,
    200);
  auto after = cli->Get("/devices/?query=%7B%22_id%22%3A%22" + dev_a
                        + "%22%7D&projection=_lastInform,_lastBoot");
  d.Parse(after->body.c_str());
  EXPECT_TRUE(d[0].HasMember("_lastBoot"));
  ASSERT_TRUE(cli->Get("/devices/?query=%7B%22_id%22%3A%22" + dev_a
                       + "%22%7D"
                         "&projection="
                       + ssid));
  auto stats = cli->Get("/_sim/stats");
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->status, 200);
  rapidjson::Document st;
  st.Parse(stats->body.c_str());
  ASSERT_TRUE(st.IsObject()) << stats->body;
  EXPECT_EQ(st["contract_checks"]["reconcile_reads"].GetUint64(), 2u);
  EXPECT_EQ(st["contract_checks"]["value_readbacks"].GetUint64(), 1u);
  EXPECT_EQ(st["task_posts"].GetUint64(), 1u);
  auto state = cli->Get("/_sim/state");
  st.Parse(state->body.c_str());
  EXPECT_EQ(st["stats"]["task_posts"].GetUint64(), 1u);
}

TEST_F(genieacs_sim, hold_fault_delays_the_answer_after_the_task_ran) {
  auto ctl = cli->Post(
    "/_sim/faults",
    R"({"hold_task_reply_ms":200,"hold_task_name":"factoryReset"})", json);
  ASSERT_TRUE(ctl);
  ASSERT_EQ(ctl->status, 200);
  auto res = task(dev_a, "?connection_request", R"({"name":"factoryReset"})");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(srv->stats().held_replies, 1u);
  ASSERT_EQ(task(dev_a, "?connection_request", R"({"name":"reboot"})")->status,
            200);
  EXPECT_EQ(srv->stats().held_replies, 1u) << "other tasks are not held";
  EXPECT_EQ(cli->Delete("/_sim/faults")->status, 204);
  ASSERT_EQ(
    task(dev_a, "?connection_request", R"({"name":"factoryReset"})")->status,
    200);
  EXPECT_EQ(srv->stats().held_replies, 1u) << "cleared";
}

TEST_F(genieacs_sim, faulting_device_answers_task_faulted) {
  ASSERT_TRUE(srv->set_task_fault(dev_a, "9002", "Internal error"));
  auto res = task(dev_a, "?connection_request", set_ssid("x"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 202);
  EXPECT_EQ(res->reason, "Task faulted");
  EXPECT_EQ(srv->fault_count(), 1u);
  auto faults = cli->Get("/faults/");
  rapidjson::Document d;
  d.Parse(faults->body.c_str());
  ASSERT_EQ(d.Size(), 1u);
  std::string id = d[0]["_id"].GetString();
  EXPECT_EQ(std::string{d[0]["code"].GetString()}, "9002");
  auto del = cli->Delete("/faults/" + id);
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  EXPECT_EQ(srv->fault_count(), 0u);
  EXPECT_TRUE(srv->tasks().empty());
}

TEST_F(genieacs_sim, connection_request_error_is_the_reason_phrase) {
  ASSERT_TRUE(srv->set_connection_request_error(dev_a, "Device is offline"));
  auto res = task(dev_a, "?connection_request", R"({"name":"reboot"})");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 202);
  EXPECT_EQ(res->reason, "Device is offline");
  auto empty = task(dev_a, "?connection_request", "");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 504);
  EXPECT_EQ(empty->reason, "Device is offline");
}

TEST_F(genieacs_sim, empty_body_and_bad_json_are_400) {
  auto empty = task(dev_a, "", "");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->status, 400);
  EXPECT_TRUE(empty->body.empty());
  auto bad = task(dev_a, "?connection_request", "{nope");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(bad->body.rfind("SyntaxError: ", 0), 0u);
  auto cr_only = task(dev_a, "?connection_request", "");
  ASSERT_TRUE(cr_only);
  EXPECT_EQ(cr_only->status, 200);
}

TEST_F(genieacs_sim, unique_key_replaces_the_earlier_task) {
  auto body = R"({"name":"reboot","uniqueKey":"saga-1"})";
  ASSERT_EQ(task(dev_a, "", body)->status, 202);
  ASSERT_EQ(task(dev_a, "", body)->status, 202);
  ASSERT_EQ(srv->tasks().size(), 1u);
  EXPECT_EQ(srv->tasks()[0].unique_key, "saga-1");
}

TEST_F(genieacs_sim, deletes_tasks_and_404s_unknown_ones) {
  task(dev_a, "", R"({"name":"reboot"})");
  auto id = srv->tasks().at(0).id;
  auto del = cli->Delete("/tasks/" + id);
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  auto again = cli->Delete("/tasks/" + id);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 404);
  EXPECT_EQ(again->body, "Task not found");
}

TEST_F(genieacs_sim, wrong_methods_get_405_with_allow) {
  auto res = cli->Patch("/devices/" + dev_a, "{}", json);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(res->get_header_value("Allow"), "DELETE");
  auto get_tasks = cli->Get("/devices/" + dev_a + "/tasks");
  ASSERT_TRUE(get_tasks);
  EXPECT_EQ(get_tasks->status, 405);
  EXPECT_EQ(get_tasks->get_header_value("Allow"), "POST");
}

TEST_F(genieacs_sim, presets_and_factory_reset) {
  auto put = cli->Put("/presets/ispflow-default",
                      R"({"weight":0,"precondition":"{}","configurations":[]})",
                      json);
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 200);
  EXPECT_EQ(srv->presets(), std::vector<std::string>{"ispflow-default"});
  ASSERT_EQ(
    task(dev_b_path, "?connection_request", set_ssid("changed"))->status, 200);
  auto reset = task(dev_b_path, "?connection_request",
                    R"({"name":"factoryReset"})");
  ASSERT_TRUE(reset);
  EXPECT_EQ(reset->status, 200);
  EXPECT_EQ(srv->parameter(dev_b, ssid), "ispflow");
}

TEST_F(genieacs_sim, apply_then_reset_queues_the_task_but_drops_the_answer) {
  common::fault_config f;
  f.apply_then_reset = true;
  f.count = 1;
  srv->set_faults(f);
  EXPECT_FALSE(task(dev_a, "", R"({"name":"reboot","uniqueKey":"k"})"));
  EXPECT_EQ(srv->tasks().size(), 1u);
  EXPECT_EQ(task(dev_a, "", R"({"name":"reboot","uniqueKey":"k"})")->status,
            202);
  EXPECT_EQ(srv->tasks().size(), 1u);
}

TEST_F(genieacs_sim, injected_status_and_reset_faults) {
  auto ctl = cli->Post("/_sim/faults", R"({"status":503,"count":1})", json);
  ASSERT_TRUE(ctl);
  EXPECT_EQ(cli->Get("/devices/")->status, 503);
  EXPECT_EQ(cli->Get("/devices/")->status, 200);
  common::fault_config f;
  f.reset = true;
  srv->set_faults(f);
  EXPECT_FALSE(cli->Get("/devices/"));
}

// A look-up by serial number (served from an index) answers every device
// with that serial, in id order, and forgets a deleted one.
TEST_F(genieacs_sim, a_serial_look_up_finds_each_device_of_that_serial) {
  genieacs::device_seed other;
  other.oui = "000001";
  other.product_class = "X1";
  other.serial = "SR552NA084-0003269";
  auto other_id = srv->add_device(other);
  auto look = [&] {
    auto res = cli->Get("/devices/?query=%7B%22_deviceId._SerialNumber%22%3A"
                        "%22SR552NA084-0003269%22%7D&projection=_id");
    std::vector<std::string> ids;
    if (!res || res->status != 200)
      return ids;
    rapidjson::Document d;
    d.Parse(res->body.c_str());
    for (auto& x : d.GetArray())
      ids.emplace_back(x["_id"].GetString());
    return ids;
  };
  EXPECT_EQ(look(), (std::vector<std::string>{other_id, dev_b}));
  auto del = cli->Delete("/devices/" + dev_b_path);
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  EXPECT_EQ(look(), (std::vector<std::string>{other_id}));
  // A query that names no serial still sees every device.
  auto all = cli->Head("/devices/");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->get_header_value("total"), "3");
}

#include "adapters/voltha/device_client.hpp"
#include "events/errc.hpp"
#include "sim/voltha/server.hpp"
#include "tests/support/sockets.hpp"

#include <chrono>
#include <gtest/gtest.h>
#include <httplib.h>
#include <rapidjson/document.h>
#include <thread>

namespace {

using namespace std::chrono_literals;
using namespace ispflow::adapters::voltha;
namespace sim = ispflow::sim::voltha;

// Waits (up to 10 s) until `pred` holds; the simulator's transitions are
// timed, so tests wait for states, never for a duration.
template <class Pred>
bool eventually(Pred pred) {
  auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until) {
    if (pred())
      return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

struct voltha_sim : ::testing::Test {
  std::unique_ptr<sim::server> srv;
  std::unique_ptr<device_client> dc;

  void start(sim::options opts) {
    auto s = sim::server::start(std::move(opts));
    ASSERT_TRUE(s) << ispflow::render_error(s.error());
    srv = std::move(*s);
    auto c
      = device_client::make("127.0.0.1:" + std::to_string(srv->grpc_port()));
    ASSERT_TRUE(c);
    dc = std::move(*c);
  }

  httplib::Client rest(bool auth = true) {
    httplib::Client cli{"127.0.0.1", srv->rest_port()};
    if (auth)
      cli.set_basic_auth("karaf", "karaf");
    return cli;
  }

  std::vector<device> children_of(const std::string& olt) {
    std::vector<device> res;
    for (auto& d : dc->list_devices(2s).value)
      if (d.parent_id == olt && !d.root)
        res.push_back(d);
    return res;
  }
};

TEST_F(voltha_sim, seeds_active_olt_with_active_onus_by_serial) {
  start(sim::options{});
  auto all = dc->list_devices(2s);
  ASSERT_TRUE(all.status.ok());
  ASSERT_EQ(all.value.size(), 5u);
  auto& olt = all.value[0];
  EXPECT_TRUE(olt.root);
  EXPECT_EQ(olt.admin, admin_state::enabled);
  EXPECT_EQ(olt.oper, oper_status::active);
  auto onu = dc->find_onu("BBSM00000001", olt.id, 2s);
  ASSERT_TRUE(onu.status.ok()) << onu.status.message;
  EXPECT_EQ(onu.value.parent_id, olt.id);
  EXPECT_EQ(onu.value.admin, admin_state::enabled);
  EXPECT_EQ(onu.value.oper, oper_status::active);
  EXPECT_EQ(onu.value.connect, connect_status::reachable);
  EXPECT_EQ(onu.value.proxy_device_id, olt.id);
  EXPECT_TRUE(dc->find_onu("BBSM00000004", "", 2s).status.ok());
  EXPECT_EQ(dc->find_onu("BBSM00000005", "", 2s).status.code,
            grpc_code::not_found);
}

TEST_F(voltha_sim, create_enable_discovers_onus_that_become_active) {
  sim::options opts;
  opts.olts = 0;
  opts.onus_per_olt = 2;
  opts.transition_delay = 2s;
  start(opts);
  device want;
  want.type = "openolt";
  want.host_and_port = "10.0.0.9:50060";
  auto created = dc->create_device(want, 2s);
  ASSERT_TRUE(created.status.ok()) << created.status.message;
  auto id = created.value.id;
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(created.value.admin, admin_state::preprovisioned);
  EXPECT_EQ(created.value.oper, oper_status::unknown);
  EXPECT_EQ(created.value.connect, connect_status::unknown);
  auto dup = dc->create_device(want, 2s);
  EXPECT_EQ(dup.status.code, grpc_code::unknown);
  EXPECT_EQ(dup.status.message, "Device is already pre-provisioned");
  ASSERT_TRUE(dc->enable_device(id, 2s).ok());
  auto now = dc->get_device(id, 2s);
  ASSERT_TRUE(now.status.ok());
  EXPECT_EQ(now.value.admin, admin_state::enabled);
  EXPECT_EQ(now.value.oper, oper_status::activating);
  EXPECT_TRUE(children_of(id).empty());
  ASSERT_TRUE(eventually([&] {
    auto d = dc->get_device(id, 2s).value;
    return d.oper == oper_status::active
           && d.connect == connect_status::reachable;
  }));
  auto onus = children_of(id);
  ASSERT_EQ(onus.size(), 2u);
  EXPECT_EQ(onus[0].oper, oper_status::discovered);
  EXPECT_EQ(onus[0].serial_number, "BBSM00000001");
  ASSERT_TRUE(eventually([&] {
    auto c = children_of(id);
    return c.size() == 2 && c[0].oper == oper_status::active
           && c[1].oper == oper_status::active;
  }));
}

TEST_F(voltha_sim, enabling_an_enabled_device_is_a_failed_precondition) {
  start(sim::options{});
  auto onu = dc->find_onu("BBSM00000002", "", 2s).value;
  auto st = dc->enable_device(onu.id, 2s);
  EXPECT_EQ(st.code, grpc_code::failed_precondition);
  EXPECT_NE(st.message.find("already-enabled"), std::string::npos);
}

TEST_F(voltha_sim, disable_enable_and_reboot_an_onu) {
  sim::options opts;
  opts.transition_delay = 50ms;
  start(opts);
  auto id = dc->find_onu("BBSM00000003", "", 2s).value.id;
  ASSERT_TRUE(dc->disable_device(id, 2s).ok());
  EXPECT_EQ(dc->get_device(id, 2s).value.admin, admin_state::disabled);
  EXPECT_EQ(dc->disable_device(id, 2s).code, grpc_code::failed_precondition);
  ASSERT_TRUE(dc->enable_device(id, 2s).ok());
  EXPECT_EQ(dc->get_device(id, 2s).value.admin, admin_state::enabled);
  ASSERT_TRUE(eventually(
    [&] { return dc->get_device(id, 2s).value.oper == oper_status::active; }));
  ASSERT_TRUE(dc->reboot_device(id, 2s).ok());
  ASSERT_TRUE(eventually(
    [&] { return dc->get_device(id, 2s).value.oper == oper_status::active; }));
  EXPECT_EQ(srv->calls("RebootDevice"), 1);
}

TEST_F(voltha_sim, unknown_ids_are_not_found) {
  start(sim::options{});
  EXPECT_EQ(dc->get_device("nope", 2s).status.code, grpc_code::not_found);
  EXPECT_EQ(dc->enable_device("nope", 2s).code, grpc_code::not_found);
  EXPECT_EQ(dc->disable_device("nope", 2s).code, grpc_code::not_found);
  EXPECT_EQ(dc->reboot_device("nope", 2s).code, grpc_code::not_found);
  EXPECT_EQ(dc->delete_device("nope", 2s).code, grpc_code::not_found);
}

TEST_F(voltha_sim, deleting_an_olt_deletes_its_onus) {
  start(sim::options{});
  auto all = dc->list_devices(2s).value;
  ASSERT_TRUE(dc->delete_device(all[0].id, 2s).ok());
  EXPECT_TRUE(dc->list_devices(2s).value.empty());
}

TEST_F(voltha_sim, olt_app_requires_basic_auth) {
  start(sim::options{});
  auto res = rest(false).Post("/onos/olt/oltapp/services/BBSM00000001-1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
}

TEST_F(voltha_sim, olt_app_answers_200_then_204_and_lists_the_subscriber) {
  sim::options opts;
  opts.program_delay = 0ms;
  start(opts);
  auto cli = rest();
  auto path = "/onos/olt/oltapp/services/BBSM00000001-1/900/101/64";
  auto first = cli.Post(path);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  auto again = cli.Post(path);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 204);
  auto list = cli.Get("/onos/olt/oltapp/programmed-subscribers");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->status, 200);
  rapidjson::Document doc;
  doc.Parse(list->body.c_str());
  ASSERT_TRUE(doc.IsObject());
  auto& entries = doc["entries"];
  ASSERT_EQ(entries.Size(), 1u);
  EXPECT_EQ(entries[0]["tagInfo"]["ponSTag"].GetInt(), 900);
  EXPECT_EQ(entries[0]["tagInfo"]["ponCTag"].GetInt(), 101);
  EXPECT_EQ(entries[0]["tagInfo"]["technologyProfileId"].GetInt(), 64);
  auto del = cli.Delete(path);
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  auto del_again = cli.Delete(path);
  ASSERT_TRUE(del_again);
  EXPECT_EQ(del_again->status, 204);
}

// opencord/olt OltWebResource.java: the tagged routes are
// @Consumes(APPLICATION_JSON); Jersey refuses other media types with 415.
TEST_F(voltha_sim, tagged_routes_consume_json_only) {
  sim::options opts;
  opts.program_delay = 0ms;
  start(opts);
  auto cli = rest();
  auto path = "/onos/olt/oltapp/services/BBSM00000001-1/900/101/64";
  auto form = cli.Post(path, "", "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 415);
  EXPECT_EQ(srv->state_json().find("BBSM00000001-1"), std::string::npos);
  auto json = cli.Post(path, "", "application/json; charset=UTF-8");
  ASSERT_TRUE(json);
  EXPECT_EQ(json->status, 200);
  auto none = cli.Delete(path);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 200);
  // The untagged route has no @Consumes.
  auto untagged = cli.Post("/onos/olt/oltapp/services/BBSM00000002-1", "",
                           "application/x-www-form-urlencoded");
  ASSERT_TRUE(untagged);
  EXPECT_EQ(untagged->status, 200);
  EXPECT_EQ(srv->contract_check("tagged_route_refused_415"), 1);
  EXPECT_EQ(
    srv->contract_check("content_type:application/x-www-form-urlencoded"), 1);
  EXPECT_EQ(srv->contract_check("content_type:application/json"), 1);
  EXPECT_EQ(srv->contract_check("content_type:none"), 1);
  rapidjson::Document doc;
  auto state = srv->state_json();
  doc.Parse(state.c_str());
  ASSERT_TRUE(doc.IsObject());
  auto& checks = doc["contract_checks"];
  EXPECT_EQ(checks["tagged_route_refused_415"].GetInt(), 1);
  EXPECT_EQ(checks["tagged_route_content_types"]["application/json"].GetInt(),
            1);
}

// Olt.java: provisionSubscriber(cp) answers "taken in" (200) whatever comes
// of it; provisionSubscriber(cp, cTag, sTag, tpId) answers 204 when no
// uniTag of the SADIS entry has these tags.
TEST_F(voltha_sim, olt_app_answers_are_not_proof_of_programming) {
  sim::options opts;
  opts.program_delay = std::chrono::hours{1};
  start(opts);
  auto cli = rest();
  auto unmatched
    = cli.Post("/onos/olt/oltapp/services/BBSM00000001-1/900/999/64", "",
               "application/json");
  ASSERT_TRUE(unmatched);
  EXPECT_EQ(unmatched->status, 204);
  for (int i = 0; i < 2; ++i) {
    auto res = cli.Post("/onos/olt/oltapp/services/BBSM00000002-1");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
  }
  auto count = [&](const std::string& path) {
    auto list = cli.Get(path);
    EXPECT_TRUE(list);
    if (!list)
      return size_t{0};
    EXPECT_EQ(list->status, 200);
    rapidjson::Document doc;
    doc.Parse(list->body.c_str());
    EXPECT_TRUE(doc.IsObject() && doc["entries"].IsArray()) << list->body;
    return static_cast<size_t>(doc["entries"].Size());
  };
  EXPECT_EQ(count("/onos/olt/oltapp/programmed-subscribers"), 0u);
  srv->program_pending();
  EXPECT_EQ(count("/onos/olt/oltapp/programmed-subscribers"), 1u);
  // Filtered by the connect point ONOS knows from VOLTHA's logical device.
  auto olt = dc->list_devices(2s).value.front();
  auto cp = dc->find_uni_port(olt.id, "BBSM00000002-1", 2s);
  ASSERT_TRUE(cp.status.ok()) << cp.status.message;
  EXPECT_EQ(cp.value.port_no, (2u << 4) | 0u);
  EXPECT_EQ(count(programmed_path(cp.value)), 1u);
  auto other = dc->find_uni_port(olt.id, "BBSM00000001-1", 2s);
  ASSERT_TRUE(other.status.ok()) << other.status.message;
  EXPECT_EQ(count(programmed_path(other.value)), 0u);
  EXPECT_EQ(
    count("/onos/olt/oltapp/programmed-subscribers/" + cp.value.device_id), 1u);
  // Removal: 200, and the entry goes once the flows are being removed.
  auto del = cli.Delete("/onos/olt/oltapp/services/BBSM00000002-1");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  EXPECT_EQ(count(programmed_path(cp.value)), 1u);
  srv->program_pending();
  EXPECT_EQ(count(programmed_path(cp.value)), 0u);
  EXPECT_EQ(srv->contract_check("programmed_subscribers_filtered_reads"), 5);
}

// The olt app's services are looked up by port and by connect point; once
// removed entries go, every other port's entries are still found, and a
// removed port takes a new request again.
TEST_F(voltha_sim, services_of_other_ports_survive_the_removal_of_one) {
  sim::options opts;
  opts.program_delay = 0ms;
  start(opts);
  auto cli = rest();
  std::vector<std::string> serials;
  for (int i = 1; i <= 4; ++i) {
    char serial[32];
    std::snprintf(serial, sizeof serial, "BBSM%08d", i);
    serials.emplace_back(serial);
    auto res = cli.Post("/onos/olt/oltapp/services/" + serials.back() + "-1");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
  }
  auto olt = dc->list_devices(2s).value.front();
  auto listed = [&](const std::string& serial) {
    auto cp = dc->find_uni_port(olt.id, serial + "-1", 2s);
    EXPECT_TRUE(cp.status.ok()) << cp.status.message;
    auto list = cli.Get(programmed_path(cp.value));
    EXPECT_TRUE(list);
    if (!list)
      return std::string{};
    rapidjson::Document doc;
    doc.Parse(list->body.c_str());
    EXPECT_TRUE(doc.IsObject() && doc["entries"].IsArray()) << list->body;
    if (!doc.IsObject() || doc["entries"].Size() != 1)
      return "entries: " + list->body;
    return std::string{doc["entries"][0]["location"].GetString()};
  };
  auto del = cli.Delete("/onos/olt/oltapp/services/" + serials[1] + "-1");
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  srv->program_pending(); // the removed entry goes
  for (size_t i : {0u, 2u, 3u}) {
    auto cp = dc->find_uni_port(olt.id, serials[i] + "-1", 2s);
    ASSERT_TRUE(cp.status.ok()) << cp.status.message;
    EXPECT_EQ(listed(serials[i]),
              cp.value.device_id + "/" + std::to_string(cp.value.port_no))
      << serials[i];
    // Still requested: the tagged route says "already provisioned".
    auto again = cli.Post("/onos/olt/oltapp/services/" + serials[i] + "-1/900/"
                            + std::to_string(100 + i + 1) + "/64",
                          "", "application/json");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 204) << serials[i];
  }
  auto gone = cli.Get(
    programmed_path(dc->find_uni_port(olt.id, serials[1] + "-1", 2s).value));
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->body.find("location"), std::string::npos) << gone->body;
  auto back = cli.Post("/onos/olt/oltapp/services/" + serials[1] + "-1");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->status, 200);
  auto cp = dc->find_uni_port(olt.id, serials[1] + "-1", 2s);
  EXPECT_EQ(listed(serials[1]),
            cp.value.device_id + "/" + std::to_string(cp.value.port_no));
}

// A UNI port exists (in VOLTHA's logical device and so in ONOS) only once
// its ONU has activated.
TEST_F(voltha_sim, uni_ports_exist_only_after_the_onu_activated) {
  sim::options opts;
  opts.transition_delay = 20ms;
  opts.onu_activation_delay = std::chrono::hours{1};
  start(opts);
  device olt;
  olt.type = "openolt";
  olt.host_and_port = "10.0.0.9:50060";
  auto made = dc->create_device(olt, 2s);
  ASSERT_TRUE(made.status.ok());
  ASSERT_TRUE(dc->enable_device(made.value.id, 2s).ok());
  ASSERT_TRUE(
    eventually([&] { return children_of(made.value.id).size() == 4; }));
  auto onu = children_of(made.value.id).front();
  EXPECT_EQ(onu.oper, oper_status::discovered);
  auto port = onu.serial_number + "-1";
  EXPECT_EQ(dc->find_uni_port(made.value.id, port, 2s).status.code,
            grpc_code::not_found);
  auto res = rest().Post("/onos/olt/oltapp/services/" + port);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(res->body, "ConnectPoint not found for " + port);
  // A seeded (active) ONU has its UNIs.
  auto seeded = dc->find_onu("BBSM00000001", "", 2s).value;
  EXPECT_TRUE(
    dc->find_uni_port(seeded.parent_id, "BBSM00000001-4", 2s).status.ok());
  EXPECT_EQ(
    dc->find_uni_port(seeded.parent_id, "BBSM00000001-5", 2s).status.code,
    grpc_code::not_found);
}

TEST_F(voltha_sim, olt_app_rejects_an_unknown_port_with_connect_point_error) {
  start(sim::options{});
  auto res = rest().Post("/onos/olt/oltapp/services/XXXX99999999-1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 500);
  EXPECT_EQ(res->body, "ConnectPoint not found for XXXX99999999-1");
}

TEST_F(voltha_sim, faults_are_set_shown_and_cleared_through_the_control_api) {
  start(sim::options{});
  auto cli = rest(false);
  auto bad = cli.Post("/_sim/faults", R"({"nope":1})", "application/json");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  auto set = cli.Post("/_sim/faults", R"({"grpc_code":14})",
                      "application/json");
  ASSERT_TRUE(set);
  EXPECT_EQ(set->status, 204);
  EXPECT_EQ(dc->list_devices(2s).status.code, grpc_code::unavailable);
  auto state = cli.Get("/_sim/state");
  ASSERT_TRUE(state);
  rapidjson::Document doc;
  doc.Parse(state->body.c_str());
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(doc["faults"]["grpc_code"].GetInt(), 14);
  EXPECT_EQ(doc["devices"].Size(), 5u);
  auto clear = cli.Delete("/_sim/faults");
  ASSERT_TRUE(clear);
  EXPECT_EQ(clear->status, 204);
  EXPECT_TRUE(dc->list_devices(2s).status.ok());
}

TEST_F(voltha_sim, injected_http_status_replaces_the_olt_app_answer) {
  sim::options opts;
  opts.initial_faults.http_status = 503;
  opts.initial_faults.target = "rest";
  start(opts);
  auto res = rest().Post("/onos/olt/oltapp/services/BBSM00000001-1");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_TRUE(dc->list_devices(2s).status.ok());
}

TEST_F(voltha_sim, a_hanging_call_ends_at_the_client_deadline) {
  sim::options opts;
  opts.initial_faults.hang = true;
  start(opts);
  EXPECT_EQ(dc->list_devices(200ms).status.code, grpc_code::deadline_exceeded);
}

// The ONOS REST side answers headers and body in two writes: without
// TCP_NODELAY every answer on a reused connection waits for the client's
// delayed ACK. Its accepted connections have Nagle's algorithm off.
TEST_F(voltha_sim, onos_rest_connections_have_nagle_off) {
  start(sim::options{});
  auto cli = rest();
  cli.set_keep_alive(true);
  auto res = cli.Get("/onos/olt/oltapp/programmed-subscribers");
  ASSERT_TRUE(res);
  auto seen = ispflow::testing::tcp_nodelay_of(
    ispflow::testing::socket_end::accepted, srv->rest_port());
  ASSERT_FALSE(seen.empty()) << "no accepted REST connection found";
  for (int on : seen)
    EXPECT_NE(on, 0);
}

} // namespace

// The UNI ports of one listing answer later look-ups without a call, for
// their max age, and only for the ONU device VOLTHA listed them under.
TEST_F(voltha_sim, remembered_uni_ports_serve_the_same_onu_until_they_age) {
  start(sim::options{});
  auto onu1 = dc->find_onu("BBSM00000001", "", 2s).value;
  auto onu2 = dc->find_onu("BBSM00000002", "", 2s).value;
  ASSERT_FALSE(onu1.id.empty());
  ASSERT_EQ(onu1.parent_id, onu2.parent_id);
  auto olt = onu1.parent_id;
  auto first = dc->find_uni_port(olt, "BBSM00000001-1", 2s, onu1.id, 1h);
  ASSERT_TRUE(first.status.ok()) << first.status.message;
  EXPECT_EQ(srv->calls("ListLogicalDevicePorts"), 1);
  // Another UNI of the same listing: no call, the same answer a read gives.
  auto second = dc->find_uni_port(olt, "BBSM00000002-1", 2s, onu2.id, 1h);
  ASSERT_TRUE(second.status.ok());
  EXPECT_EQ(srv->calls("ListLogicalDevicePorts"), 1);
  auto read = dc->find_uni_port(olt, "BBSM00000002-1", 2s);
  EXPECT_EQ(srv->calls("ListLogicalDevicePorts"), 2);
  EXPECT_EQ(second.value, read.value);
  EXPECT_NE(first.value.port_no, second.value.port_no);
  // A port listed for another ONU device (a re-discovered ONU) is read.
  EXPECT_TRUE(
    dc->find_uni_port(olt, "BBSM00000001-1", 2s, onu2.id, 1h).status.ok());
  EXPECT_EQ(srv->calls("ListLogicalDevicePorts"), 3);
  // A port the listing did not have is read, and still not found.
  EXPECT_EQ(
    dc->find_uni_port(olt, "BBSM00000001-5", 2s, onu1.id, 1h).status.code,
    grpc_code::not_found);
  EXPECT_EQ(srv->calls("ListLogicalDevicePorts"), 4);
  // Past the max age, the ports are listed again.
  std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(
    dc->find_uni_port(olt, "BBSM00000001-1", 2s, onu1.id, 10ms).status.ok());
  EXPECT_EQ(srv->calls("ListLogicalDevicePorts"), 5);
  EXPECT_EQ(dc->port_listings(), 5u);
}

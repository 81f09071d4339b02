#include "actors/drift/compare.hpp"

#include <gtest/gtest.h>

using namespace ispflow::actors::drift;

namespace {

desired_subscriber active_ftth() {
  desired_subscriber d;
  d.tenant_id = "t1";
  d.subscriber_id = "sub-1";
  d.state = "active";
  d.service_type = "ftth";
  d.plan_id = "p100";
  d.plan_group = "t1.p100";
  d.radius_username = "sub-1@demo.example";
  d.walled_garden_group = "walled_garden";
  d.ip_address = "100.64.0.9";
  d.onu_id = "onu-1";
  d.onu_serial = "BBSM00000001";
  d.cpe_id = "00259E-HG8245-0001";
  return d;
}

observation matching() {
  observation o;
  o.radius = radius_observed{true, false, {"t1.p100"}, 1, false, {}};
  o.netbox = netbox_observed{{"100.64.0.9"}};
  o.voltha = onu_observed{true, "ENABLED", "ACTIVE", ""};
  o.genieacs = cpe_observed{true, "sub-1@demo.example", {}};
  return o;
}

std::vector<std::string> kinds_of(const std::vector<finding>& xs) {
  std::vector<std::string> out;
  for (const auto& x : xs)
    out.push_back(x.kind);
  return out;
}

using strings = std::vector<std::string>;

} // namespace

TEST(drift_compare, a_matching_subscriber_has_no_findings) {
  EXPECT_TRUE(compare(active_ftth(), matching()).empty());
}

TEST(drift_compare, only_active_and_suspended_subscribers_are_compared) {
  observation empty_systems;
  empty_systems.radius = radius_observed{};
  empty_systems.netbox = netbox_observed{};
  for (auto state : {"none", "terminated", "unknown"}) {
    auto d = active_ftth();
    d.state = state;
    EXPECT_TRUE(compare(d, empty_systems).empty()) << state;
  }
}

TEST(drift_compare, systems_not_observed_are_not_compared) {
  EXPECT_TRUE(compare(active_ftth(), observation{}).empty());
}

TEST(drift_compare, missing_rows_and_objects_are_reported_per_system) {
  observation o;
  o.radius = radius_observed{};
  o.netbox = netbox_observed{};
  o.voltha = onu_observed{};
  o.genieacs = cpe_observed{};
  auto got = compare(active_ftth(), o);
  EXPECT_EQ(kinds_of(got), (strings{"radius_user_missing", "netbox_ip_missing",
                                    "onu_missing", "cpe_missing"}));
  EXPECT_EQ(got[0].system, "radius");
  EXPECT_EQ(got[1].system, "netbox");
  EXPECT_EQ(got[2].system, "voltha");
  EXPECT_EQ(got[3].system, "genieacs");
}

TEST(drift_compare, an_active_subscriber_in_another_group_has_a_plan_mismatch) {
  auto o = matching();
  o.radius->groups = {"t1.p50"};
  auto got = compare(active_ftth(), o);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], (finding{"radius", "radius_plan_mismatch", "group t1.p100",
                             "group t1.p50"}));
}

TEST(drift_compare, an_active_subscriber_that_is_denied_is_not_active) {
  auto o = matching();
  o.radius->rejected = true;
  EXPECT_EQ(kinds_of(compare(active_ftth(), o)), strings{"radius_not_active"});
  o = matching();
  o.radius->groups = {"walled_garden"};
  EXPECT_EQ(kinds_of(compare(active_ftth(), o)), strings{"radius_not_active"});
}

TEST(drift_compare, a_suspended_subscriber_must_be_denied_and_offline) {
  auto d = active_ftth();
  d.state = "suspended";
  auto o = matching(); // not rejected, one open session
  EXPECT_EQ(kinds_of(compare(d, o)),
            (strings{"radius_not_suspended", "session_after_suspend"}));
  o.radius->rejected = true;
  o.radius->open_sessions = 0;
  EXPECT_TRUE(compare(d, o).empty());
}

TEST(drift_compare, walled_garden_suspension_is_judged_by_group) {
  auto d = active_ftth();
  d.state = "suspended";
  d.suspend_policy = "walled_garden";
  auto o = matching();
  o.radius->open_sessions = 0;
  EXPECT_EQ(kinds_of(compare(d, o)), strings{"radius_not_suspended"});
  o.radius->groups = {"walled_garden"};
  EXPECT_TRUE(compare(d, o).empty());
}

TEST(drift_compare, another_address_of_the_subscriber_is_a_mismatch) {
  auto o = matching();
  o.netbox->addresses = {"100.64.0.10"};
  auto got = compare(active_ftth(), o);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], (finding{"netbox", "netbox_ip_mismatch", "100.64.0.9",
                             "100.64.0.10"}));
}

TEST(drift_compare, onu_state_follows_the_subscriber_state_and_policy) {
  auto o = matching();
  o.voltha->admin_state = "DISABLED";
  EXPECT_EQ(kinds_of(compare(active_ftth(), o)), strings{"onu_state_mismatch"});
  auto d = active_ftth();
  d.state = "suspended";
  o.radius->rejected = true;
  o.radius->open_sessions = 0;
  // Without the policy a suspension leaves the ONU enabled.
  EXPECT_EQ(kinds_of(compare(d, o)), strings{"onu_state_mismatch"});
  d.suspend_disables_onu = true;
  EXPECT_TRUE(compare(d, o).empty());
}

TEST(drift_compare, a_replaced_onu_is_told_from_a_missing_one) {
  auto o = matching();
  o.voltha = onu_observed{false, "", "", "onu-2"};
  auto got = compare(active_ftth(), o);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].kind, "onu_replaced");
  EXPECT_EQ(got[0].observed, "onu onu-2");
}

TEST(drift_compare, voltha_is_checked_for_ftth_only) {
  auto d = active_ftth();
  d.service_type = "wireless";
  auto o = matching();
  o.voltha = onu_observed{};
  EXPECT_TRUE(compare(d, o).empty());
}

TEST(drift_compare, a_factory_reset_cpe_has_a_parameter_mismatch) {
  auto o = matching();
  o.genieacs->pppoe_username.clear();
  auto got = compare(active_ftth(), o);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].kind, "cpe_param_mismatch");
  EXPECT_EQ(got[0].observed, "pppoe username unset");
}

TEST(drift_compare, missing_cpe_tags_are_reported_once) {
  auto d = active_ftth();
  d.cpe_tags = {"ispflow", "t1"};
  auto o = matching();
  o.genieacs->tags = {"t1"};
  EXPECT_EQ(kinds_of(compare(d, o)), strings{"cpe_tag_mismatch"});
  o.genieacs->tags = {"t1", "ispflow", "other"};
  EXPECT_TRUE(compare(d, o).empty());
}

TEST(drift_compare, every_kind_has_a_system) {
  for (auto k : all_kinds())
    EXPECT_FALSE(system_of_kind(k).empty()) << k;
  EXPECT_TRUE(system_of_kind("nonsense").empty());
}

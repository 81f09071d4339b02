#include "adapters/radius/protocol/dictionary.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>

using namespace ispflow::adapters::radius;

namespace {

const char* system_dictionary = "/usr/share/freeradius/dictionary";

const dictionary& full() {
  static dictionary d = [] {
    auto r = dictionary::load(system_dictionary);
    if (!r)
      return dictionary{};
    return std::move(*r);
  }();
  return d;
}

} // namespace

TEST(radius_dictionary, loads_the_freeradius_tree_with_all_includes) {
  auto start = std::chrono::steady_clock::now();
  auto d = dictionary::load(system_dictionary);
  auto ms = std::chrono::duration<double, std::milli>(
              std::chrono::steady_clock::now() - start)
              .count();
  ASSERT_TRUE(d) << to_string(d.error());
  std::printf("loaded %zu files, %zu attributes, %zu values, %zu vendors in "
              "%.1f ms\n",
              d->file_count(), d->attribute_count(), d->value_count(),
              d->vendor_count(), ms);
  EXPECT_GT(d->file_count(), 100u);
  EXPECT_GT(d->attribute_count(), 5000u);
  EXPECT_GT(d->vendor_count(), 150u);
}

TEST(radius_dictionary,
     finds_standard_and_vendor_attributes_by_name_and_number) {
  auto& d = full();
  auto* un = d.find("user-name");
  ASSERT_NE(un, nullptr);
  EXPECT_EQ(un->type, 1u);
  EXPECT_EQ(un->kind, data_type::string);
  auto* pw = d.find("User-Password");
  ASSERT_NE(pw, nullptr);
  EXPECT_EQ(pw->encrypt, 1);
  auto* rate = d.find("Mikrotik-Rate-Limit");
  ASSERT_NE(rate, nullptr);
  EXPECT_EQ(rate->vendor, 14988u);
  EXPECT_EQ(rate->type, 8u);
  EXPECT_EQ(d.find(14988, 8), rate);
  EXPECT_EQ(d.find(0, 101)->name, "Error-Cause");
  auto* tunnel = d.find("Tunnel-Password");
  ASSERT_NE(tunnel, nullptr);
  EXPECT_TRUE(tunnel->has_tag);
  EXPECT_EQ(tunnel->encrypt, 2);
  auto* erx = d.find("ERX-Ingress-Policy-Name");
  ASSERT_NE(erx, nullptr);
  EXPECT_EQ(erx->vendor, 4874u);
  EXPECT_EQ(erx->type, 10u);
  EXPECT_EQ(d.find("Cisco-AVPair")->vendor, 9u);
  EXPECT_EQ(d.find("Ispflow-Not-An-Attribute"), nullptr);
}

TEST(radius_dictionary, reads_vendor_formats) {
  auto& d = full();
  auto* usr = d.find_vendor("USR");
  ASSERT_NE(usr, nullptr);
  EXPECT_EQ(usr->format.type_size, 4);
  EXPECT_EQ(usr->format.length_size, 0);
  EXPECT_EQ(d.format_of(8164).type_size, 2);
  EXPECT_EQ(d.format_of(14988).type_size, 1);
  EXPECT_EQ(d.find_vendor(uint32_t{14988})->name, "Mikrotik");
}

TEST(radius_dictionary, maps_value_names_both_ways) {
  auto& d = full();
  EXPECT_EQ(d.value_of("Error-Cause", "Session-Context-Not-Found"), 503u);
  EXPECT_EQ(d.value_of("Acct-Status-Type", "Interim-Update"), 3u);
  EXPECT_EQ(d.value_name("Acct-Terminate-Cause", 6), "Admin-Reset");
  EXPECT_EQ(d.value_of("Error-Cause", "Nope"), std::nullopt);
}

TEST(radius_dictionary, builds_and_formats_typed_values) {
  auto& d = full();
  auto ip = d.make("Framed-IP-Address", "10.20.30.40");
  ASSERT_TRUE(ip);
  EXPECT_EQ(ip->value, (std::vector<uint8_t>{10, 20, 30, 40}));
  EXPECT_EQ(d.format(*ip), "10.20.30.40");
  auto st = d.make("Acct-Status-Type", "Start");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->as_u32(), 1u);
  EXPECT_EQ(d.format(*st), "Start");
  auto to = d.make("Session-Timeout", "3600");
  ASSERT_TRUE(to);
  EXPECT_EQ(d.format(*to), "3600");
  auto rate = d.make("Mikrotik-Rate-Limit", "10M/25M");
  ASSERT_TRUE(rate);
  EXPECT_EQ(rate->vendor, 14988u);
  EXPECT_EQ(d.name_of(*rate), "Mikrotik-Rate-Limit");
  auto v6 = d.make("Framed-IPv6-Prefix", "2001:db8::/48");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->value.size(), 8u);
  EXPECT_EQ(d.format(*v6), "2001:db8::/48");
  auto cls = d.make("Class", "0x0102ff");
  ASSERT_TRUE(cls);
  EXPECT_EQ(cls->value, (std::vector<uint8_t>{1, 2, 255}));
  EXPECT_FALSE(d.make("Framed-IP-Address", "10.0.0"));
  EXPECT_FALSE(d.make("Session-Timeout", "soon"));
  EXPECT_FALSE(d.make("Unknown-Attr", "x"));
}

TEST(radius_dictionary, parses_text_with_vendor_blocks_and_reports_bad_lines) {
  auto d = dictionary::parse("VENDOR Acme 999 format=2,1\n"
                             "BEGIN-VENDOR Acme\n"
                             "ATTRIBUTE Acme-Rate 300 string\n"
                             "ATTRIBUTE Acme-Level 2 integer\n"
                             "END-VENDOR Acme\n"
                             "VALUE Acme-Level Gold 3\n"
                             "ATTRIBUTE Plain 240 octets[4]\n");
  ASSERT_TRUE(d) << to_string(d.error());
  EXPECT_EQ(d->find("acme-rate")->vendor, 999u);
  EXPECT_EQ(d->find(999, 300)->name, "Acme-Rate");
  EXPECT_EQ(d->format_of(999).type_size, 2);
  EXPECT_EQ(d->make("Acme-Level", "Gold")->as_u32(), 3u);
  EXPECT_EQ(d->find("Plain")->fixed_size, 4u);
  EXPECT_FALSE(d->make("Plain", "0x01"));
  auto bad = dictionary::parse("ATTRIBUTE X 1 nosuchtype\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(to_string(bad.error()).find("<text>:1"), std::string::npos);
  EXPECT_FALSE(dictionary::parse("BEGIN-VENDOR Missing\n"));
  EXPECT_FALSE(dictionary::parse("$INCLUDE /nonexistent/dictionary.x\n"));
  EXPECT_TRUE(dictionary::parse("$INCLUDE- /nonexistent/dictionary.x\n"));
}

TEST(radius_dictionary, later_definitions_win_for_number_lookup) {
  auto d = dictionary::parse("ATTRIBUTE Old-Name 200 string\n"
                             "ATTRIBUTE New-Name 200 string\n");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->find(0, 200)->name, "New-Name");
  EXPECT_NE(d->find("Old-Name"), nullptr);
}

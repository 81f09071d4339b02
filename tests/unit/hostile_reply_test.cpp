// Adapter replies parsed with events::json::parse_bounded: a reply nested a
// million levels deep (a broken or hostile server) is refused like any other
// unreadable body instead of overflowing the stack.

#include "adapters/awx/protocol.hpp"
#include "adapters/genieacs/wire.hpp"
#include "adapters/netbox/wire.hpp"
#include "events/errc.hpp"

#include <gtest/gtest.h>
#include <string>

namespace {

std::string deep_reply() {
  constexpr size_t depth = 1'000'000;
  return R"({"results":)" + std::string(depth, '[') + std::string(depth, ']')
         + "}";
}

TEST(hostile_reply, netbox_deep_reply_is_unreadable) {
  EXPECT_FALSE(ispflow::adapters::netbox::parse_addresses(deep_reply()));
  EXPECT_FALSE(ispflow::adapters::netbox::parse_address(deep_reply()));
}

TEST(hostile_reply, genieacs_deep_reply_is_unreadable) {
  EXPECT_FALSE(ispflow::adapters::genieacs::parse_ids(deep_reply()));
  EXPECT_FALSE(ispflow::adapters::genieacs::first_fault(deep_reply()));
}

TEST(hostile_reply, awx_deep_reply_is_a_permanent_invalid_input) {
  auto job = ispflow::adapters::awx::parse_job(deep_reply());
  ASSERT_FALSE(job);
  EXPECT_EQ(job.error(), ispflow::errc::invalid_input);
}

} // namespace

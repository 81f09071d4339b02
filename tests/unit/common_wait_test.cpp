#include "common/doorbell.hpp"
#include "common/wait.hpp"

#include <gtest/gtest.h>
#include <limits>
#include <thread>

namespace {

using namespace std::chrono_literals;
using ispflow::common::millis_between;

const auto t0 = std::chrono::steady_clock::time_point{} + 1h;

TEST(common_wait, a_fraction_of_a_millisecond_left_is_one_not_zero) {
  EXPECT_EQ(millis_between(t0, t0 + 300us), 1);
  EXPECT_EQ(millis_between(t0, t0 + 1ns), 1);
  EXPECT_EQ(millis_between(t0, t0 + 4700us), 5);
}

TEST(common_wait, whole_milliseconds_stay_as_they_are) {
  EXPECT_EQ(millis_between(t0, t0 + 5ms), 5);
  EXPECT_EQ(millis_between(t0, t0 + 2s), 2000);
}

TEST(common_wait, a_passed_deadline_is_zero) {
  EXPECT_EQ(millis_between(t0, t0), 0);
  EXPECT_EQ(millis_between(t0 + 1ms, t0), 0);
  EXPECT_EQ(millis_between(t0 + 10s, t0, 50), 0);
}

TEST(common_wait, the_cap_bounds_the_wait) {
  EXPECT_EQ(millis_between(t0, t0 + 10s, 100), 100);
  EXPECT_EQ(millis_between(t0, t0 + 99500us, 100), 100);
  // 30 days of milliseconds do not fit an int: the int's largest.
  EXPECT_EQ(millis_between(t0, t0 + 24h * 30), std::numeric_limits<int>::max());
}

TEST(common_doorbell, a_ring_before_the_wait_is_not_lost) {
  ispflow::common::doorbell bell;
  bell.ring();
  bell.ring();
  // Both rings are answered by one wait, which returns at once (a timeout
  // of an hour would hang the test otherwise).
  EXPECT_TRUE(bell.wait_for(1h));
  EXPECT_FALSE(bell.wait_for(1ms));
}

TEST(common_doorbell, a_ring_from_another_thread_ends_the_wait) {
  ispflow::common::doorbell bell;
  std::thread writer{[&] {
    std::this_thread::sleep_for(20ms);
    bell.ring();
  }};
  EXPECT_TRUE(bell.wait_for(1h));
  writer.join();
}

} // namespace

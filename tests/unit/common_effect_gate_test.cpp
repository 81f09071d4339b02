#include "common/effect_gate.hpp"

#include <gtest/gtest.h>

using namespace std::chrono_literals;
namespace gate = ispflow::common::effect_gate;

// Unarmed (no partition keeper) the gate is open; once armed it is open
// only until the last renewal's bound, and never during a hold.
TEST(effect_gate, opens_only_while_renewed_and_not_held) {
  gate::disarm();
  auto t0 = gate::clock::now();
  EXPECT_TRUE(gate::open(t0));
  EXPECT_TRUE(gate::open(t0 + 24h));
  gate::renew(t0 + 10s);
  EXPECT_TRUE(gate::open(t0 + 9s));
  EXPECT_FALSE(gate::open(t0 + 10s));
  // A hold closes it whatever the renewals say, until the hold's end.
  gate::hold(t0 + 5s);
  EXPECT_FALSE(gate::open(t0 + 1s));
  EXPECT_TRUE(gate::open(t0 + 6s));
  // A shorter hold does not shorten a longer one.
  gate::hold(t0 + 2s);
  EXPECT_FALSE(gate::open(t0 + 4s));
  gate::renew(t0 + 60s);
  EXPECT_FALSE(gate::open(t0 + 4s));
  EXPECT_TRUE(gate::open(t0 + 30s));
  gate::disarm();
  EXPECT_TRUE(gate::open(t0 + 1s));
  EXPECT_TRUE(gate::open(t0 + 24h));
}

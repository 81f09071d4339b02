#include "adapters/voltha/device_client.hpp"
#include "adapters/voltha/grpc_runtime.hpp"
#include "sim/voltha/server.hpp"

#include <absl/synchronization/mutex.h>
#include <cstdlib>
#include <gtest/gtest.h>

// The gRPC runtime's set-up, in child processes (death tests): each starts
// with abseil's own default, which in Debian's build (no NDEBUG) aborts on
// the first lock-order cycle it sees. The client's and the simulator's
// start-up both set it up (the simulator on loopback ports the OS picks).

using namespace ispflow::adapters::voltha;

namespace {

// Takes two mutexes in one order, then in the other, on one thread: a
// lock-order cycle that can never deadlock here.
void lock_in_both_orders() {
  absl::Mutex a;
  absl::Mutex b;
  a.Lock();
  b.Lock();
  b.Unlock();
  a.Unlock();
  b.Lock();
  a.Lock();
  a.Unlock();
  b.Unlock();
}

class voltha_grpc_runtime : public testing::Test {
protected:
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
  }
};

} // namespace

TEST_F(voltha_grpc_runtime, a_lock_order_cycle_does_not_end_the_process) {
  EXPECT_EXIT(
    {
      prepare_grpc_runtime();
      lock_in_both_orders();
      std::_Exit(0);
    },
    testing::ExitedWithCode(0), "");
}

TEST_F(voltha_grpc_runtime, making_a_device_client_prepares_the_runtime) {
  EXPECT_EXIT(
    {
      auto made = device_client::make("127.0.0.1:1", client_options{});
      if (!made)
        std::_Exit(2);
      lock_in_both_orders();
      std::_Exit(0);
    },
    testing::ExitedWithCode(0), "");
}

TEST_F(voltha_grpc_runtime, starting_the_simulator_prepares_the_runtime) {
  EXPECT_EXIT(
    {
      auto sim = ispflow::sim::voltha::server::start({});
      if (!sim)
        std::_Exit(2);
      lock_in_both_orders();
      std::_Exit(0);
    },
    testing::ExitedWithCode(0), "");
}

#include "actors/deadline_watch.hpp"
#include "actors/saga_router.hpp"
#include "actors/saga_store.hpp"
#include "events/type_ids.hpp"
#include "sagas/lifecycle_sagas.hpp"
#include "tests/support/fake_adapter.hpp"
#include "tests/support/forwarding_store.hpp"

#include <atomic>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <chrono>
#include <condition_variable>
#include <future>
#include <gtest/gtest.h>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace {

using namespace ispflow;
using namespace std::chrono_literals;
using actors::deadline_watch;
using clock_type = deadline_watch::clock_type;

// What fired, in order, and a way to wait for it.
struct fired_log {
  std::mutex mx;
  std::condition_variable cv;
  std::vector<std::string> names;

  std::function<void()> entry(std::string name) {
    return [this, name = std::move(name)] {
      {
        std::lock_guard<std::mutex> guard{mx};
        names.push_back(name);
      }
      cv.notify_all();
    };
  }

  // Waits (up to 5 s) until `n` fired; what fired by then.
  std::vector<std::string> wait_for(size_t n) {
    std::unique_lock<std::mutex> lock{mx};
    cv.wait_for(lock, 5s, [&] { return names.size() >= n; });
    return names;
  }
};

TEST(deadline_watch, deadlines_fire_in_the_order_they_fall_due) {
  deadline_watch watch;
  fired_log log;
  auto now = clock_type::now();
  watch.arm(now + 60ms, log.entry("c"));
  watch.arm(now + 20ms, log.entry("a"));
  watch.arm(now + 40ms, log.entry("b"));
  EXPECT_EQ(log.wait_for(3), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(watch.armed(), 0u);
}

TEST(deadline_watch, a_disarmed_deadline_never_fires) {
  deadline_watch watch;
  fired_log log;
  auto now = clock_type::now();
  auto early = watch.arm(now + 20ms, log.entry("disarmed"));
  auto late = watch.arm(now + 80ms, log.entry("kept"));
  EXPECT_TRUE(watch.disarm(early));
  EXPECT_FALSE(watch.disarm(early)) << "disarmed twice";
  // Once the later one fired, the earlier one would have too.
  EXPECT_EQ(log.wait_for(1), (std::vector<std::string>{"kept"}));
  EXPECT_FALSE(watch.disarm(late)) << "fired, yet disarmed";
  EXPECT_EQ(watch.armed(), 0u);
}

// The point of the watch: a request bounded like the ones before it arms a
// deadline without waking the thread, and disarming wakes nothing either.
TEST(deadline_watch, arming_after_the_earliest_deadline_wakes_nothing) {
  deadline_watch watch;
  fired_log log;
  auto now = clock_type::now();
  watch.arm(now + 1h, log.entry("first"));
  // Let the thread go to sleep until the first deadline.
  std::this_thread::sleep_for(50ms);
  auto before = watch.wakeups();
  std::vector<uint64_t> ids;
  for (int i = 0; i < 1000; ++i)
    ids.push_back(watch.arm(now + 1h + std::chrono::milliseconds{i + 1},
                            log.entry("later")));
  for (auto id : ids)
    EXPECT_TRUE(watch.disarm(id));
  std::this_thread::sleep_for(50ms);
  // A condition variable may wake spuriously now and then; 2,000 arms and
  // disarms woke the clock thread of CAF about 1,000 times.
  EXPECT_LE(watch.wakeups() - before, 2u);
  EXPECT_EQ(watch.armed(), 1u);
  // One due before every armed one does wake it, and fires.
  watch.arm(clock_type::now() + 10ms, log.entry("soon"));
  EXPECT_EQ(log.wait_for(1), (std::vector<std::string>{"soon"}));
  EXPECT_GT(watch.wakeups(), before);
}

// A fire may drop the last reference to the watch (an actor holding it
// ends): the watch is then destroyed on its own thread, which must end
// instead of joining itself.
TEST(deadline_watch, a_watch_may_be_destroyed_by_its_own_fire) {
  auto watch = std::make_shared<deadline_watch>();
  auto holder = std::make_shared<std::shared_ptr<deadline_watch>>(watch);
  std::promise<void> done;
  auto ended = done.get_future();
  watch->arm(clock_type::now() + 10ms, [holder, &done] {
    holder->reset();
    done.set_value();
  });
  watch.reset();
  ASSERT_EQ(ended.wait_for(5s), std::future_status::ready);
}

// -- saga actors with the watch -------------------------------------------

// A saga store that leaves the first save unanswered until it is told
// (gc_flush_atom), then answers it as if it had been written; everything
// else, and every later save, goes to the memory store.
struct holding_store_state {
  actors::saga_store_actor inner;
  std::shared_ptr<std::atomic<int>> saves;
  bool held_one = false;
  caf::typed_response_promise<uint64_t> held;
};

actors::saga_store_actor::behavior_type holding_store(
  actors::saga_store_actor::stateful_pointer<holding_store_state> self,
  actors::saga_store_actor inner, std::shared_ptr<std::atomic<int>> saves) {
  namespace pg = adapters::postgres;
  self->state.inner = std::move(inner);
  self->state.saves = std::move(saves);
  return std::apply(
    [&](auto... forwards) {
      return actors::saga_store_actor::behavior_type{
        [self](save_atom,
               std::vector<pg::saga_write>& batch) -> caf::result<uint64_t> {
          auto& st = self->state;
          ++*st.saves;
          if (!st.held_one) {
            st.held_one = true;
            st.held = self->make_response_promise<uint64_t>();
            return st.held;
          }
          return self->delegate(st.inner, save_atom_v, std::move(batch));
        },
        [self](next_atom, pg::startable_query& q) {
          return self->delegate(self->state.inner, next_atom_v, std::move(q));
        },
        forwards...,
        [self](gc_flush_atom) {
          auto& st = self->state;
          if (st.held.pending())
            st.held.deliver(uint64_t{1});
        },
      };
    },
    ispflow::testing::forwarded_reads(self));
}

// A saga whose first write gets no answer within the store bound writes
// it again and completes; the late answer of the first is dropped, and no
// deadline is left armed.
TEST(saga_deadlines, a_write_without_an_answer_in_time_is_written_again) {
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::ispflow>();
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  sagas::saga_registry registry;
  ASSERT_FALSE(sagas::register_lifecycle_sagas(registry).has_value());
  auto db = std::make_shared<actors::memory_saga_db>();
  db->registry = &registry;
  adapters::postgres::startable_event ev;
  ev.source = "billing";
  ev.event_id = "ev-1";
  ev.type = "billing.subscription.activated";
  ev.tenant_id = "t1";
  ev.subscriber_id = "s1";
  ev.payload = R"({"service_type":"ftth","plan_id":"p100",)"
               R"("access":{"onu_serial":"ALCL1"}})";
  ev.partition = 0;
  db->add_event(std::move(ev));
  auto fake = std::make_shared<ispflow::testing::fake_adapter_state>();
  auto fake_actor = ispflow::testing::spawn_fake_adapter(sys, fake);
  auto saves = std::make_shared<std::atomic<int>>(0);
  auto inner = actors::spawn_memory_saga_store(sys, db);
  auto store = sys.spawn(holding_store, inner, saves);
  auto watch = std::make_shared<deadline_watch>();
  std::promise<sagas::saga_instance> finished;
  auto final_state = finished.get_future();
  std::atomic<int> finishes{0};
  actors::saga_router_settings rs;
  rs.registry = &registry;
  rs.store = store;
  using sagas::target_system;
  for (auto s :
       {target_system::radius, target_system::netbox, target_system::voltha,
        target_system::genieacs, target_system::awx})
    rs.adapters.set_actor(s, fake_actor);
  rs.adapters.set_tenant("t1", sagas::full_tenant_profile());
  rs.store_timeout = 200ms;
  rs.write_retry = 10ms;
  rs.deadlines = watch;
  rs.seed = 42;
  rs.on_saga_finished = [&](const sagas::saga_instance& inst) {
    if (finishes++ == 0)
      finished.set_value(inst);
  };
  auto router = actors::spawn_saga_router(sys, std::move(rs));
  // Whatever happens below, the actors end, so that the actor system can.
  struct stop_all {
    std::vector<caf::actor> actors;
    ~stop_all() {
      for (auto& a : actors)
        caf::anon_send_exit(a, caf::exit_reason::kill);
    }
  } stopper{{caf::actor_cast<caf::actor>(router),
             caf::actor_cast<caf::actor>(store),
             caf::actor_cast<caf::actor>(inner),
             caf::actor_cast<caf::actor>(fake_actor)}};
  ASSERT_EQ(final_state.wait_for(10s), std::future_status::ready);
  auto inst = final_state.get();
  EXPECT_EQ(inst.state, sagas::saga_state::completed);
  // The held write, then the same again and the saga's later writes.
  EXPECT_GE(saves->load(), 2);
  // The first write's answer, long after its deadline: dropped.
  caf::anon_send(store, gc_flush_atom_v);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(finishes.load(), 1);
  EXPECT_EQ(watch->armed(), 0u);
}

} // namespace

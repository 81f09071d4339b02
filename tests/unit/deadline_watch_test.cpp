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
#include <functional>
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

// A saga store that leaves the first save (or the first startable query)
// unanswered until it is told (gc_flush_atom), then answers it: a save as
// if it had been written, a query with what the store answered when it was
// asked. Everything else goes to the memory store.
enum class held_request { first_save, first_query, none };

struct holding_store_state {
  actors::saga_store_actor inner;
  std::shared_ptr<std::atomic<int>> saves;
  held_request what = held_request::first_save;
  bool held_one = false;
  caf::typed_response_promise<uint64_t> held_save;
  caf::typed_response_promise<std::vector<adapters::postgres::startable_event>>
    held_query;
  std::vector<adapters::postgres::startable_event> stale;
};

actors::saga_store_actor::behavior_type holding_store(
  actors::saga_store_actor::stateful_pointer<holding_store_state> self,
  actors::saga_store_actor inner, std::shared_ptr<std::atomic<int>> saves,
  held_request what) {
  namespace pg = adapters::postgres;
  self->state.inner = std::move(inner);
  self->state.saves = std::move(saves);
  self->state.what = what;
  return std::apply(
    [&](auto... forwards) {
      return actors::saga_store_actor::behavior_type{
        [self](save_atom,
               std::vector<pg::saga_write>& batch) -> caf::result<uint64_t> {
          auto& st = self->state;
          ++*st.saves;
          if (st.what == held_request::first_save && !st.held_one) {
            st.held_one = true;
            st.held_save = self->make_response_promise<uint64_t>();
            return st.held_save;
          }
          return self->delegate(st.inner, save_atom_v, std::move(batch));
        },
        [self](next_atom, pg::startable_query& q)
          -> caf::result<std::vector<pg::startable_event>> {
          auto& st = self->state;
          if (st.what != held_request::first_query || st.held_one)
            return self->delegate(st.inner, next_atom_v, std::move(q));
          st.held_one = true;
          st.held_query
            = self->make_response_promise<std::vector<pg::startable_event>>();
          self->request(st.inner, caf::infinite, next_atom_v, std::move(q))
            .then([self](std::vector<pg::startable_event>& events) {
              self->state.stale = std::move(events);
            });
          return st.held_query;
        },
        forwards...,
        [self](gc_flush_atom) {
          auto& st = self->state;
          if (st.held_save.pending())
            st.held_save.deliver(uint64_t{1});
          if (st.held_query.pending())
            st.held_query.deliver(std::move(st.stale));
        },
      };
    },
    ispflow::testing::forwarded_reads(self));
}

// A router and its saga actors over `store`, bounded by `watch` (store
// requests 200 ms), with every system faked; `finished` hears of the first
// saga that ends, `finishes` counts them.
struct watched_engine {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  sagas::saga_registry registry;
  std::shared_ptr<actors::memory_saga_db> db
    = std::make_shared<actors::memory_saga_db>();
  std::shared_ptr<std::atomic<int>> saves
    = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<deadline_watch> watch = std::make_shared<deadline_watch>();
  std::promise<sagas::saga_instance> finished;
  std::atomic<int> finishes{0};
  std::vector<caf::actor> actors;

  /// `linger`: the router's write_linger; `script` sets up the fake
  /// adapter before the engine starts.
  explicit watched_engine(
    held_request what,
    std::chrono::milliseconds linger
    = actors::saga_router_settings{}.write_linger,
    std::function<void(ispflow::testing::fake_adapter_state&)> script = {}) {
    cfg.add_message_types<caf::id_block::ispflow>();
    cfg.set("scheduler.max-threads", 2);
    sys = std::make_unique<caf::actor_system>(cfg);
    EXPECT_FALSE(sagas::register_lifecycle_sagas(registry).has_value());
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
    if (script)
      script(*fake);
    auto fake_actor = ispflow::testing::spawn_fake_adapter(*sys, fake);
    auto inner = actors::spawn_memory_saga_store(*sys, db);
    store = sys->spawn(holding_store, inner, saves, what);
    actors::saga_router_settings rs;
    rs.registry = &registry;
    rs.store = store;
    ispflow::testing::fake_every_system(rs.adapters, fake_actor);
    rs.adapters.set_tenant("t1", sagas::full_tenant_profile());
    rs.store_timeout = 200ms;
    rs.write_retry = 10ms;
    rs.poll_interval = 100ms;
    rs.deadlines = watch;
    rs.write_linger = linger;
    rs.seed = 42;
    rs.on_saga_finished = [this](const sagas::saga_instance& inst) {
      if (finishes++ == 0)
        finished.set_value(inst);
    };
    auto router = actors::spawn_saga_router(*sys, std::move(rs));
    actors = {caf::actor_cast<caf::actor>(router),
              caf::actor_cast<caf::actor>(store),
              caf::actor_cast<caf::actor>(inner),
              caf::actor_cast<caf::actor>(fake_actor)};
  }

  // Whatever a test found, the actors end, so that the actor system can.
  ~watched_engine() {
    for (auto& a : actors)
      caf::anon_send_exit(a, caf::exit_reason::kill);
    sys.reset();
  }

  /// The saves so far, once there are `n` or after `max`.
  int await_saves(int n, std::chrono::milliseconds max = 5s) {
    auto until = std::chrono::steady_clock::now() + max;
    while (saves->load() < n && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(5ms);
    return saves->load();
  }

  actors::saga_store_actor store;
};

// A saga whose first write gets no answer within the store bound writes
// it again and completes; the late answer of the first is dropped, and no
// deadline is left armed.
TEST(saga_deadlines, a_write_without_an_answer_in_time_is_written_again) {
  watched_engine engine{held_request::first_save};
  auto final_state = engine.finished.get_future();
  ASSERT_EQ(final_state.wait_for(10s), std::future_status::ready);
  auto inst = final_state.get();
  EXPECT_EQ(inst.state, sagas::saga_state::completed);
  // The held write, then the same again and the saga's later writes.
  EXPECT_GE(engine.saves->load(), 2);
  // The first write's answer, long after its deadline: dropped.
  caf::anon_send(engine.store, gc_flush_atom_v);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(engine.finishes.load(), 1);
  // The saga armed no deadline it left behind. The router's poll tick arms
  // one while its query is out (answered at once): wait that out, well
  // within the saga's own bounds (its adapter calls' are 10 s and more).
  auto until = std::chrono::steady_clock::now() + 2s;
  while (engine.watch->armed() > 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(engine.watch->armed(), 0u);
}

// A router whose startable query gets no answer within the store bound
// polls again and starts the event; the late answer of the first query
// (the event as it was before its saga) is dropped, so it starts nothing
// twice.
TEST(saga_deadlines, a_query_without_an_answer_in_time_is_made_again) {
  watched_engine engine{held_request::first_query};
  auto final_state = engine.finished.get_future();
  ASSERT_EQ(final_state.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(final_state.get().state, sagas::saga_state::completed);
  caf::anon_send(engine.store, gc_flush_atom_v);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(engine.finishes.load(), 1);
  EXPECT_EQ(engine.db->sagas.size(), 1u);
}

// With a watch, a saga's linger (the wait for its calls' answers before it
// writes) is one of its deadlines, withdrawn when the saga writes before
// it falls due. Here provision_onu_service parks (its breaker is open):
// the saga, lingering since provision_radius went out, writes with no
// call left out and waits, alive, with nothing armed however long the
// linger.
TEST(saga_deadlines, a_linger_the_answers_end_is_withdrawn) {
  watched_engine engine{held_request::none, 10s, [](auto& fake) {
                          fake.set("voltha.provision_service",
                                   ispflow::testing::fake_mode::park);
                        }};
  ASSERT_EQ(engine.await_saves(2), 2) << "the parked saga did not write";
  // The router's poll tick arms one while its query is out: the fewest
  // armed over a while.
  auto fewest = engine.watch->armed();
  for (int i = 0; i < 60; ++i) {
    std::this_thread::sleep_for(5ms);
    fewest = std::min(fewest, engine.watch->armed());
  }
  EXPECT_EQ(fewest, 0u) << "the linger was left armed";
}

// A call that does not answer ends the linger at its deadline: the saga
// writes what it did meanwhile, and the database trails it by no more.
TEST(saga_deadlines, a_linger_without_answers_writes_at_its_deadline) {
  watched_engine engine{held_request::none, 300ms, [](auto& fake) {
                          fake.set("radius.provision",
                                   ispflow::testing::fake_mode::never_answer);
                        }};
  // The saga's first write, then (allocate_ip answered, provision_radius
  // out for good) the write the linger's deadline lets go.
  EXPECT_EQ(engine.await_saves(2), 2);
}
} // namespace

#include "actors/admin/cluster_view.hpp"
#include "adapters/postgres/migrations.hpp"
#include "adapters/postgres/partition_owners.hpp"
#include "adapters/postgres/saga_store.hpp"
#include "events/errc.hpp"
#include "sagas/engine.hpp"
#include "sagas/lifecycle_sagas.hpp"
#include "tests/support/scratch_database.hpp"

#include <chrono>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <optional>
#include <string>

namespace pg = ispflow::adapters::postgres;
namespace sg = ispflow::sagas;
using ispflow::errc;
using ispflow::testing::scratch_database;
using namespace std::chrono_literals;
using testing::ElementsAre;

namespace {

const sg::time_point t0 = sg::time_point{} + 1'714'557'600'123'457us;

class cluster_fencing : public testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(sg::register_lifecycle_sagas(registry));
    activate = *registry.current(sg::activate_saga);
    auto report = pg::apply_migrations(db.dsn());
    ASSERT_TRUE(report) << ispflow::render_error(report.error());
    for (auto* name : {"node-a", "node-b"}) {
      auto st = pg::saga_store::connect(db.dsn(), registry);
      ASSERT_TRUE(st) << ispflow::render_error(st.error());
      st->set_instance_id(name);
      (name[5] == 'a' ? a : b).emplace(std::move(*st));
    }
    auto o = pg::partition_owners::connect(db.dsn());
    ASSERT_TRUE(o) << ispflow::render_error(o.error());
    owners.emplace(std::move(*o));
    inst = sg::make_instance(
      activate, {"s-1", "acme", "sub-1", "ftth", "ce-1", {{"plan_id", "p100"}}},
      t0);
  }

  int64_t claim(const std::string& who, int32_t partition) {
    auto e = owners->claim(who, partition);
    EXPECT_TRUE(e) << ispflow::render_error(e.error());
    return e ? *e : 0;
  }

  // The saga after one more transition, written under `fence`.
  pg::saga_write next_write(pg::write_fence fence) {
    now += 1s;
    sg::saga_input in = sg::start_saga{sg::full_tenant_profile()};
    if (started)
      in = sg::step_result{0, 0, sg::step_succeeded{{{"ip", "100.64.0.7"}}}};
    started = true;
    sg::transition(activate, inst, in, now, random);
    pg::saga_write w{inst, 0, 3, {}, {}, {}, {}, {}, {}};
    w.fence = fence;
    return w;
  }

  std::string column(const std::string& sql) {
    return db.value(sql);
  }

  scratch_database db;
  sg::saga_registry registry;
  sg::saga_definition activate;
  sg::uniform_random_source random = [] { return 0.5; };
  std::optional<pg::saga_store> a;
  std::optional<pg::saga_store> b;
  std::optional<pg::partition_owners> owners;
  sg::saga_instance inst;
  sg::time_point now = t0;
  bool started = false;
};

} // namespace

TEST_F(cluster_fencing, write_under_an_old_epoch_is_refused_by_the_store) {
  auto e1 = claim("node-a", 3);
  EXPECT_EQ(e1, 1);
  auto first = next_write({3, e1});
  ASSERT_TRUE(a->write({first}));
  EXPECT_EQ(column("SELECT owner FROM sagas WHERE id = 's-1'"), "node-a");
  EXPECT_EQ(column("SELECT count(*) FROM saga_steps WHERE saga_id = 's-1'"
                   " AND ran_by = 'node-a'"),
            std::to_string(inst.steps.size()));
  auto outbox_before = column("SELECT count(*) FROM outbox");
  // node-b takes the partition over; node-a, paused meanwhile, writes on.
  auto e2 = claim("node-b", 3);
  EXPECT_EQ(e2, 2);
  auto stale = next_write({3, e1});
  auto res = a->write({stale});
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), errc::stale_epoch)
    << ispflow::render_error(res.error());
  EXPECT_THAT(ispflow::render_error(res.error()),
              testing::HasSubstr("node-b holds epoch 2"));
  EXPECT_EQ(a->stale_writes_refused(), 1u);
  // Nothing of the refused write is stored: saga, steps, outbox.
  auto stored = b->load("s-1");
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ(**stored, first.instance);
  EXPECT_EQ(column("SELECT count(*) FROM outbox"), outbox_before);
  // The owner writes the same transition under its epoch.
  auto ok = stale;
  ok.fence = {3, e2};
  ASSERT_TRUE(b->write({ok}));
  EXPECT_EQ(column("SELECT owner FROM sagas WHERE id = 's-1'"), "node-b");
  EXPECT_EQ(column("SELECT ran_by FROM saga_steps WHERE saga_id = 's-1'"
                   " AND idx = 0"),
            "node-b");
  EXPECT_EQ(column("SELECT ran_by FROM saga_steps WHERE saga_id = 's-1'"
                   " AND idx = 2"),
            "node-a");
}

TEST_F(cluster_fencing, one_stale_element_refuses_the_whole_group_commit) {
  auto e1 = claim("node-a", 3);
  claim("node-a", 4);
  auto w = next_write({3, e1});
  claim("node-b", 4);
  // A second saga of partition 4, written under an epoch node-a lost.
  auto other = sg::make_instance(
    activate, {"s-2", "acme", "sub-2", "ftth", "ce-2", {}}, t0);
  pg::saga_write w2{other, 0, 4, {}, {}, {}, {}, {}, {}};
  w2.fence = {4, 1};
  auto res = a->write({w, w2});
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), errc::stale_epoch);
  EXPECT_EQ(column("SELECT count(*) FROM sagas"), "0");
  // Alone, the element still held is written.
  ASSERT_TRUE(a->write({w}));
}

TEST_F(cluster_fencing, a_batch_large_enough_to_be_copied_is_fenced_too) {
  // Above saga_store::one_statement_sagas the rows go through COPY and the
  // fence is a statement of its own: the same refusal.
  auto e1 = claim("node-a", 3);
  auto w = next_write({3, e1});
  std::vector<pg::saga_write> batch{w};
  for (size_t i = 0; i < pg::saga_store::one_statement_sagas; ++i) {
    auto id = "s-pad-" + std::to_string(i);
    batch.push_back({sg::make_instance(
                       activate, {id, "acme", id, "ftth", "ce-" + id, {}}, t0),
                     0,
                     3,
                     {},
                     {},
                     {},
                     {},
                     {},
                     {}});
    batch.back().fence = {3, e1};
  }
  claim("node-b", 3);
  auto res = a->write(batch);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), errc::stale_epoch);
  EXPECT_THAT(ispflow::render_error(res.error()),
              testing::HasSubstr("node-b holds epoch 2"));
  EXPECT_EQ(column("SELECT count(*) FROM sagas"), "0");
  EXPECT_EQ(column("SELECT count(*) FROM outbox"), "0");
}

TEST_F(cluster_fencing, released_or_unclaimed_partition_refuses_writes) {
  auto w = next_write({5, 1});
  auto res = a->write({w});
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), errc::stale_epoch);
  auto e = claim("node-a", 5);
  ASSERT_TRUE(owners->release("node-a", {{5, e}}, true));
  w.fence = {5, e};
  res = a->write({w});
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), errc::stale_epoch);
  // The next claim raises the epoch again.
  EXPECT_EQ(claim("node-b", 5), e + 1);
}

TEST_F(cluster_fencing, heartbeat_keeps_what_is_still_held) {
  auto e1 = claim("node-a", 1);
  auto e2 = claim("node-a", 2);
  claim("node-b", 2);
  auto kept = owners->heartbeat("node-a", {{1, e1}, {2, e2}}, true);
  ASSERT_TRUE(kept) << ispflow::render_error(kept.error());
  EXPECT_THAT(*kept, ElementsAre(1));
  auto rows = owners->owners();
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[1].instance_id, "node-b");
  EXPECT_EQ((*rows)[1].epoch, 2);
  auto xs = owners->instances();
  ASSERT_TRUE(xs);
  ASSERT_EQ(xs->size(), 1u);
  EXPECT_EQ((*xs)[0].instance_id, "node-a");
  EXPECT_TRUE((*xs)[0].relay);
}

TEST_F(cluster_fencing, release_gives_up_only_what_is_still_held) {
  auto e1 = claim("node-a", 1);
  auto e2 = claim("node-a", 2);
  claim("node-b", 2);
  auto given = owners->release("node-a", {{1, e1}, {2, e2}}, false);
  ASSERT_TRUE(given) << ispflow::render_error(given.error());
  EXPECT_THAT(*given, ElementsAre(1));
  EXPECT_EQ(column("SELECT string_agg(instance_id || ':' || epoch, ','"
                   " ORDER BY partition) FROM partition_owners"),
            ":1,node-b:2");
}

TEST_F(cluster_fencing, unfenced_write_still_works_alone) {
  auto w = next_write({});
  ASSERT_TRUE(a->write({w}));
  EXPECT_EQ(column("SELECT owner FROM sagas WHERE id = 's-1'"), "node-a");
}

TEST_F(cluster_fencing, cluster_view_lists_instances_owners_and_epochs) {
  auto e1 = claim("node-a", 0);
  claim("node-a", 1);
  auto e2 = claim("node-b", 1);
  ASSERT_TRUE(owners->heartbeat("node-a", {{0, e1}}, true));
  ASSERT_TRUE(owners->heartbeat("node-b", {{1, e2}}, false));
  ASSERT_TRUE(owners->release("node-b", {{1, e2}}, true));
  auto body = ispflow::actors::admin::cluster_view_json(db.dsn());
  ASSERT_TRUE(body) << ispflow::render_error(body.error());
  EXPECT_THAT(*body, testing::HasSubstr(R"({"id":"node-a",)"));
  EXPECT_THAT(*body, testing::HasSubstr(
                       R"("relay":true,"stopped":false,"partitions":[0]})"));
  EXPECT_THAT(*body, testing::HasSubstr(
                       R"("relay":false,"stopped":true,"partitions":[]})"));
  EXPECT_THAT(
    *body, testing::HasSubstr(R"({"partition":1,"instance_id":"","epoch":2,)"));
}

// Operator commands and graceful hand-over in a cluster (issue 13): two
// instances ("node-a", "node-b") in one process over one scratch database,
// each with its own saga store, router, partition keeper, command pickup and
// admin API; the outside systems (NetBox, RADIUS) are one recording fake
// shared by both, as a real system is. The consumer group is played by the
// test: it hands partitions to the keepers (open_atom / close_atom).

#include "actors/admin/commands.hpp"
#include "actors/admin/server.hpp"
#include "actors/partition_lease.hpp"
#include "actors/saga_router.hpp"
#include "actors/saga_store.hpp"
#include "actors/timer.hpp"
#include "adapters/postgres/intake_store.hpp"
#include "adapters/postgres/migrations.hpp"
#include "adapters/postgres/operator_commands.hpp"
#include "adapters/postgres/partition_owners.hpp"
#include "adapters/postgres/saga_store.hpp"
#include "events/errc.hpp"
#include "events/intake_check.hpp"
#include "events/type_ids.hpp"
#include "sagas/lifecycle_sagas.hpp"
#include "tests/support/scratch_database.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <gtest/gtest.h>
#include <httplib.h>
#include <map>
#include <memory>
#include <mutex>
#include <pqxx/pqxx>
#include <rapidjson/document.h>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <vector>

using namespace ispflow;
using namespace std::chrono_literals;
namespace pg = ispflow::adapters::postgres;
using sagas::target_system;

namespace {

constexpr const char* writer_token = "cw-0123456789";
constexpr const char* other_writer_token = "ow-0123456789";
constexpr const char* other_reader_token = "or-0123456789";
constexpr const char* acme_reader_token = "ar-0123456789";

const std::string activation_fields
  = R"(,"plan_id":"fiber-500","service_type":"ftth","site":"ams-01",)"
    R"("access":{"onu_serial":"ALCL1A2B3C4D"},)"
    R"("credentials":{"username":"u1@demo.example","password":"hunter2"})";

// -- the outside --------------------------------------------------------------

enum class behaviour { succeed, fail, slow };

/// NetBox and RADIUS as one system that counts each effect it applied
/// (thread-safe: both instances call it from their own threads).
struct outside {
  std::mutex mtx;
  std::map<std::string, behaviour> script;
  std::chrono::milliseconds slow_for{600};
  /// (instance, operation, reconcile) per call.
  std::vector<std::tuple<std::string, std::string, bool>> calls;
  std::map<std::pair<std::string, std::string>, int> applied;
  std::atomic<int> in_flight{0};

  void set(const std::string& op, behaviour b) {
    std::lock_guard guard{mtx};
    script[op] = b;
  }

  behaviour record(const std::string& instance,
                   const events::adapter_request& req) {
    std::lock_guard guard{mtx};
    calls.emplace_back(instance, req.operation, req.reconcile);
    auto i = script.find(req.operation);
    return i == script.end() ? behaviour::succeed : i->second;
  }

  // Applies the effect (once per key: a reconcile finds it) or fails.
  events::adapter_reply answer(const events::adapter_request& req,
                               behaviour b) {
    std::lock_guard guard{mtx};
    events::adapter_reply rep;
    auto key = std::pair{req.operation, req.idempotency_key};
    if (b == behaviour::fail) {
      rep.outcome = events::adapter_outcome::permanent_failure;
      rep.error = "refused by the test";
      return rep;
    }
    if (!req.reconcile || applied.count(key) == 0)
      ++applied[key];
    if (req.operation == "netbox.allocate_ip")
      rep.outputs = {{"ip_address", "100.64.0.9"}};
    return rep;
  }

  int applications(const std::string& op) {
    std::lock_guard guard{mtx};
    int n = 0;
    for (auto& [key, count] : applied)
      if (key.first == op)
        n += count;
    return n;
  }

  int calls_by(const std::string& instance, const std::string& op) {
    std::lock_guard guard{mtx};
    int n = 0;
    for (auto& [who, what, rec] : calls)
      if (who == instance && what == op)
        ++n;
    return n;
  }
};

// An adapter actor of one instance in front of the outside; a slow
// operation answers after `slow_for`.
caf::behavior outside_adapter(caf::event_based_actor* self,
                              std::shared_ptr<outside> out,
                              std::string instance) {
  struct pending {
    caf::response_promise rp;
    events::adapter_request req;
  };
  auto waiting = std::make_shared<std::map<uint64_t, pending>>();
  auto next = std::make_shared<uint64_t>(0);
  return {
    [=](invoke_atom,
        events::adapter_request& req) -> caf::result<events::adapter_reply> {
      auto b = out->record(instance, req);
      if (b != behaviour::slow)
        return out->answer(req, b);
      auto id = (*next)++;
      ++out->in_flight;
      (*waiting)[id] = pending{self->make_response_promise(), std::move(req)};
      self->delayed_send(self, out->slow_for, tick_atom_v, id);
      return caf::delegated<events::adapter_reply>{};
    },
    [=](tick_atom, uint64_t id) {
      auto i = waiting->find(id);
      if (i == waiting->end())
        return;
      i->second.rp.deliver(out->answer(i->second.req, behaviour::succeed));
      waiting->erase(i);
      --out->in_flight;
    },
  };
}

// -- the engine's retry and cancel, as apps/ispflowd/wiring.cpp makes them --

class router_control : public actors::admin::saga_control {
public:
  router_control(caf::actor_system& sys, actors::saga_router_actor router)
    : sys_(sys), router_(std::move(router)) {
    // nop
  }

  caf::expected<void> retry(const std::string& id) override {
    auto res = retry_in(id, -1);
    if (!res)
      return std::move(res.error());
    return caf::unit;
  }

  caf::expected<void> cancel(const std::string& id) override {
    auto res = cancel_in(id, -1);
    if (!res)
      return std::move(res.error());
    return caf::unit;
  }

  caf::expected<std::string> retry_in(const std::string& id,
                                      int32_t partition) override {
    return ask(retry_atom_v, id, partition);
  }

  caf::expected<std::string> cancel_in(const std::string& id,
                                       int32_t partition) override {
    return ask(cancel_atom_v, id, partition);
  }

private:
  template <class Atom>
  caf::expected<std::string>
  ask(Atom atom, const std::string& id, int32_t partition) {
    caf::scoped_actor self{sys_};
    caf::expected<std::string> res{std::string{}};
    self->request(router_, 10s, atom, id, std::string{"operator"}, partition)
      .receive([&](std::string& state) { res = std::move(state); },
               [&](caf::error& err) { res = std::move(err); });
    return res;
  }

  caf::actor_system& sys_;
  actors::saga_router_actor router_;
};

// -- one instance
// ----------------------------------------------------------------

struct node {
  std::string id;
  std::shared_ptr<actors::lease_board> board;
  actors::saga_router_actor router;
  actors::partition_keeper_actor keeper;
  actors::admin::command_pickup_actor pickup;
  std::vector<caf::actor> all;
  std::unique_ptr<actors::admin::admin_server> admin;

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(admin->port());
  }
};

struct http_answer {
  int status = 0;
  std::string body;
  std::string location;
};

struct run_result {
  int code = -1;
  std::string out;
};

class cluster_commands : public ::testing::Test {
protected:
  void SetUp() override {
    auto migrated = pg::apply_migrations(db.dsn());
    ASSERT_TRUE(migrated) << render_error(migrated.error());
    auto intake = pg::intake_store::connect(db.dsn());
    ASSERT_TRUE(intake);
    ASSERT_TRUE(intake->upsert_tenants({{"acme", "Acme"}, {"other", "Other"}}));
    ASSERT_FALSE(sagas::register_lifecycle_sagas(registry).has_value());
    cfg.add_message_types<caf::id_block::ispflow>();
    sys = std::make_unique<caf::actor_system>(cfg);
    ext = std::make_shared<outside>();
  }

  void TearDown() override {
    for (auto& [name, n] : nodes)
      stop(n);
    nodes.clear();
    sys.reset();
  }

  node& start(const std::string& id,
              std::chrono::milliseconds command_wait = 5s) {
    auto& n = nodes[id];
    n.id = id;
    n.board = std::make_shared<actors::lease_board>(id);
    actors::saga_router_settings rs;
    for (auto s : {target_system::netbox, target_system::radius}) {
      auto a = sys->spawn(outside_adapter, ext, id);
      n.all.push_back(a);
      rs.adapters.set_actor(s,
                            caf::actor_cast<adapters::api::adapter_actor>(a));
    }
    sagas::tenant_profile profile;
    profile.systems = {target_system::netbox, target_system::radius};
    rs.adapters.set_tenant("acme", profile);
    rs.adapters.set_tenant("other", profile);
    actors::pg_saga_store_settings ss;
    ss.dsn = db.dsn();
    ss.registry = &registry;
    ss.instance_id = id;
    auto store = actors::spawn_pg_saga_store(*sys, ss);
    n.all.push_back(caf::actor_cast<caf::actor>(store));
    auto timer = actors::spawn_timer(*sys);
    n.all.push_back(caf::actor_cast<caf::actor>(timer));
    rs.registry = &registry;
    rs.store = store;
    rs.timer = timer;
    rs.poll_interval = 100ms;
    rs.follow_assignment = true;
    rs.leases = n.board;
    n.router = actors::spawn_saga_router(*sys, std::move(rs));
    n.all.push_back(caf::actor_cast<caf::actor>(n.router));
    actors::partition_keeper_settings ks;
    ks.dsn = db.dsn();
    ks.board = n.board;
    ks.router = n.router;
    ks.heartbeat = 200ms;
    ks.lease = 3s;
    n.keeper = actors::spawn_partition_keeper(*sys, std::move(ks));
    n.all.push_back(caf::actor_cast<caf::actor>(n.keeper));
    auto control = std::make_shared<router_control>(*sys, n.router);
    auto board = n.board;
    actors::admin::command_pickup_settings ps;
    ps.dsn = db.dsn();
    ps.instance_id = id;
    ps.sagas = control;
    ps.held = [board] {
      std::map<int32_t, int64_t> out;
      auto now = actors::lease_board::clock::now();
      for (auto& [p, l] : board->snapshot())
        if (now < l.valid_until)
          out.emplace(p, l.epoch);
      return out;
    };
    ps.poll = 200ms;
    n.pickup = actors::admin::spawn_command_pickup(*sys, std::move(ps));
    n.all.push_back(caf::actor_cast<caf::actor>(n.pickup));
    actors::admin::admin_settings as;
    as.port = 0;
    as.threads = 4;
    using actors::admin::sha256_hex;
    as.tokens
      = {{"ops", sha256_hex(writer_token), {"sagas:read", "sagas:write"}, {}},
         {"other-w",
          sha256_hex(other_writer_token),
          {"sagas:read", "sagas:write"},
          std::string{"other"}},
         {"other-r",
          sha256_hex(other_reader_token),
          {"sagas:read"},
          std::string{"other"}},
         {"acme-r",
          sha256_hex(acme_reader_token),
          {"sagas:read"},
          std::string{"acme"}}};
    actors::admin::admin_deps deps;
    deps.dsn = db.dsn();
    deps.sagas = control;
    deps.instance_id = id;
    deps.held_epoch = [board](int32_t p) -> std::optional<int64_t> {
      auto e = board->epoch(p);
      if (e && board->valid(p, *e, actors::lease_board::clock::now()))
        return e;
      return std::nullopt;
    };
    deps.command_wait = command_wait;
    auto srv = actors::admin::admin_server::make(as, deps);
    EXPECT_TRUE(srv) << render_error(srv.error());
    n.admin = std::move(*srv);
    auto port = n.admin->start();
    EXPECT_TRUE(port) << render_error(port.error());
    return n;
  }

  // Ends every actor of `n` at once, as a crash would: nothing released.
  void stop(node& n) {
    if (n.admin)
      n.admin->stop();
    n.admin.reset();
    if (n.all.empty())
      return;
    caf::scoped_actor self{*sys};
    for (auto& a : n.all)
      self->send_exit(a, caf::exit_reason::kill);
    self->wait_for(n.all);
    n.all.clear();
  }

  void assign(node& n, std::vector<int32_t> parts) {
    caf::anon_send(n.keeper, open_atom_v, std::move(parts));
  }

  void insert(const std::string& event_id, const std::string& tenant,
              const std::string& sub, int32_t partition) {
    events::kafka_record rec;
    rec.topic = "billing.events.v1";
    rec.partition = partition;
    rec.offset = next_offset++;
    rec.key = sub;
    rec.value = R"({"schema_version":1,"tenant_id":")" + tenant
                + R"(","subscriber_id":")" + sub + "\"" + activation_fields
                + "}";
    rec.headers = {{"ce_specversion", "1.0", false},
                   {"ce_id", event_id, false},
                   {"ce_source", "billing.test", false},
                   {"ce_type", "billing.subscription.activated", false},
                   {"ce_subject", sub, false},
                   {"ce_tenantid", tenant, false},
                   {"content-type", "application/json", false}};
    events::intake_settings is;
    auto d = events::check_billing_record(rec, is);
    auto* accepted = std::get_if<events::accepted_event>(&d);
    ASSERT_NE(accepted, nullptr) << std::get<events::dead_letter>(d).detail;
    events::intake_batch batch;
    batch.accepted.push_back(*accepted);
    auto store = pg::intake_store::connect(db.dsn());
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->write(batch));
  }

  // Waits (bounded) until `sql` answers `want`; returns the last answer.
  std::string await(const std::string& sql, const std::string& want,
                    std::chrono::milliseconds max = 15s) {
    auto until = std::chrono::steady_clock::now() + max;
    std::string got;
    for (;;) {
      got = db.value(sql);
      if (got == want || std::chrono::steady_clock::now() > until)
        return got;
      std::this_thread::sleep_for(20ms);
    }
  }

  std::string saga_of(const std::string& sub) {
    return db.value("SELECT coalesce(max(id), '') FROM sagas WHERE"
                    " subscriber_id = '"
                    + sub + "'");
  }

  // An activation of `sub` on `partition` stopped in needs_attention: its
  // RADIUS step fails, and so does the release of its address.
  /// A saga row s-9 of acme's sub-9 on partition 0 in `state`, written
  /// directly (for the command store's own tests).
  void saga_row(const std::string& state) {
    db.value("INSERT INTO sagas (id, name, version, tenant_id, subscriber_id,"
             " service_type, causation, state, \"cursor\", generation,"
             " cancel_requested, kafka_partition, created_at, updated_at)"
             " SELECT 's-9', 'activate', 1, 'acme', 'sub-9', 'ftth', 'ce-9', '"
             + state + "', 0, 0, false, 0, now(), now() RETURNING id");
  }

  std::string stuck_saga(const std::string& sub, const std::string& tenant,
                         int32_t partition) {
    ext->set("radius.provision", behaviour::fail);
    ext->set("netbox.release_ip", behaviour::fail);
    insert("ev-" + sub, tenant, sub, partition);
    EXPECT_EQ(await("SELECT coalesce(max(state), '') FROM sagas WHERE"
                    " subscriber_id = '"
                      + sub + "'",
                    "needs_attention"),
              "needs_attention");
    ext->set("netbox.release_ip", behaviour::succeed);
    return saga_of(sub);
  }

  http_answer post(const node& n, const std::string& path,
                   const char* token = writer_token) {
    httplib::Client cli{n.url()};
    cli.set_read_timeout(30, 0);
    auto res = cli.Post(path.c_str(),
                        {{"Authorization", std::string{"Bearer "} + token}}, "",
                        "application/json");
    if (!res)
      return {};
    return {res->status, res->body, res->get_header_value("Location")};
  }

  http_answer get(const node& n, const std::string& path,
                  const char* token = writer_token) {
    httplib::Client cli{n.url()};
    auto res = cli.Get(path.c_str(),
                       {{"Authorization", std::string{"Bearer "} + token}});
    if (!res)
      return {};
    return {res->status, res->body, res->get_header_value("Location")};
  }

  static std::string field(const std::string& json, const char* key) {
    rapidjson::Document doc;
    doc.Parse(json.c_str());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember(key))
      return "<missing>";
    auto& v = doc[key];
    if (v.IsString())
      return v.GetString();
    if (v.IsInt64())
      return std::to_string(v.GetInt64());
    return v.IsNull() ? "null" : "<other>";
  }

  run_result ctl(const node& n, const std::vector<std::string>& args) {
    std::string cmd = "env -u ISPFLOW_URL ISPFLOW_TOKEN="
                      + std::string{writer_token} + " '"
                      + std::string{ISPFLOWCTL} + "' --url '" + n.url() + "'";
    for (auto& a : args)
      cmd += " '" + a + "'";
    cmd += " </dev/null 2>&1";
    run_result r;
    auto pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr)
      return r;
    char buf[4096];
    size_t k;
    while ((k = fread(buf, 1, sizeof(buf), pipe)) > 0)
      r.out.append(buf, k);
    auto status = pclose(pipe);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
  }

  ispflow::testing::scratch_database db;
  sagas::saga_registry registry;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  std::shared_ptr<outside> ext;
  std::map<std::string, node> nodes;
  int64_t next_offset = 1;
};

} // namespace

TEST_F(cluster_commands, a_retry_sent_to_another_instance_runs_on_the_owner) {
  auto& a = start("node-a");
  auto& b = start("node-b");
  assign(a, {0});
  assign(b, {1});
  auto id = stuck_saga("sub-1", "acme", 0);
  ASSERT_FALSE(id.empty());
  // node-b does not own partition 0: it records the command and waits
  // for node-a, which takes it and retries the saga.
  auto r = post(b, "/v1/sagas/" + id + "/retry");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(field(r.body, "state"), "done") << r.body;
  EXPECT_EQ(field(r.body, "taken_by"), "node-a") << r.body;
  EXPECT_EQ(field(r.body, "result"), "compensating") << r.body;
  EXPECT_EQ(field(r.body, "epoch"), "1") << r.body;
  EXPECT_EQ(r.location, "/v1/commands/" + field(r.body, "id"));
  EXPECT_EQ(await("SELECT state FROM sagas WHERE id = '" + id + "'",
                  "compensated"),
            "compensated");
  EXPECT_EQ(db.value("SELECT owner FROM sagas WHERE id = '" + id + "'"),
            "node-a");
  // Compensated on node-a only, once.
  EXPECT_EQ(ext->calls_by("node-b", "netbox.release_ip"), 0);
  EXPECT_EQ(ext->applications("netbox.release_ip"), 1);
  EXPECT_EQ(db.value("SELECT count(*) || ':' || string_agg(requested_by,"
                     " ',') FROM operator_commands WHERE saga_id = '"
                     + id + "'"),
            "1:ops");
  // The owner's own API acts at once.
  auto again = post(a, "/v1/sagas/" + id + "/retry");
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_EQ(db.value("SELECT state || ':' || taken_by FROM operator_commands"
                     " WHERE error_code = 'conflict'"),
            "failed:node-a");
}

TEST_F(cluster_commands,
       a_command_whose_owner_died_is_taken_up_by_the_next_owner) {
  auto& a = start("node-a");
  auto& b = start("node-b", 300ms);
  assign(a, {0});
  assign(b, {1});
  auto id = stuck_saga("sub-2", "acme", 0);
  ASSERT_FALSE(id.empty());
  // node-a dies (nothing released: its claim on partition 0 stands).
  stop(a);
  // ispflowctl sends the retry to node-b, gets 202 and follows the command.
  auto follow = std::async(std::launch::async, [&] {
    return ctl(b, {"sagas", "retry", id});
  });
  ASSERT_EQ(await("SELECT count(*) FROM operator_commands", "1"), "1");
  // As if node-a had taken it just before it died.
  std::this_thread::sleep_for(400ms);
  db.value("UPDATE operator_commands SET state = 'taken', taken_by ="
           " 'node-a', epoch = 1, taken_at = now() RETURNING id");
  auto cmd = db.value("SELECT id FROM operator_commands");
  auto pending = get(b, "/v1/commands/" + cmd);
  ASSERT_EQ(pending.status, 200) << pending.body;
  EXPECT_EQ(field(pending.body, "state"), "taken");
  // The group hands partition 0 to node-b, which claims it at epoch 2 and
  // takes the command up again.
  assign(b, {0});
  auto r = follow.get();
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("command " + cmd), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("done on node-b"), std::string::npos) << r.out;
  auto shown = get(b, "/v1/commands/" + cmd);
  EXPECT_EQ(field(shown.body, "state"), "done") << shown.body;
  EXPECT_EQ(field(shown.body, "taken_by"), "node-b");
  EXPECT_EQ(field(shown.body, "epoch"), "2");
  EXPECT_EQ(await("SELECT state FROM sagas WHERE id = '" + id + "'",
                  "compensated"),
            "compensated");
  EXPECT_EQ(ext->calls_by("node-a", "netbox.release_ip"), 1);
  EXPECT_EQ(ext->applications("netbox.release_ip"), 1);
}

TEST_F(cluster_commands, a_take_under_a_stale_epoch_is_refused) {
  auto owners = pg::partition_owners::connect(db.dsn());
  ASSERT_TRUE(owners);
  auto e1 = owners->claim("node-a", 0);
  ASSERT_TRUE(e1);
  saga_row("needs_attention");
  auto store = pg::operator_command_store::connect(db.dsn());
  ASSERT_TRUE(store);
  auto c = store->submit("c-1", "s-9", "retry", "ops");
  ASSERT_TRUE(c && *c) << (c ? "unknown saga" : render_error(c.error()));
  EXPECT_EQ((*c)->partition, 0);
  auto e2 = owners->claim("node-b", 0);
  ASSERT_TRUE(e2);
  auto stale = store->take("node-a", 0, *e1, 10);
  ASSERT_FALSE(stale);
  EXPECT_EQ(stale.error(), errc::stale_epoch) << render_error(stale.error());
  auto one = store->take_one("c-1", "node-a", *e1);
  ASSERT_FALSE(one);
  EXPECT_EQ(one.error(), errc::stale_epoch);
  EXPECT_EQ(db.value("SELECT state FROM operator_commands"), "queued");
  auto taken = store->take("node-b", 0, *e2, 10);
  ASSERT_TRUE(taken) << render_error(taken.error());
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_EQ(taken->front().epoch, *e2);
  // The old owner cannot finish it either.
  auto fin = store->finish("c-1", "node-a", *e1, "running", "", "");
  ASSERT_TRUE(fin);
  EXPECT_FALSE(*fin);
  EXPECT_EQ(db.value("SELECT state || ':' || taken_by FROM operator_commands"),
            "taken:node-b");
}

// The pickup's scan first reads which held partitions have a command to
// take, and takes (a fenced write transaction each) only from those: an
// idle instance commits nothing. The read names exactly what a take would
// take, and locks nothing: a claim in flight does not hold it up.
TEST_F(cluster_commands,
       the_scan_reads_which_partitions_have_a_command_to_take) {
  auto owners = pg::partition_owners::connect(db.dsn());
  ASSERT_TRUE(owners);
  std::map<int32_t, int64_t> held;
  for (int32_t p = 0; p < 5; ++p) {
    // Partition 2 had another owner before (its epoch is 2).
    if (p == 2) {
      ASSERT_TRUE(owners->claim("node-b", p));
    }
    auto e = owners->claim("node-a", p);
    ASSERT_TRUE(e);
    held[p] = *e;
  }
  ASSERT_EQ(held[2], 2);
  saga_row("needs_attention");
  auto command = [&](const std::string& id, const std::string& kind,
                     int32_t partition, const std::string& state,
                     int64_t epoch) {
    db.value("INSERT INTO operator_commands (id, tenant_id, saga_id, kind,"
             " kafka_partition, requested_by, state, taken_by, epoch)"
             " VALUES ('"
             + id + "', 'acme', 's-9', '" + kind + "', "
             + std::to_string(partition) + ", 'ops', '" + state + "', "
             + (state == "queued" ? "NULL" : "'node-x'") + ", "
             + std::to_string(epoch) + ") RETURNING id");
  };
  command("c-queued", "retry", 0, "queued", 0);
  command("c-orphan", "cancel", 2, "taken", 1); // its taker lost partition 2
  command("c-running", "retry", 3, "taken", held[3]);
  command("c-done", "retry", 4, "done", held[4]);
  command("c-replay", "replay", 1, "done", 0);
  command("c-elsewhere", "retry", 7, "queued", 0); // not held
  auto store = pg::operator_command_store::connect(db.dsn());
  ASSERT_TRUE(store);
  // Another session holds every owner row, as a claim does while it
  // commits; a take would wait for it.
  pqxx::connection claimer{db.dsn()};
  pqxx::work lock{claimer};
  lock.exec("SELECT * FROM partition_owners FOR UPDATE");
  auto open = std::async(std::launch::async,
                         [&] { return store->with_open_commands(held); });
  ASSERT_EQ(open.wait_for(5s), std::future_status::ready)
    << "the read waited for the owner rows' lock";
  auto parts = open.get();
  ASSERT_TRUE(parts) << render_error(parts.error());
  EXPECT_EQ(*parts, (std::vector<int32_t>{0, 2}));
  lock.abort();
  // A take agrees partition by partition.
  for (auto& [partition, epoch] : held) {
    auto taken = store->take("node-a", partition, epoch, 10);
    ASSERT_TRUE(taken) << render_error(taken.error());
    std::string ids;
    for (auto& c : *taken)
      ids += c.id;
    EXPECT_EQ(ids, partition == 0   ? "c-queued"
                   : partition == 2 ? "c-orphan"
                                    : "")
      << "partition " << partition;
  }
  // Once taken under the epoch held, nothing is open any more.
  auto after = store->with_open_commands(held);
  ASSERT_TRUE(after) << render_error(after.error());
  EXPECT_TRUE(after->empty());
  auto none = store->with_open_commands({});
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
}

// An owner with nothing to do does not take the owner rows' lock to find
// that out: a claim in flight (here: every owner row locked) sees no scan
// of it waiting.
TEST_F(cluster_commands, an_idle_owner_locks_nothing_to_look_for_commands) {
  auto& a = start("node-a");
  assign(a, {0, 1});
  ASSERT_EQ(await("SELECT count(*) FROM partition_owners"
                  " WHERE instance_id = 'node-a'",
                  "2"),
            "2");
  // The pickup (a scan every 200 ms) sees the partitions held.
  std::this_thread::sleep_for(500ms);
  pqxx::connection claimer{db.dsn()};
  pqxx::work lock{claimer};
  lock.exec("SELECT * FROM partition_owners FOR UPDATE");
  int waiting = 0;
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(100ms);
    waiting = std::max(
      waiting,
      std::stoi(db.value("SELECT count(*) FROM pg_stat_activity"
                         " WHERE datname = current_database()"
                         " AND wait_event_type = 'Lock' AND query LIKE"
                         " '%FROM partition_owners WHERE partition = $1"
                         " FOR KEY SHARE%'")));
  }
  lock.abort();
  EXPECT_EQ(waiting, 0) << "a scan waited for the owner rows";
}

// A replay is run by the instance that received it and recorded once it
// ran: the row is never open, so the partition's owner never takes it and
// a receiver that stops half-way leaves no command taken for ever.
TEST_F(cluster_commands, a_replay_is_recorded_finished_and_never_taken) {
  auto owners = pg::partition_owners::connect(db.dsn());
  ASSERT_TRUE(owners);
  auto epoch = owners->claim("node-b", 0);
  ASSERT_TRUE(epoch);
  saga_row("completed");
  auto store = pg::operator_command_store::connect(db.dsn());
  ASSERT_TRUE(store);
  auto c = store->record("c-2", "s-9", "replay", "ops", "node-a", "event e-1",
                         "", "");
  ASSERT_TRUE(c && *c) << (c ? "unknown saga" : render_error(c.error()));
  EXPECT_EQ((*c)->state, "done");
  EXPECT_EQ((*c)->taken_by, "node-a");
  EXPECT_EQ((*c)->result, "event e-1");
  auto failed = store->record("c-3", "s-9", "replay", "ops", "node-a", "",
                              "database_unavailable", "no database");
  ASSERT_TRUE(failed && *failed);
  EXPECT_EQ((*failed)->state, "failed");
  EXPECT_EQ((*failed)->error_code, "database_unavailable");
  auto none = store->record("c-4", "s-unknown", "replay", "ops", "node-a",
                            "event e-2", "", "");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  auto taken = store->take("node-b", 0, *epoch, 10);
  ASSERT_TRUE(taken) << render_error(taken.error());
  EXPECT_TRUE(taken->empty());
  EXPECT_EQ(db.value("SELECT string_agg(id || ':' || state || ':' || taken_by"
                     " || ':' || (finished_at IS NOT NULL), ',' ORDER BY id)"
                     " FROM operator_commands"),
            "c-2:done:node-a:true,c-3:failed:node-a:true");
}

TEST_F(cluster_commands, commands_are_seen_and_sent_by_their_tenant_only) {
  auto& a = start("node-a");
  assign(a, {0});
  auto id = stuck_saga("sub-3", "acme", 0);
  ASSERT_FALSE(id.empty());
  // Another tenant's writer cannot send a command to the saga.
  auto refused = post(a, "/v1/sagas/" + id + "/retry", other_writer_token);
  EXPECT_EQ(refused.status, 404) << refused.body;
  EXPECT_EQ(db.value("SELECT count(*) FROM operator_commands"), "0");
  auto r = post(a, "/v1/sagas/" + id + "/retry");
  ASSERT_EQ(r.status, 200) << r.body;
  auto path = "/v1/commands/" + field(r.body, "id");
  EXPECT_EQ(get(a, path, acme_reader_token).status, 200);
  EXPECT_EQ(get(a, path).status, 200);
  // Another tenant's command looks exactly like an unknown one.
  auto other = get(a, path, other_reader_token);
  auto unknown = get(a, "/v1/commands/no-such-command", other_reader_token);
  EXPECT_EQ(other.status, 404);
  EXPECT_EQ(other.body, unknown.body);
  EXPECT_EQ(other.body.find(id), std::string::npos);
}

TEST_F(cluster_commands,
       a_drain_lets_the_call_in_flight_answer_and_releases_the_partition) {
  auto& a = start("node-a");
  assign(a, {0});
  ext->set("netbox.allocate_ip", behaviour::slow);
  insert("ev-drain", "acme", "sub-4", 0);
  auto until = std::chrono::steady_clock::now() + 15s;
  while (ext->in_flight.load() == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(5ms);
  ASSERT_EQ(ext->in_flight.load(), 1);
  auto id = saga_of("sub-4");
  // SIGTERM: drain, then leave the group (the keeper releases).
  auto report = actors::drain_saga_router(*sys, a.router, a.board.get(), 10s);
  EXPECT_EQ(report.sagas, 1u);
  EXPECT_EQ(report.sagas_left, 0u);
  EXPECT_EQ(report.calls, 1);
  EXPECT_EQ(report.calls_left, 0);
  // The answer was written by node-a, once; the next step was not called.
  EXPECT_EQ(db.value("SELECT state || ':' || attempts || ':' || ran_by FROM"
                     " saga_steps WHERE saga_id = '"
                     + id + "' AND idx = 0"),
            "succeeded:1:node-a");
  EXPECT_EQ(ext->calls_by("node-a", "radius.provision"), 0);
  caf::anon_send(a.keeper, close_atom_v, std::vector<int32_t>{0});
  EXPECT_EQ(await("SELECT instance_id || ':' || epoch FROM partition_owners"
                  " WHERE partition = 0",
                  ":1"),
            ":1");
  // The next owner claims at once and finishes the saga.
  auto& b = start("node-b");
  assign(b, {0});
  EXPECT_EQ(await("SELECT state FROM sagas WHERE id = '" + id + "'",
                  "completed"),
            "completed");
  EXPECT_EQ(db.value("SELECT epoch FROM partition_owners WHERE partition = 0"),
            "2");
  EXPECT_EQ(ext->applications("netbox.allocate_ip"), 1);
  EXPECT_EQ(ext->applications("radius.provision"), 1);
  EXPECT_EQ(ext->calls_by("node-a", "netbox.allocate_ip"), 1);
  EXPECT_EQ(db.value("SELECT string_agg(idx || '=' || coalesce(ran_by, '-'),"
                     " ',' ORDER BY idx) FROM saga_steps WHERE saga_id = '"
                     + id + "' AND state = 'succeeded'"),
            "0=node-a,1=node-b");
}

TEST_F(cluster_commands, operator_retries_and_skips_are_fenced_by_the_epoch) {
  auto& a = start("node-a");
  assign(a, {0});
  auto id = stuck_saga("sub-5", "acme", 0);
  ASSERT_FALSE(id.empty());
  // node-b claims partition 0 behind node-a's back (node-a paused, say):
  // node-a's retry is written under its old epoch and refused.
  auto owners = pg::partition_owners::connect(db.dsn());
  ASSERT_TRUE(owners);
  auto e2 = owners->claim("node-b", 0);
  ASSERT_TRUE(e2);
  router_control control{*sys, a.router};
  auto res = control.retry_in(id, 0);
  (void) res; // refused at once, or accepted and refused at the write
  std::this_thread::sleep_for(600ms);
  EXPECT_EQ(
    db.value("SELECT state || ':' || owner FROM sagas WHERE id = '" + id + "'"),
    "needs_attention:node-a");
  EXPECT_EQ(ext->applications("netbox.release_ip"), 0);
  // A skip (an event admission refuses) under the old epoch is refused too.
  stop(a);
  auto store = pg::saga_store::connect(db.dsn(), registry);
  ASSERT_TRUE(store);
  store->set_instance_id("node-a");
  insert("ev-skip", "acme", "sub-6", 0);
  auto inbox = db.value("SELECT id FROM inbox WHERE event_id = 'ev-skip'");
  auto skipped = store->skip_event(std::stoll(inbox), "test_reason", {},
                                   pg::write_fence{0, 1});
  ASSERT_FALSE(skipped);
  EXPECT_EQ(skipped.error(), errc::stale_epoch)
    << render_error(skipped.error());
  EXPECT_EQ(
    db.value("SELECT coalesce(skipped_reason, '-') FROM inbox WHERE id = "
             + inbox),
    "-");
  store->set_instance_id("node-b");
  EXPECT_TRUE(store->skip_event(std::stoll(inbox), "test_reason", {},
                                pg::write_fence{0, *e2}));
}

TEST_F(cluster_commands, a_keeper_counts_each_partition_another_instance_took) {
  auto& a = start("node-a");
  assign(a, {0, 1, 2});
  auto held = [&](int32_t p) { return a.board->epoch(p).has_value(); };
  auto until = [](auto pred) {
    for (int i = 0; i < 100 && !pred(); ++i)
      std::this_thread::sleep_for(50ms);
    return pred();
  };
  ASSERT_TRUE(until([&] { return held(0) && held(1) && held(2); }));
  auto owners = pg::partition_owners::connect(db.dsn());
  ASSERT_TRUE(owners);
  // Partition 0 is taken while node-a runs: its next heartbeat finds it.
  ASSERT_TRUE(owners->claim("node-b", 0));
  ASSERT_TRUE(until([&] { return !held(0); }));
  EXPECT_EQ(a.board->partitions_lost.load(), 1u);
  // Partition 1 is taken, then the group revokes 1 and 2 from node-a (as
  // after a pause): a heartbeat or the release finds 1 lost, once; 2 is
  // given up.
  ASSERT_TRUE(owners->claim("node-b", 1));
  caf::anon_send(a.keeper, close_atom_v, std::vector<int32_t>{1, 2});
  ASSERT_TRUE(until([&] {
    return db.value("SELECT instance_id FROM partition_owners"
                    " WHERE partition = 2")
           == "";
  }));
  std::this_thread::sleep_for(400ms);
  EXPECT_EQ(a.board->partitions_lost.load(), 2u);
  EXPECT_EQ(db.value("SELECT string_agg(instance_id, ',' ORDER BY partition)"
                     " FROM partition_owners"),
            "node-b,node-b,");
}

// Durable intake throughput: N billing events are produced to an in-process
// librdkafka mock cluster, then the intake and store actors consume, check,
// write (PostgreSQL, fsync on) and commit them. Prints events per second
// from the first poll to the last committed batch.
//
//   intake_throughput --dsn "host=... dbname=..." [--events N] [--batch B]

#include "actors/intake.hpp"
#include "actors/store.hpp"
#include "adapters/kafka/consumer.hpp"
#include "adapters/kafka/mock_cluster.hpp"
#include "adapters/kafka/producer.hpp"
#include "adapters/kafka/tail_reader.hpp"
#include "adapters/postgres/intake_store.hpp"
#include "adapters/postgres/migrations.hpp"
#include "common/log.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <pqxx/pqxx>
#include <thread>

using namespace ispflow;
using namespace std::chrono_literals;

namespace {

std::string activation(int i) {
  char sub[32];
  std::snprintf(sub, sizeof sub, "sub-%06d", i);
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "{\"schema_version\":1,\"tenant_id\":\"bench\","
                "\"subscriber_id\":\"%s\",\"plan_id\":\"fiber-100\","
                "\"service_type\":\"ftth\",\"site\":\"ams-01\",\"access\":{"
                "\"onu_serial\":\"ALCL%08X\",\"cpe\":{\"serial\":\"C%d\","
                "\"oui\":\"00259E\",\"product_class\":\"HG8245\"}}}",
                sub, i, i);
  return buf;
}

events::kafka_record billing_record(int i) {
  events::kafka_record rec;
  rec.topic = "billing.events.v1";
  char sub[32];
  std::snprintf(sub, sizeof sub, "sub-%06d", i);
  rec.key = sub;
  rec.value = activation(i);
  auto h = [&](const char* k, std::string v) {
    rec.headers.push_back(events::kafka_header{k, std::move(v), false});
  };
  h("ce_specversion", "1.0");
  h("ce_id", "bench-" + std::to_string(i));
  h("ce_source", "billing.bench");
  h("ce_type", "billing.subscription.activated");
  h("ce_subject", sub);
  h("ce_tenantid", "bench");
  h("content-type", "application/json");
  return rec;
}

int64_t inbox_count(const std::string& dsn) {
  pqxx::connection c{dsn};
  pqxx::nontransaction tx{c};
  return tx.exec1("select count(*) from inbox")[0].as<int64_t>();
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"Durable intake throughput"};
  std::string dsn;
  int n = 50000;
  size_t batch = 1000;
  app.add_option("--dsn", dsn, "PostgreSQL connection string (empty db)")
    ->required();
  app.add_option("--events", n, "events to produce");
  app.add_option("--batch", batch, "intake.max_batch");
  CLI11_PARSE(app, argc, argv);

  common::log_settings quiet;
  quiet.level = common::log_level::warn;
  common::setup_logging(quiet);

  if (auto rep = adapters::postgres::apply_migrations(dsn); !rep) {
    std::cerr << render_error(rep.error()) << '\n';
    return 1;
  }
  {
    auto db = adapters::postgres::intake_store::connect(dsn);
    if (!db || !db->upsert_tenants({{"bench", "Bench ISP"}})) {
      std::cerr << "cannot prepare the database\n";
      return 1;
    }
  }

  auto cluster = adapters::kafka::mock_cluster::make(1);
  if (!cluster || !(*cluster)->create_topic("billing.events.v1", 6)) {
    std::cerr << "cannot start the mock cluster\n";
    return 1;
  }
  adapters::kafka::client_settings ks;
  ks.bootstrap_servers = (*cluster)->bootstrap_servers();
  ks.client_id = "bench";
  ks.group_id = "bench";

  {
    auto producer = adapters::kafka::producer::make(ks);
    if (!producer) {
      std::cerr << render_error(producer.error()) << '\n';
      return 1;
    }
    std::vector<events::kafka_record> recs;
    for (int i = 0; i < n; ++i)
      recs.push_back(billing_record(i));
    if (auto res = (*producer)->produce_all(recs, 60s); !res) {
      std::cerr << render_error(res.error()) << '\n';
      return 1;
    }
  }

  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::ispflow>();
  caf::actor_system sys{cfg};
  auto store = actors::spawn_store(sys, {dsn});
  actors::intake_settings is;
  is.kafka = ks;
  is.topics = {"billing.events.v1"};
  is.max_batch = batch;
  is.check.known_tenant = [](std::string_view t) { return t == "bench"; };
  auto start = std::chrono::steady_clock::now();
  auto intake = actors::spawn_intake(sys, is, store);
  if (!intake) {
    std::cerr << render_error(intake.error()) << '\n';
    return 1;
  }
  // The clock starts at the first recorded event, so the consumer group
  // join (seconds on the mock cluster) is not counted.
  std::chrono::steady_clock::time_point first{};
  int64_t done = 0;
  while (done < n) {
    std::this_thread::sleep_for(20ms);
    done = inbox_count(dsn);
    if (done > 0 && first == std::chrono::steady_clock::time_point{})
      first = std::chrono::steady_clock::now();
    if (std::chrono::steady_clock::now() - start > 300s) {
      std::cerr << "timed out with " << done << " of " << n << '\n';
      return 1;
    }
  }
  auto secs
    = std::chrono::duration<double>(std::chrono::steady_clock::now() - first)
        .count();
  std::printf("intake: %d events, batch %zu, %.2f s, %.0f events/s\n", n, batch,
              secs, n / secs);
  caf::scoped_actor self{sys};
  self->request(*intake, 30s, stop_atom_v)
    .receive([](uint64_t) {}, [](caf::error&) {});
  self->send_exit(store, caf::exit_reason::user_shutdown);
  return 0;
}

// ispflow-drift-bench: seeds N subscriber records (PostgreSQL, FreeRADIUS
// rows) and the matching network in the simulators (NetBox addresses,
// GenieACS devices, VOLTHA ONUs), changes `--drift` subscribers per kind
// behind ispflow's back, then times one drift scan of them all and prints
// the requests it placed on each system.
//   ispflow-drift-bench --dsn DSN [--subscribers 100000] [--drift 100]

#include "actors/drift/scanner.hpp"
#include "adapters/genieacs/wire.hpp"
#include "adapters/http/http_actor.hpp"
#include "adapters/postgres/migrations.hpp"
#include "adapters/resilience/guard.hpp"
#include "adapters/voltha/device_client.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"
#include "sim/genieacs/server.hpp"
#include "sim/netbox/server.hpp"
#include "sim/voltha/server.hpp"

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/send.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <httplib.h>
#include <iostream>
#include <pqxx/pqxx>
#include <thread>

namespace {

using namespace std::chrono_literals;
using namespace ispflow;
namespace drift = actors::drift;
using steady = std::chrono::steady_clock;

constexpr const char* token = "0123456789abcdef0123456789abcdef01234567";
constexpr const char* tr098_user
  = "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1."
    "WANPPPConnection.1.Username";

std::string sub_id(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "sub-%07d", i);
  return buf;
}

// 10.0.0.0/8, one address per subscriber.
std::string address_of(int i) {
  return "10." + std::to_string((i >> 16) & 255) + "."
         + std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255);
}

double seconds_since(steady::time_point t) {
  return std::chrono::duration<double>(steady::now() - t).count();
}

std::string text_array(const std::vector<std::string>& xs) {
  std::string out = "{";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out += ',';
    out += '"' + xs[i] + '"';
  }
  return out + "}";
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"ispflow-drift-bench: one drift scan of many subscribers"};
  std::string dsn;
  int n = 100'000;
  int per_kind = 100;
  int page_size = 1000;
  app.add_option("--dsn", dsn, "an empty database")->required();
  app.add_option("--subscribers", n, "subscriber records");
  app.add_option("--drift", per_kind, "subscribers changed per kind");
  app.add_option("--page-size", page_size, "drift.page_size");
  CLI11_PARSE(app, argc, argv);
  if (n < 1 || n > 1'000'000 || per_kind * 6 > n) {
    std::cerr << "--subscribers 1..1000000, --drift at most a sixth of it\n";
    return 2;
  }
  auto applied = adapters::postgres::apply_migrations(dsn);
  if (!applied) {
    std::cerr << "migrations: " << render_error(applied.error()) << "\n";
    return 1;
  }
  auto t0 = steady::now();

  // VOLTHA: N ONUs under N/1000 OLTs.
  sim::voltha::options vo;
  vo.onus_per_olt = std::min(n, 1000);
  vo.olts = (n + vo.onus_per_olt - 1) / vo.onus_per_olt;
  vo.transition_delay = 1ms;
  auto voltha = sim::voltha::server::start(vo);
  if (!voltha) {
    std::cerr << "voltha simulator: " << render_error(voltha.error()) << "\n";
    return 1;
  }
  auto grpc = "127.0.0.1:" + std::to_string((*voltha)->grpc_port());
  auto client = adapters::voltha::device_client::make(grpc);
  std::vector<std::pair<std::string, std::string>> onus;
  for (int i = 0; i < 600; ++i) {
    auto got = (*client)->list_devices(60s);
    onus.clear();
    bool active = got.status.ok();
    for (const auto& d : got.value)
      if (!d.root) {
        onus.emplace_back(d.id, d.serial_number);
        active = active && d.oper == adapters::voltha::oper_status::active;
      }
    if (active && static_cast<int>(onus.size()) >= n)
      break;
    std::this_thread::sleep_for(100ms);
  }
  if (static_cast<int>(onus.size()) < n) {
    std::cerr << "voltha simulator: ONUs did not come up\n";
    return 1;
  }

  // NetBox: one address per subscriber, from a seed file.
  auto seed_path
    = std::filesystem::temp_directory_path()
      / ("ispflow-drift-bench-" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream out{seed_path};
    out << R"({"custom_fields":["subscriber_id","idempotency_key"],)"
        << R"("tenants":[{"id":1,"slug":"demo"}],"ip_addresses":[)";
    for (int i = 0; i < n; ++i)
      out << (i > 0 ? "," : "") << R"({"address":")" << address_of(i)
          << R"(/8","tenant":"demo","custom_fields":{"subscriber_id":")"
          << sub_id(i) << "\"}}";
    out << "]}";
  }
  sim::netbox::options no;
  no.seed_file = seed_path.string();
  auto netbox = sim::netbox::server::start(no);
  std::filesystem::remove(seed_path);
  if (!netbox) {
    std::cerr << "netbox simulator: " << render_error(netbox.error()) << "\n";
    return 1;
  }

  // GenieACS: one CPE per subscriber with its PPPoE username.
  auto acs = sim::genieacs::server::start({});
  if (!acs) {
    std::cerr << "genieacs simulator: " << render_error(acs.error()) << "\n";
    return 1;
  }
  std::vector<std::string> cpes;
  cpes.reserve(n);
  for (int i = 0; i < n; ++i) {
    sim::genieacs::device_seed s;
    s.oui = "00259E";
    s.product_class = "HG8245";
    s.serial = "CPE" + std::to_string(i);
    s.parameters = {{tr098_user, sub_id(i) + "@demo.example"}};
    cpes.push_back((*acs)->add_device(s));
  }

  // The records and FreeRADIUS's rows (every tenth subscriber suspended).
  {
    std::vector<std::string> onu_ids, serials;
    for (int i = 0; i < n; ++i) {
      onu_ids.push_back(onus[i].first);
      serials.push_back(onus[i].second);
    }
    pqxx::connection conn{dsn};
    pqxx::work tx{conn};
    tx.exec("SET jit = off");
    tx.exec_params(
      "INSERT INTO subscribers (tenant_id, id, state, plan_id, service_type, "
      "radius_username, ip_address, onu_id, cpe_id, profile) "
      "SELECT 'demo', format('sub-%s', lpad(i::text, 7, '0')), "
      "CASE WHEN i % 10 = 9 THEN 'suspended' ELSE 'active' END, 'p100', "
      "'ftth', format('sub-%s@demo.example', lpad(i::text, 7, '0')), "
      "format('10.%s.%s.%s', (i >> 16) & 255, (i >> 8) & 255, i & 255), "
      "($2::text[])[i + 1], ($3::text[])[i + 1], "
      "jsonb_build_object('access.onu_serial', ($4::text[])[i + 1]) "
      "FROM generate_series(0, $1 - 1) AS i",
      n, text_array(onu_ids), text_array(cpes), text_array(serials));
    tx.exec("INSERT INTO radcheck (username, attribute, op, value) "
            "SELECT radius_username, 'SSHA2-512-Password', ':=', 'x' "
            "FROM subscribers");
    tx.exec("INSERT INTO radcheck (username, attribute, op, value) "
            "SELECT radius_username, 'Auth-Type', ':=', 'Reject' "
            "FROM subscribers WHERE state = 'suspended'");
    tx.exec("INSERT INTO radusergroup (username, groupname, priority) "
            "SELECT radius_username, 'demo.p100', 1 FROM subscribers");
    tx.exec("INSERT INTO radacct (acctsessionid, acctuniqueid, username, "
            "nasipaddress, acctstarttime) SELECT 's-' || id, md5(id), "
            "radius_username, '192.0.2.1', now() FROM subscribers "
            "WHERE state = 'active'");
    tx.commit();
    pqxx::nontransaction{conn}.exec("VACUUM ANALYZE");
  }
  std::cout << "seeded " << n << " subscribers in " << seconds_since(t0)
            << " s\n";

  // Behind ispflow's back: `per_kind` subscribers per kind, disjoint.
  {
    pqxx::connection conn{dsn};
    pqxx::work tx{conn};
    // Subscribers 0 .. per_kind-1: RADIUS password row deleted.
    tx.exec_params("DELETE FROM radcheck WHERE attribute LIKE '%-Password' "
                   "AND username IN (SELECT radius_username FROM subscribers "
                   "ORDER BY id LIMIT $1)",
                   per_kind);
    // Active subscribers after that block: another group (a suspended
    // subscriber's group is not judged).
    tx.exec_params("UPDATE radusergroup SET groupname = 'demo.p050' "
                   "WHERE username IN (SELECT radius_username FROM "
                   "subscribers WHERE state = 'active' AND id >= $2 "
                   "ORDER BY id LIMIT $1)",
                   per_kind, sub_id(per_kind));
    tx.commit();
  }
  httplib::Client nb{"127.0.0.1", (*netbox)->port()};
  nb.set_default_headers({{"Authorization", std::string{"Token "} + token}});
  httplib::Client nbi{"127.0.0.1", (*acs)->port()};
  for (int k = 0; k < per_kind; ++k) {
    // NetBox address ids follow the seed's order (1 = sub-0000000).
    nb.Delete("/api/ipam/ip-addresses/" + std::to_string(2 * per_kind + k + 1)
              + "/");
    (*client)->disable_device(onus[3 * per_kind + k].first, 10s);
    nbi.Delete("/devices/"
               + adapters::genieacs::path_id(cpes[4 * per_kind + k]));
  }
  auto netbox_lookups_before = (*netbox)->checks().lookups;
  auto list_devices_before = (*voltha)->calls("ListDevices");

  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::ispflow>();
  caf::actor_system sys{cfg};
  auto http = adapters::http::spawn_http_actor(sys);
  drift::tenant_view t;
  t.tenant_id = "demo";
  t.radius = t.netbox = t.voltha = t.genieacs = true;
  t.plan_groups = {{"p100", "demo.p100"}};
  t.netbox_settings.base_url = "http://127.0.0.1:"
                               + std::to_string((*netbox)->port());
  t.netbox_settings.token = token;
  t.netbox_settings.tenant_slug = "demo";
  t.netbox_settings.call_timeout = 60s;
  t.genieacs_settings.base_url = "http://127.0.0.1:"
                                 + std::to_string((*acs)->port());
  t.genieacs_settings.call_timeout = 60s;
  t.voltha_grpc = grpc;
  t.voltha_deadline = 120s;
  drift::scanner_settings s;
  s.dsn = dsn;
  s.tenants = {t};
  s.page_size = page_size;
  s.guard = std::make_shared<adapters::resilience::guard>();
  s.http = http;
  auto scanner = drift::scanner::make(sys, std::move(s));
  if (!scanner) {
    std::cerr << "scanner: " << render_error(scanner.error()) << "\n";
    return 1;
  }
  auto t1 = steady::now();
  auto sum = (*scanner)->run({});
  auto took = seconds_since(t1);
  (*scanner)->stop();
  caf::anon_send_exit(http, caf::exit_reason::user_shutdown);
  if (!sum) {
    std::cerr << "scan: " << render_error(sum.error()) << "\n";
    return 1;
  }
  std::cout << "scan " << sum->state << ": " << sum->subscribers
            << " subscribers in " << took << " s ("
            << static_cast<int64_t>(sum->subscribers / took)
            << " subscribers/s), " << sum->findings << " findings\n";
  for (const auto& [kind, count] : sum->by_kind)
    std::cout << "  " << kind << ": " << count << "\n";
  std::cout << "load placed on each system (requests the scan sent):\n";
  for (const auto& [system, count] : sum->requests)
    std::cout << "  " << system << ": " << count << "\n";
  std::cout << "  (seen by the simulators: NetBox list requests "
            << (*netbox)->checks().lookups - netbox_lookups_before
            << ", VOLTHA ListDevices "
            << (*voltha)->calls("ListDevices") - list_devices_before << ")\n";
  for (const auto& [system, why] : sum->unobserved)
    std::cout << "  unobserved " << system << ": " << why << "\n";
  bool exact = sum->findings == 5 * per_kind && sum->unobserved.empty();
  if (!exact)
    std::cerr << "expected " << 5 * per_kind << " findings\n";
  return exact ? 0 : 1;
}

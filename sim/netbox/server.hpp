#pragma once

#include "sim/common/faults.hpp"

#include <caf/expected.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ispflow::sim::netbox {

/// Start-up options of the NetBox simulator.
struct options {
  /// TCP port on 127.0.0.1; 0 picks an ephemeral one.
  uint16_t port = 0;
  /// YAML or JSON seed file; empty = built-in data: tenants demo (1) and
  /// acme (2), sites pop-1/pop-2, role and tag `subscriber`, prefixes
  /// 1 = 100.64.0.0/30 and 2 = 100.64.0.8/29 (demo, pop-1), 3 =
  /// 100.65.0.0/28 (acme, pop-2); custom fields subscriber_id and
  /// idempotency_key.
  std::string seed_file;
  /// Faults in force from the start (common::fault_config JSON, plus
  /// `"full_prefixes":[<prefix id>,...]`).
  std::string faults_json;
  /// Accepted tokens: a v1 token (40 hex) or a v2 `nbt_<key>.<token>`.
  /// Empty = any well-formed token is accepted.
  std::vector<std::string> tokens;
  /// Value of the `API-Version` response header.
  std::string api_version = "4.2";
  /// NetBox's MAX_PAGE_SIZE: no list page holds more, whatever `limit`
  /// asks (`limit=0` asks for exactly this many); 0 = no cap.
  uint32_t max_page_size = 1000;
  /// NetBox's PAGINATE_COUNT: the page size without `limit` (capped by
  /// max_page_size) or with an unreadable one.
  uint32_t paginate_count = 50;
};

/// What clients checked of the contract (`GET /_sim/state`,
/// "contract_checks").
struct contract_checks {
  /// List requests (`GET` of a collection: ip-addresses, prefixes, ...).
  std::size_t lookups = 0;
  /// List requests past the first page (`offset` > 0): `next` followed.
  std::size_t pages_followed = 0;
  /// List requests answered 400 for a filter value that names nothing
  /// ("Select a valid choice").
  std::size_t unknown_choices = 0;
};

/// An IP address as the simulator stores it (for test inspection).
struct ip_address_view {
  /// Primary key.
  int64_t id = 0;
  /// "a.b.c.d/len".
  std::string address;
  /// Tenant id, 0 when none.
  int64_t tenant_id = 0;
  /// Status value, e.g. "active".
  std::string status;
  /// DNS name.
  std::string dns_name;
  /// Description.
  std::string description;
  /// Custom field values as JSON text ("null" when unset).
  std::map<std::string, std::string> custom_fields;
  /// Tag slugs.
  std::vector<std::string> tags;
};

/// A NetBox REST API subset (tenancy, sites, prefixes, available-ips,
/// ip-addresses, tags) on loopback; thread-safe.
class server {
public:
  /// Loads the seed and starts serving; the port is bound on return.
  static caf::expected<std::unique_ptr<server>> start(options opts);

  ~server();

  /// The bound port.
  uint16_t port() const noexcept;

  /// Stops serving; idempotent.
  void stop();

  /// Every IP address, by id.
  std::vector<ip_address_view> ip_addresses() const;

  /// Number of addresses handed out through `POST .../available-ips/`.
  std::size_t allocation_count() const;

  /// The contract checks seen so far.
  contract_checks checks() const;

  /// Marks a prefix as full (every allocation answers 409) or not.
  void set_prefix_full(int64_t prefix_id, bool full);

  /// Replaces the injected faults.
  void set_faults(common::fault_config cfg);

  /// The injected faults now in force.
  common::fault_config faults() const;

  struct impl;

private:
  explicit server(std::unique_ptr<impl> ptr);

  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::sim::netbox

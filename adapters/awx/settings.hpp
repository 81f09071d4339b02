#pragma once

#include "adapters/resilience/clock.hpp"

#include <caf/error.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ispflow::adapters::awx {

/// One tenant's AWX / AAP controller (contracts.md §4).
struct tenant_settings {
  /// API root with its trailing slash: "https://awx.example/api/v2/" or,
  /// behind the AAP 2.5+ gateway, "https://aap.example/api/controller/v2/".
  /// A missing trailing slash is added. It is also the breaker's endpoint.
  std::string base_url;
  /// OAuth2 / personal access token, sent as `Authorization: Bearer`. Never
  /// logged, never part of a reply. Empty: no Authorization header.
  std::string token;
  /// The job template run by awx.run_activation_job.
  int64_t activation_template = 0;
  /// Sent as `inventory` at launch when not 0 (the template must prompt for
  /// it, ask_inventory_on_launch).
  int64_t inventory = 0;
  /// The input field whose value is sent as `limit` at launch (e.g.
  /// "ip_address"); empty = no limit (the template must prompt for it,
  /// ask_limit_on_launch).
  std::string limit_input;
  /// Input fields copied into `extra_vars`, dots turned into underscores
  /// ("access.onu_serial" -> "access_onu_serial"). Fields under
  /// "credentials." are never sent, even if listed.
  std::vector<std::string> extra_var_inputs = {
    "ip_address",
    "onu_id",
    "cpe_id",
    "plan_id",
    "service_type",
    "site",
    "access.onu_serial",
    "access.pon_port",
    "access.nas_port_id",
    "access.nas_identifier",
    "access.cpe.serial",
    "access.cpe.oui",
    "access.cpe.product_class",
  };
  /// Timeout of one HTTP request, connection included.
  std::chrono::milliseconds call_timeout{10'000};
  /// Timeout of the TCP (and TLS) connect phase alone.
  std::chrono::milliseconds connect_timeout{3'000};
  /// How long a step waits (parked, on the engine's durable timer) before
  /// the job is polled again.
  std::chrono::milliseconds poll_interval{15'000};
  /// The key look-up lists the template's jobs created this long ago or
  /// later (`created__gt`). Keep it above the step deadline (2 h).
  std::chrono::minutes lookup_window{360};
  /// A request that says when its saga was created (saga_created_ms) is
  /// looked up only from then, less this margin for the clocks of this
  /// host and AWX's differing (keep it above their skew): a new saga's
  /// look-up reads one page instead of every job of lookup_window.
  std::chrono::seconds clock_skew{60};
  /// How long the template's launch prompts (`GET job_templates/<id>/
  /// launch/`, read before the first launch) are trusted before they are
  /// read again; 0 = read before every launch.
  std::chrono::milliseconds launch_check_ttl{60'000};
  /// `page_size` of the look-up (AWX caps it at 200).
  int32_t page_size = 200;
  /// The look-up gives up (retryable) after this many pages.
  int32_t max_lookup_pages = 20;
};

/// What the AWX adapter actor needs.
struct awx_settings {
  /// By tenant id.
  std::map<std::string, tenant_settings> tenants;
  /// Monotonic time for the breakers; null = the steady clock.
  std::shared_ptr<resilience::clock> clock;
  /// Wall-clock time for `created__gt`; null = system_clock::now.
  std::function<std::chrono::system_clock::time_point()> wall_clock;
  /// Key -> job id entries kept in memory (a cache: the look-up by key is
  /// what makes the operations idempotent).
  size_t known_jobs_capacity = 4096;
};

/// Checks every tenant: an http(s) base URL without user info, a template
/// id, positive timeouts, page sizes in 1..200. The error names the tenant.
caf::error validate(const awx_settings& settings);

/// `x` with its trailing slash.
std::string normalized_base_url(std::string x);

} // namespace ispflow::adapters::awx

#pragma once

#include "adapters/resilience/clock.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace ispflow::adapters::netbox {

/// How the API token is sent in `Authorization`.
enum class token_scheme : uint8_t {
  /// `Token <40 hex>`: NetBox v1 tokens (deprecated, removed in 5.0).
  token,
  /// `Bearer nbt_<key>.<token>`: NetBox 4.5+ v2 tokens.
  bearer,
};

/// Stable lower-case name, "token" or "bearer".
std::string_view to_string(token_scheme x) noexcept;

/// One tenant's NetBox: where it is, how to authenticate, and which prefixes
/// serve its subscribers.
struct tenant_settings {
  /// Base URL without `/api`, e.g. "https://netbox.example.net".
  std::string base_url = "http://127.0.0.1:8000";
  /// The API token (read from a file or the environment by the caller).
  /// Never logged; empty = no `Authorization` header (NetBox answers 403).
  std::string token;
  /// How `token` is sent.
  token_scheme scheme = token_scheme::token;
  /// The NetBox tenant (primary key) that owns prefixes and addresses; 0 =
  /// use `tenant_slug`.
  int64_t tenant_id = 0;
  /// The NetBox tenant's slug, used when `tenant_id` is 0; both empty = no
  /// tenant filter and no tenant on new addresses.
  std::string tenant_slug;
  /// The site (primary key) whose prefixes are used; 0 = use `site_slug`.
  int64_t site_id = 0;
  /// The site's slug, used when `site_id` is 0; both unset = the input
  /// "site" is the slug.
  std::string site_slug;
  /// Slug of the prefix role of subscriber pools.
  std::string prefix_role = "subscriber";
  /// Tag slug put on new addresses; empty = none (the tag must exist).
  std::string tag_slug;
  /// Custom field holding the subscriber id (looked up before allocating).
  std::string subscriber_field = "subscriber_id";
  /// Custom field holding the idempotency key; empty = not written.
  std::string key_field = "idempotency_key";
  /// Timeout of one HTTP exchange (connect included).
  std::chrono::milliseconds call_timeout{10'000};
  /// Timeout of the TCP (and TLS) connect phase.
  std::chrono::milliseconds connect_timeout{3'000};
  /// Pages of one look-up (addresses, prefixes) followed through `next`
  /// before the look-up fails: a server whose MAX_PAGE_SIZE is below our
  /// `limit` answers in several pages.
  int32_t max_pages = 50;
  /// Keep connections to this system open between requests. A POST is
  /// still sent at most once: the HTTP client stops libcurl's own resend
  /// after a reused connection died without an answer (adapters/http). Off:
  /// every request says `Connection: close` and opens a connection of its
  /// own. `tenants[i].netbox.keep_alive`.
  bool reuse_connections = true;
  /// How long `allocate_ip` reuses the prefix list it read (per tenant and
  /// site), sparing NetBox a list query per allocation; 0 = read it every
  /// time. A cached list is read again before the allocation gives up on
  /// it: when every prefix in it answered full (a prefix added since may
  /// have room) or one of them is gone (404). A prefix that changed role
  /// or status is used until the period ends.
  /// `tenants[i].netbox.prefix_cache_ms`.
  std::chrono::milliseconds prefix_cache{60'000};
};

/// What the NetBox adapter actor needs.
struct adapter_settings {
  /// By ispflow tenant id.
  std::map<std::string, tenant_settings> tenants;
  /// Time for the guard (breaker decisions, call durations); null = the
  /// steady clock. Tests pass a `resilience::manual_clock`.
  std::shared_ptr<resilience::clock> clock;
};

} // namespace ispflow::adapters::netbox

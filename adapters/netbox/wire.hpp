#pragma once

#include "adapters/netbox/settings.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// The NetBox wire format as pure functions (no I/O): URLs, bodies and the
// reading of answers. The adapter actor composes them; unit tests call them
// directly.

namespace ispflow::adapters::netbox {

/// Query parameters in order (a name may repeat).
using query_params = std::vector<std::pair<std::string, std::string>>;

/// Percent-encodes every byte outside RFC 3986's unreserved set.
std::string url_encode(std::string_view text);

/// `<base_url>/api/<path>?<params>`; `path` starts without `/api`, e.g.
/// "/ipam/prefixes/" (a trailing slash is added if missing). A trailing
/// slash of `base_url` is dropped.
std::string api_url(std::string_view base_url, std::string_view path,
                    const query_params& params = {});

/// The `Authorization` value: "Token <t>" or "Bearer <t>".
std::string authorization_value(token_scheme scheme, std::string_view token);

/// "100.64.0.9/29" -> "100.64.0.9" (the text up to '/').
std::string_view address_without_length(std::string_view cidr) noexcept;

/// "100.64.0.9/29" -> "100.64.0.8/29"; nothing if it is not IPv4 CIDR.
std::optional<std::string> ipv4_network_of(std::string_view cidr);

/// The filters that select `t`'s objects: tenant_id or tenant (slug).
void add_tenant_filter(const tenant_settings& t, query_params& out);

/// Query of the address look-up: `cf_<subscriber_field>=<subscriber>` plus
/// the tenant filter.
query_params address_lookup_query(const tenant_settings& t,
                                  std::string_view subscriber_id);

/// Query of the look-up of one address: `address=<a.b.c.d>` (NetBox matches
/// the host whatever the mask length, in every VRF and tenant), at most
/// 1000.
query_params address_query(std::string_view address);

/// "a.b.c.d/<len of prefix>" when `address` (no /len) lies in IPv4
/// `prefix` ("100.64.0.8/29"); nothing otherwise.
std::optional<std::string> address_in_prefix(std::string_view address,
                                             std::string_view prefix);

/// JSON body of `POST /api/ipam/ip-addresses/`: `address` ("a.b.c.d/len")
/// and what `allocation_body` writes.
std::string assignment_body(const tenant_settings& t, std::string_view address,
                            std::string_view subscriber_id,
                            std::string_view idempotency_key);

/// Query of the prefix list: tenant, site (`site_id`, `site_slug` or
/// `input_site`), role and status=active, at most 1000.
query_params prefix_query(const tenant_settings& t,
                          std::string_view input_site);

/// JSON body of `POST /api/ipam/prefixes/<id>/available-ips/`: tenant,
/// status active, description, tag, and the custom fields with the
/// subscriber id and the idempotency key.
std::string allocation_body(const tenant_settings& t,
                            std::string_view subscriber_id,
                            std::string_view idempotency_key);

/// An IP address as the adapter reads it.
struct address_ref {
  /// Primary key.
  int64_t id = 0;
  /// "a.b.c.d/len".
  std::string address;
  /// The subscriber custom field's value; empty when unset or not a string.
  std::string subscriber;
  /// The NetBox tenant's primary key, 0 when none.
  int64_t tenant_id = 0;
  /// The NetBox tenant's slug, empty when none.
  std::string tenant_slug;
  /// Tag slugs.
  std::vector<std::string> tags;
};

/// A prefix as the adapter reads it.
struct prefix_ref {
  /// Primary key.
  int64_t id = 0;
  /// "a.b.c.d/len".
  std::string prefix;
};

/// The `results` of a paginated list of addresses, in server order, with
/// `subscriber` read from custom field `subscriber_field`; nothing if the
/// body is not such a list.
std::optional<std::vector<address_ref>>
parse_addresses(std::string_view body, std::string_view subscriber_field = {});

/// The addresses whose subscriber field is exactly `subscriber_id`. A text
/// custom field filters loosely by default (`cf_x=sub-1` also matches
/// "sub-10"), so the look-up's hits are checked here.
std::vector<address_ref> exact_matches(std::vector<address_ref> xs,
                                       std::string_view subscriber_id);

/// The address belongs to the tenant `t` names (no tenant configured:
/// any).
bool of_tenant(const tenant_settings& t, const address_ref& a);

/// What `netbox.assign_ip` does with the addresses a look-up by the
/// recorded address found.
struct assignment {
  enum class action {
    /// None found: create it.
    create,
    /// Found, unassigned or lacking the tenant or tag: PATCH `id` with
    /// `body`.
    claim,
    /// Found and already the subscriber's in full.
    done,
    /// Held by another subscriber or tenant: never taken (`reason`).
    refuse,
  };
  action what = action::create;
  /// The address to claim, or the subscriber's.
  int64_t id = 0;
  /// PATCH body (claim): the subscriber and key custom fields, the tenant,
  /// and the tag added to the address's own.
  std::string body;
  /// Why it is refused.
  std::string reason;
};

/// Decides `netbox.assign_ip` (pure): any hit held by another subscriber
/// (custom field) or another NetBox tenant refuses; else a hit that is
/// the subscriber's with tenant and tag is done; else the first hit is
/// claimed; no hit: create.
assignment plan_assignment(const tenant_settings& t,
                           std::string_view subscriber_id,
                           std::string_view idempotency_key,
                           const std::vector<address_ref>& hits);

/// The `results` of a paginated list of prefixes, in server order; nothing
/// if the body is not such a list.
std::optional<std::vector<prefix_ref>> parse_prefixes(std::string_view body);

/// One IP address object (the 201 of available-ips, a single object or the
/// first of a list); nothing if there is none.
std::optional<address_ref> parse_address(std::string_view body);

/// The `next` link of a paginated list, empty on the last page (`null`) or
/// when the body is not such a list.
std::string next_link(std::string_view body);

/// The URL that fetches a `next` link: its path and query on the scheme and
/// authority of `base_url`. NetBox builds the link from the request it saw
/// (build_absolute_uri), which behind a proxy may carry another host or
/// scheme than the one we reach it by.
std::string follow_link(std::string_view base_url, std::string_view link);

/// A filter value NetBox knows nothing of: a 400 answer
/// `{"site":["Select a valid choice. pop-9 is not one of the available
/// choices."]}` (django-filter's validation of slug and id filters).
struct unknown_choice {
  /// The filter, e.g. "site", "tenant_id", "role".
  std::string filter;
  /// The value it did not know, e.g. "pop-9".
  std::string value;
  /// NetBox's message.
  std::string message;
};

/// Every unknown choice of a 400 body; empty if it names none.
std::vector<unknown_choice> unknown_choices(std::string_view body);

/// The server's explanation of an error: `detail` of a JSON object, else
/// the body (shortened to 300 bytes), else "HTTP <status>".
std::string error_message(int status, std::string_view body);

} // namespace ispflow::adapters::netbox

#include "adapters/netbox/observe.hpp"

#include "events/errc.hpp"

namespace ispflow::adapters::netbox {

query_params tenant_addresses_query(const tenant_settings& t) {
  query_params out;
  add_tenant_filter(t, out);
  if (!t.tag_slug.empty())
    out.emplace_back("tag", t.tag_slug);
  out.emplace_back("limit", "1000");
  return out;
}

caf::expected<std::map<std::string, std::vector<std::string>>>
observe_addresses(const tenant_settings& t, const fetch_fn& fetch,
                  uint64_t& requests, int32_t max_pages) {
  std::map<std::string, std::vector<std::string>> out;
  auto url = api_url(t.base_url, "/ipam/ip-addresses/",
                     tenant_addresses_query(t));
  for (int32_t page = 0; page < max_pages; ++page) {
    http::request req;
    req.url = url;
    req.timeout = t.call_timeout;
    req.connect_timeout = t.connect_timeout;
    if (!t.reuse_connections)
      req.headers.emplace_back("Connection", "close");
    req.headers.emplace_back("Accept", "application/json");
    if (!t.token.empty())
      req.headers.emplace_back("Authorization",
                               authorization_value(t.scheme, t.token));
    ++requests;
    auto res = fetch(std::move(req));
    if (!res.has_response())
      return caf::make_error(errc::unspecified,
                             "netbox: ip-addresses: "
                               + std::string{to_string(res.error)} + ": "
                               + res.error_text);
    if (res.status != 200)
      return caf::make_error(errc::unspecified,
                             "netbox: ip-addresses: "
                               + error_message(res.status, res.body));
    auto xs = parse_addresses(res.body, t.subscriber_field);
    if (!xs)
      return caf::make_error(errc::unspecified,
                             "netbox: ip-addresses: unreadable page");
    for (auto& x : *xs)
      if (!x.subscriber.empty())
        out[x.subscriber].emplace_back(address_without_length(x.address));
    auto next = next_link(res.body);
    if (next.empty())
      return out;
    url = follow_link(t.base_url, next);
  }
  return caf::make_error(errc::unspecified, "netbox: ip-addresses: more than "
                                              + std::to_string(max_pages)
                                              + " pages");
}

} // namespace ispflow::adapters::netbox

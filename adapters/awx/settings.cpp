#include "adapters/awx/settings.hpp"

#include "events/errc.hpp"

namespace ispflow::adapters::awx {

std::string normalized_base_url(std::string x) {
  if (x.empty() || x.back() != '/')
    x += '/';
  return x;
}

caf::error validate(const awx_settings& settings) {
  auto bad = [](const std::string& tenant, std::string what) {
    return caf::make_error(errc::invalid_config,
                           "awx tenant " + tenant + ": " + std::move(what));
  };
  for (const auto& [tenant, ts] : settings.tenants) {
    const auto& url = ts.base_url;
    auto scheme_end = url.find("://");
    if (scheme_end == std::string::npos
        || (url.compare(0, scheme_end, "http") != 0
            && url.compare(0, scheme_end, "https") != 0))
      return bad(tenant, "base_url must start with http:// or https://");
    auto authority = url.substr(scheme_end + 3, url.find('/', scheme_end + 3)
                                                  - (scheme_end + 3));
    if (authority.empty())
      return bad(tenant, "base_url has no host");
    if (authority.find('@') != std::string::npos)
      return bad(tenant, "base_url must not carry credentials (use token)");
    if (ts.activation_template <= 0)
      return bad(tenant, "activation_template must be a job template id");
    if (ts.inventory < 0)
      return bad(tenant, "inventory must be an id or 0");
    if (ts.call_timeout.count() <= 0 || ts.connect_timeout.count() <= 0)
      return bad(tenant, "timeouts must be positive");
    if (ts.poll_interval.count() <= 0)
      return bad(tenant, "poll_interval must be positive");
    if (ts.launch_check_ttl.count() < 0)
      return bad(tenant, "launch_check_ttl must not be negative");
    if (ts.lookup_window.count() <= 0)
      return bad(tenant, "lookup_window must be positive");
    if (ts.clock_skew.count() < 0)
      return bad(tenant, "clock_skew must not be negative");
    if (ts.page_size < 1 || ts.page_size > 200)
      return bad(tenant, "page_size must be in 1..200");
    if (ts.max_lookup_pages < 1)
      return bad(tenant, "max_lookup_pages must be at least 1");
  }
  return {};
}

} // namespace ispflow::adapters::awx

#pragma once

// Internal to ispflow_admin: not a public header. GET /v1/subscribers and
// GET /v1/subscribers/{id}: the subscriber records (schema/0011) and their
// saga history; libpqxx stays in subscribers.cpp.

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace ispflow::actors::admin::detail {

/// An answer of the subscriber routes: a JSON body, or an error (`code`
/// set) for the server to render as every other error.
struct subscriber_answer {
  int status = 200;
  std::string body;
  std::string code;
  std::string message;
};

/// The subscriber routes over one lazily (re)opened connection; thread-safe
/// (calls take turns on it).
class subscriber_routes {
public:
  /// A query parameter of the request, "" when absent.
  using param_fn = std::function<std::string(const char*)>;

  explicit subscriber_routes(std::string dsn);
  ~subscriber_routes();

  /// GET /v1/subscribers: filters `tenant`, `state`, `plan`, `nas`; pages of
  /// `limit` (default 50, at most 500) by (tenant, id) after `cursor`. A
  /// token bound to a tenant (`token_tenant`) sees only that tenant.
  subscriber_answer list(const param_fn& param,
                         const std::optional<std::string>& token_tenant);

  /// GET /v1/subscribers/{id}: the record and the subscriber's sagas,
  /// newest first (at most 100; retention may have removed older ones).
  /// `tenant` names the tenant when several use the same id.
  subscriber_answer show(const std::string& id, const param_fn& param,
                         const std::optional<std::string>& token_tenant);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::actors::admin::detail

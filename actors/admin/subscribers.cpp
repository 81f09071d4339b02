#include "actors/admin/subscribers.hpp"

#include "actors/admin/request.hpp"
#include "sagas/admission.hpp"

#include <mutex>
#include <pqxx/pqxx>

namespace ispflow::actors::admin::detail {

namespace {

constexpr uint32_t default_limit = 50;
constexpr uint32_t max_limit = 500;

// One record as the API shows it.
#define ISPFLOW_RECORD_JSON                                                    \
  "json_build_object('tenant_id', r.tenant_id, 'id', r.id, 'state', r.state,"  \
  " 'plan_id', r.plan_id, 'service_type', r.service_type,"                     \
  " 'radius_username', r.radius_username, 'ip_address', r.ip_address,"         \
  " 'onu_id', r.onu_id, 'cpe_id', r.cpe_id,"                                   \
  " 'nas_identifier', r.nas_identifier, 'last_saga_id', r.last_saga_id,"       \
  " 'last_saga_name', r.last_saga_name, 'last_outcome', r.last_outcome,"       \
  " 'created_at', r.created_at, 'updated_at', r.updated_at,"                   \
  " 'version', r.version)"

constexpr const char* list_sql
  = "SELECT " ISPFLOW_RECORD_JSON "::text, r.tenant_id, r.id"
    "  FROM subscribers r"
    " WHERE ($1 = '' OR r.tenant_id = $1) AND ($2 = '' OR r.state = $2)"
    "   AND ($3 = '' OR r.plan_id = $3) AND ($4 = '' OR r.nas_identifier = $4)"
    "   AND (r.tenant_id, r.id) > ($5, $6)"
    " ORDER BY r.tenant_id, r.id LIMIT $7";

constexpr const char* find_sql
  = "SELECT " ISPFLOW_RECORD_JSON "::text, r.tenant_id FROM subscribers r"
    " WHERE r.id = $1 AND ($2 = '' OR r.tenant_id = $2)"
    " ORDER BY r.tenant_id LIMIT 2";

// The whole answer of show: the record ($3, JSON text or null) and the
// subscriber's sagas, newest first.
constexpr const char* show_sql
  = "SELECT json_build_object('tenant_id', $1::text, 'id', $2::text,"
    " 'record', $3::json, 'sagas', COALESCE((SELECT json_agg(x ORDER BY"
    " x.created_at DESC, x.id DESC) FROM (SELECT s.id, s.name, s.state,"
    " s.causation, NULLIF(s.failed_step, '') AS failed_step,"
    " NULLIF(s.error, '') AS error, s.created_at, s.updated_at"
    " FROM sagas s WHERE s.tenant_id = $1 AND s.subscriber_id = $2"
    " ORDER BY s.created_at DESC, s.id DESC LIMIT 100) x), '[]'))::text";

// A subscriber without a record yet (only open sagas): its tenant.
constexpr const char* open_only_sql
  = "SELECT t.id FROM tenants t WHERE ($2 = '' OR t.id = $2)"
    " AND EXISTS (SELECT 1 FROM sagas s WHERE s.tenant_id = t.id"
    "             AND s.subscriber_id = $1)"
    " ORDER BY t.id LIMIT 2";

#undef ISPFLOW_RECORD_JSON

subscriber_answer fail(int status, std::string code, std::string message) {
  return {status, {}, std::move(code), std::move(message)};
}

// "" when the token may use `tenant` (and then narrowed to its tenant),
// else the refusal.
std::optional<subscriber_answer>
narrow(std::string& tenant, const std::optional<std::string>& token_tenant) {
  if (!token_tenant)
    return std::nullopt;
  if (!tenant.empty() && tenant != *token_tenant)
    return fail(403, "forbidden_tenant",
                "the token is restricted to another tenant");
  tenant = *token_tenant;
  return std::nullopt;
}

} // namespace

struct subscriber_routes::impl {
  std::string dsn;
  std::mutex mtx;
  std::unique_ptr<pqxx::connection> conn;

  template <class F>
  subscriber_answer run(F&& f) {
    std::lock_guard<std::mutex> guard{mtx};
    try {
      if (!conn || !conn->is_open()) {
        conn = std::make_unique<pqxx::connection>(dsn);
        pqxx::nontransaction tx{*conn};
        tx.exec("SET TIME ZONE 'UTC'; SET jit = off");
      }
      pqxx::read_transaction tx{*conn};
      return f(tx);
    } catch (const pqxx::broken_connection&) {
      conn.reset();
      return fail(503, "database_unavailable",
                  "the database cannot be reached");
    } catch (const pqxx::data_exception& e) {
      return fail(400, "invalid_request", e.what());
    } catch (const std::exception& e) {
      conn.reset();
      return fail(500, "database_error", e.what());
    }
  }
};

subscriber_routes::subscriber_routes(std::string dsn)
  : impl_(std::make_unique<impl>()) {
  impl_->dsn = std::move(dsn);
}

subscriber_routes::~subscriber_routes() = default;

subscriber_answer
subscriber_routes::list(const param_fn& param,
                        const std::optional<std::string>& token_tenant) {
  auto tenant = param("tenant");
  if (auto refused = narrow(tenant, token_tenant))
    return *refused;
  auto state = param("state");
  if (!state.empty() && !sagas::parse_subscriber_state(state))
    return fail(400, "invalid_request", "unknown state " + state);
  auto limit = limit_param(param("limit"), default_limit, max_limit);
  if (!limit)
    return fail(400, "invalid_request", "limit must be a positive integer");
  std::string after_tenant;
  std::string after_id;
  if (auto cursor = param("cursor"); !cursor.empty()) {
    auto raw = unbase64(cursor);
    auto sep = raw ? raw->find('\n') : std::string::npos;
    if (sep == std::string::npos)
      return fail(400, "invalid_cursor", "the cursor is not valid");
    after_tenant = raw->substr(0, sep);
    after_id = raw->substr(sep + 1);
  }
  auto plan = param("plan");
  auto nas = param("nas");
  return impl_->run([&](pqxx::read_transaction& tx) {
    auto rows = tx.exec_params(list_sql, tenant, state, plan, nas, after_tenant,
                               after_id, static_cast<int64_t>(*limit) + 1);
    std::string body = "{\"items\":[";
    size_t shown = std::min<size_t>(rows.size(), *limit);
    for (size_t i = 0; i < shown; ++i) {
      if (i > 0)
        body += ',';
      body += rows[i][0].c_str();
    }
    body += "],\"next_cursor\":";
    if (rows.size() > *limit) {
      auto last = rows[shown - 1];
      body += '"'
              + base64(last[1].as<std::string>() + '\n'
                         + last[2].as<std::string>(),
                       true)
              + '"';
    } else {
      body += "null";
    }
    body += '}';
    return subscriber_answer{200, std::move(body), {}, {}};
  });
}

subscriber_answer
subscriber_routes::show(const std::string& id, const param_fn& param,
                        const std::optional<std::string>& token_tenant) {
  auto tenant = param("tenant");
  if (auto refused = narrow(tenant, token_tenant))
    return *refused;
  return impl_->run([&](pqxx::read_transaction& tx) {
    auto found = tx.exec_params(find_sql, id, tenant);
    std::string record = "null";
    std::string owner;
    if (found.empty()) {
      // No saga of it has finished yet; it may still have open ones.
      auto open = tx.exec_params(open_only_sql, id, tenant);
      if (open.empty())
        return fail(404, "not_found", "subscriber not found");
      if (open.size() > 1)
        return fail(400, "invalid_request",
                    "several tenants have subscriber " + id
                      + ": name the tenant");
      owner = open[0][0].as<std::string>();
    } else {
      if (found.size() > 1)
        return fail(400, "invalid_request",
                    "several tenants have subscriber " + id
                      + ": name the tenant");
      record = found[0][0].as<std::string>();
      owner = found[0][1].as<std::string>();
    }
    auto body
      = tx.exec_params1(show_sql, owner, id, record)[0].as<std::string>();
    return subscriber_answer{200, std::move(body), {}, {}};
  });
}

} // namespace ispflow::actors::admin::detail

#include "actors/admin/drift.hpp"

#include "actors/admin/request.hpp"
#include "events/errc.hpp"

#include <mutex>
#include <pqxx/pqxx>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace ispflow::actors::admin {

drift_control::~drift_control() {
  // nop
}

namespace detail {

namespace {

#define ISPFLOW_SCAN_JSON                                                      \
  "json_build_object('id', s.id, 'tenant_id', s.tenant_id, 'systems',"         \
  " s.systems, 'dry_run', s.dry_run, 'repair', s.repair, 'trigger',"           \
  " s.trigger, 'state', s.state, 'error', s.error, 'subscribers',"             \
  " s.subscribers, 'findings', s.findings, 'repairs', s.repairs,"              \
  " 'unobserved', s.unobserved, 'requests', s.requests, 'created_at',"         \
  " s.created_at, 'started_at', s.started_at, 'finished_at', s.finished_at)"

constexpr const char* list_sql
  = "SELECT COALESCE(json_agg(x.j ORDER BY x.created_at DESC, x.id DESC),"
    " '[]')::text FROM (SELECT " ISPFLOW_SCAN_JSON " AS j, s.created_at, s.id"
    " FROM drift_scans s WHERE ($1 = '' OR s.tenant_id = $1)"
    " ORDER BY s.created_at DESC, s.id DESC LIMIT $2) x";

// The scan ($1) when the token may see it ($2: its tenant, '' = any), with
// its findings (filters $3 kind, $4 system; at most $5). A finding a repair
// was planned for shows the repair's saga (once the router started it) and
// its state, or why the router refused it ($6: the repairs' inbox source).
constexpr const char* show_sql
  = "SELECT json_build_object('scan', " ISPFLOW_SCAN_JSON ", 'findings',"
    " COALESCE((SELECT json_agg(f ORDER BY f.tenant_id, f.subscriber_id,"
    " f.kind) FROM (SELECT d.tenant_id, d.subscriber_id, d.system, d.kind,"
    " d.expected, d.observed, d.repair, d.unrepairable, i.saga_id AS"
    " repair_saga_id, g.state AS repair_state, i.skipped_reason AS"
    " repair_refused FROM drift_findings d LEFT JOIN inbox i ON"
    " i.tenant_id = d.tenant_id AND i.source = $6 AND i.event_id = d.repair"
    " LEFT JOIN sagas g ON g.id = i.saga_id"
    " WHERE d.scan_id = s.id AND ($3 = '' OR d.kind = $3)"
    " AND ($4 = '' OR d.system = $4)"
    " ORDER BY d.tenant_id, d.subscriber_id, d.kind LIMIT $5) f), '[]'))::text"
    " FROM drift_scans s WHERE s.id = $1 AND ($2 = '' OR s.tenant_id = $2)";

#undef ISPFLOW_SCAN_JSON

drift_answer fail(int status, std::string code, std::string message) {
  return {status, {}, std::move(code), std::move(message)};
}

std::optional<drift_answer>
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

std::variant<drift_scan_order, std::string>
parse_drift_scan_order(const std::string& body) {
  drift_scan_order out;
  if (body.find_first_not_of(" \t\r\n") == std::string::npos)
    return out;
  rapidjson::Document doc;
  doc.Parse(body.c_str(), body.size());
  if (doc.HasParseError() || !doc.IsObject())
    return std::string{"the body must be a JSON object"};
  for (auto& m : doc.GetObject()) {
    std::string key = m.name.GetString();
    const auto& v = m.value;
    if (key == "tenant") {
      if (!v.IsString())
        return std::string{"tenant must be a string"};
      out.tenant = v.GetString();
    } else if (key == "systems") {
      if (!v.IsArray())
        return std::string{"systems must be an array of strings"};
      for (const auto& x : v.GetArray()) {
        if (!x.IsString())
          return std::string{"systems must be an array of strings"};
        out.systems.emplace_back(x.GetString());
      }
    } else if (key == "dry_run" || key == "repair") {
      if (!v.IsBool())
        return key + " must be true or false";
      (key == "dry_run" ? out.dry_run : out.repair) = v.GetBool();
    } else {
      return "unknown member " + key + " (tenant, systems, dry_run, repair)";
    }
  }
  if (out.repair && out.dry_run)
    return std::string{"repair and dry_run exclude each other: a dry run "
                       "only reports"};
  return out;
}

struct drift_routes::impl {
  std::string dsn;
  std::mutex mtx;
  std::unique_ptr<pqxx::connection> conn;

  template <class F>
  drift_answer run(F&& f) {
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
    } catch (const std::exception& e) {
      conn.reset();
      return fail(500, "database_error", e.what());
    }
  }
};

drift_routes::drift_routes(std::string dsn) : impl_(std::make_unique<impl>()) {
  impl_->dsn = std::move(dsn);
}

drift_routes::~drift_routes() = default;

drift_answer
drift_routes::start(const drift_scan_order& order, drift_control* control,
                    const std::optional<std::string>& token_tenant) {
  if (control == nullptr)
    return fail(501, "not_implemented", "drift scans are not available");
  auto x = order;
  if (auto refused = narrow(x.tenant, token_tenant))
    return *refused;
  auto id = control->start_scan(x);
  if (!id) {
    auto& err = id.error();
    auto text = render_error(err);
    if (err.category() == caf::atom("ispflow")
        && static_cast<errc>(err.code()) == errc::invalid_input)
      return fail(400, "invalid_request", text);
    return fail(503, "unavailable", text);
  }
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  w.StartObject();
  w.Key("id");
  w.String(id->c_str());
  w.Key("state");
  w.String("queued");
  w.EndObject();
  return {202, buf.GetString(), {}, {}};
}

drift_answer
drift_routes::list(const param_fn& param,
                   const std::optional<std::string>& token_tenant) {
  auto tenant = param("tenant");
  if (auto refused = narrow(tenant, token_tenant))
    return *refused;
  auto limit = limit_param(param("limit"), 20, 200);
  if (!limit)
    return fail(400, "invalid_request", "limit must be a positive integer");
  return impl_->run([&](pqxx::read_transaction& tx) {
    auto rows = tx.exec_params(list_sql, tenant, static_cast<int64_t>(*limit));
    return drift_answer{
      200, "{\"scans\":" + rows[0][0].as<std::string>() + "}", {}, {}};
  });
}

drift_answer
drift_routes::show(const std::string& id, const param_fn& param,
                   const std::optional<std::string>& token_tenant) {
  auto limit = limit_param(param("limit"), 1000, 10000);
  if (!limit)
    return fail(400, "invalid_request", "limit must be a positive integer");
  std::string tenant = token_tenant ? *token_tenant : std::string{};
  return impl_->run([&](pqxx::read_transaction& tx) {
    auto rows = tx.exec_params(show_sql, id, tenant, param("kind"),
                               param("system"), static_cast<int64_t>(*limit),
                               std::string{drift_repair_source});
    if (rows.empty())
      return fail(404, "not_found", "drift scan not found");
    return drift_answer{200, rows[0][0].as<std::string>(), {}, {}};
  });
}

} // namespace detail

} // namespace ispflow::actors::admin

#include "adapters/awx/protocol.hpp"

#include "events/errc.hpp"
#include "events/json/bounded_parse.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <optional>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace ispflow::adapters::awx {

namespace {

using writer = rapidjson::Writer<rapidjson::StringBuffer>;

void put(writer& w, std::string_view key, std::string_view value) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

std::string text_of(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  writer w{buf};
  v.Accept(w);
  return {buf.GetString(), buf.GetSize()};
}

std::string string_or_empty(const rapidjson::Value& obj, const char* key) {
  if (auto i = obj.FindMember(key); i != obj.MemberEnd() && i->value.IsString())
    return {i->value.GetString(), i->value.GetStringLength()};
  return {};
}

void flatten(const rapidjson::Value& v, const std::string& prefix,
             events::string_map& out) {
  if (v.IsObject()) {
    for (auto& m : v.GetObject())
      flatten(m.value, prefix + "." + m.name.GetString(), out);
  } else if (v.IsString()) {
    out[prefix] = std::string{v.GetString(), v.GetStringLength()};
  } else if (v.IsNull()) {
    out[prefix] = "";
  } else {
    out[prefix] = text_of(v);
  }
}

// Reads `extra_vars` of a job: a JSON object, or a string holding one (AWX
// returns a string).
std::string key_of(const rapidjson::Value& job) {
  auto i = job.FindMember("extra_vars");
  if (i == job.MemberEnd())
    return {};
  rapidjson::Document vars;
  const rapidjson::Value* obj = nullptr;
  if (i->value.IsObject()) {
    obj = &i->value;
  } else if (i->value.IsString()) {
    events::json::parse_bounded(vars, {i->value.GetString(),
                                       i->value.GetStringLength()});
    if (!vars.HasParseError() && vars.IsObject())
      obj = &vars;
  }
  if (obj == nullptr)
    return {};
  return string_or_empty(*obj, key_var.data());
}

caf::expected<job_info> read_job(const rapidjson::Value& v) {
  if (!v.IsObject())
    return caf::make_error(errc::invalid_input,
                           std::string{"AWX job is not a JSON object"});
  job_info job;
  if (auto i = v.FindMember("id"); i != v.MemberEnd() && i->value.IsInt64())
    job.id = i->value.GetInt64();
  else
    return caf::make_error(errc::invalid_input,
                           std::string{"AWX job without an id"});
  job.status = string_or_empty(v, "status");
  job.job_explanation = string_or_empty(v, "job_explanation");
  if (auto i = v.FindMember("artifacts");
      i != v.MemberEnd() && i->value.IsObject())
    for (auto& m : i->value.GetObject())
      flatten(m.value, std::string{"artifacts."} + m.name.GetString(),
              job.artifacts);
  job.idempotency_key = key_of(v);
  return job;
}

caf::expected<rapidjson::Document> parse_object(std::string_view json) {
  rapidjson::Document doc;
  events::json::parse_bounded(doc, json);
  if (doc.HasParseError() || !doc.IsObject())
    return caf::make_error(errc::invalid_input,
                           std::string{"AWX answered with a body that is not "
                                       "a JSON object"});
  return doc;
}

std::string cut(std::string_view s, size_t n) {
  if (s.size() <= n)
    return std::string{s};
  return std::string{s.substr(0, n)} + "...";
}

std::string status_text(const http::response& res) {
  auto out = "HTTP " + std::to_string(res.status);
  if (!res.reason.empty())
    out += " " + res.reason;
  return out;
}

std::string var_name(std::string_view field) {
  std::string out{field};
  for (auto& c : out)
    if (c == '.')
      c = '_';
  return out;
}

bool is_credential(std::string_view field) {
  return field.rfind("credentials.", 0) == 0 || field == "credentials";
}

} // namespace

bool is_terminal(std::string_view status) noexcept {
  return status == "successful" || status == "failed" || status == "error"
         || status == "canceled";
}

std::string join_url(const std::string& base, std::string_view path) {
  auto url = normalized_base_url(base);
  while (!path.empty() && path.front() == '/')
    path.remove_prefix(1);
  url.append(path);
  return url;
}

std::string resolve_link(const std::string& base, std::string_view link) {
  if (link.rfind("http://", 0) == 0 || link.rfind("https://", 0) == 0)
    return std::string{link};
  auto scheme_end = base.find("://");
  auto path_start = scheme_end == std::string::npos
                      ? std::string::npos
                      : base.find('/', scheme_end + 3);
  auto origin = base.substr(0, path_start);
  if (!link.empty() && link.front() != '/')
    return join_url(base, link);
  return origin + std::string{link};
}

std::vector<std::string> launch_fields(const tenant_settings& ts,
                                       const events::adapter_request& req) {
  std::vector<std::string> out{"extra_vars"};
  if (ts.inventory > 0)
    out.emplace_back("inventory");
  if (!ts.limit_input.empty() && req.input.count(ts.limit_input) > 0)
    out.emplace_back("limit");
  return out;
}

std::string launch_body(const tenant_settings& ts,
                        const events::adapter_request& req) {
  rapidjson::StringBuffer buf;
  writer w{buf};
  w.StartObject();
  w.Key("extra_vars");
  w.StartObject();
  put(w, key_var, req.idempotency_key);
  put(w, "tenant_id", req.tenant_id);
  put(w, "subscriber_id", req.subscriber_id);
  for (const auto& field : ts.extra_var_inputs) {
    if (is_credential(field))
      continue;
    auto name = var_name(field);
    if (name == key_var || name == "tenant_id" || name == "subscriber_id")
      continue;
    if (auto i = req.input.find(field); i != req.input.end())
      put(w, name, i->second);
  }
  w.EndObject();
  if (ts.inventory > 0) {
    w.Key("inventory");
    w.Int64(ts.inventory);
  }
  if (!ts.limit_input.empty())
    if (auto i = req.input.find(ts.limit_input); i != req.input.end())
      put(w, "limit", i->second);
  w.EndObject();
  return {buf.GetString(), buf.GetSize()};
}

caf::expected<launch_info> parse_launch(const http::response& res) {
  launch_info out;
  rapidjson::Document doc;
  events::json::parse_bounded(doc, res.body);
  bool object = !doc.HasParseError() && doc.IsObject();
  if (object) {
    if (auto i = doc.FindMember("job");
        i != doc.MemberEnd() && i->value.IsInt64())
      out.job = i->value.GetInt64();
    else if (auto j = doc.FindMember("id");
             j != doc.MemberEnd() && j->value.IsInt64())
      out.job = j->value.GetInt64();
    out.status = string_or_empty(doc, "status");
    if (auto i = doc.FindMember("ignored_fields");
        i != doc.MemberEnd() && i->value.IsObject()) {
      for (auto& m : i->value.GetObject()) {
        out.ignored.emplace_back(m.name.GetString());
        if (std::string_view{m.name.GetString()} == "extra_vars") {
          if (m.value.IsObject() && m.value.HasMember(key_var.data()))
            out.key_ignored = true;
          else if (m.value.IsString()
                   && std::string_view{m.value.GetString()}.find(key_var)
                        != std::string_view::npos)
            out.key_ignored = true;
        }
      }
    }
  }
  if (out.job <= 0) {
    // Location: /api/v2/jobs/<id>/
    if (auto loc = res.header("Location")) {
      auto s = std::string{*loc};
      auto pos = s.find("/jobs/");
      if (pos != std::string::npos) {
        long long id = 0;
        if (std::sscanf(s.c_str() + pos + 6, "%lld", &id) == 1)
          out.job = id;
      }
    }
  }
  if (out.job <= 0)
    return caf::make_error(errc::invalid_input,
                           std::string{"AWX launch answer names no job"});
  return out;
}

caf::expected<launch_prompts> parse_launch_prompts(std::string_view json) {
  auto doc = parse_object(json);
  if (!doc)
    return doc.error();
  auto flag = [&](const char* key) -> std::optional<bool> {
    auto i = doc->FindMember(key);
    if (i == doc->MemberEnd() || !i->value.IsBool())
      return std::nullopt;
    return i->value.GetBool();
  };
  auto vars = flag("ask_variables_on_launch");
  if (!vars)
    return caf::make_error(errc::invalid_input,
                           std::string{"AWX launch prompts without a boolean "
                                       "ask_variables_on_launch"});
  launch_prompts out;
  out.ask_variables = *vars;
  out.ask_limit = flag("ask_limit_on_launch").value_or(false);
  out.ask_inventory = flag("ask_inventory_on_launch").value_or(false);
  out.survey_enabled = flag("survey_enabled").value_or(false);
  return out;
}

std::vector<std::string> missing_prompts(const launch_prompts& p,
                                         const tenant_settings& ts) {
  std::vector<std::string> out;
  if (!p.ask_variables)
    out.emplace_back("ask_variables_on_launch");
  if (!ts.limit_input.empty() && !p.ask_limit)
    out.emplace_back("ask_limit_on_launch");
  if (ts.inventory > 0 && !p.ask_inventory)
    out.emplace_back("ask_inventory_on_launch");
  return out;
}

std::string prompt_of(std::string_view field) {
  if (field == "extra_vars")
    return "ask_variables_on_launch";
  if (field == "credentials")
    return "ask_credential_on_launch";
  return "ask_" + std::string{field} + "_on_launch";
}

caf::expected<job_info> parse_job(std::string_view json) {
  auto doc = parse_object(json);
  if (!doc)
    return doc.error();
  return read_job(*doc);
}

caf::expected<job_page> parse_job_page(std::string_view json) {
  auto doc = parse_object(json);
  if (!doc)
    return doc.error();
  job_page page;
  auto results = doc->FindMember("results");
  if (results == doc->MemberEnd() || !results->value.IsArray())
    return caf::make_error(errc::invalid_input,
                           std::string{"AWX job list without results"});
  for (auto& v : results->value.GetArray()) {
    auto job = read_job(v);
    if (!job)
      return job.error();
    page.jobs.push_back(std::move(*job));
  }
  page.next = string_or_empty(*doc, "next");
  return page;
}

events::adapter_reply job_reply(const job_info& job,
                                std::chrono::milliseconds poll_interval) {
  using events::adapter_outcome;
  auto id = std::to_string(job.id);
  if (job.status == "successful") {
    auto outputs = job.artifacts;
    outputs["job_id"] = id;
    return events::reply_succeeded(std::move(outputs));
  }
  if (is_terminal(job.status)) {
    auto error = "AWX job " + id + " " + job.status + ": "
                 + (job.job_explanation.empty()
                      ? std::string{"no job_explanation given"}
                      : cut(job.job_explanation, 1024));
    return events::reply_failed(adapter_outcome::permanent_failure,
                                std::move(error));
  }
  auto reply = events::reply_failed(
    adapter_outcome::parked,
    "AWX job " + id + " is " + (job.status.empty() ? "new" : job.status));
  reply.outputs["job_id"] = id;
  reply.retry_after_ms = std::max<int64_t>(poll_interval.count(), 1);
  return reply;
}

events::adapter_reply failure_reply(std::string_view what,
                                    const http::response& res,
                                    bool effect_possible) {
  using events::adapter_outcome;
  auto prefix = "AWX " + std::string{what} + ": ";
  if (!res.has_response()) {
    auto detail = std::string{to_string(res.error)}
                  + (res.error_text.empty() ? "" : " (" + res.error_text + ")");
    if (!res.request_sent)
      return events::reply_failed(adapter_outcome::retryable_failure,
                                  prefix + detail + ", nothing sent");
    if (effect_possible)
      return events::reply_failed(adapter_outcome::unknown_outcome,
                                  prefix + detail
                                    + " after sending; the effect may exist");
    return events::reply_failed(adapter_outcome::retryable_failure,
                                prefix + detail);
  }
  // A 5xx to a request that creates something may come after the effect
  // (a gateway timing out while the controller went on): the retry must
  // look before acting again. 429 is refused before anything is done.
  if (res.status >= 500 && effect_possible)
    return events::reply_failed(adapter_outcome::unknown_outcome,
                                prefix + status_text(res)
                                  + "; the effect may exist");
  if (res.status == 429 || res.status >= 500)
    return events::reply_failed(adapter_outcome::retryable_failure,
                                prefix + status_text(res));
  if (res.status == 401 || res.status == 403)
    return events::reply_failed(
      adapter_outcome::permanent_failure,
      prefix + status_text(res)
        + ": the tenant's AWX token was refused (configuration)");
  if (res.status >= 300 && res.status < 400) {
    auto loc = res.header("Location");
    return events::reply_failed(
      adapter_outcome::permanent_failure,
      prefix + status_text(res) + " to "
        + (loc ? std::string{*loc} : std::string{"?"})
        + ": check the tenant's base_url (configuration)");
  }
  return events::reply_failed(adapter_outcome::permanent_failure,
                              prefix + status_text(res) + ": "
                                + cut(res.body, 1024));
}

resilience::call_outcome health_of(const http::response& res) noexcept {
  if (!res.has_response() || res.status == 429 || res.status >= 500)
    return resilience::call_outcome::failure;
  return resilience::call_outcome::success;
}

std::string iso8601(std::chrono::system_clock::time_point t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
              t.time_since_epoch())
              .count();
  auto secs = us / 1'000'000;
  auto frac = us % 1'000'000;
  if (frac < 0) {
    frac += 1'000'000;
    --secs;
  }
  auto tt = static_cast<std::time_t>(secs);
  std::tm utc{};
  gmtime_r(&tt, &utc);
  char buf[64];
  auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  char tail[16];
  std::snprintf(tail, sizeof tail, ".%06lldZ", static_cast<long long>(frac));
  return std::string{buf, n} + tail;
}

} // namespace ispflow::adapters::awx

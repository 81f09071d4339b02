#include "sim/awx/server.hpp"

#include "events/errc.hpp"
#include "sim/common/host.hpp"
#include "sim/common/run.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <regex>
#include <yaml-cpp/yaml.h>

namespace ispflow::sim::awx {

namespace {

using writer = rapidjson::Writer<rapidjson::StringBuffer>;

struct job {
  int64_t id = 0;
  int64_t job_template = 0;
  std::string name;
  int64_t created = 0;
  int64_t started = 0;
  int64_t finished = 0;
  std::string status = "new";
  // A status set by cancel or the control endpoint; freezes the timeline.
  bool forced = false;
  std::string outcome = "successful";
  std::string extra_vars = "{}";
  std::string artifacts = "{}";
  std::string limit;
  std::string job_tags;
  std::string skip_tags;
};

const std::vector<std::string> statuses = {"new",     "pending",    "waiting",
                                           "running", "successful", "failed",
                                           "error",   "canceled"};

bool terminal(const std::string& s) {
  return s == "successful" || s == "failed" || s == "error" || s == "canceled";
}

std::string json_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  writer w{buf};
  v.Accept(w);
  return buf.GetString();
}

std::string quote(const std::string& s) {
  rapidjson::StringBuffer buf;
  writer w{buf};
  w.String(s);
  return buf.GetString();
}

} // namespace

struct server::impl {
  options opts;
  common::http_host host;
  mutable std::mutex mtx;
  std::map<int64_t, job_template_seed> templates;
  std::map<int64_t, job> jobs;
  int64_t next_job = 1;
  std::size_t launches = 0;
  // Contract checks seen (GET /_sim/state "contract_checks").
  std::size_t prompt_reads = 0;
  std::size_t ignored_launches = 0;
  // Pages of `GET /jobs/` answered (a client's look-ups by key).
  std::size_t job_list_reads = 0;

  explicit impl(options o) : opts(std::move(o)), host(make_hooks()) {
    // nop
  }

  common::host_hooks make_hooks() {
    common::host_hooks h;
    h.route = [this](const httplib::Request& req, httplib::Response& res) {
      route(req, res);
    };
    h.state_json = [this] { return state_json(); };
    h.control = [this](const httplib::Request& req, httplib::Response& res) {
      return control(req, res);
    };
    return h;
  }

  // Advances a job along new -> pending -> running -> outcome by the clock.
  void advance(job& j) const {
    if (j.forced || opts.manual || terminal(j.status))
      return;
    auto age_ms = (common::now_micros() - j.created) / 1000;
    std::string s = "new";
    if (age_ms >= opts.finish_after_ms)
      s = j.outcome;
    else if (age_ms >= opts.running_after_ms)
      s = "running";
    else if (age_ms >= opts.pending_after_ms)
      s = "pending";
    set_status(j, s);
  }

  static void set_status(job& j, const std::string& s) {
    auto now = common::now_micros();
    if ((s == "running" || terminal(s)) && j.started == 0 && s != "canceled")
      j.started = now;
    if (terminal(s) && j.finished == 0)
      j.finished = now;
    j.status = s;
  }

  void write_job(writer& w, const job& j, bool open_only = false) const {
    if (!open_only)
      w.StartObject();
    auto tpl = templates.find(j.job_template);
    w.Key("id");
    w.Int64(j.id);
    w.Key("type");
    w.String("job");
    w.Key("url");
    w.String("/api/v2/jobs/" + std::to_string(j.id) + "/");
    w.Key("related");
    w.StartObject();
    w.Key("job_template");
    w.String("/api/v2/job_templates/" + std::to_string(j.job_template) + "/");
    w.Key("cancel");
    w.String("/api/v2/jobs/" + std::to_string(j.id) + "/cancel/");
    w.Key("stdout");
    w.String("/api/v2/jobs/" + std::to_string(j.id) + "/stdout/");
    w.EndObject();
    w.Key("summary_fields");
    w.StartObject();
    w.Key("job_template");
    w.StartObject();
    w.Key("id");
    w.Int64(j.job_template);
    w.Key("name");
    w.String(tpl != templates.end() ? tpl->second.name : "");
    w.EndObject();
    w.EndObject();
    w.Key("created");
    w.String(common::format_iso8601(j.created));
    w.Key("modified");
    w.String(common::format_iso8601(j.finished ? j.finished : j.created));
    w.Key("name");
    w.String(j.name);
    w.Key("description");
    w.String("");
    w.Key("job_type");
    w.String("run");
    w.Key("inventory");
    w.Int(1);
    w.Key("project");
    w.Int(1);
    w.Key("playbook");
    w.String("site.yml");
    w.Key("limit");
    w.String(j.limit);
    w.Key("job_tags");
    w.String(j.job_tags);
    w.Key("skip_tags");
    w.String(j.skip_tags);
    w.Key("verbosity");
    w.Int(0);
    w.Key("extra_vars");
    w.String(j.extra_vars);
    w.Key("launch_type");
    w.String("manual");
    w.Key("status");
    w.String(j.status);
    w.Key("failed");
    w.Bool(j.status == "failed" || j.status == "error");
    w.Key("started");
    if (j.started)
      w.String(common::format_iso8601(j.started));
    else
      w.Null();
    w.Key("finished");
    if (j.finished)
      w.String(common::format_iso8601(j.finished));
    else
      w.Null();
    w.Key("canceled_on");
    if (j.status == "canceled")
      w.String(common::format_iso8601(j.finished));
    else
      w.Null();
    w.Key("elapsed");
    auto end = j.finished ? j.finished : common::now_micros();
    w.Double(j.started ? static_cast<double>(end - j.started) / 1e6 : 0.0);
    w.Key("job_explanation");
    w.String(j.status == "canceled" ? "Job was canceled by the user." : "");
    w.Key("result_traceback");
    w.String("");
    w.Key("job_template");
    w.Int64(j.job_template);
    w.Key("artifacts");
    if (j.status == "successful")
      w.RawValue(j.artifacts.data(), j.artifacts.size(),
                 rapidjson::kObjectType);
    else {
      w.StartObject();
      w.EndObject();
    }
    w.EndObject();
  }

  void write_template(writer& w, const job_template_seed& t) const {
    w.StartObject();
    w.Key("id");
    w.Int64(t.id);
    w.Key("type");
    w.String("job_template");
    w.Key("url");
    w.String("/api/v2/job_templates/" + std::to_string(t.id) + "/");
    w.Key("name");
    w.String(t.name);
    w.Key("job_type");
    w.String("run");
    w.Key("inventory");
    w.Int(1);
    w.Key("project");
    w.Int(1);
    w.Key("playbook");
    w.String("site.yml");
    w.Key("extra_vars");
    w.String("");
    w.Key("ask_variables_on_launch");
    w.Bool(t.ask_variables_on_launch);
    w.Key("ask_limit_on_launch");
    w.Bool(t.ask_limit_on_launch);
    w.Key("ask_inventory_on_launch");
    w.Bool(t.ask_inventory_on_launch);
    w.Key("ask_credential_on_launch");
    w.Bool(t.ask_credential_on_launch);
    w.Key("ask_tags_on_launch");
    w.Bool(t.ask_tags_on_launch);
    w.Key("ask_skip_tags_on_launch");
    w.Bool(t.ask_skip_tags_on_launch);
    w.Key("survey_enabled");
    w.Bool(t.survey_enabled);
    w.EndObject();
  }

  static void detail(httplib::Response& res, int status, const std::string& t) {
    common::reply_json(res, status, R"({"detail":)" + quote(t) + "}");
  }

  bool authorized(const httplib::Request& req, httplib::Response& res) const {
    auto header = req.get_header_value("Authorization");
    const std::string scheme = "Bearer ";
    bool ok = header.rfind(scheme, 0) == 0 && header.size() > scheme.size();
    if (ok && !opts.tokens.empty())
      ok = std::find(opts.tokens.begin(), opts.tokens.end(),
                     header.substr(scheme.size()))
           != opts.tokens.end();
    if (ok)
      return true;
    res.set_header("WWW-Authenticate", R"(Bearer realm="api")");
    detail(res, 401,
           header.empty() ? "Authentication credentials were not provided. "
                            "To establish a login session, visit /api/login/."
                          : "Invalid token.");
    return false;
  }

  void not_allowed(const httplib::Request& req, httplib::Response& res) const {
    detail(res, 405, "Method \"" + req.method + "\" not allowed.");
  }

  // -- routes ----------------------------------------------------------------

  void route(const httplib::Request& req, httplib::Response& res) {
    const auto& p = req.path;
    if (p.rfind("/api/", 0) != 0)
      return detail(res, 404, "Not found.");
    if (p.back() != '/') {
      std::string location = p + "/";
      auto q = req.target.find('?');
      if (q != std::string::npos)
        location += req.target.substr(q);
      res.status = 301;
      res.set_header("Location", location);
      return;
    }
    if (p == "/api/v2/ping/") {
      return common::reply_json(res, 200,
                                R"({"ha":false,"version":"24.6.1",)"
                                R"("active_node":"awx-sim","instances":[]})");
    }
    if (!authorized(req, res))
      return;
    static const std::regex tpl_re{"/api/v2/job_templates/([0-9]+)/"};
    static const std::regex launch_re{"/api/v2/job_templates/([0-9]+)/launch/"};
    static const std::regex job_re{"/api/v2/jobs/([0-9]+)/"};
    static const std::regex cancel_re{"/api/v2/jobs/([0-9]+)/cancel/"};
    static const std::regex stdout_re{"/api/v2/jobs/([0-9]+)/stdout/"};
    std::smatch m;
    std::lock_guard<std::mutex> guard{mtx};
    if (p == "/api/v2/me/") {
      common::reply_json(res, 200,
                         R"({"count":1,"next":null,"previous":null,)"
                         R"("results":[{"id":1,"username":"ispflow"}]})");
    } else if (p == "/api/v2/job_templates/") {
      if (req.method != "GET")
        return not_allowed(req, res);
      std::vector<const job_template_seed*> xs;
      for (const auto& [id, t] : templates)
        if (!req.has_param("name") || req.get_param_value("name") == t.name)
          xs.push_back(&t);
      paginate(req, res, xs.size(),
               [&](writer& w, size_t i) { write_template(w, *xs[i]); });
    } else if (std::regex_match(p, m, launch_re)) {
      auto t = templates.find(std::stoll(m[1]));
      if (t == templates.end())
        return detail(res, 404, "Not found.");
      if (req.method == "GET")
        launch_info(res, t->second);
      else if (req.method == "POST")
        launch(req, res, t->second);
      else
        not_allowed(req, res);
    } else if (std::regex_match(p, m, tpl_re)) {
      auto t = templates.find(std::stoll(m[1]));
      if (t == templates.end())
        return detail(res, 404, "Not found.");
      rapidjson::StringBuffer buf;
      writer w{buf};
      write_template(w, t->second);
      common::reply_json(res, 200, buf.GetString());
    } else if (p == "/api/v2/jobs/") {
      if (req.method != "GET")
        return not_allowed(req, res);
      ++job_list_reads;
      list_jobs(req, res);
    } else if (std::regex_match(p, m, cancel_re)) {
      auto j = jobs.find(std::stoll(m[1]));
      if (j == jobs.end())
        return detail(res, 404, "Not found.");
      advance(j->second);
      bool can = !terminal(j->second.status);
      if (req.method == "GET") {
        common::reply_json(
          res, 200, can ? R"({"can_cancel":true})" : R"({"can_cancel":false})");
      } else if (req.method == "POST") {
        if (!can)
          return not_allowed(req, res);
        j->second.forced = true;
        set_status(j->second, "canceled");
        res.status = 202;
      } else {
        not_allowed(req, res);
      }
    } else if (std::regex_match(p, m, stdout_re)) {
      auto j = jobs.find(std::stoll(m[1]));
      if (j == jobs.end())
        return detail(res, 404, "Not found.");
      advance(j->second);
      res.status = 200;
      res.set_content("PLAY [ispflow-sim] ***\nstatus: " + j->second.status
                        + "\n",
                      "text/plain");
    } else if (std::regex_match(p, m, job_re)) {
      auto j = jobs.find(std::stoll(m[1]));
      if (j == jobs.end())
        return detail(res, 404, "Not found.");
      if (req.method != "GET")
        return not_allowed(req, res);
      advance(j->second);
      rapidjson::StringBuffer buf;
      writer w{buf};
      write_job(w, j->second);
      common::reply_json(res, 200, buf.GetString());
    } else {
      detail(res, 404, "Not found.");
    }
  }

  template <class F>
  void paginate(const httplib::Request& req, httplib::Response& res,
                size_t count, F&& write_item) const {
    long page = 1;
    long size = 25;
    try {
      if (req.has_param("page"))
        page = std::stol(req.get_param_value("page"));
      if (req.has_param("page_size"))
        size = std::stol(req.get_param_value("page_size"));
    } catch (...) {
      page = 0;
    }
    if (size <= 0)
      size = 25;
    size = std::min(size, 200L);
    long pages = std::max(1L, static_cast<long>((count + size - 1) / size));
    if (page < 1 || page > pages)
      return detail(res, 404, "Invalid page.");
    auto url = [&](long n) {
      std::string u = req.path + "?";
      for (const auto& [k, v] : req.params)
        if (k != "page")
          u += k + "=" + httplib::detail::encode_query_param(v) + "&";
      return u + "page=" + std::to_string(n);
    };
    rapidjson::StringBuffer buf;
    writer w{buf};
    w.StartObject();
    w.Key("count");
    w.Uint64(count);
    w.Key("next");
    if (page < pages)
      w.String(url(page + 1));
    else
      w.Null();
    w.Key("previous");
    if (page > 1)
      w.String(url(page - 1));
    else
      w.Null();
    w.Key("results");
    w.StartArray();
    for (size_t i = static_cast<size_t>((page - 1) * size);
         i < count && i < static_cast<size_t>(page * size); ++i)
      write_item(w, i);
    w.EndArray();
    w.EndObject();
    common::reply_json(res, 200, buf.GetString());
  }

  void list_jobs(const httplib::Request& req, httplib::Response& res) {
    std::vector<job*> xs;
    auto bound = [&](const char* key) -> std::optional<int64_t> {
      if (!req.has_param(key))
        return std::nullopt;
      auto t = common::parse_iso8601(req.get_param_value(key));
      return t ? std::optional<int64_t>{*t} : std::optional<int64_t>{-1};
    };
    auto gt = bound("created__gt");
    auto gte = bound("created__gte");
    auto lt = bound("created__lt");
    if ((gt && *gt < 0) || (gte && *gte < 0) || (lt && *lt < 0))
      return common::reply_json(res, 400,
                                R"({"detail":"Enter a valid date/time."})");
    for (auto& [id, j] : jobs) {
      advance(j);
      if (req.has_param("job_template")
          && req.get_param_value("job_template")
               != std::to_string(j.job_template))
        continue;
      if (req.has_param("status") && req.get_param_value("status") != j.status)
        continue;
      if (req.has_param("id")
          && req.get_param_value("id") != std::to_string(j.id))
        continue;
      if ((gt && !(j.created > *gt)) || (gte && !(j.created >= *gte))
          || (lt && !(j.created < *lt)))
        continue;
      xs.push_back(&j);
    }
    auto order = req.get_param_value("order_by");
    if (order == "-id" || order == "-created")
      std::reverse(xs.begin(), xs.end());
    paginate(req, res, xs.size(),
             [&](writer& w, size_t i) { write_job(w, *xs[i]); });
  }

  // The survey counts only when it is on and has questions, like
  // JobLaunchSerializer.get_survey_enabled (awx/api/serializers.py).
  static bool survey_on(const job_template_seed& t) {
    return t.survey_enabled && !t.survey_spec.empty();
  }

  // Required survey variables
  // (SurveyJobTemplateMixin.variables_needed_to_start,
  // awx/main/models/mixins.py).
  static std::vector<std::string> variables_needed(const job_template_seed& t) {
    std::vector<std::string> out;
    if (survey_on(t))
      for (const auto& q : t.survey_spec)
        if (q.required)
          out.push_back(q.variable);
    return out;
  }

  // GET job_templates/<id>/launch/: the representation of JobLaunchSerializer
  // (awx/api/serializers.py): every ask_*_on_launch flag, survey_enabled,
  // variables_needed_to_start, the *_needed_to_start flags, job_template_data
  // and defaults. A client reads it to learn which launch fields the template
  // accepts before it launches anything.
  void launch_info(httplib::Response& res, const job_template_seed& t) {
    ++prompt_reads;
    auto needed = variables_needed(t);
    rapidjson::StringBuffer buf;
    writer w{buf};
    w.StartObject();
    w.Key("can_start_without_user_input");
    w.Bool(t.passwords_needed_to_start.empty() && needed.empty());
    w.Key("passwords_needed_to_start");
    w.StartArray();
    for (const auto& p : t.passwords_needed_to_start)
      w.String(p);
    w.EndArray();
    const std::pair<const char*, bool> asks[]
      = {{"ask_scm_branch_on_launch", false},
         {"ask_variables_on_launch", t.ask_variables_on_launch},
         {"ask_tags_on_launch", t.ask_tags_on_launch},
         {"ask_diff_mode_on_launch", false},
         {"ask_skip_tags_on_launch", t.ask_skip_tags_on_launch},
         {"ask_job_type_on_launch", false},
         {"ask_limit_on_launch", t.ask_limit_on_launch},
         {"ask_verbosity_on_launch", false},
         {"ask_inventory_on_launch", t.ask_inventory_on_launch},
         {"ask_credential_on_launch", t.ask_credential_on_launch},
         {"ask_execution_environment_on_launch", false},
         {"ask_labels_on_launch", false},
         {"ask_forks_on_launch", false},
         {"ask_job_slice_count_on_launch", false},
         {"ask_timeout_on_launch", false},
         {"ask_instance_groups_on_launch", false}};
    for (const auto& [key, on] : asks) {
      w.Key(key);
      w.Bool(on);
    }
    w.Key("survey_enabled");
    w.Bool(survey_on(t));
    w.Key("variables_needed_to_start");
    w.StartArray();
    for (const auto& v : needed)
      w.String(v);
    w.EndArray();
    w.Key("credential_needed_to_start");
    w.Bool(false);
    w.Key("inventory_needed_to_start");
    w.Bool(false);
    w.Key("job_template_data");
    w.StartObject();
    w.Key("name");
    w.String(t.name);
    w.Key("id");
    w.Int64(t.id);
    w.Key("description");
    w.String("");
    w.EndObject();
    w.Key("defaults");
    w.StartObject();
    w.Key("extra_vars");
    w.String("");
    w.Key("limit");
    w.String("");
    w.Key("job_tags");
    w.String("");
    w.Key("skip_tags");
    w.String("");
    w.Key("job_type");
    w.String("run");
    w.Key("verbosity");
    w.Int(0);
    w.Key("inventory");
    w.StartObject();
    w.Key("name");
    w.String("Demo Inventory");
    w.Key("id");
    w.Int(1);
    w.EndObject();
    w.EndObject();
    w.EndObject();
    common::reply_json(res, 200, buf.GetString());
  }

  // One survey answer against its question, as far as the simulator checks
  // (SurveyJobTemplateMixin._survey_element_validation,
  // awx/main/models/mixins.py): a required answer must be present, text-like
  // answers must be strings, integer answers integers.
  static std::vector<std::string> check_answer(const survey_question& q,
                                               const rapidjson::Value& vars) {
    std::vector<std::string> errors;
    auto i = vars.FindMember(q.variable.c_str());
    if (i == vars.MemberEnd()) {
      if (q.required)
        errors.push_back("'" + q.variable + "' value missing");
      return errors;
    }
    bool texty = q.type == "text" || q.type == "textarea"
                 || q.type == "password";
    if (texty && !i->value.IsString())
      errors.push_back("Value " + json_text(i->value) + " for '" + q.variable
                       + "' expected to be a string.");
    if (q.type == "integer" && !i->value.IsInt64())
      errors.push_back("Value " + json_text(i->value) + " for '" + q.variable
                       + "' expected to be an integer.");
    return errors;
  }

  // POST job_templates/<id>/launch/, after JobTemplateLaunch.post
  // (awx/api/views/__init__.py) and JobLaunchSerializer.validate
  // (awx/api/serializers.py). The serializer calls
  // _accept_or_ignore_job_kwargs with _exclude_errors=['prompts'], so a
  // launch field the template does not prompt for is NOT an error: it is
  // dropped into `ignored_fields` and the job is created and started anyway
  // (201). For extra_vars that is SurveyJobTemplateMixin.
  // _accept_or_ignore_variables (awx/main/models/mixins.py): with a survey,
  // the variables its questions name are accepted; with
  // ask_variables_on_launch, everything else too; any variable left over
  // goes to ignored_fields.extra_vars. A survey-only template therefore runs
  // the job without the caller's other variables.
  void launch(const httplib::Request& req, httplib::Response& res,
              const job_template_seed& t) {
    if (!t.can_launch)
      return not_allowed(req, res);
    rapidjson::Document doc{rapidjson::kObjectType};
    if (!req.body.empty()) {
      doc.Parse(req.body.c_str(), req.body.size());
      if (doc.HasParseError())
        return detail(res, 400, "JSON parse error - Expecting value");
      if (!doc.IsObject())
        return common::reply_json(res, 400,
                                  R"({"non_field_errors":["Invalid data. )"
                                  R"(Expected a dictionary."]})");
    }
    // extra_vars: an object, or a string holding JSON.
    rapidjson::Document vars{rapidjson::kObjectType};
    if (doc.HasMember("extra_vars")) {
      const auto& ev = doc["extra_vars"];
      if (ev.IsObject()) {
        vars.CopyFrom(ev, vars.GetAllocator());
      } else if (ev.IsString() && ev.GetStringLength() > 0) {
        vars.Parse(ev.GetString());
        if (vars.HasParseError() || !vars.IsObject())
          return common::reply_json(
            res, 400, R"({"extra_vars":["Cannot parse as JSON or YAML."]})");
      }
    }
    auto& alloc = vars.GetAllocator();
    rapidjson::Value accepted{rapidjson::kObjectType};
    rapidjson::Value rejected{rapidjson::kObjectType};
    auto move_var = [&](rapidjson::Value& to, const std::string& key) {
      auto i = vars.FindMember(key.c_str());
      rapidjson::Value name{key.c_str(), alloc};
      rapidjson::Value value{i->value, alloc};
      to.AddMember(name, value, alloc);
      vars.RemoveMember(key.c_str());
    };
    std::vector<std::string> survey_errors;
    if (survey_on(t)) {
      for (const auto& q : t.survey_spec) {
        auto errors = check_answer(q, vars);
        bool given = vars.HasMember(q.variable.c_str());
        if (!errors.empty()) {
          survey_errors.insert(survey_errors.end(), errors.begin(),
                               errors.end());
          if (given)
            move_var(rejected, q.variable);
        } else if (given) {
          move_var(accepted, q.variable);
        }
      }
    }
    std::vector<std::string> leftover;
    for (auto& mm : vars.GetObject())
      leftover.emplace_back(mm.name.GetString());
    for (const auto& key : leftover)
      move_var(t.ask_variables_on_launch ? accepted : rejected, key);
    if (!survey_errors.empty()) {
      std::string arr;
      for (const auto& e : survey_errors)
        arr += (arr.empty() ? "" : ",") + quote(e);
      return common::reply_json(
        res, 400, R"({"variables_needed_to_start":[)" + arr + "]}");
    }
    std::vector<std::string> missing;
    for (const auto& pw : t.passwords_needed_to_start)
      if (!doc.HasMember(pw.c_str()))
        missing.push_back(pw);
    if (!missing.empty()) {
      std::string arr;
      for (const auto& x : missing)
        arr += (arr.empty() ? "" : ",") + quote(x);
      return common::reply_json(
        res, 400, R"({"passwords_needed_to_start":[)" + arr + "]}");
    }
    job j;
    j.id = next_job++;
    j.job_template = t.id;
    j.name = t.name;
    j.created = common::now_micros();
    j.outcome = t.outcome;
    j.artifacts = t.artifacts_json;
    if (accepted.HasMember("sim_outcome")
        && accepted["sim_outcome"].IsString()) {
      std::string o = accepted["sim_outcome"].GetString();
      if (o == "failed" || o == "error" || o == "successful")
        j.outcome = o;
    }
    j.extra_vars = json_text(accepted);
    // The other prompts follow JobTemplate._accept_or_ignore_job_kwargs
    // (awx/main/models/jobs.py): a value equal to the template's own is
    // neither accepted nor ignored; a value for a field the template does not
    // prompt for is ignored (kept out of the job, echoed in ignored_fields).
    rapidjson::StringBuffer ignored_buf;
    writer ig{ignored_buf};
    ig.StartObject();
    bool any_ignored = false;
    if (rejected.MemberCount() > 0) {
      ig.Key("extra_vars");
      rejected.Accept(ig);
      any_ignored = true;
    }
    struct prompt {
      const char* key;
      bool asked;
    };
    const prompt prompts[] = {{"limit", t.ask_limit_on_launch},
                              {"inventory", t.ask_inventory_on_launch},
                              {"credentials", t.ask_credential_on_launch},
                              {"job_tags", t.ask_tags_on_launch},
                              {"skip_tags", t.ask_skip_tags_on_launch},
                              {"job_type", false},
                              {"verbosity", false},
                              {"diff_mode", false},
                              {"scm_branch", false},
                              {"forks", false},
                              {"timeout", false},
                              {"job_slice_count", false},
                              {"execution_environment", false},
                              {"labels", false},
                              {"instance_groups", false}};
    for (const auto& pr : prompts) {
      if (!doc.HasMember(pr.key) || doc[pr.key].IsNull())
        continue;
      const auto& v = doc[pr.key];
      std::string key = pr.key;
      // The simulator's templates have an empty limit and tags, and
      // inventory 1: sending those is a no-op.
      bool same
        = (v.IsString() && v.GetStringLength() == 0
           && (key == "limit" || key == "job_tags" || key == "skip_tags"))
          || (key == "inventory" && v.IsInt64() && v.GetInt64() == 1);
      if (same)
        continue;
      if (!pr.asked) {
        ig.Key(pr.key);
        v.Accept(ig);
        any_ignored = true;
        continue;
      }
      std::string s = v.IsString() ? v.GetString() : "";
      if (key == "limit")
        j.limit = s;
      else if (key == "job_tags")
        j.job_tags = s;
      else if (key == "skip_tags")
        j.skip_tags = s;
    }
    ig.EndObject();
    advance(j);
    jobs[j.id] = j;
    ++launches;
    if (any_ignored)
      ++ignored_launches;
    rapidjson::StringBuffer buf;
    writer w{buf};
    w.StartObject();
    w.Key("job");
    w.Int64(j.id);
    w.Key("ignored_fields");
    w.RawValue(ignored_buf.GetString(), ignored_buf.GetSize(),
               rapidjson::kObjectType);
    write_job(w, j, true);
    res.set_header("Location", "/api/v2/jobs/" + std::to_string(j.id) + "/");
    common::reply_json(res, 201, buf.GetString());
  }

  // -- control ---------------------------------------------------------------

  // Applies a prompt patch (see server::patch_template); the caller holds
  // the lock.
  bool patch(int64_t id, const std::string& json) {
    auto t = templates.find(id);
    rapidjson::Document doc;
    doc.Parse(json.c_str(), json.size());
    if (t == templates.end() || doc.HasParseError() || !doc.IsObject())
      return false;
    const std::pair<const char*, bool job_template_seed::*> flags[] = {
      {"ask_variables_on_launch", &job_template_seed::ask_variables_on_launch},
      {"ask_limit_on_launch", &job_template_seed::ask_limit_on_launch},
      {"ask_inventory_on_launch", &job_template_seed::ask_inventory_on_launch},
      {"ask_credential_on_launch",
       &job_template_seed::ask_credential_on_launch},
      {"ask_tags_on_launch", &job_template_seed::ask_tags_on_launch},
      {"ask_skip_tags_on_launch", &job_template_seed::ask_skip_tags_on_launch},
      {"survey_enabled", &job_template_seed::survey_enabled}};
    for (auto& m : doc.GetObject()) {
      auto f
        = std::find_if(std::begin(flags), std::end(flags), [&](const auto& x) {
            return std::string_view{x.first} == m.name.GetString();
          });
      if (f == std::end(flags) || !m.value.IsBool())
        return false;
    }
    for (auto& m : doc.GetObject())
      for (const auto& [key, member] : flags)
        if (std::string_view{key} == m.name.GetString())
          t->second.*member = m.value.GetBool();
    return true;
  }

  bool control(const httplib::Request& req, httplib::Response& res) {
    static const std::regex status_re{"/_sim/jobs/([0-9]+)/status"};
    static const std::regex template_re{"/_sim/job_templates/([0-9]+)"};
    std::smatch m;
    if (req.method == "POST" && std::regex_match(req.path, m, template_re)) {
      std::lock_guard<std::mutex> guard{mtx};
      if (!patch(std::stoll(m[1]), req.body)) {
        detail(res, 400,
               "expected a known template and an object of ask_*_on_launch "
               "/ survey_enabled booleans");
        return true;
      }
      rapidjson::StringBuffer buf;
      writer w{buf};
      write_template(w, templates.at(std::stoll(m[1])));
      common::reply_json(res, 200, buf.GetString());
      return true;
    }
    if (req.method != "POST" || !std::regex_match(req.path, m, status_re))
      return false;
    rapidjson::Document doc;
    doc.Parse(req.body.c_str(), req.body.size());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("status")
        || !doc["status"].IsString()) {
      detail(res, 400, "expected {\"status\":...}");
      return true;
    }
    std::lock_guard<std::mutex> guard{mtx};
    auto j = jobs.find(std::stoll(m[1]));
    std::string s = doc["status"].GetString();
    if (j == jobs.end()
        || std::find(statuses.begin(), statuses.end(), s) == statuses.end()) {
      detail(res, 404, "Not found.");
      return true;
    }
    j->second.forced = true;
    set_status(j->second, s);
    common::reply_json(res, 200, R"({"status":)" + quote(s) + "}");
    return true;
  }

  std::string state_json() const {
    std::lock_guard<std::mutex> guard{mtx};
    rapidjson::StringBuffer buf;
    writer w{buf};
    w.StartObject();
    w.Key("launches");
    w.Uint64(launches);
    // What a client checked of the contract: launch-prompt reads (GET
    // job_templates/<id>/launch/) and launches whose answer named
    // ignored_fields.
    w.Key("contract_checks");
    w.StartObject();
    w.Key("launch_prompt_reads");
    w.Uint64(prompt_reads);
    w.Key("ignored_field_launches");
    w.Uint64(ignored_launches);
    w.Key("job_list_reads");
    w.Uint64(job_list_reads);
    w.EndObject();
    w.Key("jobs");
    w.StartArray();
    for (const auto& [id, j] : jobs) {
      auto copy = j;
      advance(copy);
      w.StartObject();
      w.Key("id");
      w.Int64(id);
      w.Key("job_template");
      w.Int64(j.job_template);
      w.Key("status");
      w.String(copy.status);
      w.Key("extra_vars");
      w.String(j.extra_vars);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return buf.GetString();
  }

  // -- seed ------------------------------------------------------------------

  void default_seed() {
    job_template_seed a;
    a.id = 1;
    a.name = "provision-cpe";
    templates[a.id] = a;
    job_template_seed b;
    b.id = 2;
    b.name = "no-prompts";
    b.ask_variables_on_launch = false;
    templates[b.id] = b;
    job_template_seed c;
    c.id = 3;
    c.name = "always-fails";
    c.outcome = "failed";
    templates[c.id] = c;
    // A survey-only template: its survey asks for subscriber_id, Variables
    // are not prompted on launch. AWX accepts subscriber_id and drops every
    // other variable into ignored_fields.extra_vars (201).
    job_template_seed d;
    d.id = 4;
    d.name = "survey-only";
    d.ask_variables_on_launch = false;
    d.survey_enabled = true;
    d.survey_spec = {{"subscriber_id", "text", false}};
    templates[d.id] = d;
  }

  caf::error load_seed(const std::string& path) {
    try {
      auto root = YAML::LoadFile(path);
      int64_t n = 0;
      for (const auto& t : root["job_templates"]) {
        job_template_seed x;
        x.id = t["id"] ? t["id"].as<int64_t>() : n + 1;
        n = std::max(n, x.id);
        x.name = t["name"].as<std::string>("template-" + std::to_string(x.id));
        x.ask_variables_on_launch = t["ask_variables_on_launch"].as<bool>(true);
        x.ask_limit_on_launch = t["ask_limit_on_launch"].as<bool>(false);
        x.ask_inventory_on_launch
          = t["ask_inventory_on_launch"].as<bool>(false);
        x.ask_credential_on_launch
          = t["ask_credential_on_launch"].as<bool>(false);
        x.ask_tags_on_launch = t["ask_tags_on_launch"].as<bool>(false);
        x.ask_skip_tags_on_launch
          = t["ask_skip_tags_on_launch"].as<bool>(false);
        x.survey_enabled = t["survey_enabled"].as<bool>(false);
        for (const auto& q : t["survey_spec"]) {
          survey_question sq;
          sq.variable = q["variable"].as<std::string>();
          sq.type = q["type"].as<std::string>("text");
          sq.required = q["required"].as<bool>(false);
          x.survey_spec.push_back(sq);
        }
        x.can_launch = t["can_launch"].as<bool>(true);
        x.outcome = t["outcome"].as<std::string>("successful");
        for (const auto& p : t["passwords_needed_to_start"])
          x.passwords_needed_to_start.push_back(p.as<std::string>());
        if (t["artifacts"]) {
          YAML::Emitter e;
          e << YAML::DoubleQuoted << YAML::Flow << t["artifacts"];
          x.artifacts_json = e.c_str();
          rapidjson::Document check;
          check.Parse(x.artifacts_json.c_str());
          if (check.HasParseError() || !check.IsObject())
            return caf::make_error(errc::invalid_config,
                                   std::string{"seed: artifacts must be a "
                                               "JSON object"});
        }
        templates[x.id] = x;
      }
    } catch (const std::exception& e) {
      return caf::make_error(errc::invalid_config,
                             std::string{"seed: "} + e.what());
    }
    return caf::none;
  }
};

server::server(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

server::~server() {
  stop();
}

caf::expected<std::unique_ptr<server>> server::start(options opts) {
  auto faults = common::parse_faults(opts.faults_json);
  if (!faults)
    return faults.error();
  auto state = std::make_unique<impl>(std::move(opts));
  if (state->opts.seed_file.empty()) {
    state->default_seed();
  } else if (auto err = state->load_seed(state->opts.seed_file)) {
    return err;
  }
  auto port = state->host.start(state->opts.port, *faults);
  if (!port)
    return port.error();
  return std::unique_ptr<server>{new server(std::move(state))};
}

uint16_t server::port() const noexcept {
  return impl_->host.port();
}

void server::stop() {
  impl_->host.stop();
}

std::vector<job_view> server::jobs() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  std::vector<job_view> out;
  for (auto& [id, j] : impl_->jobs) {
    auto copy = j;
    impl_->advance(copy);
    out.push_back(job_view{id, j.job_template, copy.status, j.extra_vars});
  }
  return out;
}

bool server::set_job_status(int64_t job_id, const std::string& status) {
  if (std::find(statuses.begin(), statuses.end(), status) == statuses.end())
    return false;
  std::lock_guard<std::mutex> guard{impl_->mtx};
  auto j = impl_->jobs.find(job_id);
  if (j == impl_->jobs.end())
    return false;
  j->second.forced = true;
  impl::set_status(j->second, status);
  return true;
}

std::size_t server::launch_count() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->launches;
}

std::size_t server::launch_prompt_reads() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->prompt_reads;
}

std::size_t server::job_list_reads() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->job_list_reads;
}

std::size_t server::ignored_field_launches() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->ignored_launches;
}

bool server::patch_template(int64_t id, const std::string& json) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->patch(id, json);
}

void server::set_faults(common::fault_config cfg) {
  impl_->host.set_faults(std::move(cfg));
}

common::fault_config server::faults() const {
  return impl_->host.faults();
}

} // namespace ispflow::sim::awx

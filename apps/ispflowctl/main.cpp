// ispflowctl: the operators' command line over ispflowd's admin API (/v1).
//
// Exit codes, for scripts: 0 ok, 1 the API answered an error (4xx/5xx; the
// message is printed), 2 usage error, 3 the API cannot be reached.

#include "actors/admin/auth.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <httplib.h>
#include <iostream>
#include <optional>
#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int exit_ok = 0;
constexpr int exit_api = 1;
constexpr int exit_usage = 2;
constexpr int exit_connect = 3;

std::string env_or(const char* name, std::string fallback) {
  auto v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string{v} : fallback;
}

std::string url_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string
with_query(std::string path,
           const std::vector<std::pair<std::string, std::string>>& q) {
  char sep = '?';
  for (auto& [k, v] : q) {
    if (v.empty())
      continue;
    path += sep;
    path += k + "=" + url_encode(v);
    sep = '&';
  }
  return path;
}

/// `s` made safe for a terminal: control characters (C0 including ESC,
/// DEL, and C1 encoded in UTF-8) and bytes that are not UTF-8 are shown as
/// escapes (\n, \t, \r, \xNN, \u009b), so data from the server cannot
/// move the cursor, retitle the window or clear the screen.
std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  auto hex = [&](unsigned c) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "\\x%02x", c);
    out += buf;
  };
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) {
      if (c == '\n')
        out += "\\n";
      else if (c == '\t')
        out += "\\t";
      else if (c == '\r')
        out += "\\r";
      else
        hex(c);
      ++i;
      continue;
    }
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    // A well-formed UTF-8 sequence is kept, except C1 controls (U+0080 to
    // U+009F, which some terminals obey).
    size_t n = (c >> 5) == 0x6    ? 2
               : (c >> 4) == 0xe  ? 3
               : (c >> 3) == 0x1e ? 4
                                  : 0;
    bool ok = n > 0 && i + n <= s.size();
    for (size_t k = 1; ok && k < n; ++k)
      ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 0x2;
    if (!ok) {
      hex(c);
      ++i;
      continue;
    }
    if (n == 2 && c == 0xc2 && static_cast<unsigned char>(s[i + 1]) < 0xa0) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x",
                    static_cast<unsigned char>(s[i + 1]));
      out += buf;
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

/// JSON text with DEL and C1 controls written as \u escapes (RapidJSON
/// escapes only C0): still the same JSON, safe for a terminal.
std::string printable_json(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  for (size_t i = 0; i < json.size(); ++i) {
    auto c = static_cast<unsigned char>(json[i]);
    if (c == 0x7f) {
      out += "\\u007f";
    } else if (c == 0xc2 && i + 1 < json.size()
               && static_cast<unsigned char>(json[i + 1]) >= 0x80
               && static_cast<unsigned char>(json[i + 1]) < 0xa0) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x",
                    static_cast<unsigned char>(json[++i]));
      out += buf;
    } else if (c < 0x20 && c != '\n') {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

/// What one API call returned.
struct response {
  int exit_code = exit_ok;
  /// The HTTP status (0 when nothing answered).
  int status = 0;
  rapidjson::Document json;
  std::string body;
};

/// The connection options shared by every command.
struct options {
  std::string url;
  std::string token;
  /// PEM CA bundle for an https:// URL; empty = the system's CAs.
  std::string ca_file;
  bool json = false;
};

response call(const options& opt, const std::string& method,
              const std::string& path, const std::string& body = "") {
  response r;
  httplib::Client cli{opt.url};
  if (!cli.is_valid()) {
    std::cerr << "ispflowctl: invalid --url " << opt.url << "\n";
    r.exit_code = exit_usage;
    return r;
  }
  cli.set_connection_timeout(5);
  cli.set_read_timeout(60);
  // https:// URLs: the server's certificate and name are always verified.
  cli.enable_server_certificate_verification(true);
  if (!opt.ca_file.empty())
    cli.set_ca_cert_path(opt.ca_file.c_str());
  httplib::Headers headers;
  if (!opt.token.empty())
    headers.emplace("Authorization", "Bearer " + opt.token);
  auto res = method == "GET"
               ? cli.Get(path.c_str(), headers)
               : cli.Post(path.c_str(), headers, body, "application/json");
  if (!res) {
    std::cerr << "ispflowctl: cannot reach " << opt.url << ": "
              << httplib::to_string(res.error()) << "\n";
    r.exit_code = exit_connect;
    return r;
  }
  r.status = res->status;
  r.body = res->body;
  r.json.Parse(r.body.c_str());
  if (res->status >= 400) {
    r.exit_code = exit_api;
    std::string code = "http_" + std::to_string(res->status);
    std::string message = r.body;
    if (!r.json.HasParseError() && r.json.IsObject()
        && r.json.HasMember("error") && r.json["error"].IsObject()) {
      auto& e = r.json["error"];
      if (e.HasMember("code") && e["code"].IsString())
        code = e["code"].GetString();
      if (e.HasMember("message") && e["message"].IsString())
        message = e["message"].GetString();
    }
    if (opt.json)
      std::cout << r.body << "\n";
    std::cerr << "error: " << res->status << " " << printable(code) << ": "
              << printable(message) << "\n";
  } else if (r.json.HasParseError()) {
    std::cerr << "ispflowctl: the API answered something that is not JSON\n";
    r.exit_code = exit_api;
  }
  return r;
}

// A field of a server answer, escaped for the terminal (`printable`).
std::string text(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject() || !obj.HasMember(key))
    return "";
  auto& v = obj[key];
  if (v.IsString())
    return printable({v.GetString(), v.GetStringLength()});
  if (v.IsNull())
    return "-";
  if (v.IsBool())
    return v.GetBool() ? "true" : "false";
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  v.Accept(w);
  return printable_json(buf.GetString());
}

/// Prints rows under a header, each column as wide as its widest cell.
void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i)
    width[i] = header[i].size();
  for (auto& row : rows)
    for (size_t i = 0; i < row.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size())
        out += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    std::cout << out << "\n";
  };
  line(header);
  for (auto& row : rows)
    line(row);
}

void print_json(const response& r) {
  std::cout << r.body << "\n";
}

void print_pretty(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w{buf};
  v.Accept(w);
  std::cout << printable_json(buf.GetString()) << "\n";
}

void print_next(const rapidjson::Value& doc) {
  if (doc.HasMember("next_cursor") && doc["next_cursor"].IsString())
    std::cout << "next: --cursor " << text(doc, "next_cursor") << "\n";
}

// -- commands
// -------------------------------------------------------------------

struct list_filters {
  std::string tenant, subscriber, type, state, from, to, cursor, error,
    redriven;
  uint32_t limit = 0;
};

int sagas_list(const options& opt, const list_filters& f) {
  auto path = with_query(
    "/v1/sagas", {{"tenant", f.tenant},
                  {"subscriber", f.subscriber},
                  {"type", f.type},
                  {"state", f.state},
                  {"from", f.from},
                  {"to", f.to},
                  {"cursor", f.cursor},
                  {"limit", f.limit > 0 ? std::to_string(f.limit) : ""}});
  auto r = call(opt, "GET", path);
  if (r.exit_code != exit_ok)
    return r.exit_code;
  if (opt.json) {
    print_json(r);
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows;
  for (auto& s : r.json["items"].GetArray())
    rows.push_back({text(s, "id"), text(s, "type"), text(s, "tenant_id"),
                    text(s, "subscriber_id"), text(s, "state"),
                    text(s, "created_at"), text(s, "failed_step")});
  print_table({"ID", "TYPE", "TENANT", "SUBSCRIBER", "STATE", "CREATED",
               "FAILED STEP"},
              rows);
  print_next(r.json);
  return exit_ok;
}

int sagas_show(const options& opt, const std::string& id) {
  auto r = call(opt, "GET", "/v1/sagas/" + url_encode(id));
  if (r.exit_code != exit_ok)
    return r.exit_code;
  if (opt.json) {
    print_json(r);
    return exit_ok;
  }
  auto& s = r.json;
  for (auto key : {"id", "type", "version", "tenant_id", "subscriber_id",
                   "service_type", "state", "failed_step", "error", "causation",
                   "created_at", "updated_at", "replay_of"})
    std::cout << key << ": " << text(s, key) << "\n";
  std::cout << "\nsteps:\n";
  std::vector<std::vector<std::string>> rows;
  if (s.HasMember("steps") && s["steps"].IsArray())
    for (auto& st : s["steps"].GetArray())
      rows.push_back({text(st, "idx"), text(st, "name"), text(st, "state"),
                      text(st, "attempts"), text(st, "ran_by"),
                      text(st, "last_error"), text(st, "output")});
  print_table(
    {"#", "STEP", "STATE", "ATTEMPTS", "RAN BY", "LAST ERROR", "OUTPUT"}, rows);
  return exit_ok;
}

struct subscriber_filters {
  std::string tenant, state, plan, nas, cursor;
  uint32_t limit = 0;
};

int subscribers_list(const options& opt, const subscriber_filters& f) {
  auto path = with_query(
    "/v1/subscribers", {{"tenant", f.tenant},
                        {"state", f.state},
                        {"plan", f.plan},
                        {"nas", f.nas},
                        {"cursor", f.cursor},
                        {"limit", f.limit > 0 ? std::to_string(f.limit) : ""}});
  auto r = call(opt, "GET", path);
  if (r.exit_code != exit_ok)
    return r.exit_code;
  if (opt.json) {
    print_json(r);
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows;
  for (auto& s : r.json["items"].GetArray())
    rows.push_back({text(s, "tenant_id"), text(s, "id"), text(s, "state"),
                    text(s, "plan_id"), text(s, "service_type"),
                    text(s, "ip_address"), text(s, "last_saga_name"),
                    text(s, "last_outcome"), text(s, "updated_at")});
  print_table({"TENANT", "SUBSCRIBER", "STATE", "PLAN", "ACCESS", "IP",
               "LAST SAGA", "OUTCOME", "UPDATED"},
              rows);
  print_next(r.json);
  return exit_ok;
}

int subscribers_show(const options& opt, const std::string& id,
                     const std::string& tenant) {
  auto r = call(opt, "GET",
                with_query("/v1/subscribers/" + url_encode(id),
                           {{"tenant", tenant}}));
  if (r.exit_code != exit_ok)
    return r.exit_code;
  if (opt.json) {
    print_json(r);
    return exit_ok;
  }
  auto& doc = r.json;
  std::cout << "tenant_id: " << text(doc, "tenant_id") << "\n"
            << "id: " << text(doc, "id") << "\n";
  if (doc.HasMember("record") && doc["record"].IsObject())
    for (auto key :
         {"state", "plan_id", "service_type", "radius_username", "ip_address",
          "onu_id", "cpe_id", "nas_identifier", "last_saga_id",
          "last_saga_name", "last_outcome", "updated_at", "version"})
      std::cout << key << ": " << text(doc["record"], key) << "\n";
  else
    std::cout << "state: none (no saga finished yet)\n";
  std::cout << "\nsagas (newest first):\n";
  std::vector<std::vector<std::string>> rows;
  if (doc.HasMember("sagas") && doc["sagas"].IsArray())
    for (auto& s : doc["sagas"].GetArray())
      rows.push_back({text(s, "id"), text(s, "name"), text(s, "state"),
                      text(s, "created_at"), text(s, "failed_step")});
  print_table({"ID", "TYPE", "STATE", "CREATED", "FAILED STEP"}, rows);
  return exit_ok;
}

// Follows operator command `cid` (GET /v1/commands/{id}) until it is done
// or failed, or `max` passed (exit_api: still pending).
response follow_command(const options& opt, const std::string& cid,
                        std::chrono::seconds max) {
  auto until = std::chrono::steady_clock::now() + max;
  auto pause = std::chrono::milliseconds{100};
  for (;;) {
    auto r = call(opt, "GET", "/v1/commands/" + url_encode(cid));
    if (r.exit_code != exit_ok)
      return r;
    auto state = text(r.json, "state");
    if (state == "done" || state == "failed")
      return r;
    if (std::chrono::steady_clock::now() >= until) {
      std::cerr << "error: command " << printable(cid) << " is still " << state
                << " (the owner of the saga's partition has not taken it"
                   " yet); see `ispflowctl commands show "
                << printable(cid) << "`\n";
      r.exit_code = exit_api;
      return r;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds{1'000});
  }
}

int saga_action(const options& opt, const std::string& id,
                const std::string& action) {
  auto r = call(opt, "POST", "/v1/sagas/" + url_encode(id) + "/" + action,
                "{}");
  if (r.exit_code != exit_ok)
    return r.exit_code;
  // Another instance owns the saga's partition and has not acted yet:
  // follow the command until it has.
  if (r.status == 202 && action != "replay") {
    auto cid = text(r.json, "id");
    if (!opt.json)
      std::cerr << action << " of saga " << printable(id)
                << " queued as command " << cid
                << ", waiting for the owner of its partition\n";
    r = follow_command(opt, cid, std::chrono::seconds{300});
    if (r.exit_code != exit_ok)
      return r.exit_code;
    if (text(r.json, "state") == "failed") {
      if (opt.json)
        print_json(r);
      std::cerr << "error: " << text(r.json, "error_code") << ": "
                << text(r.json, "error") << "\n";
      return exit_api;
    }
  }
  if (opt.json) {
    print_json(r);
    return exit_ok;
  }
  if (action == "replay")
    std::cout << "replay of saga " << printable(id) << " queued as event "
              << text(r.json["event"], "event_id") << "\n";
  else
    std::cout << action << " accepted for saga " << printable(id)
              << ": command " << text(r.json, "id") << " done on "
              << text(r.json, "taken_by") << " (" << text(r.json, "result")
              << ")\n";
  return exit_ok;
}

int command_show(const options& opt, const std::string& cid) {
  auto r = call(opt, "GET", "/v1/commands/" + url_encode(cid));
  if (r.exit_code != exit_ok)
    return r.exit_code;
  if (opt.json) {
    print_json(r);
    return exit_ok;
  }
  for (auto key : {"id", "kind", "saga_id", "tenant_id", "partition", "state",
                   "requested_by", "requested_at", "taken_by", "epoch",
                   "result", "error_code", "error", "finished_at"})
    std::cout << key << ": " << text(r.json, key) << "\n";
  return exit_ok;
}

struct redrive_args {
  std::string from, to, tenant;
  std::vector<std::string> types;
  bool dry_run = false;
  uint32_t limit = 0;
};

int events_redrive(const options& opt, const redrive_args& a) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  w.StartObject();
  w.Key("from");
  w.String(a.from.c_str());
  w.Key("to");
  w.String(a.to.c_str());
  if (!a.tenant.empty()) {
    w.Key("tenant");
    w.String(a.tenant.c_str());
  }
  w.Key("types");
  w.StartArray();
  for (auto& t : a.types)
    w.String(t.c_str());
  w.EndArray();
  w.Key("dry_run");
  w.Bool(a.dry_run);
  if (a.limit > 0) {
    w.Key("limit");
    w.Uint(a.limit);
  }
  w.EndObject();
  auto r = call(opt, "POST", "/v1/events/redrive", buf.GetString());
  if (r.exit_code != exit_ok)
    return r.exit_code;
  if (opt.json) {
    print_json(r);
    return exit_ok;
  }
  auto& d = r.json;
  if (a.dry_run) {
    std::cout << "dry run: " << text(d, "matched") << " events, "
              << text(d, "would_start") << " would start a saga, "
              << text(d, "would_refuse") << " would be refused"
              << (text(d, "truncated") == "true" ? " (truncated)" : "") << "\n";
    std::vector<std::vector<std::string>> rows;
    for (auto& e : d["events"].GetArray())
      rows.push_back(
        {text(e, "inbox_id"), text(e, "type"), text(e, "tenant_id"),
         text(e, "subscriber_id"), text(e, "decision"),
         text(e, "decision") == "start" ? text(e, "saga") : text(e, "reason")});
    print_table({"INBOX", "TYPE", "TENANT", "SUBSCRIBER", "DECISION",
                 "SAGA/REASON"},
                rows);
  } else {
    std::cout << "re-drove " << text(d, "recorded") << " of "
              << text(d, "matched") << " events (" << text(d, "refused")
              << " refused by intake)"
              << (text(d, "truncated") == "true" ? "; window truncated" : "")
              << "\n";
  }
  return exit_ok;
}

int dlq_list(const options& opt, const list_filters& f) {
  auto path
    = with_query("/v1/dead-letters",
                 {{"tenant", f.tenant},
                  {"error", f.error},
                  {"redriven", f.redriven},
                  {"from", f.from},
                  {"to", f.to},
                  {"cursor", f.cursor},
                  {"limit", f.limit > 0 ? std::to_string(f.limit) : ""}});
  auto r = call(opt, "GET", path);
  if (r.exit_code != exit_ok)
    return r.exit_code;
  if (opt.json) {
    print_json(r);
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows;
  for (auto& x : r.json["items"].GetArray())
    rows.push_back({text(x, "id"), text(x, "tenant_id"), text(x, "error"),
                    text(x, "ce_type"), text(x, "ce_id"), text(x, "created_at"),
                    text(x, "redriven_at")});
  print_table(
    {"ID", "TENANT", "ERROR", "TYPE", "EVENT ID", "CREATED", "REDRIVEN"}, rows);
  print_next(r.json);
  return exit_ok;
}

int dlq_show(const options& opt, const std::string& id) {
  auto r = call(opt, "GET", "/v1/dead-letters/" + url_encode(id));
  if (r.exit_code != exit_ok)
    return r.exit_code;
  if (opt.json) {
    print_json(r);
    return exit_ok;
  }
  for (auto key : {"id", "tenant_id", "error", "detail", "ce_type", "ce_id",
                   "ce_source", "ce_subject", "topic", "partition", "offset",
                   "created_at", "redriven_at", "dismissed_at"})
    std::cout << key << ": " << text(r.json, key) << "\n";
  if (r.json.HasMember("value")) {
    std::cout << "value:\n";
    print_pretty(r.json["value"]);
  } else if (r.json.HasMember("value_text")) {
    std::cout << "value: " << text(r.json, "value_text") << "\n";
  }
  return exit_ok;
}

int dlq_redrive(const options& opt, const std::string& id,
                const std::string& payload_file) {
  std::string body = "{}";
  if (!payload_file.empty()) {
    std::ifstream in{payload_file, std::ios::binary};
    if (!in) {
      std::cerr << "ispflowctl: cannot read " << payload_file << "\n";
      return exit_usage;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    rapidjson::Document p;
    auto content = ss.str();
    p.Parse(content.c_str());
    if (p.HasParseError() || !p.IsObject()) {
      std::cerr << "ispflowctl: " << payload_file
                << " does not hold a JSON object\n";
      return exit_usage;
    }
    rapidjson::StringBuffer buf;
    rapidjson::Writer<rapidjson::StringBuffer> w{buf};
    w.StartObject();
    w.Key("payload");
    p.Accept(w);
    w.EndObject();
    body = buf.GetString();
  }
  auto r = call(opt, "POST", "/v1/dead-letters/" + url_encode(id) + "/redrive",
                body);
  if (r.exit_code != exit_ok)
    return r.exit_code;
  if (opt.json) {
    print_json(r);
    return exit_ok;
  }
  std::cout << "dead letter " << printable(id) << " re-driven as event "
            << text(r.json["event"], "event_id") << "\n";
  return exit_ok;
}

int dlq_dismiss(const options& opt, const std::string& id,
                const std::string& reason) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  w.StartObject();
  w.Key("reason");
  w.String(reason.data(), static_cast<rapidjson::SizeType>(reason.size()));
  w.EndObject();
  auto r = call(opt, "POST", "/v1/dead-letters/" + url_encode(id) + "/dismiss",
                buf.GetString());
  if (r.exit_code != exit_ok)
    return r.exit_code;
  if (opt.json) {
    print_json(r);
    return exit_ok;
  }
  std::cout << "dead letter " << printable(id) << " dismissed at "
            << text(r.json, "dismissed_at") << "\n";
  return exit_ok;
}

int breakers_list(const options& opt) {
  auto r = call(opt, "GET", "/v1/breakers");
  if (r.exit_code != exit_ok)
    return r.exit_code;
  if (opt.json) {
    print_json(r);
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows;
  for (auto& b : r.json["items"].GetArray()) {
    std::string counters;
    for (auto& m : b["counters"].GetObject()) {
      if (!counters.empty())
        counters += ' ';
      counters += printable(m.name.GetString()) + "="
                  + std::to_string(m.value.GetUint64());
    }
    rows.push_back({text(b, "id"), text(b, "tenant_id"), text(b, "system"),
                    text(b, "state"), counters});
  }
  print_table({"ID", "TENANT", "SYSTEM", "STATE", "COUNTERS"}, rows);
  return exit_ok;
}

// GET /v1/cluster: one row per partition (its owner, epoch, heartbeat),
// then one per instance.
int cluster_show(const options& opt) {
  auto r = call(opt, "GET", "/v1/cluster");
  if (r.exit_code != exit_ok)
    return r.exit_code;
  if (opt.json) {
    print_json(r);
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows;
  for (auto& x : r.json["instances"].GetArray()) {
    std::string parts;
    for (auto& p : x["partitions"].GetArray())
      parts += (parts.empty() ? "" : ",") + std::to_string(p.GetInt());
    rows.push_back({text(x, "id"),
                    x["stopped"].GetBool() ? "stopped" : "running",
                    x["relay"].GetBool() ? "relay" : "standby",
                    text(x, "heartbeat_at"), parts});
  }
  print_table({"INSTANCE", "STATE", "RELAY", "HEARTBEAT", "PARTITIONS"}, rows);
  std::cout << "\n";
  rows.clear();
  for (auto& p : r.json["partitions"].GetArray())
    rows.push_back({std::to_string(p["partition"].GetInt()),
                    text(p, "instance_id"),
                    std::to_string(p["epoch"].GetInt64()),
                    text(p, "claimed_at"), text(p, "heartbeat_at")});
  print_table({"PARTITION", "OWNER", "EPOCH", "CLAIMED", "HEARTBEAT"}, rows);
  return exit_ok;
}

int breaker_action(const options& opt, const std::string& id,
                   const std::string& action) {
  auto r = call(opt, "POST", "/v1/breakers/" + url_encode(id) + "/" + action,
                "{}");
  if (r.exit_code != exit_ok)
    return r.exit_code;
  if (opt.json)
    print_json(r);
  else
    std::cout << "breaker " << printable(id) << ": " << action << "\n";
  return exit_ok;
}

int token_hash() {
  std::string token;
  std::getline(std::cin, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' '))
    token.pop_back();
  if (token.empty()) {
    std::cerr << "ispflowctl: no token on stdin\n";
    return exit_usage;
  }
  std::cout << ispflow::actors::admin::sha256_hex(token) << "\n";
  return exit_ok;
}

struct drift_args {
  std::string tenant;
  std::vector<std::string> adapters;
  bool dry_run = false;
  bool repair = false;
  bool no_wait = false;
  std::string kind;
  uint32_t limit = 0;
};

// Prints a scan (GET /v1/drift/scans/{id}) as a summary and a table of
// its findings.
void print_drift_scan(const rapidjson::Document& doc) {
  const auto& scan = doc["scan"];
  for (auto key : {"id", "tenant_id", "state", "error", "trigger", "dry_run",
                   "repair", "subscribers", "findings", "repairs", "requests",
                   "unobserved", "started_at", "finished_at"})
    std::cout << key << ": " << text(scan, key) << "\n";
  // What became of each finding: its repair saga (and state), the router's
  // refusal, a repair still queued, or why no repair can fix it.
  auto repair_of = [](const rapidjson::Value& f) -> std::string {
    auto given = [&f](const char* key) {
      auto x = text(f, key);
      return x == "-" ? std::string{} : x;
    };
    if (auto saga = given("repair_saga_id"); !saga.empty())
      return "saga " + saga + " " + given("repair_state");
    if (auto refused = given("repair_refused"); !refused.empty())
      return "refused: " + refused;
    if (auto why = given("unrepairable"); !why.empty())
      return "unrepairable: " + why;
    if (auto queued = given("repair"); !queued.empty())
      return "queued " + queued;
    return "-";
  };
  std::vector<std::vector<std::string>> rows;
  if (doc.HasMember("findings") && doc["findings"].IsArray())
    for (auto& f : doc["findings"].GetArray())
      rows.push_back({text(f, "tenant_id"), text(f, "subscriber_id"),
                      text(f, "system"), text(f, "kind"), text(f, "expected"),
                      text(f, "observed"), repair_of(f)});
  std::cout << "\n";
  print_table({"TENANT", "SUBSCRIBER", "SYSTEM", "KIND", "EXPECTED", "OBSERVED",
               "REPAIR"},
              rows);
}

int drift_show(const options& opt, const std::string& id, const drift_args& a) {
  auto path = with_query(
    "/v1/drift/scans/" + url_encode(id),
    {{"kind", a.kind}, {"limit", a.limit > 0 ? std::to_string(a.limit) : ""}});
  auto r = call(opt, "GET", path);
  if (r.exit_code != exit_ok)
    return r.exit_code;
  if (opt.json)
    print_json(r);
  else
    print_drift_scan(r.json);
  return exit_ok;
}

// POST /v1/drift/scans; then, unless --no-wait, polls the scan until it
// ends and prints it.
int drift_scan(const options& opt, const drift_args& a) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  w.StartObject();
  if (!a.tenant.empty()) {
    w.Key("tenant");
    w.String(a.tenant.c_str());
  }
  w.Key("systems");
  w.StartArray();
  for (auto& s : a.adapters)
    w.String(s.c_str());
  w.EndArray();
  w.Key("dry_run");
  w.Bool(a.dry_run);
  w.Key("repair");
  w.Bool(a.repair);
  w.EndObject();
  auto r = call(opt, "POST", "/v1/drift/scans", buf.GetString());
  if (r.exit_code != exit_ok)
    return r.exit_code;
  auto id = text(r.json, "id");
  if (a.no_wait) {
    if (opt.json)
      print_json(r);
    else
      std::cout << "scan " << id << " queued\n";
    return exit_ok;
  }
  for (;;) {
    auto s = call(opt, "GET", "/v1/drift/scans/" + url_encode(id));
    if (s.exit_code != exit_ok)
      return s.exit_code;
    auto state = text(s.json["scan"], "state");
    if (state == "completed" || state == "failed") {
      if (opt.json)
        print_json(s);
      else
        print_drift_scan(s.json);
      return state == "completed" ? exit_ok : exit_api;
    }
    std::this_thread::sleep_for(std::chrono::seconds{1});
  }
}

int drift_list(const options& opt, const drift_args& a) {
  auto r
    = call(opt, "GET",
           with_query("/v1/drift/scans",
                      {{"tenant", a.tenant},
                       {"limit", a.limit > 0 ? std::to_string(a.limit) : ""}}));
  if (r.exit_code != exit_ok)
    return r.exit_code;
  if (opt.json) {
    print_json(r);
    return exit_ok;
  }
  std::vector<std::vector<std::string>> rows;
  for (auto& s : r.json["scans"].GetArray())
    rows.push_back({text(s, "id"), text(s, "tenant_id"), text(s, "trigger"),
                    text(s, "state"), text(s, "subscribers"),
                    text(s, "findings"), text(s, "repairs"),
                    text(s, "created_at")});
  print_table({"ID", "TENANT", "TRIGGER", "STATE", "SUBSCRIBERS", "FINDINGS",
               "REPAIRS", "CREATED"},
              rows);
  return exit_ok;
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"ispflowctl: operate ispflow through its admin API"};
  app.require_subcommand(1);
  options opt;
  opt.url = env_or("ISPFLOW_URL", "http://127.0.0.1:8089");
  opt.token = env_or("ISPFLOW_TOKEN", "");
  app.add_option("--url", opt.url, "admin API base URL (env ISPFLOW_URL)");
  app.add_option("--token", opt.token,
                 "bearer token (env ISPFLOW_TOKEN; prefer the environment)");
  opt.ca_file = env_or("ISPFLOW_CA_FILE", "");
  app.add_option("--ca-file", opt.ca_file,
                 "CA bundle (PEM) trusted for an https:// --url (env "
                 "ISPFLOW_CA_FILE)");
  app.add_flag("--json", opt.json, "print the API's JSON");

  int rc = exit_ok;
  list_filters lf;
  std::string id, payload_file;
  redrive_args ra;

  auto sagas = app.add_subcommand("sagas", "list, show and act on sagas");
  sagas->require_subcommand(1);
  auto s_list = sagas->add_subcommand("list", "list sagas, newest first");
  s_list->add_option("--tenant", lf.tenant);
  s_list->add_option("--subscriber", lf.subscriber);
  s_list->add_option("--type", lf.type, "saga type, e.g. activate");
  s_list->add_option("--state", lf.state, "e.g. needs_attention");
  s_list->add_option("--from", lf.from, "created at or after (RFC 3339)");
  s_list->add_option("--to", lf.to, "created before (RFC 3339)");
  s_list->add_option("--limit", lf.limit, "page size (max 500)");
  s_list->add_option("--cursor", lf.cursor, "next_cursor of the last page");
  s_list->callback([&] { rc = sagas_list(opt, lf); });
  auto s_show = sagas->add_subcommand("show", "one saga with its steps");
  s_show->add_option("id", id)->required();
  s_show->callback([&] { rc = sagas_show(opt, id); });
  for (auto action : {"retry", "cancel", "replay"}) {
    auto sub = sagas->add_subcommand(action, std::string{action} + " a saga");
    sub->add_option("id", id)->required();
    sub->callback([&, action] { rc = saga_action(opt, id, action); });
  }

  auto cmds = app.add_subcommand(
    "commands", "operator commands (retry, cancel, replay) and their outcome");
  cmds->require_subcommand(1);
  auto c_show = cmds->add_subcommand("show", "one command");
  c_show->add_option("id", id)->required();
  c_show->callback([&] { rc = command_show(opt, id); });

  subscriber_filters sf;
  auto subs = app.add_subcommand("subscribers", "subscriber records");
  subs->require_subcommand(1);
  auto sub_list = subs->add_subcommand("list",
                                       "list subscribers by tenant, id");
  sub_list->add_option("--tenant", sf.tenant);
  sub_list->add_option("--state", sf.state, "e.g. suspended");
  sub_list->add_option("--plan", sf.plan, "plan id");
  sub_list->add_option("--nas", sf.nas, "NAS identifier");
  sub_list->add_option("--limit", sf.limit, "page size (max 500)");
  sub_list->add_option("--cursor", sf.cursor, "next_cursor of the last page");
  sub_list->callback([&] { rc = subscribers_list(opt, sf); });
  auto sub_show = subs->add_subcommand("show", "one subscriber and its sagas");
  sub_show->add_option("id", id)->required();
  sub_show->add_option("--tenant", sf.tenant,
                       "when several tenants use the id");
  sub_show->callback([&] { rc = subscribers_show(opt, id, sf.tenant); });

  auto evs = app.add_subcommand("events", "input events");
  evs->require_subcommand(1);
  auto e_redrive = evs->add_subcommand("redrive",
                                       "re-drive a window of input events");
  e_redrive->add_option("--from", ra.from, "received at or after (RFC 3339)")
    ->required();
  e_redrive->add_option("--to", ra.to, "received before (RFC 3339)")
    ->required();
  e_redrive->add_option("--tenant", ra.tenant);
  e_redrive->add_option("--type", ra.types, "event type; repeatable");
  e_redrive->add_option("--limit", ra.limit, "most events (max 10000)");
  e_redrive->add_flag("--dry-run", ra.dry_run, "report what would start");
  e_redrive->callback([&] { rc = events_redrive(opt, ra); });

  auto dlq = app.add_subcommand("dlq", "dead letters");
  dlq->require_subcommand(1);
  auto d_list = dlq->add_subcommand("list", "list dead letters, newest first");
  d_list->add_option("--tenant", lf.tenant);
  d_list->add_option("--error", lf.error, "e.g. schema_violation");
  d_list->add_option("--redriven", lf.redriven, "true or false")
    ->check(CLI::IsMember({"true", "false"}));
  d_list->add_option("--from", lf.from);
  d_list->add_option("--to", lf.to);
  d_list->add_option("--limit", lf.limit);
  d_list->add_option("--cursor", lf.cursor);
  d_list->callback([&] { rc = dlq_list(opt, lf); });
  auto d_show = dlq->add_subcommand("show", "one dead letter");
  d_show->add_option("id", id)->required();
  d_show->callback([&] { rc = dlq_show(opt, id); });
  auto d_redrive = dlq->add_subcommand("redrive", "re-drive a dead letter");
  d_redrive->add_option("id", id)->required();
  d_redrive->add_option("--payload", payload_file,
                        "file with a corrected JSON payload");
  d_redrive->callback([&] { rc = dlq_redrive(opt, id, payload_file); });
  std::string dismiss_reason;
  auto d_dismiss = dlq->add_subcommand(
    "dismiss", "dismiss a dead letter: nobody will re-drive it");
  d_dismiss->add_option("id", id)->required();
  d_dismiss->add_option("--reason", dismiss_reason, "why (kept in the audit)")
    ->required();
  d_dismiss->callback([&] { rc = dlq_dismiss(opt, id, dismiss_reason); });

  auto brk = app.add_subcommand("breakers", "circuit breakers");
  brk->require_subcommand(1);
  brk->add_subcommand("list", "breakers with state and counters")
    ->callback([&] { rc = breakers_list(opt); });
  for (auto action : {"open", "close"}) {
    auto sub = brk->add_subcommand(action,
                                   std::string{"force a breaker "} + action);
    sub->add_option("id", id)->required();
    sub->callback([&, action] { rc = breaker_action(opt, id, action); });
  }

  app
    .add_subcommand("cluster",
                    "instances, partition owners, epochs and the relay")
    ->callback([&] { rc = cluster_show(opt); });

  drift_args da;
  auto drift = app.add_subcommand("drift",
                                  "compare the network with the records");
  drift->require_subcommand(1);
  auto dr_scan = drift->add_subcommand(
    "scan", "scan subscribers against RADIUS, NetBox, VOLTHA and GenieACS");
  dr_scan->add_option("--tenant", da.tenant, "one tenant (default: all)");
  dr_scan
    ->add_option("--adapter", da.adapters,
                 "radius, netbox, voltha or genieacs; repeatable")
    ->check(CLI::IsMember({"radius", "netbox", "voltha", "genieacs"}));
  dr_scan->add_flag("--dry-run", da.dry_run,
                    "report only: no repair, no events");
  dr_scan->add_flag("--repair", da.repair,
                    "start a repair saga per subscriber with repairable"
                    " differences (not with --dry-run); `drift show` tells"
                    " each finding's saga, or why it is unrepairable");
  dr_scan->add_flag("--no-wait", da.no_wait,
                    "print the scan's id instead of waiting for it");
  dr_scan->callback([&] { rc = drift_scan(opt, da); });
  auto dr_show = drift->add_subcommand("show", "one scan and its findings");
  dr_show->add_option("id", id)->required();
  dr_show->add_option("--kind", da.kind, "e.g. netbox_ip_missing");
  dr_show->add_option("--limit", da.limit, "most findings (max 10000)");
  dr_show->callback([&] { rc = drift_show(opt, id, da); });
  auto dr_list = drift->add_subcommand("list", "the newest scans");
  dr_list->add_option("--tenant", da.tenant);
  dr_list->add_option("--limit", da.limit, "most scans (max 200)");
  dr_list->callback([&] { rc = drift_list(opt, da); });

  auto tok = app.add_subcommand("token", "tokens");
  tok->require_subcommand(1);
  tok->add_subcommand("hash", "SHA-256 of the token on stdin, for the config")
    ->callback([&] { rc = token_hash(); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return exit_usage;
  }
  return rc;
}

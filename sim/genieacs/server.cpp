#include "sim/genieacs/server.hpp"

#include "events/errc.hpp"
#include "sim/common/host.hpp"
#include "sim/common/run.hpp"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <regex>
#include <set>
#include <yaml-cpp/yaml.h>

namespace ispflow::sim::genieacs {

namespace {

using writer = rapidjson::Writer<rapidjson::StringBuffer>;

struct param {
  std::string value;
  std::string type = "xsd:string";
  bool writable = true;
  int64_t timestamp = 0;
};

struct device {
  std::string id;
  device_seed seed;
  std::map<std::string, param> params;
  std::vector<std::string> tags;
  int64_t registered = 0;
  int64_t last_inform = 0;
  bool online = true;
  // Accepts connection requests but never starts the session.
  bool starts_sessions = true;
  // Events.1_BOOT and Events.0_BOOTSTRAP, shown as _lastBoot and
  // _lastBootstrap (genieacs/genieacs lib/db.ts); 0 = never.
  int64_t last_boot = 0;
  int64_t last_bootstrap = 0;
  std::string fault_code;
  std::string fault_message;
  std::string cr_error;
  std::vector<std::string> executed;
};

struct task {
  std::string id;
  std::string device;
  std::string name;
  std::string unique_key;
  int64_t timestamp = 0;
  int64_t expiry = 0;
  // The task document as sent by the client (JSON object text).
  std::string body;
};

struct fault {
  std::string device;
  std::string channel;
  std::string code;
  std::string message;
  int64_t timestamp = 0;
};

std::string json_text(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  writer w{buf};
  v.Accept(w);
  return buf.GetString();
}

std::string syntax_error(const rapidjson::Document& doc) {
  return "SyntaxError: Unexpected token in JSON at position "
         + std::to_string(doc.GetErrorOffset());
}

void text(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  if (!body.empty())
    res.set_content(body, "text/plain");
}

void method_not_allowed(httplib::Response& res, const char* allow) {
  res.status = 405;
  res.set_header("Allow", allow);
  res.set_content("405 Method Not Allowed", "text/plain");
}

std::string decode(const std::string& s) {
  return httplib::detail::decode_url(s, false);
}

const std::vector<std::string> task_names = {
  "getParameterValues", "setParameterValues", "refreshObject", "addObject",
  "deleteObject",       "download",           "reboot",        "factoryReset",
  "provisions"};

// sanitizeTask's required fields.
bool valid_task(const rapidjson::Value& t) {
  if (!t.IsObject() || !t.HasMember("name") || !t["name"].IsString())
    return false;
  std::string name = t["name"].GetString();
  if (std::find(task_names.begin(), task_names.end(), name) == task_names.end())
    return false;
  auto has = [&](const char* k, bool array) {
    return t.HasMember(k) && (array ? t[k].IsArray() : t[k].IsString());
  };
  if (name == "getParameterValues")
    return has("parameterNames", true);
  if (name == "setParameterValues") {
    if (!has("parameterValues", true))
      return false;
    for (const auto& pv : t["parameterValues"].GetArray())
      if (!pv.IsArray() || pv.Size() < 2 || !pv[0].IsString()
          || !(pv[1].IsString() || pv[1].IsNumber() || pv[1].IsBool()))
        return false;
    return true;
  }
  if (name == "refreshObject" || name == "addObject" || name == "deleteObject")
    return has("objectName", false);
  if (name == "download")
    return (has("fileType", false) && has("fileName", false))
           || t.HasMember("file");
  if (name == "provisions")
    return has("provisions", true);
  return true;
}

} // namespace

// genieacs/genieacs lib/util.ts generateDeviceId (lib/common.ts in v1.2):
// `str.replace(/[^A-Za-z0-9_]/g, ...)` with "%" + b.toString(16).toUpperCase()
// per UTF-8 byte: no zero padding, so bytes below 0x10 give one hex digit.
std::string encode_id_part(std::string_view part) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : part) {
    bool word = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                || (c >= '0' && c <= '9') || c == '_';
    if (word) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      if (c >= 0x10)
        out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  return out;
}

std::string device_id(std::string_view oui, std::string_view product_class,
                      std::string_view serial) {
  if (product_class.empty())
    return encode_id_part(oui) + "-" + encode_id_part(serial);
  return encode_id_part(oui) + "-" + encode_id_part(product_class) + "-"
         + encode_id_part(serial);
}

struct server::impl {
  options opts;
  common::http_host host;
  mutable std::mutex mtx;
  std::map<std::string, device> devices;
  /// The ids of `devices` by serial number, in id order: an index on
  /// `_deviceId._SerialNumber`, as a CPE is looked up.
  std::map<std::string, std::set<std::string>> ids_by_serial;
  std::vector<task> tasks;
  std::map<std::string, fault> faults;
  std::map<std::string, std::string> presets;
  std::map<std::string, std::string> provisions;
  std::mt19937_64 ids{7};
  uint32_t id_counter = 0;
  contract_stats stats;
  // The `hold_task_reply_ms` fault: a task POST with connection_request
  // whose task ran waits this long (or until the fault is cleared) before it
  // answers, so a client can die between the ACS's 200 and its own commit.
  uint32_t hold_ms = 0;
  std::string hold_task;
  bool stopping = false;
  std::condition_variable hold_cv;

  explicit impl(options o) : opts(std::move(o)), host(make_hooks()) {
    // nop
  }

  common::host_hooks make_hooks() {
    common::host_hooks h;
    h.route = [this](const httplib::Request& req, httplib::Response& res) {
      route(req, res);
    };
    h.state_json = [this] { return state_json(); };
    h.extra_faults = [this](std::string_view json) { extra_faults(json); };
    h.control = [this](const httplib::Request& req, httplib::Response& res) {
      return control(req, res);
    };
    h.fault_reply = [](int status, httplib::Response& res) {
      text(res, status, "Simulated fault");
    };
    h.default_headers = {{"GenieACS-Version", opts.version}};
    return h;
  }

  std::string object_id() {
    char buf[32];
    auto secs = static_cast<unsigned>(common::now_micros() / 1000000);
    std::snprintf(buf, sizeof(buf), "%08x%010llx%06x", secs,
                  static_cast<unsigned long long>(ids() & 0xffffffffffULL),
                  ++id_counter & 0xffffff);
    return buf;
  }

  // -- devices ---------------------------------------------------------------

  std::string add_device_locked(const device_seed& seed) {
    device d;
    d.id = device_id(seed.oui, seed.product_class, seed.serial);
    d.seed = seed;
    d.online = seed.online;
    d.registered = d.last_inform = common::now_micros();
    reset_params(d);
    auto id = d.id;
    devices[id] = std::move(d);
    ids_by_serial[seed.serial].insert(id);
    return id;
  }

  // The parameters of a freshly reset CPE of its data model: TR-098
  // (InternetGatewayDevice.*) or TR-181 (Device.*).
  static void reset_params(device& d) {
    auto now = common::now_micros();
    d.params.clear();
    auto put = [&](const std::string& path, const std::string& value,
                   bool writable) {
      d.params[path] = param{value, "xsd:string", writable, now};
    };
    bool tr181 = d.seed.data_model == "tr181";
    const std::string root = tr181 ? "Device." : "InternetGatewayDevice.";
    put(root + "DeviceInfo.Manufacturer", d.seed.manufacturer, false);
    put(root + "DeviceInfo.ManufacturerOUI", d.seed.oui, false);
    put(root + "DeviceInfo.ProductClass", d.seed.product_class, false);
    put(root + "DeviceInfo.SerialNumber", d.seed.serial, false);
    put(root + "DeviceInfo.SoftwareVersion", "1.0.0", false);
    put(root + "ManagementServer.ConnectionRequestURL",
        "http://192.0.2.1:7547/", false);
    put(root + "ManagementServer.PeriodicInformInterval", "3600", true);
    if (tr181) {
      put(root + "PPP.Interface.1.Username", "", true);
      put(root + "PPP.Interface.1.Password", "", true);
      put(root + "WiFi.SSID.1.SSID", "ispflow", true);
    } else {
      put(root
            + "WANDevice.1.WANConnectionDevice.1.WANPPPConnection.1.Username",
          "", true);
      put(root
            + "WANDevice.1.WANConnectionDevice.1.WANPPPConnection.1.Password",
          "", true);
      put(root + "LANDevice.1.WLANConfiguration.1.SSID", "ispflow", true);
    }
    for (const auto& [path, value] : d.seed.parameters)
      put(path, value, true);
  }

  void execute(device& d, const task& t) {
    rapidjson::Document doc;
    doc.Parse(t.body.c_str(), t.body.size());
    auto now = common::now_micros();
    if (t.name == "setParameterValues") {
      for (const auto& pv : doc["parameterValues"].GetArray()) {
        // genieacs/genieacs lib/cwmp.ts turns each value into a "value"
        // provision and lib/default-provisions.ts declares its path: a path
        // the device does not have matches nothing and is skipped, without
        // a fault, and the task still counts as done.
        if (d.params.count(pv[0].GetString()) == 0)
          continue;
        param p;
        p.value = pv[1].IsString() ? pv[1].GetString() : json_text(pv[1]);
        p.type = pv.Size() > 2 && pv[2].IsString() ? pv[2].GetString()
                 : pv[1].IsBool()                  ? "xsd:boolean"
                 : pv[1].IsNumber()                ? "xsd:int"
                                                   : "xsd:string";
        p.timestamp = now;
        d.params[pv[0].GetString()] = p;
      }
    } else if (t.name == "deleteObject") {
      std::string prefix = doc["objectName"].GetString();
      if (!prefix.empty() && prefix.back() != '.')
        prefix += '.';
      for (auto i = d.params.begin(); i != d.params.end();)
        i = i->first.rfind(prefix, 0) == 0 ? d.params.erase(i) : std::next(i);
    } else if (t.name == "factoryReset") {
      reset_params(d);
      d.tags.clear();
      // The CPE reboots and informs with "0 BOOTSTRAP" and "1 BOOT" right
      // away here (a real one takes a minute or so).
      d.last_boot = d.last_bootstrap = now;
    } else if (t.name == "reboot") {
      d.last_boot = now;
    }
    d.executed.push_back(t.name);
    d.last_inform = now;
  }

  // An inform: runs the device's queued tasks unless they fault. Returns
  // false when a task faulted.
  bool inform(device& d) {
    auto now = common::now_micros();
    d.last_inform = now;
    for (auto i = tasks.begin(); i != tasks.end();) {
      if (i->device != d.id) {
        ++i;
        continue;
      }
      if (i->expiry != 0 && i->expiry < now) {
        i = tasks.erase(i);
        continue;
      }
      auto fid = d.id + ":task_" + i->id;
      if (faults.count(fid)) {
        ++i;
        continue;
      }
      if (!d.fault_code.empty()) {
        faults[fid] = fault{d.id, "task_" + i->id, d.fault_code,
                            d.fault_message, now};
        return false;
      }
      execute(d, *i);
      i = tasks.erase(i);
    }
    return true;
  }

  // -- rendering -------------------------------------------------------------

  static bool projected(const std::vector<std::string>& proj,
                        const std::string& path) {
    if (proj.empty())
      return true;
    for (const auto& p : proj)
      if (path == p || path.rfind(p + ".", 0) == 0
          || p.rfind(path + ".", 0) == 0)
        return true;
    return false;
  }

  void write_device(writer& w, const device& d,
                    const std::vector<std::string>& proj) const {
    rapidjson::Document doc{rapidjson::kObjectType};
    auto& a = doc.GetAllocator();
    using V = rapidjson::Value;
    doc.AddMember("_id", V{d.id, a}, a);
    if (projected(proj, "_deviceId")) {
      V id{rapidjson::kObjectType};
      id.AddMember("_Manufacturer", V{d.seed.manufacturer, a}, a);
      id.AddMember("_OUI", V{d.seed.oui, a}, a);
      if (!d.seed.product_class.empty())
        id.AddMember("_ProductClass", V{d.seed.product_class, a}, a);
      id.AddMember("_SerialNumber", V{d.seed.serial, a}, a);
      doc.AddMember("_deviceId", id, a);
    }
    if (projected(proj, "_lastInform"))
      doc.AddMember("_lastInform", V{common::format_iso8601(d.last_inform), a},
                    a);
    if (projected(proj, "_registered"))
      doc.AddMember("_registered", V{common::format_iso8601(d.registered), a},
                    a);
    if (d.last_boot != 0 && projected(proj, "_lastBoot"))
      doc.AddMember("_lastBoot", V{common::format_iso8601(d.last_boot), a}, a);
    if (d.last_bootstrap != 0 && projected(proj, "_lastBootstrap"))
      doc.AddMember("_lastBootstrap",
                    V{common::format_iso8601(d.last_bootstrap), a}, a);
    if (!d.tags.empty() && projected(proj, "_tags")) {
      V tags{rapidjson::kArrayType};
      for (const auto& t : d.tags)
        tags.PushBack(V{t, a}, a);
      doc.AddMember("_tags", tags, a);
    }
    for (const auto& [path, p] : d.params) {
      if (!projected(proj, path))
        continue;
      V* node = &doc;
      size_t start = 0;
      while (true) {
        auto dot = path.find('.', start);
        auto name = path.substr(
          start, dot == std::string::npos ? std::string::npos : dot - start);
        auto it = node->FindMember(name.c_str());
        if (it == node->MemberEnd()) {
          V obj{rapidjson::kObjectType};
          if (dot != std::string::npos) {
            obj.AddMember("_object", true, a);
            obj.AddMember("_writable", false, a);
            obj.AddMember("_timestamp",
                          V{common::format_iso8601(p.timestamp), a}, a);
          }
          node->AddMember(V{name, a}, obj, a);
          it = node->FindMember(name.c_str());
        }
        node = &it->value;
        if (dot == std::string::npos)
          break;
        start = dot + 1;
      }
      node->AddMember("_object", false, a);
      node->AddMember("_timestamp", V{common::format_iso8601(p.timestamp), a},
                      a);
      node->AddMember("_type", V{p.type, a}, a);
      node->AddMember("_value", V{p.value, a}, a);
      node->AddMember("_writable", p.writable, a);
    }
    doc.Accept(w);
  }

  std::string task_json(const task& t) const {
    rapidjson::Document doc;
    doc.Parse(t.body.c_str(), t.body.size());
    auto& a = doc.GetAllocator();
    using V = rapidjson::Value;
    doc.RemoveMember("_id");
    doc.RemoveMember("device");
    doc.RemoveMember("timestamp");
    doc.AddMember("device", V{t.device, a}, a);
    doc.AddMember("timestamp", V{common::format_iso8601(t.timestamp), a}, a);
    if (t.expiry != 0) {
      doc.RemoveMember("expiry");
      doc.AddMember("expiry", V{common::format_iso8601(t.expiry), a}, a);
    }
    doc.AddMember("_id", V{t.id, a}, a);
    return json_text(doc);
  }

  std::string fault_json(const std::string& id, const fault& f) const {
    rapidjson::StringBuffer buf;
    writer w{buf};
    w.StartObject();
    w.Key("_id");
    w.String(id);
    w.Key("device");
    w.String(f.device);
    w.Key("channel");
    w.String(f.channel);
    w.Key("code");
    w.String(f.code);
    w.Key("message");
    w.String(f.message);
    w.Key("detail");
    w.Null();
    w.Key("timestamp");
    w.String(common::format_iso8601(f.timestamp));
    w.Key("retries");
    w.Int(0);
    w.Key("provisions");
    w.StartArray();
    w.EndArray();
    w.EndObject();
    return buf.GetString();
  }

  // -- queries ---------------------------------------------------------------

  // Flattened view of a document for query matching: path -> JSON text.
  using flat = std::multimap<std::string, std::string>;

  static std::string quoted(const std::string& s) {
    rapidjson::StringBuffer buf;
    writer w{buf};
    w.String(s);
    return buf.GetString();
  }

  flat flatten(const device& d) const {
    flat f;
    f.emplace("_id", quoted(d.id));
    f.emplace("_deviceId._Manufacturer", quoted(d.seed.manufacturer));
    f.emplace("_deviceId._OUI", quoted(d.seed.oui));
    if (!d.seed.product_class.empty())
      f.emplace("_deviceId._ProductClass", quoted(d.seed.product_class));
    f.emplace("_deviceId._SerialNumber", quoted(d.seed.serial));
    for (const auto& t : d.tags)
      f.emplace("_tags", quoted(t));
    for (const auto& [path, p] : d.params)
      f.emplace(path + "._value", quoted(p.value));
    return f;
  }

  static bool value_matches(const flat& f, const std::string& key,
                            const rapidjson::Value& cond) {
    auto [lo, hi] = f.equal_range(key);
    bool exists = lo != hi;
    auto any = [&](const std::function<bool(const std::string&)>& pred) {
      for (auto i = lo; i != hi; ++i)
        if (pred(i->second))
          return true;
      return false;
    };
    if (cond.IsObject() && cond.MemberCount() > 0
        && cond.MemberBegin()->name.GetString()[0] == '$') {
      for (auto& op : cond.GetObject()) {
        std::string name = op.name.GetString();
        if (name == "$in") {
          if (!op.value.IsArray())
            return false;
          bool hit = false;
          for (const auto& v : op.value.GetArray()) {
            auto t = json_text(v);
            hit = hit || any([&](auto& s) { return s == t; });
          }
          if (!hit)
            return false;
        } else if (name == "$ne") {
          auto t = json_text(op.value);
          if (any([&](auto& s) { return s == t; }))
            return false;
        } else if (name == "$exists") {
          if (exists != (op.value.IsBool() && op.value.GetBool()))
            return false;
        } else if (name == "$regex") {
          if (!op.value.IsString())
            return false;
          std::regex re{op.value.GetString()};
          if (!any([&](auto& s) {
                rapidjson::Document v;
                v.Parse(s.c_str());
                return v.IsString() && std::regex_search(v.GetString(), re);
              }))
            return false;
        } else {
          return false;
        }
      }
      return true;
    }
    auto t = json_text(cond);
    return any([&](auto& s) { return s == t; });
  }

  static bool doc_matches(const flat& f, const rapidjson::Value& q,
                          bool expand) {
    if (!q.IsObject())
      return false;
    for (auto& m : q.GetObject()) {
      std::string key = m.name.GetString();
      if (key == "$and" || key == "$or") {
        if (!m.value.IsArray())
          return false;
        bool all = true;
        bool one = false;
        for (const auto& sub : m.value.GetArray()) {
          bool r = doc_matches(f, sub, expand);
          all = all && r;
          one = one || r;
        }
        if (key == "$and" ? !all : !one)
          return false;
        continue;
      }
      auto last = key.substr(key.rfind('.') + 1);
      if (expand && !last.empty() && last[0] != '_')
        key += "._value";
      if (!value_matches(f, key, m.value))
        return false;
    }
    return true;
  }

  // The ids a device query can match when it constrains `_id` to a string
  // or to `$in` strings (sorted, unique); nothing when it does not.
  static std::optional<std::set<std::string>>
  id_candidates(const rapidjson::Value& q) {
    if (!q.IsObject())
      return std::nullopt;
    auto m = q.FindMember("_id");
    if (m == q.MemberEnd())
      return std::nullopt;
    std::set<std::string> out;
    if (m->value.IsString()) {
      out.insert(m->value.GetString());
      return out;
    }
    if (!m->value.IsObject() || m->value.MemberCount() != 1)
      return std::nullopt;
    auto in = m->value.FindMember("$in");
    if (in == m->value.MemberEnd() || !in->value.IsArray())
      return std::nullopt;
    for (const auto& v : in->value.GetArray()) {
      if (!v.IsString())
        return std::nullopt;
      out.insert(v.GetString());
    }
    return out;
  }

  // The serial number a query compares for equality (a plain string
  // value), if it does.
  static std::optional<std::string> serial_wanted(const rapidjson::Value& q) {
    if (!q.IsObject())
      return std::nullopt;
    auto m = q.FindMember("_deviceId._SerialNumber");
    if (m == q.MemberEnd() || !m->value.IsString())
      return std::nullopt;
    return std::string{m->value.GetString(), m->value.GetStringLength()};
  }

  void query(const httplib::Request& req, httplib::Response& res,
             std::string coll) {
    if (req.method != "GET" && req.method != "HEAD")
      return method_not_allowed(res, "GET, HEAD");
    static const std::vector<std::string> known = {"devices",
                                                   "tasks",
                                                   "presets",
                                                   "objects",
                                                   "files",
                                                   "provisions",
                                                   "virtual_parameters",
                                                   "faults"};
    if (std::find(known.begin(), known.end(), coll) == known.end())
      return text(res, 404, "404 Not Found");
    rapidjson::Document q{rapidjson::kObjectType};
    if (req.has_param("query") && !req.get_param_value("query").empty()) {
      auto s = req.get_param_value("query");
      q.Parse(s.c_str(), s.size());
      if (q.HasParseError())
        return text(res, 400, syntax_error(q));
    }
    std::vector<std::string> proj;
    if (req.has_param("projection")) {
      std::string p = req.get_param_value("projection");
      size_t start = 0;
      while (start <= p.size()) {
        auto comma = p.find(',', start);
        auto part = p.substr(start, comma == std::string::npos
                                      ? std::string::npos
                                      : comma - start);
        part.erase(0, part.find_first_not_of(' '));
        part.erase(part.find_last_not_of(' ') + 1);
        if (!part.empty())
          proj.push_back(part);
        if (comma == std::string::npos)
          break;
        start = comma + 1;
      }
    }
    std::vector<std::string> items;
    std::lock_guard<std::mutex> guard{mtx};
    count_check(coll, q, proj);
    if (coll == "devices") {
      auto emit = [&](const device& d) {
        if (doc_matches(flatten(d), q, true)) {
          rapidjson::StringBuffer buf;
          writer w{buf};
          write_device(w, d, proj);
          items.push_back(buf.GetString());
        }
      };
      // A query on `_id` (a value or `$in`) is served from the id index, as
      // MongoDB serves it from its `_id` index; the full query still
      // decides, so the answer is the same as a scan's, in id order.
      // A serial number compared for equality (how a CPE is looked up) is
      // served from `ids_by_serial`, as an index on
      // `_deviceId._SerialNumber` would: the same answer, in id order,
      // without visiting every device for every look-up.
      if (auto wanted = id_candidates(q)) {
        for (const auto& id : *wanted)
          if (auto i = devices.find(id); i != devices.end())
            emit(i->second);
      } else if (auto serial = serial_wanted(q)) {
        if (auto same = ids_by_serial.find(*serial);
            same != ids_by_serial.end())
          for (const auto& id : same->second)
            emit(devices.at(id));
      } else {
        for (const auto& [id, d] : devices)
          emit(d);
      }
    } else if (coll == "tasks") {
      for (const auto& t : tasks) {
        flat f{{"_id", quoted(t.id)},
               {"device", quoted(t.device)},
               {"name", quoted(t.name)}};
        if (!t.unique_key.empty())
          f.emplace("uniqueKey", quoted(t.unique_key));
        if (doc_matches(f, q, false))
          items.push_back(task_json(t));
      }
    } else if (coll == "faults") {
      for (const auto& [id, x] : faults) {
        flat f{{"_id", quoted(id)},
               {"device", quoted(x.device)},
               {"channel", quoted(x.channel)},
               {"code", quoted(x.code)}};
        if (doc_matches(f, q, false))
          items.push_back(fault_json(id, x));
      }
    } else if (coll == "presets") {
      for (const auto& [name, body] : presets) {
        flat f{{"_id", quoted(name)}};
        if (doc_matches(f, q, false))
          items.push_back(body);
      }
    } else if (coll == "provisions") {
      for (const auto& [name, script] : provisions) {
        flat f{{"_id", quoted(name)}};
        if (doc_matches(f, q, false))
          items.push_back(R"({"_id":)" + quoted(name) + R"(,"script":)"
                          + quoted(script) + "}");
      }
    }
    auto total = items.size();
    size_t skip = 0;
    size_t limit = items.size();
    try {
      if (req.has_param("skip"))
        skip = std::stoul(req.get_param_value("skip"));
      if (req.has_param("limit"))
        limit = std::stoul(req.get_param_value("limit"));
    } catch (...) {
      skip = 0;
    }
    std::string body = "[\n";
    for (size_t i = skip, n = 0; i < items.size() && n < limit; ++i, ++n) {
      if (n > 0)
        body += ",\n";
      body += items[i];
    }
    body += "\n]";
    res.status = 200;
    res.set_header("total", std::to_string(total));
    res.set_content(body, "application/json");
  }

  // Counts the reads that check a contract (see contract_stats).
  void count_check(const std::string& coll, const rapidjson::Value& q,
                   const std::vector<std::string>& proj) {
    if (coll == "tasks") {
      ++stats.task_queries;
      return;
    }
    if (coll != "devices" || !q.IsObject() || !q.HasMember("_id"))
      return;
    bool times = false;
    bool params = false;
    for (const auto& p : proj) {
      times = times || p.rfind("_lastInform", 0) == 0
              || p.rfind("_lastBoot", 0) == 0;
      params = params || (!p.empty() && p[0] != '_');
    }
    if (times)
      ++stats.reconcile_reads;
    else if (params)
      ++stats.value_readbacks;
  }

  // The genieacs-only fault keys: {"hold_task_reply_ms":N,
  // "hold_task_name":"factoryReset"} (any task when the name is empty).
  void extra_faults(std::string_view json) {
    rapidjson::Document doc;
    doc.Parse(json.data(), json.size());
    {
      std::lock_guard<std::mutex> guard{mtx};
      hold_ms = 0;
      hold_task.clear();
      if (!doc.HasParseError() && doc.IsObject()) {
        if (doc.HasMember("hold_task_reply_ms")
            && doc["hold_task_reply_ms"].IsUint())
          hold_ms = doc["hold_task_reply_ms"].GetUint();
        if (doc.HasMember("hold_task_name") && doc["hold_task_name"].IsString())
          hold_task = doc["hold_task_name"].GetString();
      }
    }
    hold_cv.notify_all();
  }

  // Holds a task POST's answer while the hold fault is in force (the lock
  // is held on entry and on return).
  void hold_reply(std::unique_lock<std::mutex>& guard, const task& t) {
    if (hold_ms == 0 || (!hold_task.empty() && hold_task != t.name))
      return;
    ++stats.held_replies;
    auto until = std::chrono::steady_clock::now()
                 + std::chrono::milliseconds{hold_ms};
    hold_cv.wait_until(guard, until, [this, &t] {
      return stopping || hold_ms == 0
             || (!hold_task.empty() && hold_task != t.name);
    });
  }

  // -- task POST --------------------------------------------------------------

  void post_task(const httplib::Request& req, httplib::Response& res,
                 const std::string& dev_id) {
    bool cr = req.has_param("connection_request");
    if (req.body.empty()) {
      if (!cr)
        return text(res, 400, "");
      std::lock_guard<std::mutex> guard{mtx};
      auto d = devices.find(dev_id);
      if (d == devices.end())
        return text(res, 404, "No such device");
      if (!d->second.cr_error.empty()) {
        res.status = 504;
        res.reason = d->second.cr_error;
        res.set_content(d->second.cr_error, "text/plain");
        return;
      }
      if (!d->second.online) {
        res.status = 504;
        res.reason = "Device is offline";
        res.set_content("Device is offline", "text/plain");
        return;
      }
      inform(d->second);
      res.status = 200;
      return;
    }
    rapidjson::Document doc;
    doc.Parse(req.body.c_str(), req.body.size());
    if (doc.HasParseError())
      return text(res, 400, syntax_error(doc));
    std::unique_lock<std::mutex> guard{mtx};
    ++stats.task_posts;
    auto d = devices.find(dev_id);
    if (d == devices.end())
      return text(res, 404, "No such device");
    if (!valid_task(doc)) {
      res.set_header("Connection", "close");
      return text(res, 500, "Error: Invalid task");
    }
    task t;
    t.id = object_id();
    t.device = dev_id;
    t.name = doc["name"].GetString();
    t.timestamp = common::now_micros();
    if (doc.HasMember("uniqueKey") && doc["uniqueKey"].IsString())
      t.unique_key = doc["uniqueKey"].GetString();
    if (doc.HasMember("expiry") && doc["expiry"].IsNumber())
      t.expiry = t.timestamp
                 + static_cast<int64_t>(doc["expiry"].GetDouble() * 1e6);
    t.body = req.body;
    if (!t.unique_key.empty())
      tasks.erase(std::remove_if(tasks.begin(), tasks.end(),
                                 [&](const task& x) {
                                   return x.device == dev_id
                                          && x.unique_key == t.unique_key;
                                 }),
                  tasks.end());
    tasks.push_back(t);
    auto body = task_json(t);
    auto reply = [&](int status, const char* reason) {
      res.status = status;
      if (reason != nullptr)
        res.reason = reason;
      res.set_content(body, "application/json");
    };
    if (!cr)
      return reply(202, nullptr);
    if (!d->second.cr_error.empty()) {
      res.status = 202;
      res.reason = d->second.cr_error;
      res.set_content(body, "application/json");
      return;
    }
    if (!d->second.online) {
      // genieacs/genieacs lib/connection-request.ts: a refused, reset or
      // timed-out (cwmp.connectionRequestTimeout) connection request is
      // "Device is offline", which lib/nbi.ts sends as the 202's reason
      // phrase at once: the `timeout` (session wait) does not apply.
      guard.unlock();
      host.sleep_for(
        std::chrono::milliseconds{opts.connection_request_timeout_ms});
      return reply(202, "Device is offline");
    }
    if (!d->second.starts_sessions) {
      // lib/nbi.ts: the connection request worked but no session started
      // within `timeout` (default cwmp.deviceOnlineThreshold).
      uint32_t wait = opts.online_threshold_ms;
      try {
        if (req.has_param("timeout") && !req.get_param_value("timeout").empty())
          wait
            = static_cast<uint32_t>(std::stoul(req.get_param_value("timeout")));
      } catch (...) {
        wait = opts.online_threshold_ms;
      }
      guard.unlock();
      host.sleep_for(std::chrono::milliseconds{wait});
      return reply(202, "Task queued but not processed");
    }
    inform(d->second);
    hold_reply(guard, t);
    if (faults.count(dev_id + ":task_" + t.id))
      return reply(202, "Task faulted");
    for (const auto& x : tasks)
      if (x.id == t.id)
        return reply(202, "Task queued but not processed");
    reply(200, nullptr);
  }

  // -- routes ----------------------------------------------------------------

  void route(const httplib::Request& req, httplib::Response& res) {
    // Routes match the raw path and decode each captured id once, as the
    // NBI does; the id of a device is therefore percent-encoded twice.
    auto raw = req.target.substr(0, req.target.find('?'));
    static const std::regex device_tasks{
      R"(^/devices/([a-zA-Z0-9\-_%]+)/tasks/?$)"};
    static const std::regex tasks_re{
      R"(^/tasks/([a-zA-Z0-9\-_%]+)(/[a-zA-Z_]*)?$)"};
    static const std::regex tags_re{
      R"(^/devices/([a-zA-Z0-9\-_%]+)/tags/([a-zA-Z0-9\-_%]+)/?$)"};
    static const std::regex presets_re{R"(^/presets/([a-zA-Z0-9\-_%]+)/?$)"};
    static const std::regex provisions_re{
      R"(^/provisions/([a-zA-Z0-9\-_%]+)/?$)"};
    static const std::regex faults_re{R"(^/faults/([a-zA-Z0-9\-_%:]+)/?$)"};
    static const std::regex device_re{R"(^/devices/([a-zA-Z0-9\-_%]+)/?$)"};
    static const std::regex query_re{R"(^/([a-zA-Z0-9_]+)/?$)"};
    std::smatch m;
    const auto& method = req.method;
    if (std::regex_match(raw, m, presets_re)) {
      auto name = decode(m[1]);
      if (method == "PUT") {
        rapidjson::Document doc;
        doc.Parse(req.body.c_str(), req.body.size());
        if (doc.HasParseError())
          return text(res, 400, syntax_error(doc));
        if (!doc.IsObject())
          doc.SetObject();
        doc.RemoveMember("_id");
        doc.AddMember("_id", rapidjson::Value{name, doc.GetAllocator()},
                      doc.GetAllocator());
        std::lock_guard<std::mutex> guard{mtx};
        presets[name] = json_text(doc);
        res.status = 200;
      } else if (method == "DELETE") {
        std::lock_guard<std::mutex> guard{mtx};
        presets.erase(name);
        res.status = 200;
      } else {
        method_not_allowed(res, "PUT, DELETE");
      }
    } else if (std::regex_match(raw, m, provisions_re)) {
      auto name = decode(m[1]);
      if (method == "PUT") {
        std::lock_guard<std::mutex> guard{mtx};
        provisions[name] = req.body;
        res.status = 200;
      } else if (method == "DELETE") {
        std::lock_guard<std::mutex> guard{mtx};
        provisions.erase(name);
        res.status = 200;
      } else {
        method_not_allowed(res, "PUT, DELETE");
      }
    } else if (std::regex_match(raw, m, tags_re)) {
      // genieacs lib/nbi.ts TAGS_REGEX: `$addToSet` / `$pull` of `_tags`
      // by updateOne, 200 whether or not the device exists.
      auto dev = decode(m[1]);
      auto tag = decode(m[2]);
      if (method != "POST" && method != "DELETE")
        return method_not_allowed(res, "POST, DELETE");
      std::lock_guard<std::mutex> guard{mtx};
      if (auto d = devices.find(dev); d != devices.end()) {
        auto& tags = d->second.tags;
        auto i = std::find(tags.begin(), tags.end(), tag);
        if (method == "POST" && i == tags.end())
          tags.push_back(tag);
        else if (method == "DELETE" && i != tags.end())
          tags.erase(i);
      }
      res.status = 200;
    } else if (std::regex_match(raw, m, faults_re)) {
      if (method != "DELETE")
        return method_not_allowed(res, "DELETE");
      auto id = decode(m[1]);
      std::lock_guard<std::mutex> guard{mtx};
      if (auto f = faults.find(id); f != faults.end()) {
        if (f->second.channel.rfind("task_", 0) == 0) {
          auto tid = f->second.channel.substr(5);
          tasks.erase(std::remove_if(tasks.begin(), tasks.end(),
                                     [&](auto& t) { return t.id == tid; }),
                      tasks.end());
        }
        faults.erase(f);
      }
      res.status = 200;
    } else if (std::regex_match(raw, m, device_tasks)) {
      if (method != "POST")
        return method_not_allowed(res, "POST");
      post_task(req, res, decode(m[1]));
    } else if (std::regex_match(raw, m, tasks_re)) {
      task_route(req, res, decode(m[1]), m[2]);
    } else if (std::regex_match(raw, m, device_re)) {
      if (method != "DELETE")
        return method_not_allowed(res, "DELETE");
      std::lock_guard<std::mutex> guard{mtx};
      if (auto i = devices.find(decode(m[1])); i != devices.end()) {
        auto serial = ids_by_serial.find(i->second.seed.serial);
        if (serial != ids_by_serial.end() && serial->second.erase(i->first) > 0
            && serial->second.empty())
          ids_by_serial.erase(serial);
        devices.erase(i);
      }
      res.status = 200;
    } else if (std::regex_match(raw, m, query_re)) {
      query(req, res, m[1]);
    } else {
      text(res, 404, "404 Not Found");
    }
  }

  void task_route(const httplib::Request& req, httplib::Response& res,
                  const std::string& id, const std::string& action) {
    std::lock_guard<std::mutex> guard{mtx};
    auto it = std::find_if(tasks.begin(), tasks.end(),
                           [&](auto& t) { return t.id == id; });
    if (action.empty() || action == "/") {
      if (req.method != "DELETE")
        return method_not_allowed(res, "PUT DELETE");
      if (it == tasks.end())
        return text(res, 404, "Task not found");
      faults.erase(it->device + ":task_" + id);
      tasks.erase(it);
      res.status = 200;
    } else if (action == "/retry") {
      if (req.method != "POST")
        return method_not_allowed(res, "POST");
      if (it == tasks.end()) {
        // The NBI dereferences the missing task and fails.
        res.set_header("Connection", "close");
        return text(res, 500, "TypeError: Cannot read properties of null");
      }
      faults.erase(it->device + ":task_" + id);
      res.status = 200;
    } else {
      text(res, 404, "");
    }
  }

  // -- control ---------------------------------------------------------------

  bool control(const httplib::Request& req, httplib::Response& res) {
    if (req.method == "GET" && req.path == "/_sim/stats") {
      common::reply_json(res, 200, stats_json());
      return true;
    }
    if (req.method != "POST"
        || (req.path != "/_sim/devices" && req.path != "/_sim/device"
            && req.path != "/_sim/inform"))
      return false;
    rapidjson::Document doc;
    doc.Parse(req.body.c_str(), req.body.size());
    if (doc.HasParseError() || !doc.IsObject()) {
      common::reply_json(res, 400, R"({"detail":"JSON object expected"})");
      return true;
    }
    auto str = [&](const char* k) {
      return doc.HasMember(k) && doc[k].IsString()
               ? std::string{doc[k].GetString()}
               : std::string{};
    };
    std::lock_guard<std::mutex> guard{mtx};
    if (req.path == "/_sim/devices") {
      device_seed s;
      s.oui = str("oui");
      s.product_class = str("product_class");
      s.serial = str("serial");
      if (doc.HasMember("manufacturer"))
        s.manufacturer = str("manufacturer");
      if (doc.HasMember("online") && doc["online"].IsBool())
        s.online = doc["online"].GetBool();
      if (doc.HasMember("data_model"))
        s.data_model = str("data_model");
      if (s.data_model != "tr098" && s.data_model != "tr181") {
        common::reply_json(res, 400,
                           R"({"detail":"data_model is tr098 or tr181"})");
        return true;
      }
      if (s.oui.empty() || s.serial.empty()) {
        common::reply_json(res, 400, R"({"detail":"oui and serial required"})");
        return true;
      }
      auto id = add_device_locked(s);
      common::reply_json(res, 201, R"({"_id":)" + quoted(id) + "}");
      return true;
    }
    auto d = devices.find(str("id"));
    if (d == devices.end()) {
      common::reply_json(res, 404, R"({"detail":"No such device"})");
      return true;
    }
    if (req.path == "/_sim/device") {
      if (doc.HasMember("fault")) {
        const auto& f = doc["fault"];
        d->second.fault_code = f.IsObject() && f.HasMember("code")
                                   && f["code"].IsString()
                                 ? f["code"].GetString()
                                 : "";
        d->second.fault_message = f.IsObject() && f.HasMember("message")
                                      && f["message"].IsString()
                                    ? f["message"].GetString()
                                    : "";
      }
      if (doc.HasMember("connection_request_error"))
        d->second.cr_error = str("connection_request_error");
      if (doc.HasMember("starts_sessions") && doc["starts_sessions"].IsBool())
        d->second.starts_sessions = doc["starts_sessions"].GetBool();
      if (doc.HasMember("online") && doc["online"].IsBool()) {
        d->second.online = doc["online"].GetBool();
        if (d->second.online)
          inform(d->second);
      }
    } else {
      inform(d->second);
    }
    common::reply_json(res, 200, R"({"_id":)" + quoted(d->first) + "}");
    return true;
  }

  std::string state_json() const {
    std::lock_guard<std::mutex> guard{mtx};
    rapidjson::StringBuffer buf;
    writer w{buf};
    w.StartObject();
    w.Key("devices");
    w.StartArray();
    for (const auto& [id, d] : devices) {
      w.StartObject();
      w.Key("_id");
      w.String(id);
      w.Key("online");
      w.Bool(d.online);
      w.Key("data_model");
      w.String(d.seed.data_model);
      w.Key("executed");
      w.StartArray();
      for (const auto& e : d.executed)
        w.String(e);
      w.EndArray();
      w.EndObject();
    }
    w.EndArray();
    w.Key("tasks");
    w.Uint64(tasks.size());
    w.Key("faults");
    w.Uint64(faults.size());
    w.Key("presets");
    w.StartArray();
    for (const auto& [name, body] : presets)
      w.String(name);
    w.EndArray();
    w.Key("stats");
    auto st = stats_locked();
    w.RawValue(st.c_str(), st.size(), rapidjson::kObjectType);
    w.EndObject();
    return buf.GetString();
  }

  std::string stats_json() const {
    std::lock_guard<std::mutex> guard{mtx};
    return stats_locked();
  }

  // {"contract_checks":{"value_readbacks":N,"reconcile_reads":N},
  //  "task_queries":N,"task_posts":N,"held_replies":N}
  std::string stats_locked() const {
    rapidjson::StringBuffer buf;
    writer w{buf};
    w.StartObject();
    w.Key("contract_checks");
    w.StartObject();
    w.Key("value_readbacks");
    w.Uint64(stats.value_readbacks);
    w.Key("reconcile_reads");
    w.Uint64(stats.reconcile_reads);
    w.EndObject();
    w.Key("task_queries");
    w.Uint64(stats.task_queries);
    w.Key("task_posts");
    w.Uint64(stats.task_posts);
    w.Key("held_replies");
    w.Uint64(stats.held_replies);
    w.EndObject();
    return buf.GetString();
  }

  // -- seed ------------------------------------------------------------------

  void default_seed() {
    device_seed a;
    a.oui = "202BC1";
    a.product_class = "BM632w";
    a.serial = "0000000001";
    add_device_locked(a);
    device_seed b;
    b.oui = "00259E";
    b.product_class = "HG8245H";
    b.serial = "SR552NA084-0003269";
    add_device_locked(b);
    device_seed c;
    c.oui = "001122";
    c.serial = "OFFLINE-01";
    c.online = false;
    add_device_locked(c);
  }

  caf::error load_seed(const std::string& path) {
    try {
      auto root = YAML::LoadFile(path);
      for (const auto& n : root["devices"]) {
        device_seed s;
        s.oui = n["oui"].as<std::string>();
        s.product_class = n["product_class"].as<std::string>("");
        s.serial = n["serial"].as<std::string>();
        s.manufacturer = n["manufacturer"].as<std::string>("ispflow-sim");
        s.online = n["online"].as<bool>(true);
        s.data_model = n["data_model"].as<std::string>("tr098");
        if (s.data_model != "tr098" && s.data_model != "tr181")
          return caf::make_error(errc::invalid_config,
                                 "seed: data_model of " + s.serial
                                   + " is not tr098 or tr181");
        for (const auto& kv : n["parameters"])
          s.parameters.emplace_back(kv.first.as<std::string>(),
                                    kv.second.as<std::string>());
        add_device_locked(s);
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
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    impl_->stopping = true;
  }
  impl_->hold_cv.notify_all();
  impl_->host.stop();
}

std::string server::add_device(const device_seed& seed) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->add_device_locked(seed);
}

bool server::set_online(const std::string& device, bool online) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  auto d = impl_->devices.find(device);
  if (d == impl_->devices.end())
    return false;
  d->second.online = online;
  if (online)
    impl_->inform(d->second);
  return true;
}

bool server::set_task_fault(const std::string& device, std::string code,
                            std::string message) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  auto d = impl_->devices.find(device);
  if (d == impl_->devices.end())
    return false;
  d->second.fault_code = std::move(code);
  d->second.fault_message = std::move(message);
  return true;
}

bool server::set_connection_request_error(const std::string& device,
                                          std::string text) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  auto d = impl_->devices.find(device);
  if (d == impl_->devices.end())
    return false;
  d->second.cr_error = std::move(text);
  return true;
}

std::vector<task_view> server::tasks() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  std::vector<task_view> out;
  for (const auto& t : impl_->tasks)
    out.push_back(task_view{t.id, t.device, t.name, t.unique_key});
  return out;
}

std::vector<std::string> server::executed(const std::string& device) const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  auto d = impl_->devices.find(device);
  return d == impl_->devices.end() ? std::vector<std::string>{}
                                   : d->second.executed;
}

std::optional<std::string> server::parameter(const std::string& device,
                                             const std::string& path) const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  auto d = impl_->devices.find(device);
  if (d == impl_->devices.end())
    return std::nullopt;
  auto p = d->second.params.find(path);
  if (p == d->second.params.end())
    return std::nullopt;
  return p->second.value;
}

bool server::set_starts_sessions(const std::string& device, bool starts) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  auto d = impl_->devices.find(device);
  if (d == impl_->devices.end())
    return false;
  d->second.starts_sessions = starts;
  return true;
}

contract_stats server::stats() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->stats;
}

std::size_t server::fault_count() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->faults.size();
}

std::vector<std::string> server::presets() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  std::vector<std::string> out;
  for (const auto& [name, body] : impl_->presets)
    out.push_back(name);
  return out;
}

void server::set_hold(uint32_t ms, std::string task_name) {
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    impl_->hold_ms = ms;
    impl_->hold_task = std::move(task_name);
  }
  impl_->hold_cv.notify_all();
}

void server::set_faults(common::fault_config cfg) {
  impl_->host.set_faults(std::move(cfg));
}

common::fault_config server::faults() const {
  return impl_->host.faults();
}

} // namespace ispflow::sim::genieacs

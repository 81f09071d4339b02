#include "sim/common/faults.hpp"

#include "events/errc.hpp"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace ispflow::sim::common {

bool fault_config::empty() const noexcept {
  return latency_ms == 0 && error_rate == 0.0 && status == 0 && !hang && !reset
         && !apply_then_reset;
}

caf::expected<fault_config> parse_faults(std::string_view json) {
  fault_config cfg;
  if (json.empty())
    return cfg;
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject())
    return caf::make_error(errc::invalid_config,
                           std::string{"faults: not a JSON object"});
  auto bad = [](const char* key) {
    return caf::make_error(errc::invalid_config,
                           std::string{"faults: bad value for "} + key);
  };
  for (auto& m : doc.GetObject()) {
    std::string_view key{m.name.GetString(), m.name.GetStringLength()};
    const auto& v = m.value;
    if (key == "latency_ms") {
      if (!v.IsUint())
        return bad("latency_ms");
      cfg.latency_ms = v.GetUint();
    } else if (key == "error_rate") {
      if (!v.IsNumber() || v.GetDouble() < 0.0 || v.GetDouble() > 1.0)
        return bad("error_rate");
      cfg.error_rate = v.GetDouble();
    } else if (key == "status") {
      if (!v.IsInt()
          || (v.GetInt() != 0 && (v.GetInt() < 100 || v.GetInt() > 599)))
        return bad("status");
      cfg.status = v.GetInt();
    } else if (key == "hang") {
      if (!v.IsBool())
        return bad("hang");
      cfg.hang = v.GetBool();
    } else if (key == "hang_ms") {
      if (!v.IsUint())
        return bad("hang_ms");
      cfg.hang_ms = v.GetUint();
    } else if (key == "reset") {
      if (!v.IsBool())
        return bad("reset");
      cfg.reset = v.GetBool();
    } else if (key == "apply_then_reset") {
      if (!v.IsBool())
        return bad("apply_then_reset");
      cfg.apply_then_reset = v.GetBool();
    } else if (key == "path_prefix") {
      if (!v.IsString())
        return bad("path_prefix");
      cfg.path_prefix = v.GetString();
    } else if (key == "method") {
      if (!v.IsString())
        return bad("method");
      cfg.method = v.GetString();
    } else if (key == "seed") {
      if (!v.IsUint64())
        return bad("seed");
      cfg.seed = v.GetUint64();
    } else if (key == "count") {
      if (!v.IsUint())
        return bad("count");
      cfg.count = v.GetUint();
    }
  }
  return cfg;
}

std::string to_json(const fault_config& cfg) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w{buf};
  w.StartObject();
  w.Key("latency_ms");
  w.Uint(cfg.latency_ms);
  w.Key("error_rate");
  w.Double(cfg.error_rate);
  w.Key("status");
  w.Int(cfg.status);
  w.Key("hang");
  w.Bool(cfg.hang);
  w.Key("hang_ms");
  w.Uint(cfg.hang_ms);
  w.Key("reset");
  w.Bool(cfg.reset);
  w.Key("apply_then_reset");
  w.Bool(cfg.apply_then_reset);
  w.Key("path_prefix");
  w.String(cfg.path_prefix);
  w.Key("method");
  w.String(cfg.method);
  w.Key("seed");
  w.Uint64(cfg.seed);
  w.Key("count");
  w.Uint(cfg.count);
  w.EndObject();
  return buf.GetString();
}

} // namespace ispflow::sim::common

#include "actors/admin/cluster_view.hpp"

#include "adapters/postgres/partition_owners.hpp"

#include <ctime>
#include <map>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <vector>

namespace ispflow::actors::admin {

namespace {

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_string(json_writer& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void write_time(json_writer& w, std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::system_clock::to_time_t(t);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              t.time_since_epoch())
              .count()
            % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(ms < 0 ? 0 : ms));
  w.String(buf);
}

} // namespace

caf::expected<std::string> cluster_view_json(const std::string& dsn) {
  auto db = adapters::postgres::partition_owners::connect(dsn);
  if (!db)
    return std::move(db.error());
  auto instances = db->instances();
  if (!instances)
    return std::move(instances.error());
  auto owners = db->owners();
  if (!owners)
    return std::move(owners.error());
  std::map<std::string, std::vector<int32_t>> by_instance;
  for (auto& o : *owners)
    if (!o.instance_id.empty())
      by_instance[o.instance_id].push_back(o.partition);
  rapidjson::StringBuffer buf;
  json_writer w{buf};
  w.StartObject();
  w.Key("instances");
  w.StartArray();
  for (auto& x : *instances) {
    w.StartObject();
    w.Key("id");
    write_string(w, x.instance_id);
    w.Key("started_at");
    write_time(w, x.started_at);
    w.Key("heartbeat_at");
    write_time(w, x.heartbeat_at);
    w.Key("relay");
    w.Bool(x.relay);
    w.Key("stopped");
    w.Bool(x.stopped);
    w.Key("partitions");
    w.StartArray();
    for (auto p : by_instance[x.instance_id])
      w.Int(p);
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("partitions");
  w.StartArray();
  for (auto& o : *owners) {
    w.StartObject();
    w.Key("partition");
    w.Int(o.partition);
    w.Key("instance_id");
    write_string(w, o.instance_id);
    w.Key("epoch");
    w.Int64(o.epoch);
    w.Key("claimed_at");
    write_time(w, o.claimed_at);
    w.Key("heartbeat_at");
    write_time(w, o.heartbeat_at);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string{buf.GetString(), buf.GetSize()};
}

} // namespace ispflow::actors::admin

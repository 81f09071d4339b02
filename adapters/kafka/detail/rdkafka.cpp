#include "adapters/kafka/detail/rdkafka.hpp"

#include "events/errc.hpp"

#include <spdlog/spdlog.h>

namespace ispflow::adapters::kafka {

const properties& consumer_defaults() {
  static const properties xs{
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
    {"auto.offset.reset", "earliest"},
    {"partition.assignment.strategy", "range,roundrobin"},
    {"socket.nagle.disable", "true"},
  };
  return xs;
}

const properties& producer_defaults() {
  static const properties xs{
    {"enable.idempotence", "true"},
    {"acks", "all"},
    {"linger.ms", "5"},
    {"socket.nagle.disable", "true"},
  };
  return xs;
}

} // namespace ispflow::adapters::kafka

namespace ispflow::adapters::kafka::detail {

void event_sink::event_cb(RdKafka::Event& event) {
  auto log = spdlog::get("kafka");
  switch (event.type()) {
    case RdKafka::Event::EVENT_ERROR:
      if (event.fatal())
        fatal_ = true;
      if (log)
        log->warn("librdkafka error{}: {}: {}", event.fatal() ? " (fatal)" : "",
                  RdKafka::err2str(event.err()), event.str());
      break;
    case RdKafka::Event::EVENT_LOG:
      // librdkafka's syslog levels: 0 emerg .. 7 debug.
      if (log) {
        auto lvl = event.severity() <= RdKafka::Event::EVENT_SEVERITY_ERROR
                     ? spdlog::level::err
                   : event.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING
                     ? spdlog::level::warn
                     : spdlog::level::debug;
        log->log(lvl, "librdkafka {}: {}", event.fac(), event.str());
      }
      break;
    default:
      break; // nop: stats and throttle events are not used
  }
}

caf::error set(RdKafka::Conf& conf, const std::string& name,
               const std::string& value) {
  std::string errstr;
  if (conf.set(name, value, errstr) != RdKafka::Conf::CONF_OK)
    return caf::make_error(errc::invalid_config,
                           "kafka property " + name + ": " + errstr);
  return caf::none;
}

caf::expected<std::unique_ptr<RdKafka::Conf>>
make_conf(const client_settings& settings, client_kind kind,
          event_sink* events) {
  std::unique_ptr<RdKafka::Conf> conf{
    RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
  if (!conf)
    return caf::make_error(errc::kafka_error, "cannot create configuration");
  const auto& defaults = kind == client_kind::consumer ? consumer_defaults()
                                                       : producer_defaults();
  for (const auto& [name, value] : defaults)
    if (auto err = set(*conf, name, value))
      return err;
  if (!settings.bootstrap_servers.empty())
    if (auto err = set(*conf, "bootstrap.servers", settings.bootstrap_servers))
      return err;
  if (!settings.client_id.empty())
    if (auto err = set(*conf, "client.id", settings.client_id))
      return err;
  if (kind == client_kind::consumer && !settings.group_id.empty())
    if (auto err = set(*conf, "group.id", settings.group_id))
      return err;
  for (const auto& [name, value] : settings.extra)
    if (auto err = set(*conf, name, value))
      return err;
  if (events) {
    std::string errstr;
    if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(events), errstr)
        != RdKafka::Conf::CONF_OK)
      return caf::make_error(errc::invalid_config,
                             "kafka property event_cb: " + errstr);
  }
  return conf;
}

caf::error kafka_error(std::string_view what, RdKafka::ErrorCode code) {
  std::string detail{what};
  detail += ": ";
  detail += RdKafka::err2str(code);
  return caf::make_error(errc::kafka_error, std::move(detail));
}

events::kafka_record to_record(RdKafka::Message& msg) {
  events::kafka_record rec;
  rec.topic = msg.topic_name();
  rec.partition = msg.partition();
  rec.offset = msg.offset();
  if (auto key = msg.key_pointer())
    rec.key.assign(static_cast<const char*>(key), msg.key_len());
  else
    rec.null_key = true;
  if (auto payload = msg.payload())
    rec.value.assign(static_cast<const char*>(payload), msg.len());
  rec.timestamp_ms = msg.timestamp().timestamp;
  if (auto hdrs = msg.headers()) {
    for (const auto& h : hdrs->get_all()) {
      events::kafka_header out;
      out.key = h.key();
      if (h.value())
        out.value.assign(static_cast<const char*>(h.value()), h.value_size());
      else
        out.null_value = true;
      rec.headers.push_back(std::move(out));
    }
  }
  return rec;
}

} // namespace ispflow::adapters::kafka::detail

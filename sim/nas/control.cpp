#include "sim/nas/control.hpp"

#include "events/errc.hpp"
#include "sim/common/host.hpp"

#include <chrono>
#include <httplib.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace ispflow::sim::nas {

namespace {

using writer_type = rapidjson::Writer<rapidjson::StringBuffer>;

void write_session(writer_type& w, const session& s) {
  w.StartObject();
  w.Key("id");
  w.String(s.id.c_str());
  w.Key("username");
  w.String(s.username.c_str());
  w.Key("framed_ip");
  w.String(s.framed_ip.c_str());
  w.Key("attributes");
  w.StartObject();
  for (auto& [k, v] : s.attributes) {
    w.Key(k.c_str());
    w.String(v.c_str());
  }
  w.EndObject();
  w.EndObject();
}

} // namespace

struct control_server::impl {
  adapters::http::router server;
  std::unique_ptr<adapters::http::front> front;
  int port = 0;
  bool stopped = false;
};

control_server::control_server(std::unique_ptr<impl> p) : impl_(std::move(p)) {
  // nop
}

caf::expected<std::unique_ptr<control_server>>
control_server::start(simulator& sim, const std::string& host, uint16_t port) {
  auto p = std::make_unique<impl>();
  auto& srv = p->server;
  srv.Get("/sessions", [&sim](const httplib::Request&, httplib::Response& res) {
    rapidjson::StringBuffer buf;
    writer_type w{buf};
    w.StartArray();
    for (auto& s : sim.sessions())
      write_session(w, s);
    w.EndArray();
    res.set_content(buf.GetString(), "application/json");
  });
  srv.Get("/stats", [&sim](const httplib::Request&, httplib::Response& res) {
    auto st = sim.stats();
    rapidjson::StringBuffer buf;
    writer_type w{buf};
    w.StartObject();
    auto field = [&w](const char* name, uint64_t value) {
      w.Key(name);
      w.Uint64(value);
    };
    field("received", st.received);
    field("acks", st.acks);
    field("naks", st.naks);
    field("duplicates", st.duplicates);
    field("replies_signed", st.replies_signed);
    field("replies_unsigned", st.replies_unsigned);
    field("dropped_unknown_source", st.dropped_unknown_source);
    field("dropped_malformed", st.dropped_malformed);
    field("dropped_bad_authenticator", st.dropped_bad_authenticator);
    field("dropped_stale", st.dropped_stale);
    field("accounting_stops", st.accounting_stops);
    field("accounting_failures", st.accounting_failures);
    field("dropped_by_fault", st.dropped_by_fault);
    field("peak_rate", st.peak_rate);
    field("in_flight", st.in_flight);
    field("peak_in_flight", st.peak_in_flight);
    w.EndObject();
    res.set_content(buf.GetString(), "application/json");
  });
  srv.Get("/faults", [&sim](const httplib::Request&, httplib::Response& res) {
    auto f = sim.current_faults();
    res.set_content("{\"reply_delay_ms\":"
                      + std::to_string(f.reply_delay.count())
                      + ",\"drop_every\":" + std::to_string(f.drop_every) + "}",
                    "application/json");
  });
  srv.Post("/faults", [&sim](const httplib::Request& req,
                             httplib::Response& res) {
    rapidjson::Document doc;
    doc.Parse(req.body.c_str());
    auto uint_field = [&doc](const char* name, uint64_t max,
                             uint64_t& out) -> bool {
      if (!doc.HasMember(name))
        return true;
      if (!doc[name].IsUint64() || doc[name].GetUint64() > max)
        return false;
      out = doc[name].GetUint64();
      return true;
    };
    auto f = sim.current_faults();
    uint64_t delay = static_cast<uint64_t>(f.reply_delay.count());
    uint64_t drop = f.drop_every;
    if (doc.HasParseError() || !doc.IsObject()
        || !uint_field("reply_delay_ms", 600'000, delay)
        || !uint_field("drop_every", 1'000'000, drop)) {
      res.status = 400;
      res.set_content(R"({"error":"need {\"reply_delay_ms\": 0..600000, )"
                      R"(\"drop_every\": 0..1000000}"})",
                      "application/json");
      return;
    }
    f.reply_delay = std::chrono::milliseconds{delay};
    f.drop_every = static_cast<uint32_t>(drop);
    sim.set_faults(f);
    res.status = 204;
  });
  srv.Post("/accounting/on",
           [&sim](const httplib::Request&, httplib::Response& res) {
             if (auto err = sim.accounting_on()) {
               res.status = 502;
               res.set_content(R"({"error":"accounting-on not answered"})",
                               "application/json");
               return;
             }
             res.status = 204;
           });
  srv.Post("/sessions/login",
           [&sim](const httplib::Request& req, httplib::Response& res) {
             rapidjson::Document doc;
             doc.Parse(req.body.c_str());
             if (doc.HasParseError() || !doc.IsObject()
                 || !doc.HasMember("username") || !doc["username"].IsString()
                 || !doc.HasMember("password") || !doc["password"].IsString()) {
               res.status = 400;
               res.set_content(R"({"error":"need username and password"})",
                               "application/json");
               return;
             }
             auto out = sim.login(doc["username"].GetString(),
                                  doc["password"].GetString());
             if (!out) {
               res.status = 502;
               res.set_content(R"({"error":"no valid reply from RADIUS"})",
                               "application/json");
               return;
             }
             rapidjson::StringBuffer buf;
             writer_type w{buf};
             w.StartObject();
             w.Key("accepted");
             w.Bool(out->accepted);
             w.Key("session");
             if (out->session)
               write_session(w, *out->session);
             else
               w.Null();
             w.Key("reply");
             w.StartObject();
             for (auto& [k, v] : out->reply) {
               w.Key(k.c_str());
               w.String(v.c_str());
             }
             w.EndObject();
             w.EndObject();
             res.set_content(buf.GetString(), "application/json");
           });
  srv.Post(R"(/sessions/([^/]+)/stop)",
           [&sim](const httplib::Request& req, httplib::Response& res) {
             auto id = req.matches[1].str();
             if (!sim.find(id)) {
               res.status = 404;
               return;
             }
             if (auto err = sim.stop_session(id)) {
               res.status = 502;
               res.set_content(R"({"error":"accounting stop not answered"})",
                               "application/json");
               return;
             }
             res.status = 204;
           });
  auto served = common::serve_http(srv, host, port);
  if (!served)
    return caf::make_error(errc::invalid_config,
                           "nas: cannot bind the control port "
                             + std::to_string(port));
  p->front = std::move(served->front);
  p->port = served->port;
  return std::unique_ptr<control_server>{new control_server(std::move(p))};
}

control_server::~control_server() {
  stop();
}

uint16_t control_server::port() const {
  return static_cast<uint16_t>(impl_->port);
}

void control_server::stop() {
  if (impl_->stopped)
    return;
  impl_->stopped = true;
  if (impl_->front)
    impl_->front->stop();
}

} // namespace ispflow::sim::nas

#include "actors/admin/commands.hpp"

#include "common/log.hpp"
#include "common/thread_name.hpp"
#include "events/errc.hpp"
#include "events/type_ids.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <ctime>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace ispflow::actors::admin {

namespace pg = adapters::postgres;

std::string command_error_code(const caf::error& err) {
  if (err.category() != caf::atom("ispflow"))
    return "internal";
  auto code = static_cast<errc>(err.code());
  if (code == errc::invalid_input)
    return "conflict";
  return to_string(code);
}

namespace {

std::string detail_of(const caf::error& err) {
  auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return render_error(err);
}

using json_writer = rapidjson::Writer<rapidjson::StringBuffer>;

void write_text(json_writer& w, const std::string& s) {
  w.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
}

void write_text_or_null(json_writer& w, const std::string& s) {
  if (s.empty())
    w.Null();
  else
    write_text(w, s);
}

void write_time(json_writer& w, std::chrono::system_clock::time_point t) {
  if (t.time_since_epoch().count() == 0) {
    w.Null();
    return;
  }
  auto secs = std::chrono::system_clock::to_time_t(t);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
              t.time_since_epoch())
              .count()
            % 1'000'000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  auto n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof(buf) - n, ".%06ldZ", static_cast<long>(us));
  w.String(buf);
}

} // namespace

std::string command_json(const pg::operator_command& cmd) {
  rapidjson::StringBuffer buf;
  json_writer w{buf};
  w.StartObject();
  w.Key("id");
  write_text(w, cmd.id);
  w.Key("kind");
  write_text(w, cmd.kind);
  w.Key("saga_id");
  write_text(w, cmd.saga_id);
  w.Key("tenant_id");
  write_text(w, cmd.tenant_id);
  w.Key("partition");
  if (cmd.partition < 0)
    w.Null();
  else
    w.Int(cmd.partition);
  w.Key("state");
  write_text(w, cmd.state);
  w.Key("requested_by");
  write_text(w, cmd.requested_by);
  w.Key("requested_at");
  write_time(w, cmd.requested_at);
  w.Key("taken_by");
  write_text_or_null(w, cmd.taken_by);
  w.Key("epoch");
  if (cmd.taken_by.empty())
    w.Null();
  else
    w.Int64(cmd.epoch);
  w.Key("result");
  write_text_or_null(w, cmd.result);
  w.Key("error_code");
  write_text_or_null(w, cmd.error_code);
  w.Key("error");
  write_text_or_null(w, cmd.error);
  w.Key("finished_at");
  write_time(w, cmd.finished_at);
  w.EndObject();
  return buf.GetString();
}

caf::expected<pg::operator_command>
run_command(pg::operator_command_store& db, saga_control& sagas,
            const std::string& instance, pg::operator_command cmd) {
  caf::expected<std::string> outcome{std::string{}};
  if (cmd.kind == "retry")
    outcome = sagas.retry_in(cmd.saga_id, cmd.partition);
  else if (cmd.kind == "cancel")
    outcome = sagas.cancel_in(cmd.saga_id, cmd.partition);
  else
    outcome = caf::make_error(errc::invalid_input,
                              "command " + cmd.kind + " is not run by owners");
  if (!outcome && outcome.error() == errc::stale_epoch)
    // Not ours any more: the next owner takes it up again.
    return std::move(outcome.error());
  std::string code;
  std::string error;
  if (outcome) {
    cmd.state = "done";
    cmd.result = *outcome;
  } else {
    code = command_error_code(outcome.error());
    error = detail_of(outcome.error());
    cmd.state = "failed";
    cmd.error_code = code;
    cmd.error = error;
  }
  auto recorded = db.finish(cmd.id, instance, cmd.epoch, cmd.result, code,
                            error);
  if (!recorded)
    return std::move(recorded.error());
  common::log_info("operator_commands",
                   *recorded ? "operator command run"
                             : "operator command run, but taken up by another"
                               " instance meanwhile",
                   {{"command_id", cmd.id},
                    {"kind", cmd.kind},
                    {"saga_id", cmd.saga_id},
                    {"state", cmd.state},
                    {"epoch", std::to_string(cmd.epoch)}});
  cmd.taken_by = instance;
  cmd.finished_at = std::chrono::system_clock::now();
  return cmd;
}

namespace {

struct pickup_state {
  command_pickup_settings cfg;
  std::optional<pg::operator_command_store> db;
  std::chrono::steady_clock::time_point next_scan;
  bool nudged = true;
  static inline const char* name = "ispflow.command_pickup";

  caf::error connect() {
    if (db)
      return caf::none;
    auto conn = pg::operator_command_store::connect(cfg.dsn, true);
    if (!conn)
      return std::move(conn.error());
    db.emplace(std::move(*conn));
    return caf::none;
  }
};

using self_ptr = command_pickup_actor::stateful_pointer<pickup_state>;

// Takes and runs the open commands of every partition held. One read
// finds the partitions that have any; only those are taken from (each
// take is a fenced write transaction of its own).
void scan(self_ptr self) {
  auto& st = self->state;
  if (!st.cfg.held || !st.cfg.sagas)
    return;
  auto held = st.cfg.held();
  auto open = st.db->with_open_commands(held);
  if (!open) {
    common::log_warn("operator_commands", "open commands not read",
                     {{"error", render_error(open.error())}});
    return;
  }
  for (auto partition : *open) {
    auto epoch = held.at(partition);
    auto taken = st.db->take(st.cfg.instance_id, partition, epoch,
                             st.cfg.batch);
    if (!taken) {
      if (taken.error() != errc::stale_epoch)
        common::log_warn("operator_commands", "commands not taken",
                         {{"partition", std::to_string(partition)},
                          {"error", render_error(taken.error())}});
      continue;
    }
    for (auto& cmd : *taken) {
      common::log_info("operator_commands", "operator command taken",
                       {{"command_id", cmd.id},
                        {"kind", cmd.kind},
                        {"saga_id", cmd.saga_id},
                        {"partition", std::to_string(partition)},
                        {"epoch", std::to_string(epoch)}});
      auto res = run_command(*st.db, *st.cfg.sagas, st.cfg.instance_id, cmd);
      if (!res)
        common::log_warn("operator_commands", "operator command not run",
                         {{"command_id", cmd.id},
                          {"error", render_error(res.error())}});
    }
  }
}

command_pickup_actor::behavior_type pickup(self_ptr self,
                                           command_pickup_settings cfg) {
  common::name_this_thread("isp.commands");
  self->state.cfg = std::move(cfg);
  self->send(self, tick_atom_v);
  return {
    [self](tick_atom) {
      auto& st = self->state;
      // Listen a short while at a time, so that the mailbox (an exit, a
      // nudge) is read often.
      auto slice = std::min(st.cfg.poll, std::chrono::milliseconds{100});
      if (auto err = st.connect()) {
        common::log_warn("operator_commands", "command queue not reachable",
                         {{"error", render_error(err)}});
        self->delayed_send(self, st.cfg.poll, tick_atom_v);
        return;
      }
      auto heard = st.db->wait(slice);
      if (!heard) {
        // A broken connection: reconnects (and listens) at the next tick.
        st.db.reset();
        self->delayed_send(self, st.cfg.poll, tick_atom_v);
        return;
      }
      auto now = std::chrono::steady_clock::now();
      if (*heard || st.nudged || now >= st.next_scan) {
        st.nudged = false;
        st.next_scan = now + st.cfg.poll;
        scan(self);
      }
      self->send(self, tick_atom_v);
    },
    [self](nudge_atom) { self->state.nudged = true; },
  };
}

} // namespace

command_pickup_actor spawn_command_pickup(caf::actor_system& sys,
                                          command_pickup_settings cfg) {
  return sys.spawn<caf::detached>(pickup, std::move(cfg));
}

} // namespace ispflow::actors::admin

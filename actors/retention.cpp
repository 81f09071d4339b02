#include "actors/retention.hpp"

#include "common/log.hpp"
#include "common/thread_name.hpp"
#include "events/errc.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <optional>

namespace ispflow::actors {

namespace pg = adapters::postgres;

namespace {

struct retention_state {
  retention_actor_settings cfg;
  std::optional<pg::retention_store> db;
  /// Position of the scheduled pass in retention_tables().
  size_t table = 0;
  /// Rows deleted per table in the scheduled pass.
  std::map<pg::retention_table, uint64_t> deleted;
  static inline const char* name = "ispflow.retention";

  // The rows of `t` older than this may go; nothing when kept forever.
  // The inbox waits for the sagas: an event goes only after its saga, so
  // looking at events younger than the sagas' cutoff finds nothing to do.
  std::optional<std::chrono::system_clock::time_point>
  cutoff(pg::retention_table t, std::chrono::system_clock::time_point now) {
    auto period = [this](pg::retention_table x) {
      auto i = cfg.periods.find(x);
      return i == cfg.periods.end() ? std::chrono::seconds{0} : i->second;
    };
    auto p = period(t);
    if (p.count() <= 0)
      return std::nullopt;
    if (t == pg::retention_table::inbox) {
      auto s = period(pg::retention_table::sagas);
      if (s.count() > 0 && s > p)
        p = s;
    }
    return now - p;
  }

  // One batch of `t`: rows deleted, or an error.
  caf::expected<int64_t> batch(pg::retention_table t) {
    auto at = cutoff(t, cfg.now());
    if (!at)
      return int64_t{0};
    if (!db) {
      auto conn = pg::retention_store::connect(cfg.dsn);
      if (!conn)
        return std::move(conn.error());
      db.emplace(std::move(*conn));
    }
    return db->purge(t, *at, cfg.batch);
  }

  void report() {
    uint64_t total = 0;
    for (auto& [t, n] : deleted)
      total += n;
    if (total > 0) {
      auto n = [this](pg::retention_table t) {
        auto i = deleted.find(t);
        return std::to_string(i == deleted.end() ? 0 : i->second);
      };
      using pg::retention_table;
      auto inbox = n(retention_table::inbox);
      auto outbox = n(retention_table::outbox);
      auto dead_letters = n(retention_table::dead_letters);
      auto sagas = n(retention_table::sagas);
      auto timers = n(retention_table::timers);
      auto audit = n(retention_table::audit);
      auto drift = n(retention_table::drift);
      common::log_info("retention", "retention pass done",
                       {{"inbox", inbox},
                        {"outbox", outbox},
                        {"dead_letters", dead_letters},
                        {"sagas", sagas},
                        {"timers", timers},
                        {"audit", audit},
                        {"drift", drift}});
    }
    deleted.clear();
  }
};

retention_actor::behavior_type
retention(retention_actor::stateful_pointer<retention_state> self,
          retention_actor_settings cfg) {
  common::name_this_thread("isp.retention");
  self->state.cfg = std::move(cfg);
  if (self->state.cfg.scheduled)
    self->delayed_send(self, self->state.cfg.first_delay, poll_atom_v);
  return {
    [self](poll_atom) {
      auto& st = self->state;
      auto& tables = pg::retention_tables();
      if (st.table >= tables.size()) {
        st.table = 0;
        st.report();
        self->delayed_send(self, st.cfg.interval, poll_atom_v);
        return;
      }
      auto t = tables[st.table];
      auto n = st.batch(t);
      if (!n) {
        common::log_warn("retention", "retention batch failed",
                         {{"table", std::string{pg::to_string(t)}},
                          {"error", render_error(n.error())}});
        // Start over after the interval; nothing is half done.
        st.table = tables.size();
        self->delayed_send(self, st.cfg.interval, poll_atom_v);
        return;
      }
      st.deleted[t] += static_cast<uint64_t>(*n);
      if (static_cast<size_t>(*n) < st.cfg.batch)
        ++st.table; // nothing more due in this table
      self->delayed_send(self, st.cfg.pause, poll_atom_v);
    },
    [self](tick_atom) -> caf::result<uint64_t> {
      auto& st = self->state;
      uint64_t total = 0;
      for (auto t : pg::retention_tables()) {
        for (;;) {
          auto n = st.batch(t);
          if (!n)
            return std::move(n.error());
          total += static_cast<uint64_t>(*n);
          if (static_cast<size_t>(*n) < st.cfg.batch)
            break;
        }
      }
      return total;
    },
  };
}

} // namespace

retention_actor spawn_retention(caf::actor_system& sys,
                                retention_actor_settings cfg) {
  return sys.spawn<caf::detached>(retention, std::move(cfg));
}

} // namespace ispflow::actors

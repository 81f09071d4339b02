#include "actors/store.hpp"

#include "adapters/postgres/intake_store.hpp"
#include "common/log.hpp"
#include "common/thread_name.hpp"
#include "events/errc.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <optional>

namespace ispflow::actors {

namespace {

namespace pg = adapters::postgres;

struct store_state {
  store_settings cfg;
  std::optional<pg::intake_store> db;
  static inline const char* name = "ispflow.store";

  // Connects lazily, so a database outage at a write is retried by the
  // caller instead of killing the actor.
  caf::error ensure_connected() {
    if (db)
      return caf::none;
    auto conn = pg::intake_store::connect(cfg.dsn);
    if (!conn)
      return std::move(conn.error());
    db.emplace(std::move(*conn));
    return caf::none;
  }
};

store_actor::behavior_type
store(store_actor::stateful_pointer<store_state> self, store_settings cfg) {
  common::name_this_thread("isp.store");
  self->state.cfg = std::move(cfg);
  if (auto err = self->state.ensure_connected())
    common::log_warn("store", "database not reachable yet",
                     {{"error", render_error(err)}});
  return {
    [self](record_atom,
           events::intake_batch& batch) -> caf::result<events::intake_outcome> {
      auto& st = self->state;
      if (auto err = st.ensure_connected())
        return err;
      auto res = st.db->write(batch);
      if (!res) {
        common::log_warn("store", "intake batch not written",
                         {{"error", render_error(res.error())},
                          {"events", std::to_string(batch.accepted.size()
                                                    + batch.rejected.size())}});
        return std::move(res.error());
      }
      return *res;
    },
  };
}

} // namespace

store_actor spawn_store(caf::actor_system& sys, store_settings cfg) {
  return sys.spawn<caf::detached>(store, std::move(cfg));
}

} // namespace ispflow::actors

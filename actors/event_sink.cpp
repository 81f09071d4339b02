#include "actors/event_sink.hpp"

#include "adapters/postgres/outbox_store.hpp"
#include "common/log.hpp"
#include "common/thread_name.hpp"
#include "events/errc.hpp"

#include <algorithm>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <chrono>
#include <optional>

namespace ispflow::actors {

namespace {

constexpr size_t max_held = 10'000;

struct sink_state {
  std::string dsn;
  std::optional<adapters::postgres::outbox_store> db;
  std::vector<events::kafka_record> held;
  std::chrono::milliseconds backoff{0};
  bool retry_scheduled = false;
  static inline const char* name = "ispflow.event_sink";
};

using sink_ptr = event_sink_actor::stateful_pointer<sink_state>;

void flush(sink_ptr self) {
  auto& st = self->state;
  if (st.held.empty())
    return;
  caf::error err;
  if (!st.db) {
    auto conn = adapters::postgres::outbox_store::connect(st.dsn);
    if (conn)
      st.db.emplace(std::move(*conn));
    else
      err = std::move(conn.error());
  }
  if (st.db) {
    if (auto res = st.db->append(st.held); res) {
      st.held.clear();
      st.backoff = std::chrono::milliseconds{0};
      return;
    } else {
      err = std::move(res.error());
    }
  }
  using namespace std::chrono_literals;
  st.backoff = std::clamp(st.backoff * 2, 100ms, 5000ms);
  common::log_warn("event_sink", "events not written, retrying",
                   {{"events", std::to_string(st.held.size())},
                    {"error", render_error(err)},
                    {"retry_in_ms", std::to_string(st.backoff.count())}});
  if (!st.retry_scheduled) {
    st.retry_scheduled = true;
    self->delayed_send(self, st.backoff, tick_atom_v);
  }
}

event_sink_actor::behavior_type sink(sink_ptr self, std::string dsn) {
  common::name_this_thread("isp.event_sink");
  self->state.dsn = std::move(dsn);
  return {
    [self](record_atom, std::vector<events::kafka_record>& records) {
      auto& st = self->state;
      st.held.insert(st.held.end(), std::make_move_iterator(records.begin()),
                     std::make_move_iterator(records.end()));
      if (st.held.size() > max_held) {
        auto drop = st.held.size() - max_held;
        common::log_warn("event_sink", "events dropped, the store is down",
                         {{"dropped", std::to_string(drop)}});
        st.held.erase(st.held.begin(),
                      st.held.begin() + static_cast<ptrdiff_t>(drop));
      }
      if (!st.retry_scheduled)
        flush(self);
    },
    [self](tick_atom) {
      self->state.retry_scheduled = false;
      flush(self);
    },
  };
}

} // namespace

event_sink_actor spawn_event_sink(caf::actor_system& sys, std::string dsn) {
  return sys.spawn<caf::detached>(sink, std::move(dsn));
}

} // namespace ispflow::actors

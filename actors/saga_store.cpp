#include "actors/saga_store.hpp"

#include "adapters/postgres/subscriber_reader.hpp"
#include "common/log.hpp"
#include "common/thread_name.hpp"
#include "events/errc.hpp"
#include "sagas/admission.hpp"
#include "sagas/repair_saga.hpp"

#include <algorithm>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

namespace ispflow::actors {

namespace pg = adapters::postgres;

// -- in-memory database -------------------------------------------------------

namespace {

bool is_open(sagas::saga_state x) {
  using sagas::saga_state;
  return x == saga_state::pending || x == saga_state::running
         || x == saga_state::compensating || x == saga_state::needs_attention;
}

bool is_active(sagas::saga_state x) {
  using sagas::saga_state;
  return x == saga_state::pending || x == saga_state::running
         || x == saga_state::compensating;
}

bool in_partitions(const std::vector<int32_t>& partitions, int32_t p) {
  return partitions.empty()
         || std::find(partitions.begin(), partitions.end(), p)
              != partitions.end();
}

// Folds a subscriber's finished sagas, oldest first, into its state.
std::pair<sagas::subscriber_state, std::string>
fold_status(const sagas::saga_registry& registry,
            std::vector<sagas::saga_instance> finished) {
  std::sort(finished.begin(), finished.end(), [](auto& x, auto& y) {
    return std::tie(x.created_at, x.id) < std::tie(y.created_at, y.id);
  });
  auto state = sagas::subscriber_state::none;
  std::string service_type;
  for (auto& inst : finished) {
    if (!inst.service_type.empty())
      service_type = inst.service_type;
    if (auto def = registry.find(inst.name, inst.version))
      state = sagas::next_state(state, inst.name,
                                sagas::settled_outcome(*def, inst));
  }
  return {state, service_type};
}

// What later sagas of a subscriber inherit: the payloads of its completed
// sagas and what their steps produced (ids, IP, ONU, CPE, job), oldest
// first, later values winning. Compensated and cancelled sagas undid their
// effects and contribute nothing; drift repairs, which restore the network
// to the record, contribute only sagas::repair_record_fields (the ONU's new
// device id after onu_replaced), as the PostgreSQL store's record: a
// repair's payload names the steps it ran (drift.steps.*), which a later
// repair must not inherit.
sagas::field_map profile_of(const sagas::saga_registry* registry,
                            std::vector<sagas::saga_instance> finished) {
  std::sort(finished.begin(), finished.end(), [](auto& x, auto& y) {
    return std::tie(x.created_at, x.id) < std::tie(y.created_at, y.id);
  });
  sagas::field_map out;
  for (auto& inst : finished) {
    if (inst.name == sagas::repair_saga) {
      auto def = registry != nullptr ? registry->find(inst.name, inst.version)
                                     : nullptr;
      if (def != nullptr)
        for (auto& [k, v] : sagas::repair_record_fields(*def, inst))
          out[k] = v;
      continue;
    }
    if (inst.state != sagas::saga_state::completed)
      continue;
    for (auto& [k, v] : inst.payload)
      out[k] = v;
    for (auto& step : inst.steps)
      if (step.state == sagas::step_state::succeeded)
        for (auto& [k, v] : step.output)
          out[k] = v;
  }
  return out;
}

} // namespace

int64_t memory_saga_db::add_event(pg::startable_event ev) {
  ev.inbox_id = static_cast<int64_t>(inbox.size()) + 1;
  inbox.push_back(memory_inbox_row{std::move(ev), {}, {}});
  return inbox.back().event.inbox_id;
}

caf::expected<void>
memory_saga_db::write(const std::vector<pg::saga_write>& batch) {
  std::vector<const pg::saga_write*> refs;
  for (auto& w : batch)
    refs.push_back(&w);
  return write(refs);
}

caf::expected<void>
memory_saga_db::write(const std::vector<const pg::saga_write*>& refs) {
  if (fail_writes > 0) {
    --fail_writes;
    return caf::make_error(errc::database_unavailable,
                           std::string{"injected outage"});
  }
  // Check everything first: all or nothing.
  std::map<int64_t, std::string> links;
  for (auto* wp : refs) {
    auto& w = *wp;
    if (w.fence.epoch > 0) {
      auto i = epochs.find(w.fence.partition);
      if (i == epochs.end() || i->second != w.fence.epoch)
        return caf::make_error(errc::stale_epoch,
                               "partition " + std::to_string(w.fence.partition)
                                 + " written under a stale epoch");
    }
    if (registry != nullptr) {
      auto def = registry->find(w.instance.name, w.instance.version);
      if (def == nullptr)
        return caf::make_error(errc::invalid_input,
                               "unknown saga " + w.instance.name);
      if (auto why = sagas::check_instance(*def, w.instance))
        return caf::make_error(errc::invalid_input, *why);
    }
    if (w.inbox_id != 0) {
      if (w.inbox_id < 1 || w.inbox_id > static_cast<int64_t>(inbox.size()))
        return caf::make_error(errc::invalid_input,
                               "unknown inbox id "
                                 + std::to_string(w.inbox_id));
      auto& row = inbox[static_cast<size_t>(w.inbox_id - 1)];
      auto linked = row.saga_id;
      if (auto i = links.find(w.inbox_id); i != links.end())
        linked = i->second;
      if (!row.skip_reason.empty()
          || (!linked.empty() && linked != w.instance.id))
        return caf::make_error(errc::invalid_input,
                               "inbox event already started");
      links[w.inbox_id] = w.instance.id;
    }
  }
  for (auto* wp : refs) {
    auto& w = *wp;
    sagas[w.instance.id] = w.instance;
    if (w.partition >= 0)
      partitions[w.instance.id] = w.partition;
    if (w.inbox_id != 0) {
      auto& row = inbox[static_cast<size_t>(w.inbox_id - 1)];
      row.saga_id = w.instance.id;
      if (!w.inbox_payload.empty())
        row.event.payload = w.inbox_payload;
    }
    outbox.insert(outbox.end(), w.outbox.begin(), w.outbox.end());
    for (auto& t : w.timers_set) {
      auto i = std::find_if(timers.begin(), timers.end(),
                            [&](auto& x) { return x.key() == t.key(); });
      if (i != timers.end())
        *i = t;
      else
        timers.push_back(t);
    }
    for (auto& k : w.timers_cleared)
      timers.erase(std::remove_if(timers.begin(), timers.end(),
                                  [&](auto& x) { return x.key() == k; }),
                   timers.end());
  }
  ++transactions;
  largest_transaction = std::max<uint64_t>(largest_transaction, refs.size());
  return {};
}

std::vector<pg::startable_event>
memory_saga_db::next_startable(const pg::startable_query& q) const {
  using key = std::pair<std::string, std::string>;
  std::vector<pg::startable_event> res;
  if (q.limit == 0)
    return res;
  std::set<key> blocked;
  for (auto& [id, inst] : sagas)
    if (is_open(inst.state))
      blocked.emplace(inst.tenant_id, inst.subscriber_id);
  auto skipped = [&q](const std::string& tenant) {
    return std::find(q.skip_tenants.begin(), q.skip_tenants.end(), tenant)
           != q.skip_tenants.end();
  };
  // As the SQL: every tenant with an unstarted event (and not skipped)
  // counts for the share, startable or not.
  std::map<std::string, std::vector<const pg::startable_event*>> by_tenant;
  for (auto& row : inbox)
    if (row.saga_id.empty() && row.skip_reason.empty()
        && !skipped(row.event.tenant_id))
      by_tenant[row.event.tenant_id];
  if (by_tenant.empty())
    return res;
  auto share = (q.limit + by_tenant.size() - 1) / by_tenant.size();
  for (auto& row : inbox) {
    if (!row.saga_id.empty() || !row.skip_reason.empty())
      continue;
    // Only the oldest unstarted event of a subscriber; later ones wait.
    auto k = key{row.event.tenant_id, row.event.subscriber_id};
    if (!blocked.emplace(k).second)
      continue;
    if (!in_partitions(q.partitions, row.event.partition))
      continue;
    auto i = by_tenant.find(row.event.tenant_id);
    if (i != by_tenant.end() && i->second.size() < share)
      i->second.push_back(&row.event);
  }
  // Round by round: every tenant's first event, then every second, ...
  for (size_t rank = 0; res.size() < q.limit; ++rank) {
    std::vector<const pg::startable_event*> round;
    for (auto& [tenant, evs] : by_tenant)
      if (rank < evs.size())
        round.push_back(evs[rank]);
    if (round.empty())
      break;
    std::sort(round.begin(), round.end(),
              [](auto* a, auto* b) { return a->inbox_id < b->inbox_id; });
    for (auto* ev : round)
      if (res.size() < q.limit)
        res.push_back(*ev);
  }
  return res;
}

caf::expected<void>
memory_saga_db::skip_event(int64_t inbox_id, const std::string& reason,
                           const std::vector<events::kafka_record>& records,
                           const pg::write_fence& fence) {
  if (fence.epoch > 0) {
    auto i = epochs.find(fence.partition);
    if (i == epochs.end() || i->second != fence.epoch)
      return caf::make_error(errc::stale_epoch,
                             "partition " + std::to_string(fence.partition)
                               + " skipped under a stale epoch");
  }
  if (inbox_id < 1 || inbox_id > static_cast<int64_t>(inbox.size()))
    return caf::make_error(errc::invalid_input, std::string{"unknown event"});
  auto& row = inbox[static_cast<size_t>(inbox_id - 1)];
  if (!row.saga_id.empty() || !row.skip_reason.empty())
    return caf::make_error(errc::invalid_input,
                           std::string{"event already started"});
  row.skip_reason = reason;
  outbox.insert(outbox.end(), records.begin(), records.end());
  return {};
}

std::vector<sagas::saga_instance>
memory_saga_db::load_active(const std::vector<int32_t>& parts) const {
  std::vector<sagas::saga_instance> res;
  for (auto& [id, inst] : sagas) {
    if (!is_active(inst.state))
      continue;
    if (!parts.empty()) {
      auto i = partitions.find(id);
      if (i == partitions.end() || !in_partitions(parts, i->second))
        continue;
    }
    res.push_back(inst);
  }
  std::sort(res.begin(), res.end(), [](auto& x, auto& y) {
    return std::tie(x.created_at, x.id) < std::tie(y.created_at, y.id);
  });
  return res;
}

sagas::field_map
memory_saga_db::profile(const std::string& tenant_id,
                        const std::string& subscriber_id) const {
  std::vector<sagas::saga_instance> finished;
  for (auto& [id, inst] : sagas)
    if (inst.tenant_id == tenant_id && inst.subscriber_id == subscriber_id
        && !is_open(inst.state))
      finished.push_back(inst);
  return profile_of(registry, std::move(finished));
}

std::pair<sagas::subscriber_state, std::string>
memory_saga_db::status(const std::string& tenant_id,
                       const std::string& subscriber_id) const {
  std::vector<sagas::saga_instance> finished;
  for (auto& [id, inst] : sagas)
    if (inst.tenant_id == tenant_id && inst.subscriber_id == subscriber_id
        && !is_open(inst.state))
      finished.push_back(inst);
  if (registry == nullptr)
    return {sagas::subscriber_state::none, {}};
  return fold_status(*registry, std::move(finished));
}

// -- group commit, shared by both actors --------------------------------------

namespace {

using write_batch = std::vector<pg::saga_write>;
using write_refs = std::vector<const pg::saga_write*>;

struct queued_write {
  write_batch batch;
  caf::typed_response_promise<uint64_t> promise;
};

// The write queue of a store actor; `write` is called with
// `const write_refs&`.
struct group_commit {
  std::vector<queued_write> queue;
  bool flush_scheduled = false;

  template <class WriteFn>
  void flush(WriteFn&& write) {
    flush_scheduled = false;
    auto items = std::move(queue);
    queue.clear();
    if (items.empty())
      return;
    write_refs all;
    for (auto& item : items)
      for (auto& w : item.batch)
        all.push_back(&w);
    auto res = write(all);
    if (res || items.size() == 1) {
      for (auto& item : items) {
        if (res)
          item.promise.deliver(static_cast<uint64_t>(item.batch.size()));
        else
          item.promise.deliver(res.error());
      }
      return;
    }
    // One bad element must not fail its neighbours: write each on its own.
    for (auto& item : items) {
      write_refs one_batch;
      for (auto& w : item.batch)
        one_batch.push_back(&w);
      if (auto one = write(one_batch))
        item.promise.deliver(static_cast<uint64_t>(item.batch.size()));
      else
        item.promise.deliver(one.error());
    }
  }
};

// Queues `batch` for the next group commit of `self` (whose state has a
// `gc`); the promise is kept when that commit ends.
template <class Self>
caf::typed_response_promise<uint64_t>
enqueue_write(Self* self, write_batch batch) {
  auto& gc = self->state.gc;
  auto rp = self->template make_response_promise<uint64_t>();
  gc.queue.push_back(queued_write{std::move(batch), rp});
  if (!gc.flush_scheduled) {
    gc.flush_scheduled = true;
    self->send(self, gc_flush_atom_v);
  }
  return rp;
}

// -- in-memory actor ----------------------------------------------------------

struct memory_store_state {
  std::shared_ptr<memory_saga_db> db;
  group_commit gc;
  static inline const char* name = "ispflow.saga_store.memory";
};

saga_store_actor::behavior_type
memory_store(saga_store_actor::stateful_pointer<memory_store_state> self,
             std::shared_ptr<memory_saga_db> db) {
  self->state.db = std::move(db);
  return {
    [self](save_atom, write_batch& batch) -> caf::result<uint64_t> {
      return enqueue_write(self, std::move(batch));
    },
    [self](next_atom, const pg::startable_query& q) {
      return self->state.db->next_startable(q);
    },
    [self](skip_atom, int64_t inbox_id, const std::string& reason,
           const std::vector<events::kafka_record>& records,
           const pg::write_fence& fence) -> caf::result<int64_t> {
      if (auto res = self->state.db->skip_event(inbox_id, reason, records,
                                                fence);
          !res)
        return std::move(res.error());
      return inbox_id;
    },
    [self](load_atom, const std::vector<int32_t>& parts) {
      return self->state.db->load_active(parts);
    },
    [self](load_atom,
           const std::string& id) -> caf::result<sagas::saga_instance> {
      auto& mem = *self->state.db;
      auto i = mem.sagas.find(id);
      if (i == mem.sagas.end())
        return caf::make_error(errc::invalid_input, "unknown saga " + id);
      return i->second;
    },
    [self](status_atom, const subscriber_keys& q) {
      subscriber_states res;
      for (auto& [tenant, subscriber] : q.keys) {
        auto [state, service_type] = self->state.db->status(tenant, subscriber);
        res.states.emplace_back(std::string{sagas::to_string(state)},
                                std::move(service_type));
        res.profiles.push_back(self->state.db->profile(tenant, subscriber));
      }
      return res;
    },
    [self](gc_flush_atom) {
      auto mem = self->state.db;
      self->state.gc.flush([&](const write_refs& b) { return mem->write(b); });
    },
  };
}

// -- PostgreSQL actor ---------------------------------------------------------

// Reads that do not touch what the writer caches (startable events and
// subscriber states) run on a second connection and thread, so a long group
// commit does not hold up admissions, nor they the commit.
using saga_reader_actor = caf::typed_actor<
  caf::replies_to<next_atom,
                  pg::startable_query>::with<std::vector<pg::startable_event>>,
  caf::replies_to<status_atom, subscriber_keys>::with<subscriber_states>>;

caf::error connect_store(const pg_saga_store_settings& cfg,
                         std::optional<pg::saga_store>& db) {
  if (db)
    return caf::none;
  auto conn = pg::saga_store::connect(cfg.dsn, *cfg.registry);
  if (!conn)
    return std::move(conn.error());
  conn->set_instance_id(cfg.instance_id);
  db.emplace(std::move(*conn));
  return caf::none;
}

// Appends what admission needs of the record `x` to `res`.
void add_state(subscriber_states& res, const pg::subscriber_view& x) {
  res.states.emplace_back(std::string{sagas::to_string(pg::admission_state(x))},
                          x.service_type);
  res.profiles.push_back(x.profile);
}

struct pg_reader_state {
  pg_saga_store_settings cfg;
  std::optional<pg::saga_store> db;
  std::optional<pg::subscriber_reader> records_db;
  static inline const char* name = "ispflow.saga_store.reader";

  // Each subscriber's record (schema/0011_subscriber_record.sql): the
  // state admission decides on, service type and the profile later sagas
  // inherit, in one query, read as the admin API's re-drive dry run reads
  // it (pg::subscriber_reader).
  caf::expected<subscriber_states> records(const subscriber_keys& q) {
    if (!records_db) {
      auto conn = pg::subscriber_reader::connect(cfg.dsn);
      if (!conn)
        return std::move(conn.error());
      records_db.emplace(std::move(*conn));
    }
    auto views = records_db->read(q.keys);
    if (!views)
      return std::move(views.error());
    subscriber_states res;
    for (auto& x : *views)
      add_state(res, x);
    return res;
  }
};

saga_reader_actor::behavior_type
pg_reader(saga_reader_actor::stateful_pointer<pg_reader_state> self,
          pg_saga_store_settings cfg) {
  common::name_this_thread("isp.saga.read");
  self->state.cfg = std::move(cfg);
  return {
    [self](next_atom, const pg::startable_query& q)
      -> caf::result<std::vector<pg::startable_event>> {
      auto& st = self->state;
      if (auto err = connect_store(st.cfg, st.db))
        return err;
      // Each event comes with its subscriber's record (with_record), which
      // the router decides on without asking for it (status_atom).
      auto res = st.db->next_startable(q);
      if (!res)
        return std::move(res.error());
      return std::move(*res);
    },
    [self](status_atom,
           const subscriber_keys& q) -> caf::result<subscriber_states> {
      auto res = self->state.records(q);
      if (!res)
        return std::move(res.error());
      return std::move(*res);
    },
  };
}

// A writer: one connection and one group commit for the sagas hashed to
// it. (load_atom) means "a store loaded sagas": forget the step rows
// written, since another instance may have written those sagas since.
using saga_writer_actor = caf::typed_actor<
  caf::replies_to<save_atom, std::vector<pg::saga_write>>::with<uint64_t>,
  caf::reacts_to<gc_flush_atom>, caf::reacts_to<load_atom>>;

struct pg_writer_state {
  pg_saga_store_settings cfg;
  std::optional<pg::saga_store> db;
  group_commit gc;
  static inline const char* name = "ispflow.saga_store.writer";
};

saga_writer_actor::behavior_type
pg_writer(saga_writer_actor::stateful_pointer<pg_writer_state> self,
          pg_saga_store_settings cfg) {
  common::name_this_thread("isp.saga.write");
  self->state.cfg = std::move(cfg);
  return {
    [self](save_atom, write_batch& batch) -> caf::result<uint64_t> {
      return enqueue_write(self, std::move(batch));
    },
    [self](gc_flush_atom) {
      auto& st = self->state;
      st.gc.flush([&](const write_refs& b) -> caf::expected<void> {
        if (auto err = connect_store(st.cfg, st.db))
          return err;
        auto res = st.db->write(b);
        if (!res)
          common::log_warn("saga_store", "saga write failed",
                           {{"error", render_error(res.error())},
                            {"elements", std::to_string(b.size())}});
        else if (st.cfg.outbox_written)
          st.cfg.outbox_written->ring();
        return res;
      });
    },
    [self](load_atom) {
      if (self->state.db)
        self->state.db->forget_written();
    },
  };
}

struct pg_store_state {
  pg_saga_store_settings cfg;
  std::optional<pg::saga_store> db;
  saga_reader_actor reader;
  std::vector<saga_writer_actor> writers;
  static inline const char* name = "ispflow.saga_store";

  caf::error ensure_connected() {
    return connect_store(cfg, db);
  }
};

saga_store_actor::behavior_type
pg_store(saga_store_actor::stateful_pointer<pg_store_state> self,
         pg_saga_store_settings cfg) {
  common::name_this_thread("isp.saga.store");
  self->state.cfg = std::move(cfg);
  if (auto err = self->state.ensure_connected())
    common::log_warn("saga_store", "database not reachable yet",
                     {{"error", render_error(err)}});
  // Linked: the reader lives and dies with the store.
  self->state.reader
    = self->home_system().spawn<caf::detached>(pg_reader, self->state.cfg);
  self->link_to(self->state.reader);
  for (size_t i = 0; i < std::max<size_t>(1, self->state.cfg.writers); ++i) {
    auto w = self->home_system().spawn<caf::detached>(pg_writer,
                                                      self->state.cfg);
    self->link_to(w);
    self->state.writers.push_back(std::move(w));
  }
  // Loads: the writers forget what they cached of the sagas first (the
  // message reaches them before any write of a saga resumed from the load).
  auto loading = [self] {
    for (auto& w : self->state.writers)
      self->send(w, load_atom_v);
  };
  return {
    [self](save_atom, write_batch& batch) -> caf::result<uint64_t> {
      auto& ws = self->state.writers;
      // One saga's transitions always go through the same writer.
      auto k = batch.empty()
                 ? 0
                 : std::hash<std::string>{}(batch.front().instance.id)
                     % ws.size();
      return self->delegate(ws[k], save_atom_v, std::move(batch));
    },
    [self](next_atom, pg::startable_query& q)
      -> caf::result<std::vector<pg::startable_event>> {
      return self->delegate(self->state.reader, next_atom_v, std::move(q));
    },
    [self](skip_atom, int64_t inbox_id, const std::string& reason,
           const std::vector<events::kafka_record>& records,
           const pg::write_fence& fence) -> caf::result<int64_t> {
      auto& st = self->state;
      if (auto err = st.ensure_connected())
        return err;
      if (auto res = st.db->skip_event(inbox_id, reason, records, fence); !res)
        return std::move(res.error());
      return inbox_id;
    },
    [self, loading](load_atom, const std::vector<int32_t>& parts)
      -> caf::result<std::vector<sagas::saga_instance>> {
      auto& st = self->state;
      if (auto err = st.ensure_connected())
        return err;
      loading();
      auto res = st.db->load_active(parts);
      if (!res)
        return std::move(res.error());
      return std::move(*res);
    },
    [self, loading](
      load_atom, const std::string& id) -> caf::result<sagas::saga_instance> {
      auto& st = self->state;
      if (auto err = st.ensure_connected())
        return err;
      loading();
      auto res = st.db->load(id);
      if (!res)
        return std::move(res.error());
      if (!*res)
        return caf::make_error(errc::invalid_input, "unknown saga " + id);
      return std::move(**res);
    },
    [self](status_atom, subscriber_keys& q) -> caf::result<subscriber_states> {
      return self->delegate(self->state.reader, status_atom_v, std::move(q));
    },
    [](gc_flush_atom) {
      // Group commits happen in the writers.
    },
  };
}

} // namespace

saga_store_actor spawn_pg_saga_store(caf::actor_system& sys,
                                     pg_saga_store_settings cfg) {
  return sys.spawn<caf::detached>(pg_store, std::move(cfg));
}

saga_store_actor spawn_memory_saga_store(caf::actor_system& sys,
                                         std::shared_ptr<memory_saga_db> db) {
  return sys.spawn(memory_store, std::move(db));
}

} // namespace ispflow::actors

#include "actors/partition_lease.hpp"

#include "adapters/postgres/partition_owners.hpp"
#include "common/effect_gate.hpp"
#include "common/log.hpp"
#include "common/thread_name.hpp"
#include "events/errc.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <set>

namespace ispflow::actors {

// -- lease board --------------------------------------------------------------

lease_board::lease_board(std::string instance_id)
  : instance_id_(std::move(instance_id)) {
  // nop
}

void lease_board::grant(int32_t partition, int64_t epoch,
                        clock::time_point valid_until) {
  std::lock_guard guard{mtx_};
  leases_[partition] = lease{epoch, valid_until};
}

void lease_board::drop(int32_t partition) {
  std::lock_guard guard{mtx_};
  leases_.erase(partition);
}

bool lease_board::drop_if(int32_t partition, int64_t epoch) {
  std::lock_guard guard{mtx_};
  auto i = leases_.find(partition);
  if (i == leases_.end() || i->second.epoch != epoch)
    return false;
  leases_.erase(i);
  return true;
}

std::optional<int64_t> lease_board::epoch(int32_t partition) const {
  std::lock_guard guard{mtx_};
  if (auto i = leases_.find(partition); i != leases_.end())
    return i->second.epoch;
  return std::nullopt;
}

bool lease_board::valid(int32_t partition, int64_t epoch,
                        clock::time_point now) const {
  std::lock_guard guard{mtx_};
  auto i = leases_.find(partition);
  return i != leases_.end() && i->second.epoch == epoch
         && now < i->second.valid_until;
}

std::map<int32_t, lease_board::lease> lease_board::snapshot() const {
  std::lock_guard guard{mtx_};
  return leases_;
}

// -- keeper -------------------------------------------------------------------

namespace {

namespace pg = adapters::postgres;

struct keeper_state {
  partition_keeper_settings cfg;
  std::optional<pg::partition_owners> db;
  /// What the consumer group assigned us.
  std::set<int32_t> assigned;
  /// What we claimed, at which epoch.
  std::map<int32_t, int64_t> held;
  bool stopped = false;
  static inline const char* name = "ispflow.partition_keeper";

  const std::string& me() const {
    return cfg.board->instance_id();
  }

  keeper_state() = default;
  keeper_state(const keeper_state&) = delete;
  keeper_state& operator=(const keeper_state&) = delete;

  /// A keeper that ends no longer confirms leases: the gate goes back to
  /// unarmed (see common/effect_gate.hpp).
  ~keeper_state() {
    common::effect_gate::disarm();
  }

  caf::error connect() {
    if (db)
      return caf::none;
    auto conn = pg::partition_owners::connect(cfg.dsn);
    if (!conn)
      return std::move(conn.error());
    db.emplace(std::move(*conn));
    return caf::none;
  }
};

using self_ptr = partition_keeper_actor::stateful_pointer<keeper_state>;

// Claims every assigned partition not held yet; tells the router which.
void claim_missing(self_ptr self) {
  auto& st = self->state;
  if (st.stopped)
    return;
  std::vector<int32_t> claimed;
  // A claim may wait for saga writes in flight (lock_timeout): the round
  // ends after half a heartbeat so that the heartbeats of the partitions
  // held go on; the others are claimed at the next tick.
  auto started = lease_board::clock::now();
  for (auto p : st.assigned) {
    if (st.held.count(p) > 0)
      continue;
    if (lease_board::clock::now() - started > st.cfg.heartbeat / 2)
      break;
    if (auto err = st.connect()) {
      common::log_warn("partition_keeper", "partition not claimed yet",
                       {{"partition", std::to_string(p)},
                        {"error", render_error(err)}});
      return;
    }
    // The lease counts from before the claim was sent.
    auto sent = lease_board::clock::now();
    auto epoch = st.db->claim(st.me(), p);
    if (!epoch) {
      common::log_warn("partition_keeper", "partition not claimed yet",
                       {{"partition", std::to_string(p)},
                        {"error", render_error(epoch.error())}});
      continue;
    }
    st.held[p] = *epoch;
    st.cfg.board->grant(p, *epoch, sent + st.cfg.lease);
    common::log_info("partition_keeper", "partition claimed",
                     {{"partition", std::to_string(p)},
                      {"epoch", std::to_string(*epoch)}});
    claimed.push_back(p);
  }
  if (!claimed.empty() && st.cfg.router)
    self->send(st.cfg.router, open_atom_v, std::move(claimed));
}

void heartbeat(self_ptr self) {
  auto& st = self->state;
  if (auto err = st.connect()) {
    common::log_warn("partition_keeper", "leases not renewed",
                     {{"error", render_error(err)}});
    return;
  }
  auto sent = lease_board::clock::now();
  auto relay = st.cfg.relay_role ? st.cfg.relay_role() : false;
  auto kept = st.db->heartbeat(st.me(), st.held, relay);
  if (!kept) {
    // The leases run out on their own: calls stop, writes wait.
    common::log_warn("partition_keeper", "leases not renewed",
                     {{"error", render_error(kept.error())}});
    return;
  }
  std::set<int32_t> still{kept->begin(), kept->end()};
  std::vector<int32_t> lost;
  std::vector<int32_t> lapsed;
  for (auto i = st.held.begin(); i != st.held.end();) {
    auto [p, epoch] = *i;
    if (still.count(p) == 0) {
      common::log_warn("partition_keeper",
                       "partition claimed by another instance: its sagas stop"
                       " here",
                       {{"partition", std::to_string(p)},
                        {"epoch", std::to_string(epoch)}});
      st.cfg.board->drop(p);
      ++st.cfg.board->partitions_lost;
      st.assigned.erase(p);
      lost.push_back(p);
      i = st.held.erase(i);
      continue;
    }
    // Still ours in the database, but the lease ran out meanwhile (paused,
    // the database was out): its saga actors may still have writes and
    // calls in flight under this epoch. It is claimed again at a higher
    // epoch (claim_missing, right after), so that whatever the old actors
    // still write is refused, and its sagas resume from the store.
    if (!st.cfg.board->valid(p, epoch, sent)) {
      st.cfg.board->drop(p);
      lapsed.push_back(p);
      i = st.held.erase(i);
      continue;
    }
    st.cfg.board->grant(p, epoch, sent + st.cfg.lease);
    ++i;
  }
  auto now = lease_board::clock::now();
  if (!lost.empty() || !lapsed.empty()) {
    // Operations begun under the lost or lapsed leases fail at their next
    // request instead of reaching the network.
    common::effect_gate::hold(now + st.cfg.lease);
  }
  common::effect_gate::renew(sent + st.cfg.lease);
  if (st.cfg.router) {
    if (!lost.empty())
      self->send(st.cfg.router, close_atom_v, std::move(lost));
    if (!lapsed.empty()) {
      common::log_info("partition_keeper",
                       "lease ran out: partitions claimed again",
                       {{"partitions", std::to_string(lapsed.size())}});
      self->send(st.cfg.router, close_atom_v, std::move(lapsed));
    }
  }
}

// Counts and logs the partitions of `held` that a release did not give up
// (`released`): another instance had claimed them meanwhile.
void count_lost(self_ptr self, const std::map<int32_t, int64_t>& held,
                const std::vector<int32_t>& released) {
  std::set<int32_t> given{released.begin(), released.end()};
  for (auto& [p, epoch] : held) {
    if (given.count(p) > 0)
      continue;
    ++self->state.cfg.board->partitions_lost;
    common::log_warn("partition_keeper",
                     "partition claimed by another instance before it was"
                     " given up",
                     {{"partition", std::to_string(p)},
                      {"epoch", std::to_string(epoch)}});
  }
}

partition_keeper_actor::behavior_type keeper(self_ptr self,
                                             partition_keeper_settings cfg) {
  common::name_this_thread("isp.lease");
  self->state.cfg = std::move(cfg);
  self->send(self, tick_atom_v);
  return {
    [self](open_atom, const std::vector<int32_t>& parts) {
      auto& st = self->state;
      for (auto p : parts)
        st.assigned.insert(p);
      claim_missing(self);
    },
    [self](close_atom, const std::vector<int32_t>& parts) {
      auto& st = self->state;
      std::map<int32_t, int64_t> released;
      auto now = lease_board::clock::now();
      for (auto p : parts) {
        st.assigned.erase(p);
        // Revoked after its lease ran out (this process was paused or cut
        // off meanwhile): operations still in flight for it fail at their
        // next request instead of reaching the network, as after a loss
        // the heartbeat finds.
        if (auto i = st.held.find(p);
            i != st.held.end() && !st.cfg.board->valid(p, i->second, now))
          common::effect_gate::hold(now + st.cfg.lease);
        st.cfg.board->drop(p);
        if (auto i = st.held.find(p); i != st.held.end()) {
          released.emplace(*i);
          st.held.erase(i);
        }
      }
      if (st.cfg.router)
        self->send(st.cfg.router, close_atom_v, parts);
      if (released.empty() || st.connect())
        return;
      auto res = st.db->release(st.me(), released, false);
      if (!res) {
        common::log_warn("partition_keeper", "partitions not released",
                         {{"error", render_error(res.error())}});
        return;
      }
      count_lost(self, released, *res);
      common::log_info("partition_keeper", "partitions released",
                       {{"partitions", std::to_string(res->size())}});
    },
    [self](tick_atom) {
      auto& st = self->state;
      if (st.stopped)
        return;
      heartbeat(self);
      claim_missing(self);
      self->delayed_send(self, st.cfg.heartbeat, tick_atom_v);
    },
    [self](stop_atom) -> caf::result<uint64_t> {
      auto& st = self->state;
      st.stopped = true;
      auto n = static_cast<uint64_t>(st.held.size());
      for (auto& [p, e] : st.held)
        st.cfg.board->drop(p);
      common::effect_gate::disarm();
      if (auto err = st.connect())
        return err;
      auto res = st.db->release(st.me(), st.held, true);
      if (!res)
        return std::move(res.error());
      count_lost(self, st.held, *res);
      st.held.clear();
      st.assigned.clear();
      return n;
    },
  };
}

} // namespace

partition_keeper_actor spawn_partition_keeper(caf::actor_system& sys,
                                              partition_keeper_settings cfg) {
  return sys.spawn<caf::detached>(keeper, std::move(cfg));
}

} // namespace ispflow::actors

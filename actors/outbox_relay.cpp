#include "actors/outbox_relay.hpp"

#include "adapters/kafka/tail_reader.hpp"
#include "adapters/postgres/outbox_store.hpp"
#include "common/log.hpp"
#include "common/thread_name.hpp"
#include "events/errc.hpp"

#include <algorithm>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <optional>
#include <set>
#include <unordered_set>

namespace ispflow::actors {

namespace {

namespace kafka = adapters::kafka;
namespace pg = adapters::postgres;
using namespace std::chrono_literals;

/// How long the marks of a round wait for the next round (ms).
constexpr int64_t mark_wait = 20;

/// The value of `outbox_id_header` for an entry: the row's id, and for a
/// record of a packed row `<id>.<pos>`.
std::string outbox_label(const pg::outbox_entry& e) {
  auto label = std::to_string(e.id);
  if (e.pos >= 0) {
    label += '.';
    label += std::to_string(e.pos);
  }
  return label;
}

/// Whether a round that fetched `records` may have left rows behind: the
/// next row would not have fitted in `batch` (a row holds up to
/// records_per_row records).
bool full(size_t records, size_t batch) {
  return records > 0 && records + pg::outbox_store::records_per_row > batch;
}

struct relay_state {
  outbox_relay_settings cfg;
  std::unique_ptr<kafka::producer> producer;
  std::optional<pg::outbox_store> db;
  bool reconciled = false;
  /// Records of partly published rows that the last reconciliation found
  /// in Kafka (by outbox_label): the next round leaves them out.
  std::unordered_set<std::string> in_kafka;
  /// Rows whose records Kafka has acknowledged, not marked published yet:
  /// the next round's fetch marks them in the same statement. Kept across
  /// a lost connection (marking a row whose record was sent is never
  /// wrong; the `published_at IS NULL` guard makes a second mark a no-op).
  std::vector<int64_t> unmarked;
  /// The server process id of the session holding the relay lease (0 =
  /// standing by).
  int64_t lease_pid = 0;
  std::chrono::milliseconds backoff{0};
  uint64_t published = 0;
  static inline const char* name = "ispflow.outbox_relay";

  caf::error ensure_connected() {
    if (db)
      return caf::none;
    auto conn = pg::outbox_store::connect(cfg.dsn);
    if (!conn)
      return std::move(conn.error());
    db.emplace(std::move(*conn));
    return caf::none;
  }

  // Marks rows whose records are already in Kafka as published. Reads the
  // last `tail_scan` records of every partition of every topic that has
  // unpublished rows, and looks at the oldest unpublished rows
  // `tail_scan` records at a time for as long as all of them are there: a
  // server crash can bring back more rows than one look covers (the marks
  // commit asynchronously: outbox_store::mark_published), and across
  // partitions the tails hold more than `tail_scan` records. Of a packed
  // row only part of which is there, the next round sends the rest
  // (`in_kafka`).
  caf::error reconcile() {
    std::set<std::string> topics_read;
    in_kafka.clear();
    std::unordered_set<std::string> seen;
    size_t marked = 0;
    for (;;) {
      auto rows = db->fetch_unsent(static_cast<size_t>(cfg.tail_scan));
      if (!rows)
        return std::move(rows.error());
      for (auto& row : *rows) {
        auto& topic = row.record.topic;
        if (!topics_read.insert(topic).second)
          continue;
        auto tail = kafka::read_tail(cfg.kafka, topic, cfg.tail_scan);
        if (!tail)
          return std::move(tail.error());
        for (auto& rec : *tail)
          if (auto* h = rec.header(outbox_id_header))
            seen.insert(h->value);
      }
      // Rows all of whose records are there.
      std::vector<int64_t> found;
      bool all_there = true;
      for (size_t i = 0; i < rows->size();) {
        auto id = (*rows)[i].id;
        bool whole = true;
        for (; i < rows->size() && (*rows)[i].id == id; ++i) {
          auto label = outbox_label((*rows)[i]);
          if (seen.count(label) > 0)
            in_kafka.insert(std::move(label));
          else
            whole = false;
        }
        if (whole)
          found.push_back(id);
        else
          all_there = false;
      }
      if (!found.empty()) {
        if (auto res = db->mark_published(found); !res)
          return std::move(res.error());
        marked += found.size();
      }
      // Rows not in Kafka from here on are sent in id order; a look that
      // found all it fetched may have more behind it.
      if (!all_there || rows->empty()
          || rows->size() + pg::outbox_store::records_per_row
               <= static_cast<size_t>(cfg.tail_scan))
        break;
    }
    if (marked > 0)
      common::log_info("outbox", "reconciled rows already in Kafka",
                       {{"rows", std::to_string(marked)}});
    reconciled = true;
    return caf::none;
  }

  void set_leading(bool x) {
    if (cfg.leading)
      cfg.leading->store(x);
  }

  // Takes the relay lease if free. Returns false while another instance's
  // relay holds it.
  caf::expected<bool> lead() {
    if (cfg.lease_key == 0 || lease_pid != 0)
      return true;
    auto pid = db->try_lock(cfg.lease_key, cfg.lease_idle_timeout);
    if (!pid)
      return std::move(pid.error());
    if (*pid == 0)
      return false;
    lease_pid = *pid;
    // The previous holder may have published rows it did not mark.
    reconciled = false;
    set_leading(true);
    common::log_info("outbox", "relay lease taken: publishing", {});
    return true;
  }

  // Whether the lease is still ours for the rows just fetched: the session
  // that answered the fetch is the one that took the lease (a reconnect
  // would have lost it).
  caf::error still_leading() {
    if (cfg.lease_key == 0)
      return caf::none;
    if (db->fetched_by() != lease_pid)
      return caf::make_error(errc::database_unavailable,
                             std::string{"relay lease lost with its session"});
    return caf::none;
  }

  // Drops the connection, and with it the lease (`stopping`: handed over
  // on purpose, not lost).
  void disconnect(bool stopping = false) {
    db.reset();
    if (lease_pid != 0) {
      lease_pid = 0;
      set_leading(false);
      if (stopping)
        common::log_info("outbox", "relay lease handed over", {});
      else
        common::log_warn("outbox", "relay lease given up with the connection",
                         {});
    }
  }

  // Publishes one batch; returns how many records it fetched, or nothing
  // while another relay holds the lease.
  caf::expected<std::optional<size_t>> publish_batch() {
    if (auto err = ensure_connected())
      return err;
    auto leading = lead();
    if (!leading)
      return std::move(leading.error());
    if (!*leading)
      return std::optional<size_t>{};
    if (!reconciled)
      if (auto err = reconcile())
        return err;
    auto rows = db->mark_then_fetch(unmarked, cfg.batch);
    if (!rows)
      return std::move(rows.error());
    unmarked.clear();
    if (rows->empty())
      return size_t{0};
    std::vector<events::kafka_record> records;
    std::vector<int64_t> ids;
    records.reserve(rows->size());
    for (auto& row : *rows) {
      if (ids.empty() || ids.back() != row.id)
        ids.push_back(row.id);
      auto label = outbox_label(row);
      if (!in_kafka.empty() && in_kafka.count(label) > 0)
        continue;
      row.record.headers.push_back(
        events::kafka_header{outbox_id_header, std::move(label), false});
      records.push_back(std::move(row.record));
    }
    // Before sending: still the lease holder (a relay paused before the
    // fetch, whose session the server ended, fetched through a new one).
    if (auto err = still_leading())
      return err;
    // From here on, a failure may leave records in Kafka whose rows are not
    // marked: the next round looks at the topic tail before sending again.
    reconciled = false;
    if (auto res = producer->produce_all(records, cfg.produce_timeout); !res)
      return std::move(res.error());
    // In Kafka, and known: the next fetch marks them (one round trip a
    // round instead of two; idle, that fetch comes `mark_wait` later).
    reconciled = true;
    in_kafka.clear();
    published += records.size();
    unmarked = std::move(ids);
    return std::optional<size_t>{rows->size()};
  }

  // Marks what the last round sent (before a stop or a count of the
  // backlog).
  caf::error mark_sent() {
    if (unmarked.empty())
      return caf::none;
    if (auto err = ensure_connected())
      return err;
    if (auto res = db->mark_published(unmarked); !res)
      return std::move(res.error());
    unmarked.clear();
    return caf::none;
  }
};

using relay_ptr = outbox_relay_actor::stateful_pointer<relay_state>;

void run(relay_ptr self) {
  auto& st = self->state;
  auto n = st.publish_batch();
  if (!n) {
    st.backoff = std::clamp(st.backoff * 2, 100ms, 5000ms);
    common::log_warn("outbox", "publication failed, retrying",
                     {{"error", render_error(n.error())},
                      {"retry_in_ms", std::to_string(st.backoff.count())}});
    st.disconnect();
    self->delayed_send(self, st.backoff, relay_atom_v);
    return;
  }
  st.backoff = 0ms;
  // Marks of the last round wait for the next round's fetch this long at
  // most: under load a commit rings the doorbell sooner; idle, one more
  // round marks them.
  auto pause = st.cfg.poll_interval;
  if (!st.unmarked.empty())
    pause = std::min(pause, std::chrono::milliseconds{mark_wait});
  if (!*n)
    self->delayed_send(self, st.cfg.standby_poll, relay_atom_v);
  else if (full(**n, st.cfg.batch))
    self->send(self, relay_atom_v);
  else if (st.cfg.doorbell) {
    // On the relay's own thread: the pause ends with the next commit of a
    // writer of this process (a stop waits at most poll_interval).
    st.cfg.doorbell->wait_for(pause);
    self->send(self, relay_atom_v);
  } else
    self->delayed_send(self, pause, relay_atom_v);
}

outbox_relay_actor::behavior_type
relay(relay_ptr self, outbox_relay_settings cfg,
      std::unique_ptr<kafka::producer> producer) {
  common::name_this_thread("isp.relay");
  self->state.cfg = std::move(cfg);
  self->state.producer = std::move(producer);
  self->send(self, relay_atom_v);
  return {
    [self](relay_atom) { run(self); },
    [self](stop_atom) -> int64_t {
      auto& st = self->state;
      auto deadline = std::chrono::steady_clock::now() + st.cfg.drain_timeout;
      while (std::chrono::steady_clock::now() < deadline) {
        auto n = st.publish_batch();
        if (!n || !*n || !full(**n, st.cfg.batch))
          break;
      }
      int64_t backlog = -1;
      if (auto err = st.mark_sent()) {
        common::log_warn("outbox", "could not mark the last records sent",
                         {{"rows", std::to_string(st.unmarked.size())},
                          {"error", render_error(err)}});
      } else if (!st.ensure_connected()) {
        if (auto b = st.db->backlog())
          backlog = *b;
      }
      st.producer->flush(5s);
      // Hand the lease over at once (not when the process ends).
      st.disconnect(true);
      common::log_info("outbox", "stopped",
                       {{"published", std::to_string(st.published)},
                        {"backlog", std::to_string(backlog)}});
      self->quit();
      return backlog;
    },
  };
}

} // namespace

caf::expected<outbox_relay_actor>
spawn_outbox_relay(caf::actor_system& sys, outbox_relay_settings cfg) {
  if (cfg.tail_scan < static_cast<int64_t>(cfg.batch)
      || cfg.tail_scan
           < static_cast<int64_t>(pg::outbox_store::records_per_row))
    return caf::make_error(errc::invalid_config,
                           "outbox.tail_scan must be at least outbox.batch and "
                             + std::to_string(pg::outbox_store::records_per_row)
                             + " (the records of one outbox row)");
  auto producer = kafka::producer::make(cfg.kafka);
  if (!producer)
    return std::move(producer.error());
  return sys.spawn<caf::detached>(relay, std::move(cfg), std::move(*producer));
}

} // namespace ispflow::actors

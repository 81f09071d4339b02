#include "actors/intake.hpp"

#include "common/log.hpp"
#include "common/thread_name.hpp"
#include "events/errc.hpp"

#include <algorithm>
#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <map>
#include <optional>
#include <utility>
#include <variant>

namespace ispflow::actors {

namespace {

namespace kafka = adapters::kafka;

struct intake_state {
  intake_settings cfg;
  store_actor store;
  std::unique_ptr<kafka::consumer> consumer;
  /// The batch being written; kept across store failures so that it is
  /// retried as it is and its offsets are committed only after it landed.
  std::optional<events::intake_batch> pending;
  std::chrono::milliseconds backoff{0};
  std::chrono::steady_clock::time_point last_lag;
  intake_totals totals;
  static inline const char* name = "ispflow.intake";
};

using intake_ptr = intake_actor::stateful_pointer<intake_state>;

/// Checks every record and remembers the next offset of each partition.
events::intake_batch make_batch(std::vector<events::kafka_record>& records,
                                const events::intake_settings& check) {
  events::intake_batch batch;
  batch.dead_letter_topic = check.dead_letter_topic;
  std::map<std::pair<std::string, int32_t>, int64_t> next;
  for (auto& rec : records) {
    auto& pos = next[{rec.topic, rec.partition}];
    pos = std::max(pos, rec.offset + 1);
    auto verdict = events::check_billing_record(rec, check);
    if (auto* ok = std::get_if<events::accepted_event>(&verdict)) {
      common::log_debug("intake", "event accepted",
                        {{"tenant", ok->tenant_id},
                         {"subscriber", ok->subject},
                         {"event_id", ok->id},
                         {"type", ok->type}});
      batch.accepted.push_back(std::move(*ok));
    } else {
      auto& dl = std::get<events::dead_letter>(verdict);
      common::log_info("intake", "event refused",
                       {{"error", dl.error},
                        {"detail", dl.detail},
                        {"topic", dl.record.topic},
                        {"partition", std::to_string(dl.record.partition)},
                        {"offset", std::to_string(dl.record.offset)}});
      batch.rejected.push_back(std::move(dl));
    }
  }
  for (auto& [tp, off] : next)
    batch.commit.push_back(events::topic_offset{tp.first, tp.second, off});
  return batch;
}

void retry_later(intake_ptr self, const caf::error& err) {
  using namespace std::chrono_literals;
  auto& st = self->state;
  st.backoff = std::clamp(st.backoff * 2, 100ms, 5000ms);
  common::log_warn("intake",
                   st.pending ? "batch not written, retrying"
                              : "poll failed, retrying",
                   {{"error", render_error(err)},
                    {"retry_in_ms", std::to_string(st.backoff.count())}});
  self->delayed_send(self, st.backoff, consume_atom_v);
}

// Reports the lag of the assigned partitions, at most once per interval.
void sample_lag(intake_ptr self) {
  using namespace std::chrono_literals;
  auto& st = self->state;
  if (!st.cfg.on_lag)
    return;
  auto now = std::chrono::steady_clock::now();
  if (now - st.last_lag < st.cfg.lag_interval)
    return;
  st.last_lag = now;
  if (auto lag = st.consumer->lag(500ms))
    st.cfg.on_lag(std::move(*lag));
}

void consume(intake_ptr self) {
  auto& st = self->state;
  sample_lag(self);
  if (!st.pending) {
    auto records = st.consumer->poll_batch(st.cfg.max_batch, st.cfg.linger);
    if (!records) {
      retry_later(self, records.error());
      return;
    }
    if (records->empty()) {
      self->send(self, consume_atom_v);
      return;
    }
    st.totals.consumed += records->size();
    st.pending = make_batch(*records, st.cfg.check);
  }
  self->request(st.store, st.cfg.store_timeout, record_atom_v, *st.pending)
    .await(
      [self](events::intake_outcome& out) {
        auto& s = self->state;
        s.backoff = std::chrono::milliseconds{0};
        s.totals.recorded += out.recorded;
        s.totals.duplicates += out.duplicates;
        s.totals.dead_lettered += out.dead_lettered;
        if (s.cfg.on_batch)
          s.cfg.on_batch(out, *s.pending);
        // A failed commit only means redelivery, which the inbox absorbs;
        // not waiting for it keeps this loop polling through a rebalance.
        if (auto res = s.consumer->commit_async(s.pending->commit); !res)
          common::log_warn("intake", "offset commit failed",
                           {{"error", render_error(res.error())}});
        s.pending.reset();
        if (out.recorded > 0 && s.cfg.on_recorded)
          s.cfg.on_recorded();
        self->send(self, consume_atom_v);
      },
      [self](caf::error& err) { retry_later(self, err); });
}

intake_actor::behavior_type intake(intake_ptr self, intake_settings cfg,
                                   store_actor store,
                                   std::unique_ptr<kafka::consumer> consumer) {
  common::name_this_thread("isp.intake");
  self->state.cfg = std::move(cfg);
  self->state.store = std::move(store);
  self->state.consumer = std::move(consumer);
  self->send(self, consume_atom_v);
  return {
    [self](consume_atom) { consume(self); },
    [self](stop_atom) -> uint64_t {
      auto& st = self->state;
      st.consumer->close();
      common::log_info(
        "intake", "stopped",
        {{"consumed", std::to_string(st.totals.consumed)},
         {"recorded", std::to_string(st.totals.recorded)},
         {"duplicates", std::to_string(st.totals.duplicates)},
         {"dead_lettered", std::to_string(st.totals.dead_lettered)}});
      self->quit();
      return st.totals.consumed;
    },
  };
}

} // namespace

caf::expected<intake_actor>
spawn_intake(caf::actor_system& sys, intake_settings cfg, store_actor store) {
  auto consumer = kafka::consumer::make(cfg.kafka, cfg.topics, cfg.listener);
  if (!consumer)
    return std::move(consumer.error());
  return sys.spawn<caf::detached>(intake, std::move(cfg), std::move(store),
                                  std::move(*consumer));
}

} // namespace ispflow::actors

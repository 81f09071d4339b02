#pragma once

// Internal to ispflow_admin: not a public header. The admin API's queries
// over a small pool of PostgreSQL connections; libpqxx stays in store.cpp.

#include "actors/admin/metrics.hpp"
#include "adapters/postgres/subscriber_reader.hpp"

#include <caf/expected.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ispflow::actors::admin::detail {

/// Filters and position of a saga list page. Times are RFC 3339 text or
/// "-infinity"/"infinity"; empty strings mean "any".
struct saga_query {
  std::string tenant;
  std::string subscriber;
  std::string type;
  std::string state;
  std::string from = "-infinity";
  std::string to = "infinity";
  /// Exclusive keyset position (created_at, id), newest first.
  std::string after_ts = "infinity";
  std::string after_id;
  uint32_t limit = 50;
};

/// Filters and position of a dead-letter page (newest id first).
struct dead_letter_query {
  std::string tenant;
  std::string error;
  /// "", "true" or "false".
  std::string redriven;
  std::string from = "-infinity";
  std::string to = "infinity";
  int64_t before_id = INT64_MAX;
  uint32_t limit = 50;
  /// Only dead letters whose tenant is set (for tenant-bound tokens).
  bool tenant_required = false;
};

/// One page: JSON objects as text, and the last row's keyset position.
struct page {
  std::vector<std::string> items;
  std::string last_ts;
  std::string last_id;
};

/// A saga's routing facts.
struct saga_ref {
  std::string tenant_id;
  std::string state;
  std::optional<int64_t> inbox_id;
};

/// A dead_letters row with its bytes.
struct dead_letter_row {
  int64_t id = 0;
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  std::optional<std::string> key;
  std::string value;
  /// The stored jsonb header array, as text.
  std::string headers_json;
  std::string error;
  std::string detail;
  std::optional<std::string> tenant_id;
  std::string created_at;
  std::optional<std::string> redriven_at;
  std::optional<std::string> dismissed_at;
};

/// An inbox row as re-drive needs it.
struct inbox_row {
  int64_t id = 0;
  std::string source;
  std::string event_id;
  std::string type;
  std::string tenant_id;
  std::string subscriber_id;
  /// RFC 3339, empty when the event had none.
  std::string event_time;
  std::string traceparent;
  /// The payload as JSON text.
  std::string payload;
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string received_at;
};

/// The link written before an operator-made inbox row.
struct inbox_link {
  std::string source;
  std::string event_id;
  std::optional<int64_t> redrive_of;
  std::optional<std::string> replay_of;
  std::optional<int64_t> dead_letter_id;
  std::string token_name;
};

/// One admin_audit row.
struct audit_entry {
  std::string token_name;
  std::optional<std::string> tenant_id;
  std::string action;
  std::string target;
  /// A JSON object without secrets.
  std::string request_json = "{}";
  int status = 0;
  std::string result;
};

/// Queries of the admin API. Thread-safe: each call borrows a connection.
/// Errors: `errc::database_unavailable`, `errc::database_error`,
/// `errc::invalid_input` (a value PostgreSQL refused, e.g. a timestamp).
class store {
public:
  store(std::string dsn, size_t max_idle);
  ~store();

  store(const store&) = delete;
  store& operator=(const store&) = delete;

  /// `SELECT 1`.
  caf::expected<void> ping();

  caf::expected<page> list_sagas(const saga_query& q);

  /// The saga with steps, input event and links, as a JSON object, and its
  /// tenant; nothing when unknown.
  caf::expected<std::optional<std::pair<std::string, std::string>>>
  saga_detail(const std::string& id);

  caf::expected<std::optional<saga_ref>> find_saga(const std::string& id);

  caf::expected<std::vector<dead_letter_row>>
  list_dead_letters(const dead_letter_query& q);

  caf::expected<std::optional<dead_letter_row>> dead_letter(int64_t id);

  /// Inbox events received in [from, to) of `tenant` (empty: any) and of
  /// `types` (empty: any), oldest first, at most `limit`.
  caf::expected<std::vector<inbox_row>>
  inbox_window(const std::string& from, const std::string& to,
               const std::string& tenant, const std::vector<std::string>& types,
               uint32_t limit);

  caf::expected<std::optional<inbox_row>> inbox_event(int64_t id);

  /// The subscriber records of `keys` (tenant, subscriber), in order, as
  /// the saga router's admission reads them.
  caf::expected<std::vector<adapters::postgres::subscriber_view>>
  subscriber_records(const adapters::postgres::subscriber_key_list& keys);

  caf::expected<bool> tenant_exists(const std::string& id);

  /// Inserts links in one transaction; existing ones are kept.
  caf::expected<void> insert_links(const std::vector<inbox_link>& links);

  /// Sets redriven_at of dead letter `id` if it is unset; false if it was.
  caf::expected<bool> mark_redriven(int64_t id);

  /// Sets dismissed_at of dead letter `id` if it is neither dismissed nor
  /// re-driven; false otherwise.
  caf::expected<bool> mark_dismissed(int64_t id);

  /// Removes the secrets (schema/0011's ispflow_strip_secrets) from the
  /// payloads of these inbox events that admission refused (skipped), once
  /// re-driven as new events.
  caf::expected<void> scrub_refused_events(const std::vector<int64_t>& ids);

  /// Replaces the stored value of dead letter `id` once it is re-driven or
  /// dismissed (its secrets removed); no-op on one still open.
  caf::expected<void> scrub_dead_letter(int64_t id, const std::string& value);

  caf::expected<void> audit(const audit_entry& entry);

  /// Samples for the scrape-time gauges, recomputed in the background.
  /// Each query reads only what its gauges count, not the rows that the
  /// relay or finished sagas left dead until the next vacuum.
  ///
  /// Outbox records not yet published, by topic: how many, and the age in
  /// seconds of the oldest (the relay's lag; a topic with nothing pending
  /// has no sample). One walk of the outbox's primary key, the relay's
  /// order: its scans mark the entries of published (deleted) rows dead in
  /// the index, so the walk skips them without reading the table, where a
  /// scan of the table would read every page those rows still hold.
  struct outbox_samples {
    std::vector<sample> backlog;
    std::vector<sample> oldest_age;
  };
  caf::expected<outbox_samples> outbox_gauges();
  caf::expected<std::vector<sample>> dead_letters_open();
  /// Open sagas (pending, running, compensating, needs_attention) by
  /// (tenant, type, state), and for the first three the seconds since the
  /// last transition of the longest-idle one. One read through the partial
  /// index of open sagas: counting the finished ones (kept
  /// `retention.sagas_seconds`, a year by default) would read the whole
  /// table at every refresh.
  struct open_saga_samples {
    std::vector<sample> by_state;
    std::vector<sample> oldest_active;
  };
  caf::expected<open_saga_samples> open_saga_gauges();

  /// The statements behind outbox_gauges and open_saga_gauges, as they run
  /// (after `gauge_plan_setting` in the same read-only transaction), for
  /// tests of their plans.
  static const char* const outbox_gauges_sql;
  static const char* const open_saga_gauges_sql;
  static const char* const gauge_plan_setting;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::actors::admin::detail

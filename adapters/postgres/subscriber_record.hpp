#pragma once

// Internal to ispflow_adapters_postgres: not a public header. The subscriber
// record (schema/0011_subscriber_record.sql), kept by the saga store's
// writes.

#include "adapters/postgres/saga_store.hpp"

#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <vector>

namespace ispflow::adapters::postgres::detail {

/// True for a flattened payload or output key that may hold a secret
/// (e.g. "credentials.password"): never part of the record.
bool is_secret_key(std::string_view key) noexcept;

/// Called by `saga_store::write` inside its transaction, after the saga
/// rows, when its statement cannot write the records itself (a copied
/// batch, or one that needs more than one round): for every saga of `batch`
/// (its last element) that finished (completed, compensated, cancelled) or
/// stopped in needs_attention, applies the saga to its subscriber's record, as
/// sagas::next_state and the profile fold do; applying the same saga outcome
/// twice changes nothing. Throws what libpqxx throws; the caller's transaction
/// rolls back.
void record_subscribers(pqxx::work& tx, const sagas::saga_registry& registry,
                        const std::vector<const saga_write*>& batch);

/// Registers record_subscribers' record statement on `conn` (a saga store
/// connection); libpqxx prepares each on its first use.
void prepare_subscriber_record(pqxx::connection& conn);

/// The changes record_subscribers would apply for `batch`, as one round
/// (a JSON array of {t, s, saga, name, outcome, target, service_type,
/// delta, at}) for record_ctes; "" when there is nothing to record, and
/// nullopt when they need more than one round (a subscriber twice in the
/// batch): record_subscribers applies those.
std::optional<std::string>
records_in_one_round(const sagas::saga_registry& registry,
                     const std::vector<const saga_write*>& batch);

/// The common table expressions (`rx`, `rw`) that apply one round of
/// changes, read from parameter `rows_param` (records_in_one_round's
/// array), for a statement of the caller's; `guard` (" AND <condition>",
/// or "") conditions their write.
std::string record_ctes(int rows_param, std::string_view guard);

/// The record in the columns state, service_type, profile::text and
/// last_outcome of `row`, from column `first` on (a NULL state: no record),
/// as subscriber_reader and the startable query read it.
subscriber_view subscriber_view_of(const pqxx::row& row, int first);

/// The statement that applies one round of changes to the records ($1: a
/// JSON array of {t, s, saga, name, outcome, target, service_type, delta,
/// at}); for tests of its plan.
const char* subscriber_record_statement() noexcept;

} // namespace ispflow::adapters::postgres::detail

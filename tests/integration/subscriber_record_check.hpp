#pragma once

// The subscriber record (schema/0011) against what the saga history says:
// every saga is loaded through the saga store and folded by the in-memory
// store's history fold (memory_saga_db::status and ::profile, what the
// router used before the record existed).

#include "actors/saga_store.hpp"
#include "adapters/postgres/saga_store.hpp"
#include "sagas/instance.hpp"
#include "tests/support/scratch_database.hpp"

#include <gtest/gtest.h>
#include <map>
#include <rapidjson/document.h>
#include <set>
#include <string>

namespace ispflow::testing {

/// Expects one `subscribers` row per subscriber with a finished saga, each
/// with the state, service type and profile (secrets left out) the history
/// fold gives; returns how many subscribers were compared.
inline size_t expect_records_match_history(const scratch_database& db,
                                           const sagas::saga_registry& reg) {
  auto store = adapters::postgres::saga_store::connect(db.dsn(), reg);
  EXPECT_TRUE(store);
  if (!store)
    return 0;
  actors::memory_saga_db history;
  history.registry = &reg;
  std::set<std::pair<std::string, std::string>> subscribers;
  for (auto& row : db.query("SELECT id FROM sagas")) {
    auto inst = store->load(*row[0]);
    EXPECT_TRUE(inst && *inst) << *row[0];
    if (!inst || !*inst)
      continue;
    auto& x = **inst;
    if (x.state == sagas::saga_state::completed
        || x.state == sagas::saga_state::compensated
        || x.state == sagas::saga_state::cancelled)
      subscribers.emplace(x.tenant_id, x.subscriber_id);
    history.sagas.emplace(x.id, x);
  }
  EXPECT_EQ(db.count("SELECT count(*) FROM subscribers"),
            static_cast<int64_t>(subscribers.size()));
  for (auto& [tenant, id] : subscribers) {
    auto rows = db.query("SELECT state, COALESCE(service_type, ''), "
                         "profile::text FROM subscribers WHERE tenant_id = '"
                         + tenant + "' AND id = '" + id + "'");
    EXPECT_EQ(rows.size(), 1u) << tenant << "/" << id;
    if (rows.size() != 1)
      continue;
    auto [state, service_type] = history.status(tenant, id);
    EXPECT_EQ(*rows[0][0], sagas::to_string(state)) << tenant << "/" << id;
    EXPECT_EQ(*rows[0][1], service_type) << tenant << "/" << id;
    sagas::field_map want;
    for (auto& [k, v] : history.profile(tenant, id))
      if (!sagas::is_secret_field(k))
        want.emplace(k, v);
    sagas::field_map got;
    rapidjson::Document doc;
    doc.Parse(rows[0][2]->c_str());
    EXPECT_TRUE(doc.IsObject()) << *rows[0][2];
    if (doc.IsObject())
      for (auto& m : doc.GetObject())
        got.emplace(m.name.GetString(),
                    m.value.IsString() ? m.value.GetString() : "<not text>");
    EXPECT_EQ(got, want) << tenant << "/" << id;
  }
  return subscribers.size();
}

} // namespace ispflow::testing

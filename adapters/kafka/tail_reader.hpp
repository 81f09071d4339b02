#pragma once

#include "adapters/kafka/settings.hpp"
#include "events/records.hpp"

#include <caf/expected.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace ispflow::adapters::kafka {

/// Reads the last `per_partition` records of every partition of `topic`
/// (offsets max(low, high - per_partition) .. high - 1) with a group-less,
/// assign()-based consumer that commits nothing; `settings.group_id` is
/// ignored. Records are ordered by partition, then offset. A topic that does
/// not exist yields an empty list and is not created. Fails with
/// errc::timeout if the records are not read within `timeout`.
caf::expected<std::vector<events::kafka_record>>
read_tail(const client_settings& settings, const std::string& topic,
          int64_t per_partition,
          std::chrono::milliseconds timeout = std::chrono::seconds{10});

} // namespace ispflow::adapters::kafka

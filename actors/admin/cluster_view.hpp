#pragma once

#include <caf/expected.hpp>
#include <string>

namespace ispflow::actors::admin {

/// The body of GET /v1/cluster, read from the database (so every instance
/// answers the same): {"instances": [{"id", "started_at", "heartbeat_at",
/// "relay", "stopped", "partitions": [..]}], "partitions": [{"partition",
/// "instance_id", "epoch", "claimed_at", "heartbeat_at"}]}; times in RFC
/// 3339 UTC. Errors: errc::database_unavailable, errc::database_error.
caf::expected<std::string> cluster_view_json(const std::string& dsn);

} // namespace ispflow::actors::admin

#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ispflow::adapters::kafka {

/// librdkafka properties passed through verbatim, in order; a later entry
/// overrides an earlier one with the same name.
using properties = std::vector<std::pair<std::string, std::string>>;

/// Connection settings shared by producers, consumers and the tail reader.
/// Precedence, lowest first: the adapter's defaults for the client kind, the
/// named fields below (when non-empty), then `extra`.
struct client_settings {
  /// `bootstrap.servers`, e.g. "127.0.0.1:9092,127.0.0.1:9093".
  std::string bootstrap_servers;
  /// `client.id`; empty keeps librdkafka's default.
  std::string client_id = "ispflow";
  /// `group.id`; required by consumer::make, ignored by the producer.
  std::string group_id;
  /// Any other librdkafka property, e.g. {"session.timeout.ms", "6000"}.
  properties extra;
};

/// Defaults applied to every consumer before the caller's settings:
/// manual commits and offset stores, `auto.offset.reset=earliest`, and the
/// eager `range,roundrobin` assignors (the 2.0.2 mock cluster mishandles
/// cooperative-sticky).
const properties& consumer_defaults();

/// Defaults applied to every producer before the caller's settings:
/// `enable.idempotence=true`, `acks=all`, `linger.ms=5`. Both kinds send
/// with Nagle's algorithm off (`socket.nagle.disable=true`): linger.ms
/// already batches, and with several requests in flight on a connection
/// Nagle held each one after the first until the peer's delayed ACK, 40 ms.
const properties& producer_defaults();

} // namespace ispflow::adapters::kafka

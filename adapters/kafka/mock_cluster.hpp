#pragma once

#include <caf/expected.hpp>
#include <chrono>
#include <memory>
#include <string>

namespace ispflow::adapters::kafka {

/// librdkafka's in-process mock Kafka cluster (EXPERIMENTAL API of
/// librdkafka 2.0.2), listening on loopback ports. For tests and the
/// ispflow-bus program only. Topics are auto-created with 4 partitions on
/// first produce (hard-coded in 2.0.2); create_topic sets another count.
class mock_cluster {
public:
  /// Starts a cluster of `brokers` brokers. With `verbose`, librdkafka's
  /// own log lines of the cluster go to stderr; otherwise they are dropped.
  static caf::expected<std::unique_ptr<mock_cluster>>
  make(int brokers, bool verbose = false);

  ~mock_cluster();

  mock_cluster(const mock_cluster&) = delete;
  mock_cluster& operator=(const mock_cluster&) = delete;

  /// The bootstrap list, e.g. "127.0.0.1:40111,127.0.0.1:40112".
  const std::string& bootstrap_servers() const;

  /// Creates `name` with `partitions` partitions and a replication factor
  /// of min(`replication_factor`, brokers). Fails for an existing topic.
  caf::expected<void> create_topic(const std::string& name, int partitions,
                                   int replication_factor = 1);

  /// Delays every broker's answers by `rtt` (0: answers at once again),
  /// e.g. to show what waits for a broker and what does not.
  caf::expected<void> set_rtt(std::chrono::milliseconds rtt);

  /// Implementation details, defined in mock_cluster.cpp.
  struct impl;

private:
  explicit mock_cluster(std::unique_ptr<impl> ptr);

  std::unique_ptr<impl> impl_;
};

} // namespace ispflow::adapters::kafka

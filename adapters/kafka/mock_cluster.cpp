#include "adapters/kafka/mock_cluster.hpp"

#include <algorithm>
#include <cstdio>
#include <librdkafka/rdkafka.h>
// Must come after rdkafka.h.
#include "events/errc.hpp"

#include <librdkafka/rdkafka_mock.h>

namespace ispflow::adapters::kafka {

namespace {

struct rk_deleter {
  void operator()(rd_kafka_t* rk) const {
    rd_kafka_destroy(rk);
  }
};

struct conf_deleter {
  void operator()(rd_kafka_conf_t* conf) const {
    rd_kafka_conf_destroy(conf);
  }
};

struct cluster_deleter {
  void operator()(rd_kafka_mock_cluster_t* mc) const {
    rd_kafka_mock_cluster_destroy(mc);
  }
};

void drop_log(const rd_kafka_t*, int, const char*, const char*) {
  // nop: the mock's own connection chatter is noise for tests and the bus
}

void stderr_log(const rd_kafka_t*, int level, const char* fac,
                const char* buf) {
  std::fprintf(stderr, "mock-kafka %d %s: %s\n", level, fac, buf);
}

} // namespace

struct mock_cluster::impl {
  int brokers = 1;
  std::string bootstraps;
  // Declared before `cluster`, so destroyed after it.
  std::unique_ptr<rd_kafka_t, rk_deleter> handle;
  std::unique_ptr<rd_kafka_mock_cluster_t, cluster_deleter> cluster;
};

mock_cluster::mock_cluster(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

mock_cluster::~mock_cluster() = default;

caf::expected<std::unique_ptr<mock_cluster>> mock_cluster::make(int brokers,
                                                                bool verbose) {
  if (brokers < 1)
    return caf::make_error(errc::invalid_config,
                           "mock cluster needs at least one broker");
  std::unique_ptr<rd_kafka_conf_t, conf_deleter> conf{rd_kafka_conf_new()};
  rd_kafka_conf_set_log_cb(conf.get(), verbose ? stderr_log : drop_log);
  char errstr[512];
  // The mock brokers' connections take their socket options from this
  // handle. With Nagle's algorithm on, a response written while an earlier
  // one on the same connection was unacknowledged waited for the client's
  // delayed ACK: 40 ms per batch of the outbox relay once a batch spanned
  // several partitions (real brokers set TCP_NODELAY).
  if (rd_kafka_conf_set(conf.get(), "socket.nagle.disable", "true", errstr,
                        sizeof errstr)
      != RD_KAFKA_CONF_OK)
    return caf::make_error(errc::kafka_error,
                           std::string{"mock cluster handle: "} + errstr);
  auto st = std::make_unique<impl>();
  st->brokers = brokers;
  // rd_kafka_new takes ownership of the configuration only on success.
  st->handle.reset(
    rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr));
  if (!st->handle)
    return caf::make_error(errc::kafka_error,
                           std::string{"mock cluster handle: "} + errstr);
  static_cast<void>(conf.release());
  st->cluster.reset(rd_kafka_mock_cluster_new(st->handle.get(), brokers));
  if (!st->cluster)
    return caf::make_error(errc::kafka_error, "cannot start mock cluster");
  st->bootstraps = rd_kafka_mock_cluster_bootstraps(st->cluster.get());
  return std::unique_ptr<mock_cluster>{new mock_cluster(std::move(st))};
}

const std::string& mock_cluster::bootstrap_servers() const {
  return impl_->bootstraps;
}

caf::expected<void> mock_cluster::create_topic(const std::string& name,
                                               int partitions,
                                               int replication_factor) {
  if (partitions < 1)
    return caf::make_error(errc::invalid_config,
                           "topic " + name + " needs at least one partition");
  auto rf = std::clamp(replication_factor, 1, impl_->brokers);
  auto err = rd_kafka_mock_topic_create(impl_->cluster.get(), name.c_str(),
                                        partitions, rf);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    return caf::make_error(errc::kafka_error, "create topic " + name + ": "
                                                + rd_kafka_err2str(err));
  return caf::unit;
}

caf::expected<void> mock_cluster::set_rtt(std::chrono::milliseconds rtt) {
  // The mock numbers its brokers from 1.
  for (int id = 1; id <= impl_->brokers; ++id)
    if (auto err = rd_kafka_mock_broker_set_rtt(impl_->cluster.get(), id,
                                                static_cast<int>(rtt.count()));
        err != RD_KAFKA_RESP_ERR_NO_ERROR)
      return caf::make_error(errc::kafka_error, "rtt of broker "
                                                  + std::to_string(id) + ": "
                                                  + rd_kafka_err2str(err));
  return caf::unit;
}

} // namespace ispflow::adapters::kafka

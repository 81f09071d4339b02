#include "adapters/kafka/producer.hpp"

#include "adapters/kafka/detail/rdkafka.hpp"
#include "common/wait.hpp"
#include "events/errc.hpp"

#include <cstdint>
#include <mutex>
#include <string>

namespace ispflow::adapters::kafka {

namespace {

using clock_type = std::chrono::steady_clock;

int remaining_ms(clock_type::time_point deadline, int cap_ms) {
  return common::millis_until(deadline, cap_ms);
}

} // namespace

struct producer::impl : RdKafka::DeliveryReportCb {
  detail::event_sink events;
  std::mutex mtx;

  // State of the batch in flight. Each message carries its batch number as
  // opaque, so reports of an abandoned (timed-out) batch are ignored.
  uint64_t batch = 0;
  size_t delivered = 0;
  caf::error first_error;

  // Declared last, so destroyed first: no callback outlives the state.
  std::unique_ptr<RdKafka::Producer> handle;

  void dr_cb(RdKafka::Message& msg) override {
    auto id = reinterpret_cast<uintptr_t>(msg.msg_opaque());
    if (id != batch)
      return;
    if (msg.err() == RdKafka::ERR_NO_ERROR) {
      ++delivered;
    } else if (!first_error) {
      first_error = detail::kafka_error("produce to " + msg.topic_name() + "["
                                          + std::to_string(msg.partition())
                                          + "]",
                                        msg.err());
    }
  }
};

producer::producer(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

producer::~producer() {
  if (impl_ && impl_->handle)
    impl_->handle->flush(1000);
}

caf::expected<std::unique_ptr<producer>>
producer::make(const client_settings& settings) {
  auto st = std::make_unique<impl>();
  auto conf = detail::make_conf(settings, detail::client_kind::producer,
                                &st->events);
  if (!conf)
    return std::move(conf.error());
  std::string errstr;
  if ((*conf)->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(st.get()),
                   errstr)
      != RdKafka::Conf::CONF_OK)
    return caf::make_error(errc::invalid_config,
                           "kafka property dr_cb: " + errstr);
  st->handle.reset(RdKafka::Producer::create(conf->get(), errstr));
  if (!st->handle)
    return caf::make_error(errc::kafka_error,
                           "cannot create producer: " + errstr);
  return std::unique_ptr<producer>{new producer(std::move(st))};
}

caf::expected<void>
producer::produce_all(const std::vector<events::kafka_record>& xs,
                      std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  auto& st = *impl_;
  auto deadline = clock_type::now() + timeout;
  ++st.batch;
  st.delivered = 0;
  st.first_error = caf::none;
  auto* opaque = reinterpret_cast<void*>(static_cast<uintptr_t>(st.batch));
  for (const auto& x : xs) {
    std::unique_ptr<RdKafka::Headers> hdrs;
    if (!x.headers.empty()) {
      hdrs.reset(RdKafka::Headers::create());
      for (const auto& h : x.headers) {
        auto err = h.null_value
                     ? hdrs->add(h.key, nullptr, 0)
                     : hdrs->add(h.key, h.value.data(), h.value.size());
        if (err != RdKafka::ERR_NO_ERROR)
          return detail::kafka_error("header " + h.key + " of " + x.topic, err);
      }
    }
    auto partition = x.partition >= 0 ? x.partition
                                      : RdKafka::Topic::PARTITION_UA;
    auto timestamp = x.timestamp_ms > 0 ? x.timestamp_ms : int64_t{0};
    for (;;) {
      // RK_MSG_COPY: librdkafka copies key and value, so the const_cast is
      // never written through.
      auto err = st.handle->produce(
        x.topic, partition, RdKafka::Producer::RK_MSG_COPY,
        const_cast<char*>(x.value.data()), x.value.size(),
        x.null_key ? nullptr : x.key.data(), x.null_key ? 0 : x.key.size(),
        timestamp, hdrs.get(), opaque);
      if (err == RdKafka::ERR_NO_ERROR) {
        // librdkafka owns the headers now.
        static_cast<void>(hdrs.release());
        break;
      }
      if (err != RdKafka::ERR__QUEUE_FULL)
        return detail::kafka_error("produce to " + x.topic + "["
                                     + std::to_string(x.partition) + "]",
                                   err);
      if (clock_type::now() >= deadline)
        return caf::make_error(errc::timeout, "produce to " + x.topic
                                                + ": local queue still full");
      st.handle->poll(remaining_ms(deadline, 100));
      if (st.first_error)
        return std::move(st.first_error);
    }
    st.handle->poll(0);
  }
  while (st.delivered < xs.size() && !st.first_error) {
    if (clock_type::now() >= deadline)
      return caf::make_error(errc::timeout,
                             std::to_string(xs.size() - st.delivered) + " of "
                               + std::to_string(xs.size())
                               + " records without delivery report");
    // The caller waits for these records: flush() sends them at once,
    // ignoring linger.ms (librdkafka >= 1.5), and serves delivery reports
    // like poll(). Polling would first let linger.ms pass on every batch.
    st.handle->flush(remaining_ms(deadline, 100));
  }
  if (st.first_error)
    return std::move(st.first_error);
  return caf::unit;
}

caf::expected<void> producer::flush(std::chrono::milliseconds timeout) {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  auto err = impl_->handle->flush(static_cast<int>(timeout.count()));
  if (err == RdKafka::ERR__TIMED_OUT)
    return caf::make_error(errc::timeout,
                           std::to_string(impl_->handle->outq_len())
                             + " messages still in flight after flush");
  if (err != RdKafka::ERR_NO_ERROR)
    return detail::kafka_error("flush", err);
  return caf::unit;
}

} // namespace ispflow::adapters::kafka

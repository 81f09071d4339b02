// The outbox encoding of a saga write (adapters/postgres/codec.hpp): the
// records of one activation's transitions, as the saga store packs them
// into rows and writes them with COPY, and the JSON text of a payload
// alone. Records are shaped like ispflow's own CloudEvents (binary mode:
// ce_* headers, a JSON payload of some 300-400 bytes), with a line of
// text that needs escaping in one payload as an operator's message
// would.
#include "adapters/postgres/codec.hpp"
#include "events/records.hpp"

#include <benchmark/benchmark.h>
#include <string>
#include <vector>

namespace {

namespace pg = ispflow::adapters::postgres::detail;
using ispflow::events::kafka_header;
using ispflow::events::kafka_record;

kafka_record saga_record(int n, bool with_message) {
  kafka_record r;
  r.topic = n == 13 ? "lifecycle.events.v1" : "saga.events.v1";
  r.key = "sub-004711";
  auto id = "0b7c5e1e-3f0a-4d1b-9a53-5e2f7f0c" + std::to_string(1000 + n);
  r.value
    = R"({"schema_version":1,"tenant_id":"isp-north","subscriber_id":"sub-004711","saga_id":")"
      + id
      + R"(","saga":"activate","saga_version":1,"state":"running","step":"configure_cpe","causation_id":"billing-2026-12-07-004711","attempt":"1","ip_address":"100.64.12.7","onu_id":"5f1c2a9e-7d44-4b8e-a1f0-3c6d9e2b8a11"})";
  if (with_message)
    r.value.insert(
      r.value.size() - 1,
      R"(,"error":"genieacs: task fault \"cwmp.9002\": \\\\Device.WiFi\\\\ not writable\n")");
  r.headers = {
    {"ce_specversion", "1.0"},
    {"ce_id", id + "/1733582400123456/" + std::to_string(n % 3)},
    {"ce_source", "ispflow/node-1"},
    {"ce_type", "saga.step_succeeded"},
    {"ce_time", "2026-12-07T14:40:00.123456Z"},
    {"ce_subject", "sub-004711"},
    {"ce_tenantid", "isp-north"},
    {"content-type", "application/json"},
    {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
  };
  return r;
}

// An activation's 14 records, in the transitions' order.
std::vector<kafka_record> activation() {
  std::vector<kafka_record> out;
  for (int n = 0; n < 14; ++n)
    out.push_back(saga_record(n, n == 7));
  return out;
}

void copy_rows_of_a_write(benchmark::State& state) {
  // One write holds the transitions of `range(0)` activations.
  std::vector<std::vector<kafka_record>> writes(
    static_cast<size_t>(state.range(0)), activation());
  std::vector<const std::vector<kafka_record>*> in;
  for (auto& w : writes)
    in.push_back(&w);
  std::string out;
  size_t bytes = 0;
  for (auto _ : state) {
    out.clear();
    auto rows = pg::pack_records(in);
    pg::append_copy_rows(out, rows);
    bytes += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0) * 14);
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["records"] = static_cast<double>(state.range(0) * 14);
}
BENCHMARK(copy_rows_of_a_write)->Arg(1)->Arg(16);

void json_text_of_a_payload(benchmark::State& state) {
  auto r = saga_record(3, state.range(0) != 0);
  std::string out;
  for (auto _ : state) {
    out.clear();
    pg::append_json_text(out, r.value);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations()
                          * static_cast<int64_t>(r.value.size()));
}
BENCHMARK(json_text_of_a_payload)->Arg(0)->Arg(1);

} // namespace

BENCHMARK_MAIN();

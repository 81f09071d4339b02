// ispflow-coa-bench: sends N Disconnect-Requests (User-Name=user<i>,
// Acct-Session-Id, NAS-IP-Address, Message-Authenticator) with W in flight,
// verifies every reply and prints `requests_per_second=<n>` last.
#include "adapters/radius/protocol/coa_client.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

namespace radius = ispflow::adapters::radius;

int main(int argc, char** argv) {
  CLI::App app{"Disconnect-Request throughput of ispflow's CoA client"};
  std::string target;
  std::string secret;
  std::string secret_env;
  std::string nas_ip = "127.0.0.1";
  size_t requests = 10000;
  uint32_t window = 64;
  uint32_t timeout_ms = 1000;
  uint32_t attempts = 3;
  app.add_option("--target", target, "host:port of the CoA listener")
    ->required();
  app.add_option("--secret", secret, "shared secret");
  app.add_option("--secret-env", secret_env,
                 "environment variable holding the shared secret");
  app.add_option("--requests", requests, "number of Disconnect-Requests");
  app.add_option("--window", window, "requests in flight");
  app.add_option("--nas-ip", nas_ip, "NAS-IP-Address to send");
  app.add_option("--timeout-ms", timeout_ms, "first retransmission timeout");
  app.add_option("--attempts", attempts, "transmissions per request");
  CLI11_PARSE(app, argc, argv);
  if (!secret_env.empty()) {
    const char* v = std::getenv(secret_env.c_str());
    secret = v != nullptr ? v : "";
  }
  if (secret.empty()) {
    std::fprintf(stderr, "a shared secret is required\n");
    return 2;
  }
  auto colon = target.rfind(':');
  if (colon == std::string::npos) {
    std::fprintf(stderr, "--target must be host:port\n");
    return 2;
  }
  radius::nas_endpoint nas;
  nas.host = target.substr(0, colon);
  if (nas.host.size() > 2 && nas.host.front() == '[')
    nas.host = nas.host.substr(1, nas.host.size() - 2);
  nas.port = static_cast<uint16_t>(std::stoul(target.substr(colon + 1)));
  nas.secret = secret;
  auto nas_addr = radius::attribute::ipv4(radius::attr::nas_ip_address, nas_ip);
  if (!nas_addr) {
    std::fprintf(stderr, "--nas-ip must be an IPv4 address\n");
    return 2;
  }

  radius::coa_client_config cfg;
  cfg.window_per_nas = window;
  cfg.initial_timeout = std::chrono::milliseconds{timeout_ms};
  cfg.max_attempts = attempts;
  auto client = radius::coa_client::start(cfg);
  if (!client) {
    std::fprintf(stderr, "cannot start the client\n");
    return 1;
  }

  std::mutex mtx;
  std::condition_variable cv;
  size_t finished = 0;
  std::vector<int64_t> latencies;
  latencies.reserve(requests);
  size_t counts[4] = {0, 0, 0, 0};
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < requests; ++i) {
    std::vector<radius::attribute> attrs;
    attrs.push_back(radius::attribute::text(radius::attr::user_name,
                                            "user" + std::to_string(i)));
    attrs.push_back(radius::attribute::text(radius::attr::acct_session_id,
                                            "bench-" + std::to_string(i)));
    attrs.push_back(*nas_addr);
    (*client)->submit(nas, radius::code::disconnect_request, std::move(attrs),
                      [&](radius::coa_outcome out) {
                        std::lock_guard guard{mtx};
                        ++counts[static_cast<int>(out.status)];
                        latencies.push_back(out.latency.count());
                        if (++finished == requests)
                          cv.notify_all();
                      });
  }
  {
    std::unique_lock lock{mtx};
    cv.wait(lock, [&] { return finished == requests; });
  }
  auto secs
    = std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
        .count();
  auto stats = (*client)->stats();
  (*client)->stop();
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) -> double {
    if (latencies.empty())
      return 0;
    auto idx
      = static_cast<size_t>(p * static_cast<double>(latencies.size() - 1));
    return static_cast<double>(latencies[idx]) / 1000.0;
  };
  std::printf("target=%s requests=%zu window=%u\n", target.c_str(), requests,
              window);
  std::printf("ack=%zu nak=%zu timeout=%zu error=%zu\n", counts[0], counts[1],
              counts[2], counts[3]);
  std::printf("retransmits=%llu dropped_replies=%llu unmatched_replies=%llu\n",
              static_cast<unsigned long long>(stats.retransmits),
              static_cast<unsigned long long>(stats.dropped_replies),
              static_cast<unsigned long long>(stats.unmatched_replies));
  std::printf("latency_ms p50=%.3f p99=%.3f max=%.3f\n", pct(0.5), pct(0.99),
              pct(1.0));
  std::printf("elapsed_s=%.4f\n", secs);
  std::printf("requests_per_second=%.1f\n",
              static_cast<double>(requests) / secs);
  return counts[2] + counts[3] == 0 ? 0 : 1;
}

// ispflow-bus: runs librdkafka's mock Kafka cluster on loopback until
// SIGINT or SIGTERM. The first line on stdout is
// `bootstrap.servers=<host:port,...>`.

#include "adapters/kafka/mock_cluster.hpp"
#include "events/errc.hpp"

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  CLI::App app{"ispflow-bus: an in-memory Kafka cluster (librdkafka mock) "
               "on loopback"};
  int brokers = 1;
  int partitions = 6;
  std::vector<std::string> topics;
  bool verbose = false;
  app.add_option("--brokers", brokers, "Number of brokers")
    ->check(CLI::Range(1, 64));
  app
    .add_option("--partitions", partitions,
                "Partitions of each --topic (auto-created topics get the "
                "mock's fixed 4)")
    ->check(CLI::Range(1, 10000));
  app.add_option("--topic", topics, "Topic to create up front (repeatable)");
  app.add_flag("--verbose", verbose,
               "Log the mock cluster's activity to "
               "stderr");
  CLI11_PARSE(app, argc, argv);

  // Block the stop signals before librdkafka starts its threads, so that
  // they inherit the mask and sigwait below receives the signal.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  if (pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr) != 0) {
    std::cerr << "ispflow-bus: cannot block signals\n";
    return 1;
  }

  auto cluster = ispflow::adapters::kafka::mock_cluster::make(brokers, verbose);
  if (!cluster) {
    std::cerr << "ispflow-bus: " << ispflow::render_error(cluster.error())
              << '\n';
    return 1;
  }
  for (const auto& topic : topics) {
    if (auto res = (*cluster)->create_topic(topic, partitions, 3); !res) {
      std::cerr << "ispflow-bus: " << ispflow::render_error(res.error())
                << '\n';
      return 1;
    }
  }
  std::cout << "bootstrap.servers=" << (*cluster)->bootstrap_servers()
            << std::endl;
  if (verbose)
    std::cerr << "ispflow-bus: " << brokers << " broker(s), " << topics.size()
              << " topic(s) created; waiting for "
              << "SIGINT/SIGTERM\n";

  int sig = 0;
  while (sigwait(&stop_signals, &sig) != 0) {
    // nop: retry on spurious failure
  }
  if (verbose)
    std::cerr << "ispflow-bus: signal " << sig << ", stopping\n";
  cluster->reset();
  return 0;
}

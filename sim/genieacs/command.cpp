#include "sim/genieacs/command.hpp"

#include "sim/common/run.hpp"
#include "sim/genieacs/server.hpp"

#include <CLI/CLI.hpp>

namespace ispflow::sim::genieacs {

void add_command(CLI::App& app) {
  auto opts = std::make_shared<options>();
  auto* cmd = app.add_subcommand("genieacs", "GenieACS NBI simulator");
  cmd->add_option("--port", opts->port, "Port on 127.0.0.1 (0 = ephemeral)");
  cmd->add_option("--seed", opts->seed_file, "Seed data (YAML or JSON)")
    ->check(CLI::ExistingFile);
  cmd->add_option("--faults", opts->faults_json, "Faults at start-up (JSON)");
  cmd->add_option("--version", opts->version, "GenieACS-Version header");
  cmd->add_option("--online-threshold-ms", opts->online_threshold_ms,
                  "Wait for a session when a task has no timeout");
  cmd->add_option("--connection-request-timeout-ms",
                  opts->connection_request_timeout_ms,
                  "Time a connection request to an offline device takes "
                  "to fail (cwmp.connectionRequestTimeout)");
  cmd->callback([opts] {
    std::unique_ptr<server> srv;
    int rc = common::run_until_signal(
      "genieacs",
      [&]() -> caf::expected<uint16_t> {
        auto started = server::start(*opts);
        if (!started)
          return started.error();
        srv = std::move(*started);
        return srv->port();
      },
      [&] { srv->stop(); });
    throw CLI::RuntimeError{rc};
  });
}

} // namespace ispflow::sim::genieacs

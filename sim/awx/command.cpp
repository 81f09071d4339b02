#include "sim/awx/command.hpp"

#include "sim/awx/server.hpp"
#include "sim/common/run.hpp"

#include <CLI/CLI.hpp>

namespace ispflow::sim::awx {

void add_command(CLI::App& app) {
  auto opts = std::make_shared<options>();
  auto token_file = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("awx", "AWX API v2 simulator");
  cmd->add_option("--port", opts->port, "Port on 127.0.0.1 (0 = ephemeral)");
  cmd->add_option("--seed", opts->seed_file, "Seed data (YAML or JSON)")
    ->check(CLI::ExistingFile);
  cmd->add_option("--faults", opts->faults_json, "Faults at start-up (JSON)");
  cmd
    ->add_option("--token-file", *token_file,
                 "Accepted API tokens, one per line (also "
                 "ISPFLOW_SIM_AWX_TOKENS)")
    ->check(CLI::ExistingFile);
  cmd->add_flag("--manual", opts->manual,
                "Job statuses change only through /_sim/jobs/<id>/status");
  cmd->add_option("--pending-after-ms", opts->pending_after_ms,
                  "new -> pending after this long");
  cmd->add_option("--running-after-ms", opts->running_after_ms,
                  "pending -> running after this long");
  cmd->add_option("--finish-after-ms", opts->finish_after_ms,
                  "running -> terminal after this long");
  cmd->callback([opts, token_file] {
    auto tokens = common::load_tokens(*token_file, "ISPFLOW_SIM_AWX_TOKENS");
    std::unique_ptr<server> srv;
    int rc = common::run_until_signal(
      "awx",
      [&]() -> caf::expected<uint16_t> {
        if (!tokens)
          return tokens.error();
        opts->tokens = *tokens;
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

} // namespace ispflow::sim::awx

#include "sim/netbox/command.hpp"

#include "sim/common/run.hpp"
#include "sim/netbox/server.hpp"

#include <CLI/CLI.hpp>

namespace ispflow::sim::netbox {

void add_command(CLI::App& app) {
  auto opts = std::make_shared<options>();
  auto token_file = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("netbox", "NetBox REST API simulator");
  cmd->add_option("--port", opts->port, "Port on 127.0.0.1 (0 = ephemeral)");
  cmd->add_option("--seed", opts->seed_file, "Seed data (YAML or JSON)")
    ->check(CLI::ExistingFile);
  cmd->add_option("--faults", opts->faults_json, "Faults at start-up (JSON)");
  cmd
    ->add_option("--token-file", *token_file,
                 "Accepted API tokens, one per line (also "
                 "ISPFLOW_SIM_NETBOX_TOKENS)")
    ->check(CLI::ExistingFile);
  cmd->add_option("--api-version", opts->api_version,
                  "API-Version response header");
  cmd->add_option("--max-page-size", opts->max_page_size,
                  "MAX_PAGE_SIZE: most results per list page (0 = no cap)");
  cmd->add_option("--paginate-count", opts->paginate_count,
                  "PAGINATE_COUNT: page size without a limit");
  cmd->callback([opts, token_file] {
    auto tokens = common::load_tokens(*token_file, "ISPFLOW_SIM_NETBOX_TOKENS");
    std::unique_ptr<server> srv;
    int rc = common::run_until_signal(
      "netbox",
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

} // namespace ispflow::sim::netbox

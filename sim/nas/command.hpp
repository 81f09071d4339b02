#pragma once

namespace CLI {
class App;
} // namespace CLI

namespace ispflow::sim::nas {

/// Registers the `nas` subcommand: runs a simulator and its control
/// endpoint until SIGINT/SIGTERM. Options: --radius host:port (auth),
/// --acct host:port, --secret-file PATH | --secret-env NAME, --coa-port,
/// --control-port, --nas-ip. The secret is never taken from the command line.
void add_command(CLI::App& app);

} // namespace ispflow::sim::nas

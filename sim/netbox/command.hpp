#pragma once

namespace CLI {
class App;
} // namespace CLI

namespace ispflow::sim::netbox {

/// Adds the `netbox` subcommand (`--port`, `--seed`, `--faults`,
/// `--token-file`; tokens also from ISPFLOW_SIM_NETBOX_TOKENS) to `app`.
void add_command(CLI::App& app);

} // namespace ispflow::sim::netbox

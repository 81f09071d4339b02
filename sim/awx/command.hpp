#pragma once

namespace CLI {
class App;
} // namespace CLI

namespace ispflow::sim::awx {

/// Adds the `awx` subcommand (`--port`, `--seed`, `--faults`,
/// `--token-file`, `--manual`, timings; Bearer tokens also from
/// ISPFLOW_SIM_AWX_TOKENS) to `app`.
void add_command(CLI::App& app);

} // namespace ispflow::sim::awx

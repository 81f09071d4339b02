#pragma once

namespace CLI {
class App;
} // namespace CLI

namespace ispflow::sim::genieacs {

/// Adds the `genieacs` subcommand (`--port`, `--seed`, `--faults`,
/// `--online-threshold-ms`; the NBI has no authentication) to `app`.
void add_command(CLI::App& app);

} // namespace ispflow::sim::genieacs

#pragma once

namespace CLI {
class App;
} // namespace CLI

namespace ispflow::sim::voltha {

/// Registers the subcommand `voltha` on `app`: starts the simulator, prints
/// `listening.grpc=127.0.0.1:<port>` and `listening.rest=127.0.0.1:<port>`
/// and runs until SIGINT or SIGTERM. Options: --host, --grpc-port,
/// --rest-port, --olts, --onus-per-olt, --serial-prefix,
/// --transition-delay-ms, --onos-user, --onos-password-file (else env
/// ISPFLOW_SIM_ONOS_PASSWORD, else "karaf"), --faults (JSON as for
/// POST /_sim/faults).
void add_command(CLI::App& app);

} // namespace ispflow::sim::voltha

#pragma once

// What a process that uses gRPC (the VOLTHA adapter's client, the VOLTHA
// simulator's server) sets up once, before its first channel or server.

namespace ispflow::adapters::voltha {

/// Turns off absl::Mutex deadlock detection for the process. Debian builds
/// abseil without NDEBUG, so the detection is on, in abort mode: every lock
/// that gRPC takes updates a process-wide lock graph under a global lock,
/// and any lock-order cycle it sees, even one that can never deadlock, ends
/// the process. Idempotent and thread-safe; the first call does it.
void prepare_grpc_runtime();

} // namespace ispflow::adapters::voltha

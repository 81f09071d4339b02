#pragma once

#include <caf/expected.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ispflow::sim::common {

/// Blocks SIGINT and SIGTERM in the calling thread, so that threads started
/// afterwards inherit the mask and `wait_for_stop_signal` receives them.
void block_stop_signals();

/// Waits for SIGINT or SIGTERM (after `block_stop_signals`).
void wait_for_stop_signal();

/// Runs a simulator as a program: blocks the stop signals, calls `start`
/// (which returns the bound port), prints `listening=127.0.0.1:<port>` as the
/// first stdout line, waits for SIGINT/SIGTERM and calls `stop`. Returns the
/// exit code (0, or 1 when `start` failed).
int run_until_signal(const std::string& name,
                     const std::function<caf::expected<uint16_t>()>& start,
                     const std::function<void()>& stop);

/// Reads API tokens: one per non-empty line of `file` (when given), plus the
/// value of the environment variable `env_var` (when set; several tokens may
/// be separated by commas). Tokens are never printed.
caf::expected<std::vector<std::string>> load_tokens(const std::string& file,
                                                    const char* env_var);

/// Reads a whole file.
caf::expected<std::string> read_file(const std::string& path);

/// Current UTC time as ISO 8601 with microseconds, e.g.
/// `2024-05-01T12:00:00.123456Z`.
std::string now_iso8601();

/// Microseconds since the epoch of an ISO 8601 UTC timestamp (`Z` or
/// `+00:00`, optional fraction); an error when it cannot be parsed.
caf::expected<int64_t> parse_iso8601(const std::string& text);

/// Renders microseconds since the epoch as ISO 8601 UTC.
std::string format_iso8601(int64_t micros);

/// Microseconds since the epoch, now.
int64_t now_micros();

} // namespace ispflow::sim::common

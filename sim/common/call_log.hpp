#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <httplib.h>
#include <mutex>
#include <string>
#include <string_view>

namespace ispflow::sim::common {

/// One call a simulator received from a client.
struct recorded_call {
  /// Wall-clock arrival time, milliseconds since the Unix epoch.
  int64_t at_ms = 0;
  /// The calling instance (see `caller_of`), "" when the call did not say.
  std::string caller;
  std::string method;
  std::string path;
};

/// `s` escaped for a JSON string (quotes, backslashes, control characters).
std::string json_text(std::string_view s);

/// The calling instance named by a `User-Agent` of the form
/// `product/version (<instance id>)` (the text inside the last pair of
/// parentheses); "" when there is none.
std::string caller_of(std::string_view user_agent);

/// Every call a simulator received outside its control endpoints, with its
/// time and caller, so that a test can tell which instance of a cluster
/// called when (e.g. that a paused instance made no call after its lease
/// ran out). Keeps the last `capacity` calls. Thread-safe.
class call_log {
public:
  explicit call_log(std::size_t capacity = 500'000) : capacity_(capacity) {
    // nop
  }

  /// Records a call now.
  void record(std::string caller, std::string method, std::string path);

  /// Answers `GET /_sim/calls[?caller=ID][&from_ms=T][&to_ms=T]`: a summary
  /// per caller of all the calls recorded (`{"callers":{"ID":{"calls":N,
  /// "first_ms":T,"last_ms":T}}}`) and, under `"calls"`, the recorded calls
  /// that match the filters (caller exactly; from_ms <= at_ms <= to_ms), at
  /// most 10,000, oldest first; `"matched"` counts every match.
  /// `DELETE /_sim/calls` forgets them all. Other methods: 405.
  void serve(const httplib::Request& req, httplib::Response& res);

private:
  std::size_t capacity_;
  mutable std::mutex mtx_;
  std::deque<recorded_call> calls_;
};

} // namespace ispflow::sim::common

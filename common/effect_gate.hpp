#pragma once

#include <chrono>

// Whether this process may call the network on behalf of its sagas (issue
// 13). The partition keeper renews the gate with every heartbeat that
// confirmed the leases it holds; a process that was paused (SIGSTOP, a long
// stall) or cut off from PostgreSQL finds the gate closed when it resumes,
// before its keeper can learn that another instance took its partitions.
// Saga actors check their partition's lease before each adapter operation;
// the gate stops the requests *inside* an operation that was in flight
// (an AWX launch after the template look-up, a GenieACS task after the
// device read). Clients check it before every request they send.
//
// Until a keeper arms it, the gate is open (a process without partition
// leases, e.g. a tool or a test without a cluster).

namespace ispflow::common::effect_gate {

using clock = std::chrono::steady_clock;

/// The leases held were confirmed: requests may go out until `until`.
/// Arms the gate.
void renew(clock::time_point until);

/// No request goes out before `until`, renewed or not (the keeper found
/// partitions lost or leases lapsed: operations still in flight for them
/// fail at their next request instead of reaching the network).
void hold(clock::time_point until);

/// Back to open and unarmed (the keeper stopped).
void disarm();

/// Whether a request may be sent at `now`.
bool open(clock::time_point now = clock::now());

/// Why requests are refused, for the error text of a refused request.
inline constexpr const char* closed_text
  = "withheld: this instance's partition leases are not confirmed";

} // namespace ispflow::common::effect_gate

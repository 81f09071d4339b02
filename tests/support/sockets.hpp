#pragma once

#include <vector>

namespace ispflow::testing {

/// Which end of a TCP connection of this process to look at.
enum class socket_end {
  /// Connections accepted on local port `port` (a server of this process).
  accepted,
  /// Connections this process opened to remote port `port` (a client).
  connected,
};

/// The TCP_NODELAY option (0 = Nagle's algorithm on) of every connected TCP
/// socket of this process whose `end` is port `port`. Listening sockets have
/// no peer and are skipped.
std::vector<int> tcp_nodelay_of(socket_end end, int port);

} // namespace ispflow::testing

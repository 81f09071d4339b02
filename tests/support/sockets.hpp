#pragma once

#include <vector>

namespace ispflow::testing {

/// One connected TCP socket of this process (IPv4 or IPv6).
struct tcp_socket {
  int fd = -1;
  int local_port = 0;
  int peer_port = 0;
};

/// Every connected TCP socket of this process, from /proc/self/fd.
/// Listening sockets have no peer and are left out.
std::vector<tcp_socket> tcp_sockets();

/// Which end of a TCP connection of this process to look at.
enum class socket_end {
  /// Connections accepted on local port `port` (a server of this process).
  accepted,
  /// Connections this process opened to remote port `port` (a client).
  connected,
};

/// The TCP_NODELAY option (0 = Nagle's algorithm on) of every connected TCP
/// socket of this process whose `end` is port `port`.
std::vector<int> tcp_nodelay_of(socket_end end, int port);

} // namespace ispflow::testing

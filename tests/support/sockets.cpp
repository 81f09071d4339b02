#include "tests/support/sockets.hpp"

#include <arpa/inet.h>
#include <cstdlib>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace ispflow::testing {

namespace {

// The port of an IPv4 or IPv6 address; 0 for any other family.
int port_of(const sockaddr_storage& addr) {
  if (addr.ss_family == AF_INET)
    return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  return 0;
}

} // namespace

std::vector<tcp_socket> tcp_sockets() {
  std::vector<tcp_socket> out;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr)
    return out;
  while (auto* entry = readdir(dir)) {
    int fd = std::atoi(entry->d_name);
    if (fd <= 2 || fd == dirfd(dir))
      continue;
    sockaddr_storage local{};
    sockaddr_storage peer{};
    socklen_t len = sizeof(local);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0)
      continue;
    len = sizeof(peer);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0)
      continue;
    auto lp = port_of(local);
    auto pp = port_of(peer);
    if (lp != 0 && pp != 0)
      out.push_back(tcp_socket{fd, lp, pp});
  }
  closedir(dir);
  return out;
}

std::vector<int> tcp_nodelay_of(socket_end end, int port) {
  std::vector<int> out;
  for (auto& s : tcp_sockets()) {
    if ((end == socket_end::accepted ? s.local_port : s.peer_port) != port)
      continue;
    int on = -1;
    socklen_t len = sizeof(on);
    if (getsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) == 0)
      out.push_back(on);
  }
  return out;
}

} // namespace ispflow::testing

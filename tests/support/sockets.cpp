#include "tests/support/sockets.hpp"

#include <arpa/inet.h>
#include <cstdlib>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace ispflow::testing {

std::vector<int> tcp_nodelay_of(socket_end end, int port) {
  std::vector<int> out;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr)
    return out;
  while (auto* entry = readdir(dir)) {
    int fd = std::atoi(entry->d_name);
    if (fd <= 2 || fd == dirfd(dir))
      continue;
    sockaddr_in local{};
    sockaddr_in peer{};
    socklen_t len = sizeof(local);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0
        || local.sin_family != AF_INET)
      continue;
    len = sizeof(peer);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0)
      continue;
    auto matched = end == socket_end::accepted ? local.sin_port : peer.sin_port;
    if (ntohs(matched) != port)
      continue;
    int on = -1;
    len = sizeof(on);
    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) == 0)
      out.push_back(on);
  }
  closedir(dir);
  return out;
}

} // namespace ispflow::testing

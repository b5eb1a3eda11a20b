#include "net/socket_options.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace sluice::net {

void apply_tcp_buffers(int fd, const config& c) {
  if (c.tcp_socket_buffer > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &c.tcp_socket_buffer, sizeof(int));
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &c.tcp_socket_buffer, sizeof(int));
  }
}

void apply_tcp_options(int fd, const config& c) {
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (c.tcp_keepalive) {
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    if (c.tcp_keepidle > 0)
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &c.tcp_keepidle, sizeof(int));
    if (c.tcp_keepintvl > 0)
      ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &c.tcp_keepintvl, sizeof(int));
    if (c.tcp_keepcnt > 0) ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &c.tcp_keepcnt, sizeof(int));
  }
  if (c.tcp_user_timeout > 0)
    ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &c.tcp_user_timeout, sizeof(int));
}

}  // namespace sluice::net

#include "net/socket_options.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
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

namespace {

endpoint describe(const sockaddr_storage& ss) {
  endpoint e;
  char host[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    e.addr.assign(host);
    e.port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    e.addr.assign(host);
    e.port = ntohs(a->sin6_port);
  } else if (ss.ss_family == AF_UNIX) {
    e.addr.assign("unix");
    e.unix_socket = true;
  }
  return e;
}

}  // namespace

std::string endpoint::text() const {
  if (unix_socket || addr.empty()) return addr;
  if (addr.find(':') != std::string::npos) return fmt::format("[{}]:{}", addr, port);
  return fmt::format("{}:{}", addr, port);
}

endpoint peer_end(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (fd < 0 || ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return describe(ss);
}

endpoint local_end(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (fd < 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return describe(ss);
}

}  // namespace sluice::net

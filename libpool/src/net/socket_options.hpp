#pragma once
// The socket options pgbouncer's tcp_* settings set, on clients', servers' and listeners'
// sockets alike; and a socket's two ends as logs and SHOW spell them.

#include <string>

#include "sluice/config.hpp"

namespace sluice::net {

/// Applies TCP_NODELAY, the keepalive settings and tcp_user_timeout to a TCP socket.
void apply_tcp_options(int fd, const config& cfg);
/// Applies tcp_socket_buffer. Only before the connection exists (a socket about to connect,
/// or a listener, whose accepted sockets inherit it): buffers shrunk under an established
/// connection's window stall the peer's sends on the 200 ms persist timer.
void apply_tcp_buffers(int fd, const config& cfg);

/// One end of a socket: an IP address and port, or "unix" for a Unix socket; empty if the
/// socket is closed or not connected.
struct endpoint {
  std::string addr;
  int port = 0;
  bool unix_socket = false;
  /// "127.0.0.1:5432", "[::1]:5432", "unix"; as pgbouncer's log lines write an address.
  std::string text() const;
};
endpoint peer_end(int fd);
endpoint local_end(int fd);

}  // namespace sluice::net

#pragma once
// The socket options pgbouncer's tcp_* settings set, on clients', servers' and listeners'
// sockets alike.

#include "sluice/config.hpp"

namespace sluice::net {

/// Applies TCP_NODELAY, the keepalive settings and tcp_user_timeout to a TCP socket.
void apply_tcp_options(int fd, const config& cfg);
/// Applies tcp_socket_buffer. Only before the connection exists (a socket about to connect,
/// or a listener, whose accepted sockets inherit it): buffers shrunk under an established
/// connection's window stall the peer's sends on the 200 ms persist timer.
void apply_tcp_buffers(int fd, const config& cfg);

}  // namespace sluice::net

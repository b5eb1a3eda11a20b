#pragma once
// A snapshot of every client and server connection of the process, gathered on each shard's
// own thread: what SHOW CLIENTS/SERVERS/SOCKETS/ACTIVE_SOCKETS/FDS/MEM format, and what an
// HTTP endpoint can serve as JSON. Plain values only: nothing in it points into a shard.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "control/control.hpp"

namespace sluice {

/// Where a connection is, as a connection's phase in pgbouncer's lists.
enum class conn_state : std::uint8_t {
  login,    ///< client: still logging in (SHOW SOCKETS only); server: "new"
  active,   ///< linked to a peer (or, for a server, busy for the pooler without a peer)
  idle,     ///< client: logged in, no server; server: in its pool's idle list
  waiting,  ///< client: queued for a server
  used,     ///< server: idle, but server_check_query is due before its next use
  tested,   ///< server: running a check or reset query
};

struct connection_info {
  bool server = false;  ///< 'S' if true, else 'C'
  int shard = 0;
  std::string user, database;
  conn_state state = conn_state::idle;
  std::string addr, local_addr;  ///< "unix" for a Unix socket
  int port = 0, local_port = 0;
  std::chrono::system_clock::time_point connect_time, request_time;
  long long wait_us = 0;      ///< a waiting client: how long it has been queued
  bool close_needed = false;  ///< a server that is closed when released (pool::surplus)
  std::string ptr, link;      ///< "0x..." as in the log prefixes; link empty if unlinked
  std::uint32_t remote_pid = 0;
  std::string application_name;
  std::string tls;  ///< "TLSv1.3/TLS_AES_256_GCM_SHA384/256", empty in plaintext
  std::uint64_t id = 0;
  bool console = false;  ///< a session of the admin console (`pgbouncer` database)

  // SHOW FDS
  int fd = -1, link_fd = -1;
  std::uint64_t cancel_key = 0;  ///< backend key (pid << 32 | secret): admins only
  std::string client_encoding, std_strings, datestyle, timezone;

  // SHOW SOCKETS: bytes sluice holds for this connection.
  std::size_t held_in = 0;   ///< received, not yet forwarded or consumed
  std::size_t prepared_statements = 0;  ///< a client's names, or a server's cached statements
  std::size_t held_out = 0;  ///< to be sent, not yet written
  /// Linked, waiting or logging in (SHOW ACTIVE_SOCKETS).
  bool in_flight = false;
};

/// The state as SHOW CLIENTS and SHOW SERVERS spell it.
inline std::string_view list_state(const connection_info& c) noexcept {
  switch (c.state) {
    case conn_state::login: return c.server ? "new" : "login";
    case conn_state::active: return c.server || !c.link.empty() ? "active" : "idle";
    case conn_state::idle: return "idle";
    case conn_state::waiting: return "waiting";
    case conn_state::used: return "used";
    case conn_state::tested: return "tested";
  }
  return "";
}

/// What the process holds of one kind of object (SHOW MEM).
struct memory_info {
  std::string name;
  std::size_t size = 0, used = 0, free = 0;
};

struct connections_snapshot {
  std::vector<connection_info> clients, servers;  ///< by shard, then list order
  std::vector<memory_info> memory;
};

/// Gathers the snapshot on every shard of `set`; resumes on `home`.
awaitable<connections_snapshot> snapshot_connections(shard_set& set, asio::io_context& home);

}  // namespace sluice

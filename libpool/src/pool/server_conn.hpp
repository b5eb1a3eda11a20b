#pragma once
// Connections to PostgreSQL: the connection object, its login and the few queries the pooler
// itself runs on it (check, reset, parameter replay), and cancel requests.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "net/stream.hpp"
#include "pgwire/auth.hpp"
#include "pgwire/scanner.hpp"
#include "pgwire/writer.hpp"
#include "pool/hosts.hpp"
#include "pool/params.hpp"
#include "pool/statements.hpp"
#include "shard/io.hpp"
#include "shard/shard.hpp"
#include "sluice/config.hpp"

namespace sluice {

struct pool;

/// Where and as whom a pool's server connections log in.
struct pool_target {
  /// Where one server connects: "" or "/dir" = Unix socket, else a host name or address. A
  /// pool's own target has host= as written (a list) and the first port; each of its servers
  /// has the target of the one host it logged in to (for_host).
  std::string host;
  int port = 5432;
  std::vector<host_port> hosts{host_port{}};  ///< host= and port= split (never empty)
  session_attrs attrs = session_attrs::any;   ///< target_session_attrs
  load_balance balance = load_balance::round_robin;  ///< load_balance_hosts
  std::size_t host_index = 0;  ///< for_host: which of `hosts` this is
  /// The target of host i of the list: its host and port, everything else the same.
  std::shared_ptr<const pool_target> for_host(std::size_t i) const {
    auto t = std::make_shared<pool_target>(*this);
    t->host = hosts[i].host;
    t->port = hosts[i].port;
    t->host_index = i;
    return t;
  }
  std::string dbname, user, password;
  std::vector<std::pair<std::string, std::string>> startup_params;
  std::string connect_query;
  /// server_tls_*: part of where a server logs in, so that a reload that changes them
  /// starts a new generation (as pgbouncer 1.24+ recycles servers then) and one that does
  /// not keeps the servers.
  net::tls_settings server_tls;
  bool operator==(const pool_target&) const = default;
};

/// One PostgreSQL connection. Owned by exactly one place at a time: a pool's idle list on a
/// shard, a hand-off in flight, or the client session it is linked to. Also linked into its
/// shard's `servers` list (not an owner: SHOW SERVERS' view of every server, whoever owns it).
struct server_conn : client_link {
  server_conn(asio::io_context& io, pool& p, std::shared_ptr<const pool_target> t,
              std::uint64_t gen, std::uint32_t max_packet)
      : sock(io), owner(&p), target(std::move(t)), generation(gen), scan(max_packet, max_packet) {}
  server_conn(const server_conn&) = delete;
  server_conn& operator=(const server_conn&) = delete;
  ~server_conn() { unlink_from_list(); }
  stream_socket sock;
  /// TLS to the server (server_tls_sslmode), set up at login. It moves with the connection
  /// to another shard, as the descriptor does. tls_in: what the relay reads off the socket
  /// before the engine decrypts it (allocated on first link).
  net::tls_ptr tls;
  pgwire::byte_buffer tls_in;
  pool* owner;
  std::shared_ptr<const pool_target> target;  ///< where it logged in (the pool's at launch)
  std::uint64_t generation;  ///< the pool's generation at launch: older ones are not reused
  int protocol_family = 0;  ///< to rebuild the socket on another shard
  std::uint64_t id = 0;     ///< for "S-0x..." log prefixes
  param_map params;
  std::string tracked_key;  ///< tracked_key(params): compared with the client's on every link
  std::uint32_t be_pid = 0, be_secret = 0;
  clock::time_point connected_at, idle_since;
  std::string local_addr;
  bool in_login = true;
  /// It answered a write with 25006 (read-only transaction) in a read-write pool: it is
  /// closed at release (pool::role_changed).
  bool refused_write = false;
  bool testing = false;  ///< running a query of the pooler's own (check, reset): SHOW "tested"
  bool used = false;     ///< has served a client since login (pgbouncer checks only those)
  /// CancelRequests sent for this server and not yet answered (touched on its shard only;
  /// shared with the coroutines that send them, which may outlive it). A server released
  /// while one is in flight would have the next client's query cancelled: it is closed.
  std::shared_ptr<int> cancels_in_flight;
  pgwire::byte_buffer rbuf;  ///< bytes read but not consumed (login / reset phases)
  // Relay state while linked to a client. It belongs to the server side of the link, so
  // idle clients do not carry it.
  pgwire::stream_scanner scan;    ///< message boundaries of what the server sends
  pgwire::byte_buffer relay_buf;  ///< read buffer (pkt_buf bytes), allocated on first link
  /// An incomplete message header at the end of a read, held back from the client until the
  /// rest arrives (see stream_scanner::partial_header), and how many of those bytes start
  /// relay_buf in the read now pending.
  std::uint8_t relay_hold[4] = {};
  std::uint8_t relay_hold_len = 0, relay_held = 0;
  /// Prepared statements in transaction mode: what this connection has prepared (it goes
  /// where the connection goes), and the answers it owes while linked (empty otherwise).
  server_statements statements;
  reply_queue replies;
};
using server_ptr = std::unique_ptr<server_conn>;

struct login_result {
  bool ok = false;
  std::string error;     ///< message for logs and clients
  std::string sqlstate;  ///< when the server sent an ErrorResponse
  std::string severity;  ///< its severity (FATAL), for the log line
};
/// The server was not reached, or never answered (connect failed, connect timeout): it may be
/// starting, so its pool's clients stay queued and the login is tried again.
inline bool unreachable(const login_result& r) {
  // A TLS failure counts too, as in pgbouncer: no PostgreSQL refused the login (a
  // certificate being renewed, a server restarting with ssl=on).
  return !r.ok && (r.error == "connect timeout" || r.error.starts_with("connect failed") ||
                   r.error == "server refused SSL" ||
                   r.error.starts_with("TLS handshake with server failed"));
}
/// Connects and logs in (startup, auth, ParameterStatus, BackendKeyData, ReadyForQuery, then
/// connect_query). Honours server_connect_timeout.
awaitable<login_result> server_login(server_conn& s, config_ptr cfg,
                                     std::optional<pgwire::scram_keys> keys);
/// Sends one simple query and reads until ReadyForQuery; ParameterStatus updates s.params.
/// Returns false (and the error text) if the server failed or the status is not idle. With
/// `row`, the first DataRow's columns go there as text ("" for NULL).
awaitable<bool> server_simple_query(server_conn& s, std::string_view sql, std::string* error,
                                    std::vector<std::string>* row = nullptr);

/// What one connection attempt learnt about a host of the list.
struct host_seen {
  bool tried = false;
  bool up = false;    ///< it logged in
  server_role role;   ///< what it reported (when up)
};
/// What connecting through a host list came to.
struct connect_result : login_result {
  std::size_t host = 0;      ///< ok: the index of the host it logged in to
  bool answered = false;     ///< some host logged in but did not suit target_session_attrs
  std::string skipped;       ///< why hosts were passed over ("127.0.0.2:5432 standby; ...")
  std::vector<host_seen> seen;  ///< per host of the list
};
/// Logs s in to the first host of `hosts` (targets from pool_target::for_host) that suits
/// their target_session_attrs, trying them from `start` on and wrapping around (twice for
/// prefer-standby). A host that logs in but does not suit (a standby for read-write) is
/// closed and the next one tried at once. s.target is the chosen host's on success.
awaitable<connect_result> server_connect(server_conn& s,
                                         const std::vector<std::shared_ptr<const pool_target>>& hosts,
                                         std::size_t start, config_ptr cfg,
                                         std::optional<pgwire::scram_keys> keys);
/// What auth_query said about a user.
struct auth_lookup {
  bool ok = false;        ///< the query ran
  bool reusable = false;  ///< the server is idle and in sync: it can go back to its pool
  bool found = false;     ///< it returned a row
  std::optional<std::string> password;  ///< nullopt: no row, or a NULL password
  std::string error;      ///< why it did not run
};
/// Runs auth_query (one $1 parameter, the user name) with the extended protocol and reads
/// until ReadyForQuery. The first row's second column is the password.
awaitable<auth_lookup> server_auth_query(server_conn& s, std::string_view sql,
                                         std::string_view user);
/// Sends a CancelRequest with key (pid, secret) to target (a server, or a peer); gives up after
/// `timeout` seconds (cancel_wait_timeout; 0 = never). on_sent runs once the request is
/// written. True if it was written.
awaitable<bool> send_cancel(asio::io_context& io, pool_target target, std::uint32_t pid,
                            std::uint32_t secret, double timeout,
                            std::function<void()> on_sent = {});
/// server_check_query must run before an idle server is used again: a check is configured
/// and the server has been idle longer than server_check_delay (pgbouncer's "used" state).
/// A server fresh from its login is not checked at server_check_delay = 0: its login was
/// the check.
inline bool check_due(const server_conn& s, const config& c) {
  return !c.server_check_query.empty() && (s.used || c.server_check_delay > 0) &&
         seconds_since(s.idle_since) > c.server_check_delay;
}
/// True if an idle server has been closed by its peer or sent something unexpected.
bool server_is_dead(server_conn& s);

}  // namespace sluice

#pragma once
// Snapshots of the pools, databases, users and lists of the process: what SHOW POOLS,
// DATABASES, USERS, LISTS and STATE format, and what an HTTP endpoint can serve as JSON.
// Counts kept by the shards are gathered on each shard's own thread; the rest is read from
// the registry and the caller's configuration snapshot. Plain values only: nothing in them
// points into a shard, a pool or a session.

#include <optional>
#include <string>
#include <vector>

#include "control/control.hpp"

namespace sluice {

/// One pool (database, user), its connections counted over every shard.
struct pool_info {
  std::string database, user;
  bool console = false;      ///< the admin console's own row (`pgbouncer` / `pgbouncer`)
  bool for_auth = false;     ///< auth_query's own servers (no client is linked to them)
  long long cl_active = 0;   ///< logged-in clients not queued for a server (linked or idle)
  long long cl_waiting = 0;  ///< clients queued for a server
  long long sv_active = 0;   ///< servers linked to a client
  long long sv_idle = 0;     ///< idle servers ready for use
  long long sv_used = 0;     ///< idle servers whose server_check_query is due
  long long sv_tested = 0;   ///< servers running server_check_query or server_reset_query
  long long sv_login = 0;    ///< servers still logging in
  long long maxwait_us = 0;  ///< how long the oldest queued client has waited
  pool_mode mode = pool_mode::session;
  /// load_balance_hosts of a host list; unset for one host (SHOW shows NULL then, as
  /// pgbouncer does).
  std::optional<load_balance> balance;
};

/// Every pool, the console's first; resumes on `home`.
awaitable<std::vector<pool_info>> snapshot_pools(control& ctl, asio::io_context& home);

/// One database as configured (or made from the "*" entry), with its current counts.
struct database_info {
  std::string name;
  bool console = false;  ///< the admin console's `pgbouncer` database
  std::string host;      ///< empty = the default Unix socket directory
  int port = 0;
  std::string dbname;      ///< the server's database name
  std::string force_user;  ///< empty = the client's user
  int pool_size = 0, min_pool_size = 0, reserve_pool_size = 0;
  double server_lifetime = 0;
  std::optional<pool_mode> mode;  ///< the database's own; unset = [pgbouncer]'s
  int max_connections = 0, current_connections = 0;
  int max_client_connections = 0, current_client_connections = 0;
  bool paused = false, disabled = false;
  std::optional<load_balance> balance;  ///< load_balance_hosts of a host list (see pool_info)
  /// The host of the list its servers last logged in to, "host:port" (sluice's own column,
  /// last in SHOW DATABASES); empty before the first. `port` is that host's then.
  std::string host_in_use;
  /// Each host of the list as its pools last saw it (/metrics' sluice_server_host_up).
  struct host_state {
    std::string host;
    int port = 0;
    bool up = false;
    std::string role;  ///< "primary", "standby", "read-only", "unknown"
  };
  std::vector<host_state> hosts;
  std::uint64_t role_changes = 0;  ///< servers closed for a role that no longer suits
  bool no_suitable_host = false;   ///< a pool of it waits for a host that suits
};

/// The configured databases, then those the "*" entry created, then the console's own.
std::vector<database_info> snapshot_databases(control& ctl, const config& cfg);

/// One [peers] entry, and its cancel pool when it is another process (SHOW PEERS, SHOW
/// PEER_POOLS, /stats, /metrics).
struct peer_info {
  int peer_id = 0;
  std::string host;
  int port = 0;
  int pool_size = 0;     ///< its own, else default_pool_size
  bool self = false;     ///< this process's own peer_id: listed, never forwarded to
  peer_pool_row pool;    ///< zero for self
};

/// The configured peers, by id.
std::vector<peer_info> snapshot_peers(control& ctl, const config& cfg);

/// One user: from the auth file, a [users] entry, or a pool.
struct user_info {
  std::string name;
  std::optional<int> pool_size, reserve_pool_size;  ///< the user's own, if set
  std::optional<pool_mode> mode;                    ///< the user's own, if set
  int max_user_connections = 0, current_connections = 0;
  int max_user_client_connections = 0, current_client_connections = 0;
};

/// Every user, by name.
std::vector<user_info> snapshot_users(control& ctl, const config& cfg, const userlist& users);

/// How many objects of each kind the process holds (SHOW LISTS).
struct lists_info {
  long long databases = 0;  ///< configured, and the console's
  long long users = 0;      ///< with a pool
  long long pools = 0;
  long long used_clients = 0;   ///< client sessions, logging in or logged in
  long long login_clients = 0;  ///< of which still logging in
  long long used_servers = 0;   ///< servers open or being opened
};

/// Gathers the lists on every shard; resumes on `home`.
awaitable<lists_info> snapshot_lists(control& ctl, config_ptr cfg, asio::io_context& home);

}  // namespace sluice

#pragma once
/// @file config.hpp
/// The configuration model: one plain value parsed from pgbouncer.ini (drop-in). The runtime
/// only ever sees an immutable snapshot (std::shared_ptr<const config>); reload builds a new
/// one and validates it fully before anything changes.

#include "pgwire/crypto.hpp"
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sluice {

namespace net {
class tls_context;
}

enum class pool_mode { session, transaction, statement };
enum class auth_type { trust, any, plain, md5, scram_sha_256, cert, hba, pam };

/// How a new server connection picks a host of a host list (PgBouncer 1.24's
/// load_balance_hosts, per [databases] entry). PgBouncer has no [pgbouncer]-level key of this
/// name (its SHOW CONFIG does not list one), so an entry's value stands alone.
enum class load_balance {
  disable,      ///< every new connection tries the hosts in list order
  round_robin,  ///< every new connection starts at the next host of the list (the default)
};

/// What a server must be to be used (libpq 14's target_session_attrs). The runtime learns a
/// server's role after login (in_hot_standby, default_transaction_read_only).
enum class session_attrs {
  any,             ///< any server
  read_write,      ///< one that accepts writes (not in hot standby, not read-only by default)
  read_only,       ///< one that does not accept writes by default
  primary,         ///< one not in hot standby
  standby,         ///< one in hot standby
  prefer_standby,  ///< a standby if any host is one, else any
};

const char* to_string(pool_mode m) noexcept;
const char* to_string(auth_type a) noexcept;
/// "disable" or "round-robin", as the key's values are written.
const char* to_string(load_balance l) noexcept;
/// "any", "read-write", "read-only", "primary", "standby" or "prefer-standby".
const char* to_string(session_attrs a) noexcept;

/// A config error: where it is and what is wrong. what() reads "file:line: message".
class config_error : public std::runtime_error {
 public:
  config_error(std::string file, int line, const std::string& message);
  const std::string& file() const noexcept { return file_; }
  int line() const noexcept { return line_; }
  /// Every error found in the file, first one included, each as "file:line: message"; just
  /// what() for an error thrown alone. A loader that reads on after an error (load_ini)
  /// throws its first error with all of them.
  const std::vector<std::string>& all() const noexcept { return all_; }
  void set_all(std::vector<std::string> all) { all_ = std::move(all); }

 private:
  std::string file_;
  int line_;
  std::vector<std::string> all_;
};

using seconds_d = std::chrono::duration<double>;

/// One element of a [databases] entry's host list, with the port that goes with it.
struct host_port {
  /// A host name or address; empty = a Unix socket in the default directory; starting with
  /// '/' = a Unix socket in that directory. Kept exactly as written (libpq does not trim
  /// blanks around list elements, so neither does sluice).
  std::string host;
  int port = 5432;  ///< TCP port, or the number in the Unix socket's name (.s.PGSQL.<port>)

  /// True for a Unix socket (an empty host or a directory), false for TCP.
  bool is_unix_socket() const noexcept { return host.empty() || host.front() == '/'; }
  bool operator==(const host_port&) const = default;
};

/// One entry of [databases]. Unset optionals fall back to the [pgbouncer] defaults.
struct database_config {
  std::string name;            ///< the key clients connect to ("*" = fallback)
  /// host= as written ("10.0.0.1,10.0.0.2"); empty = Unix socket in the default dir. Code that
  /// connects reads `hosts`, which splits it.
  std::string host;
  int port = 5432;             ///< the first port of port= (hosts[0].port)
  /// host= and port= split as libpq does: host= is a comma-separated list (an empty element =
  /// the default Unix socket directory); port= holds one port for every host, or exactly one
  /// per host (an empty element = 5432). Never empty: without host= it is one entry {"", port}.
  std::vector<host_port> hosts{host_port{}};
  /// load_balance_hosts= of this entry; PgBouncer's default (round-robin): each new server
  /// connection starts at the next host of the list, hosts that do not suit being skipped.
  load_balance load_balance_hosts = load_balance::round_robin;
  /// target_session_attrs= of this entry; unset = [sluice] target_session_attrs. Read it with
  /// effective_session_attrs().
  std::optional<session_attrs> target_session_attrs;
  std::string dbname;          ///< empty = same as name
  std::string user;            ///< empty = the client's user
  std::string password;        ///< empty = from auth_file
  /// This database's own auth_user / auth_query / auth_dbname; empty = [pgbouncer]'s.
  std::string auth_user, auth_query, auth_dbname;
  std::optional<int> pool_size, min_pool_size, reserve_pool_size, max_db_connections;
  std::optional<int> max_db_client_connections;
  std::optional<pool_mode> mode;
  /// This database's server_lifetime; unset (or 0, as pgbouncer reads it) = [pgbouncer]'s.
  std::optional<double> server_lifetime;
  /// This database's query_wait_timeout (0 = none); unset (or -1) = [pgbouncer]'s. A
  /// [users] entry's own value wins over it.
  std::optional<double> query_wait_timeout;
  std::string connect_query;
  std::string client_encoding, datestyle, timezone, application_name;
  std::string source;          ///< "file:line" of the entry, for messages
  /// Documented pgbouncer keys this entry sets that are accepted but not acted on yet, as
  /// "database <name>: <key> (file:line)"; load_ini appends them to config::unsupported.
  std::vector<std::string> unsupported;
  /// Keys pgbouncer documents that have no effect in sluice (on this platform, or because
  /// sluice does the job another way), as "key (file:line): has no effect ...: why". main()
  /// logs one WARNING per entry at startup.
  std::vector<std::string> no_effect;
};

/// One entry of [users]: that user's own settings. Unset optionals fall back to the
/// database's, then [pgbouncer]'s (a user's pool_size and pool_mode win over the database's,
/// as pgbouncer documents).
struct user_config {
  std::string name;
  std::optional<int> pool_size, reserve_pool_size, max_user_connections;
  std::optional<int> max_user_client_connections;
  std::optional<pool_mode> mode;
  std::optional<double> query_timeout, idle_transaction_timeout, client_idle_timeout;
  std::optional<double> transaction_timeout;
  /// This user's query_wait_timeout (0 = none); unset (or -1) = the database's, else
  /// [pgbouncer]'s.
  std::optional<double> query_wait_timeout;
};

/// One line of auth_ident_file (pgbouncer's subset of pg_ident.conf, syntax: config/hba.cpp):
/// the system user (the OS user of a peer login, the certificate's CN of a cert login) may log
/// in as db_user, or as anyone with any_user ("all").
struct ident_entry {
  std::string system_user, db_user;
  bool any_user = false;
  int line = 0;
};
/// auth_ident_file's maps by name, each with its lines in file order.
using ident_maps = std::map<std::string, std::vector<ident_entry>>;

/// One rule of auth_hba_file, pgbouncer's subset of pg_hba.conf (syntax: config/hba.cpp).
struct hba_rule {
  enum conn_type { local, host, hostssl, hostnossl } conn = local;
  std::vector<std::string> databases, users;  ///< names as written (a quoted "all" included)
  bool all_databases = false, all_users = false;  ///< the keyword all
  bool sameuser = false;                          ///< the database keyword sameuser
  int family = 0;  ///< AF_INET or AF_INET6; 0 = any address
  unsigned char addr[16] = {};
  unsigned char mask[16] = {};  ///< the bits of addr that must match (/prefix or netmask)
  enum method_type { trust, reject, md5, password, scram_sha_256, peer, cert } method = reject;
  /// map=NAME: peer and cert ask this map of auth_ident_file (its lines in map_entries) whom
  /// the system user may log in as; "" = only as the same name.
  std::string map;
  std::vector<ident_entry> map_entries;
  int line = 0;
};
using hba_rules = std::vector<hba_rule>;

/// What a rule is matched against.
struct hba_peer {
  bool is_unix = false, tls = false;
  std::string database, user;
  int family = 0;  ///< AF_INET / AF_INET6 for TCP
  unsigned char addr[16] = {};
};

/// Reads an auth_ident_file; throws config_error (with all()) naming file:line.
ident_maps load_ident(const std::string& path);
/// Reads an auth_hba_file; a map= names a map of `maps` (nullptr: auth_ident_file not set).
/// Throws config_error (with all()) naming file:line.
hba_rules load_hba(const std::string& path, const ident_maps* maps = nullptr);
/// Whether a map's lines let system_user log in as user.
bool ident_map_allows(const std::vector<ident_entry>& map, const std::string& system_user,
                      const std::string& user);
/// The first rule that matches, or nullptr (which rejects).
const hba_rule* match_hba(const hba_rules& rules, const hba_peer& peer);

/// One entry of [peers]: another process of a peered group (pgbouncer's peering), to which
/// cancel requests whose key names it are forwarded.
struct peer_config {
  int id = 0;                    ///< its peer_id, 1..65535 (the [peers] key)
  std::string host;              ///< host name or address, or "/dir" for a Unix socket
  int port = 6432;
  std::optional<int> pool_size;  ///< cancels in flight to it at once; unset = default_pool_size
  std::string source;            ///< "file:line" of the entry
  bool operator==(const peer_config&) const = default;
};

/// The [pgbouncer] section (and [sluice]). Durations in seconds, as pgbouncer.ini writes them.
struct config {
  std::string file;  ///< the path it was read from

  // listening
  std::vector<std::string> listen_addr;  ///< empty = no TCP listener; "*" = all IPv4+IPv6
  int listen_port = 6432;
  std::string unix_socket_dir = "/tmp";  ///< empty = no Unix listener
  int unix_socket_mode = 0777;
  std::string unix_socket_group;  ///< the socket file's group after bind; empty = unchanged
  int listen_backlog = 128;
  /// SO_REUSEPORT on the TCP listeners: other processes may listen on the same port too.
  bool so_reuseport = false;
  /// This process's id in a peered group (1..16383; 0 = peering off): carried in every
  /// client's cancel key so that peers can forward cancels to it.
  int peer_id = 0;

  // auth
  auth_type auth = auth_type::md5;
  std::string auth_file;
  std::string auth_hba_file;
  /// User name maps for the map= option of auth_hba_file, read with it (auth_type = hba).
  std::string auth_ident_file;
  /// PBKDF2 iterations of the SCRAM secret sluice builds for a client whose auth_file entry
  /// is a plaintext password.
  int scram_iterations = 4096;
  /// The rules of auth_hba_file (with their auth_ident_file maps), read with the config when
  /// auth_type = hba.
  std::shared_ptr<const hba_rules> hba;
  std::vector<std::string> admin_users, stats_users;
  /// A user not in auth_file is looked up with auth_query, run as auth_user (whose password
  /// is in auth_file) in the [databases] entry auth_dbname (empty = the client's database).
  std::string auth_user;
  std::string auth_query =
      "SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END FROM "
      "pg_authid WHERE rolname=$1 AND rolcanlogin";
  std::string auth_dbname;

  // pools
  pool_mode mode = pool_mode::session;
  int max_client_conn = 100;
  /// Protocol-level prepared statements per server connection in transaction and statement
  /// mode (0: statement messages are relayed as they come).
  int max_prepared_statements = 200;
  int default_pool_size = 20;
  int min_pool_size = 0;
  int reserve_pool_size = 0;
  double reserve_pool_timeout = 5;
  int max_db_connections = 0;    ///< 0 = unlimited
  int max_user_connections = 0;  ///< 0 = unlimited
  int max_db_client_connections = 0;    ///< clients per database; 0 = unlimited
  int max_user_client_connections = 0;  ///< clients per user; 0 = unlimited

  // server lifecycle
  double server_idle_timeout = 600;
  double server_lifetime = 3600;
  double server_connect_timeout = 15;
  double server_login_retry = 15;
  std::string server_reset_query = "DISCARD ALL";
  bool server_reset_query_always = false;
  /// "" = no check; "<empty>" (the default, as pgbouncer 1.2x) = send an empty query.
  std::string server_check_query = "<empty>";
  bool server_round_robin = false;  ///< reuse idle servers oldest first instead of newest first
  double server_check_delay = 30;
  /// How long a server host name lookup is reused, and a failed one (0 = not kept).
  double dns_max_ttl = 15, dns_nxdomain_ttl = 15;
  /// Session mode: a server of an old generation (a reload changed the target) is closed, with
  /// its client, as soon as its transaction is over instead of at the end of the session.
  bool server_fast_close = false;
  /// Unused pools of auto-databases ("*") are dropped after this long; 0 = never.
  double autodb_idle_timeout = 3600;
  /// A pool with no clients and no servers is dropped after this long; 0 = never.
  double pool_idle_timeout = 0;

  // client timeouts (0 = disabled)
  double query_wait_timeout = 120;
  double query_wait_notify = 5;  ///< a NOTICE to a client queued this long (once)
  double cancel_wait_timeout = 10;  ///< how long a cancel request to a server may take
  double query_timeout = 0;
  double client_idle_timeout = 0;
  double client_login_timeout = 60;
  double idle_transaction_timeout = 0;
  double transaction_timeout = 0;

  // protocol
  std::vector<std::string> ignore_startup_parameters;
  std::vector<std::string> track_extra_parameters{"IntervalStyle"};  ///< beyond the always-tracked set
  bool application_name_add_host = false;
  bool disable_pqexec = false;  ///< refuse the simple query protocol ('Q'), as pgbouncer does
  int pkt_buf = 4096;
  std::uint32_t max_packet_size = 2147483647u;

  // tcp
  bool tcp_keepalive = true;
  int tcp_keepcnt = 0, tcp_keepidle = 0, tcp_keepintvl = 0, tcp_user_timeout = 0;
  bool tcp_defer_accept = true;  ///< Linux TCP_DEFER_ACCEPT (45 s) on the listeners, as pgbouncer
  int tcp_socket_buffer = 0;

  // logging and process
  std::string logfile, pidfile, user;
  bool log_connections = true, log_disconnections = true, log_pooler_errors = true;
  std::string login_notify_message;  ///< sent to every client as a NOTICE once it is logged in
  int verbose = 0;
  bool syslog = false;  ///< log to syslog(3) too
  std::string syslog_ident = "pgbouncer";
  std::string syslog_facility = "daemon";  ///< one of pgbouncer's names, checked on load
  bool log_stats = true;  ///< a "stats: ..." line every stats_period
  int stats_period = 60;  ///< seconds between the points SHOW STATS averages are taken over

  // TLS, as pgbouncer's client_tls_* (clients to sluice) and server_tls_* (sluice to
  // PostgreSQL). prepare_tls() builds the contexts below from them.
  std::string client_tls_sslmode = "disable", client_tls_key_file, client_tls_cert_file,
              client_tls_ca_file, client_tls_protocols = "secure", client_tls_ciphers = "default",
              client_tls13_ciphers, client_tls_ecdhcurve = "auto", client_tls_dheparams = "auto";
  std::string server_tls_sslmode = "prefer", server_tls_key_file, server_tls_cert_file,
              server_tls_ca_file, server_tls_protocols = "secure", server_tls_ciphers = "default",
              server_tls13_ciphers;
  /// Built by prepare_tls() with the config, immutable, shared by the connections made under
  /// it: a reload builds new ones (new certificates for new connections), existing
  /// connections keep theirs. Null when the side's sslmode is disable.
  std::shared_ptr<const net::tls_context> client_tls, server_tls;

  // [sluice]
  int workers = 0;  ///< 0 = one shard per core
  std::string http_listen_addr = "127.0.0.1";  ///< the HTTP endpoint's address
  int http_listen_port = 0;                    ///< 0 = no HTTP endpoint
  /// A file holding the bearer token the HTTP endpoint's POSTs require; empty = POSTs are
  /// refused (403). Read at startup and on every reload, never logged.
  std::string http_auth_token_file;
  /// The target_session_attrs of every [databases] entry that does not set its own.
  session_attrs target_session_attrs = session_attrs::any;

  std::vector<database_config> databases;  ///< in file order; "*" may be among them
  std::map<std::string, user_config> users;  ///< [users], by name
  /// [peers], by id; may name this process's own peer_id (that entry is not used).
  std::map<int, peer_config> peers;

  /// Keys pgbouncer documents that this version accepts without acting on them, with where
  /// they were set. main() logs one WARNING per entry at startup.
  std::vector<std::string> unsupported;
  /// The values those keys were given, by key (SHOW CONFIG shows them as set).
  std::map<std::string, std::string> unbound_values;
  /// Keys pgbouncer documents that have no effect in sluice (on this platform, or because
  /// sluice does the job another way), as "key (file:line): has no effect ...: why". main()
  /// logs one WARNING per entry at startup.
  std::vector<std::string> no_effect;

  /// The entry for a database name: exact match, else "*", else nullptr.
  const database_config* find_database(const std::string& name) const noexcept;
  /// The [users] entry for a user name, or nullptr.
  const user_config* find_user(const std::string& name) const noexcept {
    auto it = users.find(name);
    return it == users.end() ? nullptr : &it->second;
  }
};

using config_ptr = std::shared_ptr<const config>;

/// The target_session_attrs a database's servers must meet: the entry's own, else the
/// [sluice] default.
session_attrs effective_session_attrs(const config& c, const database_config& db) noexcept;

/// One row of SHOW CONFIG.
struct setting_row {
  std::string key, value, default_value;
  bool changeable = false;  ///< a RELOAD (or SET) applies a new value
};
/// Every setting of [pgbouncer] and [sluice] with its value in c, as SHOW CONFIG lists them.
std::vector<setting_row> show_config(const config& c);

/// Parses a pgbouncer.ini (with %include). Throws config_error with file:line on any error:
/// unknown section or key, bad value, missing required key. It reads the whole file before
/// throwing: the error thrown is the first, config_error::all() lists every one.
config load_ini(const std::string& path);

/// What changed from one configuration to the next (for the log line after a reload):
/// settings as "name old -> new", databases as "database x added/removed/changed", and the
/// changed settings that only a restart applies.
struct config_diff {
  std::vector<std::string> changes;
  std::vector<std::string> needs_restart;
};
config_diff diff_configs(const config& before, const config& after);

/// Parses a sluice.toml: the same settings typed ([pgbouncer], [sluice], [databases.NAME],
/// [users.NAME], [peers.ID] tables), validated as load_ini validates. Throws config_error
/// with file:line and all() as load_ini does.
config load_toml(const std::string& path);
/// load_toml for a path ending in ".toml", else load_ini.
config load_config(const std::string& path);
/// The TOML equivalent of a valid pgbouncer.ini (%include resolved), for --convert-config.
/// Throws config_error if the ini file is not valid.
std::string convert_ini_to_toml(const std::string& ini_path);

/// Builds cfg.client_tls and cfg.server_tls from the client_tls_* / server_tls_* settings
/// (reading their key, certificate and CA files). Throws config_error naming the setting and
/// the file at fault. load_config() does not call it: the pooler does, at startup, on
/// --check and on every reload.
void prepare_tls(config& cfg);

/// Parses one [databases] connection string ("host=... port=... dbname=..."), host= and port=
/// paired into database_config::hosts by libpq's rules. Throws config_error(file, line, ...)
/// on an unknown key, a bad value, or a port count that is neither 1 nor the number of hosts
/// ("database \"x\": could not match 2 port numbers to 3 hosts").
database_config parse_database_entry(const std::string& name, const std::string& value,
                                     const std::string& file, int line);

/// One userlist.txt entry: the stored password is plaintext, "md5..." or a SCRAM secret.
struct userlist {
  std::map<std::string, std::string> passwords;
  /// The SCRAM secrets among them, decoded when the file is read rather than at each login.
  std::map<std::string, pgwire::scram_secret> scram;
  const std::string* find(const std::string& user) const noexcept;
  const pgwire::scram_secret* find_scram(const std::string& user) const noexcept;
};
/// Reads auth_file: lines of `"user" "password"` (doubled quotes escape a quote); lines
/// starting with ';' or '#' and blank lines are ignored. Throws config_error on a bad line.
userlist load_userlist(const std::string& path);

}  // namespace sluice

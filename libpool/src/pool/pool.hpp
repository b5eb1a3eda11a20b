#pragma once
// One logical pool per (database, user): acquire and release with limits that hold exactly
// across all shards, the cross-shard hand-off, server launches and the janitor's pass.

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/dns_cache.hpp"
#include "pgwire/auth.hpp"
#include "pool/histogram.hpp"
#include "pool/hosts.hpp"
#include "pool/notify_hub.hpp"
#include "pool/params.hpp"
#include "pool/peers.hpp"
#include "pool/rules.hpp"
#include "pool/server_conn.hpp"
#include "pool/waiter.hpp"
#include "shard/shard.hpp"
#include "sluice/config.hpp"

namespace sluice {

class pool_registry;

/// How the pool's queue (pool_rules::waiter_queue) reads a waiter: when it queued, and the
/// shard it lives on (a server released there goes to it without a hand-over).
struct waiter_traits {
  static clock::time_point since(const std::shared_ptr<waiter>& w) noexcept { return w->since; }
  static int shard_of(const std::shared_ptr<waiter>& w) noexcept { return w->home.id; }
};
using waiter_fifo = pool_rules::waiter_queue<std::shared_ptr<waiter>, waiter_traits>;

/// What a pool is configured with, from its [databases] entry, the [pgbouncer] defaults and
/// the userlist. Applied whole at creation and on every reload.
struct pool_settings {
  pool_target target;
  pool_mode mode = pool_mode::session;
  int pool_size = 0, min_pool_size = 0, reserve_size = 0;
  int max_db_connections = 0;    ///< the database's own limit, else [pgbouncer]'s; 0 = none
  int max_user_connections = 0;  ///< the user's own limit, else [pgbouncer]'s; 0 = none
  double server_lifetime = 3600;   ///< the database's own, else [pgbouncer]'s
  double query_wait_timeout = 120; ///< the user's own, else the database's, else [pgbouncer]'s
  bool auto_db = false;            ///< made from the "*" entry (autodb_idle_timeout applies)
  bool forced_user = false;        ///< the entry names user=: min_pool_size holds without clients
};

/// What the console's PAUSE/KILL, DISABLE and RESUME/ENABLE set for one database, whatever its
/// pools (and before any exists). Lives as long as the registry; read lock-free.
struct db_state {
  std::atomic<bool> paused{false};    ///< PAUSE db / KILL: no server is opened or kept
  std::atomic<bool> disabled{false};  ///< DISABLE db: new client logins are refused
};

/// Shared: the registry, the sessions that use it and work in flight for it (posted to other
/// shards, timers) each hold a reference, so a pool the registry drops (autodb_idle_timeout,
/// pool_idle_timeout) lives until the last of them lets go.
struct pool : std::enable_shared_from_this<pool> {
  pool(pool_registry& registry, shard_set& shards, std::string db, std::string user,
       pool_settings settings);

  pool_registry& registry;  ///< the other pools, for per-database and per-user limits
  shard_set& shards;
  const std::string db_name, user_name;
  /// A pool of auth_query's own servers (no client is linked to them); set before the pool
  /// is published, then read-only.
  bool for_auth = false;
  db_state& dbstate;  ///< the registry's state of db_name (PAUSE, DISABLE)
  /// PAUSE (all or this database) or KILL is in effect: no server is opened, and servers of
  /// the generation the pause started are closed as they are released.
  bool held() const noexcept { return shards.paused.load() || dbstate.paused.load(); }
  // Reloadable: read on any shard, written by reconfigure().
  std::atomic<pool_mode> mode;
  std::atomic<int> pool_size, min_pool_size, reserve_size, max_db_connections;
  std::atomic<int> max_user_connections;
  std::atomic<double> server_lifetime, query_wait_timeout;
  std::atomic<bool> auto_db;
  std::atomic<bool> forced_user;
  /// Bumped when the target changes: servers of an older generation are closed when idle
  /// or released, never reused.
  std::atomic<std::uint64_t> generation{0};
  /// The database was removed from the configuration: its clients are refused.
  std::atomic<bool> removed{false};

  /// Where servers log in now (a snapshot: a reload may replace it).
  std::shared_ptr<const pool_target> target() const;
  /// A reload's new settings: limits apply at once (servers above a smaller size close as
  /// they are released), a changed target starts a new generation.
  void reconfigure(pool_settings settings);

  // ---- operations; `s` is always the calling thread's shard

  /// Takes an idle server on shard s when nobody is queued ahead; nullptr if there is none.
  /// `needs_check` is set when server_check_query is due before the server is used.
  server_ptr take_idle(shard& s, bool& needs_check);
  /// Runs server_check_query on srv: the server back if it answered, nullptr (discarded) if not.
  awaitable<server_ptr> check_server(server_ptr srv, shard& s);
  /// Queues for a server on shard s; `done` runs later on s with the server, or with nullptr
  /// and the reason (query_wait_timeout, a failed login). Never calls `done` inline. The
  /// waiter returned stays valid until `done` has run; pass it to cancel_wait to give up.
  waiter* wait_for_server(shard& s, wait_done done);
  /// wait_for_server as a coroutine: queues on s and resumes with the server, or with nullptr
  /// and `error`. `queued` runs with the waiter before the first suspension (whoever may
  /// have to give up the wait keeps it for cancel_wait).
  awaitable<server_ptr> queue_for_server(shard& s, wait_error& error,
                                         const std::function<void(waiter*)>& queued = {});
  /// The client behind w has gone: take w out of the queue at once, so that no server is
  /// launched or kept for it; its `done` then runs with an error. If w is no longer queued, a
  /// server (or a failure) is already on its way and ends the wait as usual.
  void cancel_wait(waiter& w);
  /// take_idle and, when due, check_server, until a server answers or none is idle.
  awaitable<server_ptr> acquire_idle(shard& s);
  /// Serves the queue again after a RESUME: opens servers for the waiters, as limits allow.
  void wake(shard& s) { try_serve_waiters(s); }
  /// Ends every queued client's wait with `why` (each on its own shard).
  void fail_waiters(const wait_error& why);
  /// A server of this pool's database for one client alone (a replication connection):
  /// logged in to `t` (the pool's target with the client's startup parameters), counted in
  /// the pool size, max_db_connections and max_user_connections (as pgbouncer 1.23), never
  /// pooled; give it back with discard(). `slot`: a server of this pool to close in its
  /// place ("evicted"), its slot passing to the new one. nullptr when a limit is reached or
  /// the login failed: `error` says why (the server's SQLSTATE and message when it sent
  /// them); `full` is set when only pool_size stood in the way (no slot given): the caller
  /// finds a server of the pool to give up, and asks again.
  awaitable<server_ptr> open_dedicated(shard& s, std::shared_ptr<const pool_target> t,
                                       std::optional<pgwire::scram_keys> keys, server_ptr slot,
                                       wait_error& error, bool& full);
  /// Returns a server of this pool (idle, or to the first waiter on any shard).
  void release(server_ptr srv, shard& s);
  /// Closes a server of this pool for good and frees its slot (keep_slot: the slot stays
  /// counted, for the caller's next server).
  void discard(server_ptr srv, shard& s, std::string_view reason, bool keep_slot = false);
  /// Opens a new server connection on s if the limits allow; the result goes through
  /// release() (to a waiter or the idle list). Says which limit, if any, stood in the way
  /// (or, for the queue, that every waiter is covered already).
  pool_rules::launch_verdict launch_server(shard& s, pool_rules::launch_for why);
  /// The janitor's pass over s's idle servers (dead, idle too long, too old), and on shard 0
  /// the min_pool_size top-up.
  void tidy(shard& s);
  /// A server of this pool died under a client. Its idle siblings have likely gone with it (a
  /// primary restarted, failed over or crashed), and a client sent to one of them would fail
  /// too: for the next seconds every idle server is checked before it serves, and every
  /// shard sweeps its idle list now.
  void server_lost();

  /// LISTEN/NOTIFY in transaction mode: the pool's listening connection and its clients'
  /// channels, made on first use (notifications_if_any: nullptr before).
  std::shared_ptr<notify_hub> notifications();
  std::shared_ptr<notify_hub> notifications_if_any() const;

  /// Why srv must not be kept (an old generation, a pool now smaller), or nullptr.
  const char* surplus(const server_conn& srv) const;
  /// "server role changed" when srv reported since its login that it no longer suits the
  /// pool's target_session_attrs (promoted, demoted, made read-only); the pool's other servers
  /// then go too (a generation bump) and new ones walk the host list again. Else nullptr.
  const char* role_changed(const server_conn& srv);

  /// The host of the list the pool's servers last logged in to (index into the target's
  /// hosts; -1 before the first): SHOW DATABASES' port and host_in_use.
  std::atomic<int> host_in_use{-1};
  /// What the pool last learnt of each host of its list (up, role), for /metrics.
  struct host_status {
    std::string host;
    int port = 0;
    bool up = false;
    server_role role;
  };
  std::vector<host_status> hosts_seen() const;
  /// Servers closed because they reported a role that no longer suits (sluice's counter).
  std::atomic<std::uint64_t> role_changes{0};
  /// Hosts answer but none suits target_session_attrs: clients wait (/readyz?database= 503).
  bool no_suitable_host() const noexcept { return no_suitable_logged_.load(); }
  /// How soon the host list is tried again while hosts answer but none suits.
  static constexpr std::chrono::milliseconds hosts_retry_delay{100};

  /// The shared param_set with these values (all tracked), creating it if needed.
  param_set_ptr intern(const config& cfg, param_map values);

  // ---- slow path, under mu
  mutable std::mutex mu;
  std::shared_ptr<notify_hub> hub_;  // under mu
  std::atomic<int> total{0};  ///< servers open or being opened, all shards (written under mu)
  /// Until then (clock ticks), take_idle checks every idle server it hands out (server_lost).
  std::atomic<clock::rep> check_idle_until{0};
  int connecting = 0;         ///< of which still logging in
  waiter_fifo waiters;
  param_map welcome;  ///< ParameterStatus of the first server login
  bool have_welcome = false;
  /// The generation of the last server that logged in: older than `generation` after a
  /// RECONNECT (or a changed target) until a new server has logged in, the servers left
  /// being obsolete.
  std::uint64_t login_generation = 0;
  std::optional<pgwire::scram_keys> scram_keys;  ///< pass-through keys of the last client
  std::string last_login_error;
  clock::time_point last_login_failure{};
  bool retry_scheduled = false;

  std::atomic<int> nwaiters{0};
  /// Waiters that max_db_connections or max_user_connections (not this pool's own size) keeps
  /// from a server: which limit (pool_rules::starve_reason) and how many more servers they
  /// need, less the evictions already under way for them (`evicting`). Written by
  /// try_serve_waiters; a sibling pool's idle server is closed ("evicted") for each unit of
  /// `starved_want`, taken with take_eviction() so that two shards never both act on one.
  std::atomic<int> starved_by{0}, starved_want{0}, evicting{0};
  /// Takes one unit of starved_want (and counts it in `evicting`); false if none is left.
  bool take_eviction();
  /// An eviction taken with take_eviction() is over (done or given up): `evicting` is
  /// decremented; call before the victim's discard(), whose wake-up serves this pool.
  void eviction_over() { evicting.fetch_sub(1); }
  std::atomic<int> clients{0};  ///< sessions holding a pool_client_ref to this pool

  // ---- idleness, for autodb_idle_timeout and pool_idle_timeout: touched by the registry's
  // reap pass only, under the registry's lock
  clock::time_point last_used = clock::now();      ///< last seen with a client or busy server
  clock::time_point last_nonempty = clock::now();  ///< last seen with a client or any server
  /// Being dropped: its idle servers are closing and min_pool_size no longer tops it up.
  std::atomic<bool> draining{false};
  /// Closes this shard's idle servers (the pool is being dropped).
  void drain(shard& s, std::string_view reason);

  /// Per shard: idle servers (touched only by that shard) and their count (read by others),
  /// and the shard's share of the statistics (see bump()). Cache-line aligned: shards write
  /// their own line only.
  struct alignas(64) local {
    std::vector<server_ptr> idle;
    std::atomic<int> idle_count{0};
    std::atomic<int> active{0};  ///< servers linked to a client
    std::atomic<std::uint64_t> xact_count{0}, query_count{0}, bytes_in{0}, bytes_out{0};
    std::atomic<std::uint64_t> wait_time_us{0};
    /// SHOW STATS: servers linked to a client; time from a client's message to the
    /// ReadyForQuery that ends its query / transaction; Parse and Bind messages seen; logins.
    std::atomic<std::uint64_t> server_assignment_count{0}, xact_time_us{0}, query_time_us{0};
    std::atomic<std::uint64_t> client_parse_count{0}, server_parse_count{0}, bind_count{0};
    std::atomic<std::uint64_t> client_login_count{0};
    /// /metrics' histograms: transaction and query times as above, and every wait for a
    /// server (zero when one was idle).
    latency_histogram xact_hist, query_hist, wait_hist;
    /// Statements a server of this pool accepted lately (prepared statements in transaction
    /// mode): a client's Parse of one of them, between transactions, is answered without a
    /// server (see client_session::answer_parses).
    server_statements known_statements;
  };
  std::unique_ptr<local[]> locals;
  const std::size_t nshards;
  int active_total() const {
    int n = 0;
    for (std::size_t i = 0; i < nshards; ++i) n += locals[i].active.load(std::memory_order_relaxed);
    return n;
  }
  /// Idle servers on shards other than s: try_serve_waiters asks their owners to release
  /// them to the queue, so they cover waiters as much as connections being opened do.
  int idle_elsewhere(const shard& s) const;

 private:
  /// A server object for target t on shard s, not connected yet (launch_server,
  /// open_dedicated): its id, and its place in the shard's list for SHOW SERVERS.
  server_ptr new_server(shard& s, std::shared_ptr<const pool_target> t);
  /// The targets of each host of t, and where a new connection starts in the list.
  std::vector<std::shared_ptr<const pool_target>> host_targets(const pool_target& t,
                                                               std::size_t& start);
  /// A server logged in to host i of whole's list: remembered, and logged when it changed.
  void note_host(const pool_target& whole, std::size_t i);
  /// Tries the host list again after hosts_retry_delay (once, however many ask).
  void retry_hosts_later(shard& s);
  /// Merges what a connection attempt learnt (under mu).
  void note_seen(const pool_target& whole, const std::vector<host_seen>& seen);
  std::vector<host_status> hosts_seen_;  // under mu
  std::atomic<std::size_t> next_host_{0};  ///< load_balance_hosts = round-robin
  std::atomic<bool> no_suitable_logged_{false};  ///< hosts answer, none suits (logged once)
  std::atomic<bool> hosts_retry_pending_{false};
  awaitable<void> open_server(std::shared_ptr<pool> keep, shard& s, server_ptr srv,
                              std::optional<pgwire::scram_keys> keys);
  std::shared_ptr<const pool_target> target_;  // under mu
  /// Serves the queue: launches for the waiters nothing covers yet and, with ask_idle, asks
  /// the shards that have idle servers to release them to it.
  void try_serve_waiters(shard& s, bool ask_idle = true);
  /// Records what stands between the queue and a server (see starved_by), keeping the
  /// registry's count of starved pools.
  void note_starved(pool_rules::starve_reason why, int want);
  void on_waiter_timer(const std::shared_ptr<waiter>& w);
  void arm_waiter(const std::shared_ptr<waiter>& w);

  std::mutex intern_mu_;
  std::map<std::string, std::weak_ptr<const param_set>, std::less<>> interned_;
  std::size_t intern_sweep_at_ = 64;
};

/// A session's hold on its pool: keeps the pool alive and counts the session as one of its
/// clients (what autodb_idle_timeout and pool_idle_timeout look at) until it is destroyed.
class pool_client_ref {
 public:
  pool_client_ref() = default;
  explicit pool_client_ref(std::shared_ptr<pool> p) : p_(std::move(p)) {
    if (p_) p_->clients.fetch_add(1);
  }
  pool_client_ref(pool_client_ref&& o) noexcept : p_(std::move(o.p_)) {}
  pool_client_ref& operator=(pool_client_ref&& o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::move(o.p_);
    }
    return *this;
  }
  ~pool_client_ref() { reset(); }
  void reset() {
    if (p_) p_->clients.fetch_sub(1);
    p_.reset();
  }
  pool* operator->() const noexcept { return p_.get(); }
  pool& operator*() const noexcept { return *p_; }
  pool* get() const noexcept { return p_.get(); }
  explicit operator bool() const noexcept { return bool(p_); }

 private:
  std::shared_ptr<pool> p_;
};

/// Clients per database and per user over all shards, for max_db_client_connections and
/// max_user_client_connections. Touched at login and at disconnect only.
class client_counts {
 public:
  /// Counts a client of (db, user) in, unless a limit (0 = none) is reached: then it returns
  /// pgbouncer's reason and counts nothing.
  const char* admit(const std::string& db, const std::string& user, int db_limit, int user_limit);
  /// The client admitted for (db, user) has gone.
  void leave(const std::string& db, const std::string& user);
  int db_count(const std::string& db);
  int user_count(const std::string& user);

 private:
  std::mutex mu_;
  std::map<std::string, int, std::less<>> by_db_, by_user_;
};

/// Every pool of the process, by (database, user). A pool stays until the registry is
/// cleared, or until reap() drops an unused one (autodb_idle_timeout, pool_idle_timeout);
/// whoever still holds a reference to a dropped pool keeps it alive.
class pool_registry {
 public:
  explicit pool_registry(shard_set& shards) : shards_(shards) {}
  /// The pool for (database entry, client user), created on first use; the caller is one of
  /// its clients while it holds the reference.
  pool_client_ref get(const database_config& db, const std::string& dbname, const std::string& user,
            const config& cfg, const userlist& users, bool& created);
  /// The pool auth_query runs on for database entry `db`: servers logged in as auth_user
  /// that no client is ever linked to, so no client's SET or startup parameter can change
  /// what the query sees.
  std::shared_ptr<pool> get_auth_pool(const database_config& db, const std::string& dbname,
                                      const std::string& auth_user, const config& cfg,
                                      const userlist& users);
  /// The password auth_query found for a user auth_file lacks: that user's pools log in with
  /// it from now on (and across reloads).
  void remember_password(const std::string& user, const std::string& password,
                         const config& cfg, const userlist& users);
  /// A reload: every pool takes its settings from the new configuration and userlist, or is
  /// marked removed when its database is gone.
  void reconfigure(config_ptr cfg, std::shared_ptr<const userlist> users);
  /// Server connections open or opening for this database, and for this server login user,
  /// over all pools. Call with no pool_registry lock held (a pool's own mu may be held).
  void connection_totals(std::string_view db, std::string_view user, int& db_total,
                         int& user_total);
  /// A launch of p within max_db_connections and max_user_connections: the totals are read
  /// and p.total incremented under one lock, so that two pools of a database launching at
  /// once on two shards cannot both take its last slot. The caller holds p.mu.
  pool_rules::launch_verdict claim_slot(pool& p, const pool_rules::launch_limits& limits);

  // ---- eviction: a pool whose waiters a limit across pools keeps out gets the slot of an
  // idle server of another pool of the same database (or server login user), as pgbouncer.

  /// Pools with starved_by set, for a cheap test on the release and discard paths.
  bool starving() const noexcept { return starving_.load(std::memory_order_relaxed) > 0; }
  void starving_changed(int delta) { starving_.fetch_add(delta, std::memory_order_relaxed); }
  /// For p (starved by `why`): finds another pool of the same database (db_full) or user
  /// (user_full) with an idle server and no waiter, and posts to the shard holding it the
  /// closing of its oldest one there, then p's wake-up. False if there is none.
  bool evict_for(pool& p, pool_rules::starve_reason why);
  /// from, on shard s, has an idle server: the starved pool it should go to (one unit of
  /// that pool's want taken), or nullptr.
  std::shared_ptr<pool> starved_sibling(const pool& from);
  /// A server of `from` has closed: its starved siblings try again on s (a slot is free).
  void wake_starved(const pool& from, shard& s);
  /// min_pool_size for forced users: makes the pool of every entry that names user= and
  /// has a min_pool_size, so that the janitor keeps it filled before any client comes
  /// (pgbouncer). Config and userlist as of now (the registry's newest if it has one).
  void ensure_forced_pools(const config& cfg, const userlist& users);
  /// A snapshot of the pools; the references keep them alive while it is held.
  std::vector<std::shared_ptr<pool>> all();
  /// The janitor's pass for autodb_idle_timeout and pool_idle_timeout (on one shard, once a
  /// second): notes which pools are in use, closes the idle servers of those unused too long,
  /// and drops those that are then empty and referenced by nobody but the registry.
  void reap(const config& cfg);
  /// Servers linked to a client, over all pools.
  int active_total();
  /// The PAUSE/DISABLE state of a database, created (not paused, enabled) on first use and
  /// kept for the registry's life. Thread-safe; never takes mu_.
  db_state& state_of(std::string_view db);
  /// Drops every pool and its idle servers (before the shards' io_contexts go away).
  void clear();

  client_counts clients;
  /// Server host name lookups, shared by every pool.
  dns_cache& dns() noexcept { return dns_; }
  /// The [peers] of this process and their cancel pools (configured with every reload).
  peer_pools& peers() noexcept { return peers_; }

 private:
  struct pool_key {
    std::string db, user;
    bool for_auth = false;
    auto operator<=>(const pool_key&) const = default;
  };
  /// Under mu_: the pool for this key, created if needed.
  std::shared_ptr<pool> find_or_add(const std::string& dbname, bool for_auth, pool_settings st,
                                    bool& created);

  shard_set& shards_;
  dns_cache dns_;
  peer_pools peers_;
  std::mutex mu_;
  alignas(64) std::atomic<int> starving_{0};  ///< read on every release: a line of its own
  std::map<pool_key, std::shared_ptr<pool>> pools_;
  std::map<std::string, std::string, std::less<>> looked_up_;  ///< auth_query's passwords
  config_ptr latest_;  ///< the newest configuration reconfigure() was given (new pools use it)
  std::shared_ptr<const userlist> latest_users_;
  std::mutex states_mu_;
  std::map<std::string, std::unique_ptr<db_state>, std::less<>> states_;
};

}  // namespace sluice

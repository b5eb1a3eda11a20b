// Server launches: a new connection walks the pool's host list for one that suits its
// target_session_attrs (pool/hosts.hpp decides), logs in, and goes to a waiter or the idle
// list; replication clients get a dedicated one. The host bookkeeping SHOW DATABASES and
// /metrics read lives here too.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "net/socket_options.hpp"
#include "pool/pool.hpp"
#include "sluice/log.hpp"

namespace sluice {

pool_rules::launch_verdict pool::launch_server(shard& s, pool_rules::launch_for why) {
  using pool_rules::launch_verdict;
  const bool reserve = why == pool_rules::launch_for::reserve;
  std::optional<pgwire::scram_keys> keys;
  std::shared_ptr<const pool_target> tgt;
  {
    std::lock_guard lk(mu);
    if (why == pool_rules::launch_for::queue &&
        !pool_rules::uncovered_waiter(int(waiters.size()), connecting + idle_elsewhere(s)))
      return launch_verdict::covered;
    const pool_rules::launch_limits limits{pool_size.load(), reserve_size.load(),
                                           max_db_connections.load(),
                                           max_user_connections.load()};
    // Paused: nothing opens, waiters wait for RESUME. The limits across pools are checked,
    // and the slot taken, under the registry's lock (claim_slot) only when one is set.
    auto verdict = pool_rules::check_own_limits(held(), reserve, total.load(), limits);
    if (verdict == launch_verdict::go) {
      if (pool_rules::needs_totals(limits))
        verdict = registry.claim_slot(*this, limits);
      else
        ++total;
    }
    if (verdict != launch_verdict::go) return verdict;
    ++connecting;
    keys = scram_keys;
    tgt = target_;
  }
  if (reserve) log::info("{}/{}: taking connection from reserve_pool", db_name, user_name);
  asio::co_spawn(s.io, open_server(shared_from_this(), s, new_server(s, std::move(tgt)), keys),
                 asio::detached);
  return launch_verdict::go;
}

server_ptr pool::new_server(shard& s, std::shared_ptr<const pool_target> t) {
  auto srv = std::make_unique<server_conn>(s.io, *this, std::move(t), generation.load(),
                                           std::uint32_t(s.cfg().max_packet_size));
  srv->id = shards.next_id.fetch_add(1);
  srv->link_into(s.servers);
  return srv;
}

awaitable<server_ptr> pool::open_dedicated(shard& s, std::shared_ptr<const pool_target> t,
                                           std::optional<pgwire::scram_keys> keys,
                                           server_ptr slot, wait_error& error, bool& full) {
  const config& c = s.cfg();
  full = false;
  if (slot) {
    discard(std::move(slot), s, "evicted", true);  // its slot, already counted, is this one's
  } else {
    std::lock_guard lk(mu);
    const int size = pool_size.load();
    if (size > 0 && total.load() >= size) {
      full = true;
      co_return nullptr;
    }
    const pool_rules::launch_limits limits{0, 0, max_db_connections.load(),
                                           max_user_connections.load()};
    if (pool_rules::needs_totals(limits)) {
      int db_total = 0, user_total = 0;
      registry.connection_totals(db_name, user_name, db_total, user_total);
      const auto verdict = pool_rules::check_totals(limits, db_total, user_total);
      if (verdict != pool_rules::launch_verdict::go) {
        error = {"53300", verdict == pool_rules::launch_verdict::db_full
                              ? "no more connections allowed (max_db_connections)"
                              : "no more connections allowed (max_user_connections)"};
        co_return nullptr;
      }
    }
    ++total;
  }
  server_ptr srv = new_server(s, t);
  std::size_t start = 0;
  const auto hosts = host_targets(*t, start);
  const connect_result r = co_await server_connect(*srv, hosts, start, s.cfg_ptr(), keys);
  if (r.ok) {
    if (c.log_connections)
      log::info("S-0x{:x}: {}/{}@{}:{} new replication connection to server (from {})", srv->id,
                db_name, user_name, srv->target->host, srv->target->port,
                net::local_end(srv->sock.native_handle()).text());
    co_return srv;
  }
  // As pgbouncer: the server's words in the log, "login failed" to the client.
  log::warning("S-0x{:x}: {}/{}@{}:{} server login failed: {} {}", srv->id, db_name, user_name,
               srv->target->host, srv->target->port, r.severity, r.error);
  log::info("S-0x{:x}: {}/{}@{}:{} closing because: login failed (age=0s)", srv->id, db_name,
            user_name, srv->target->host, srv->target->port);
  error = {r.sqlstate.empty() ? std::string("08P01") : r.sqlstate, "login failed"};
  {
    std::lock_guard lk(mu);
    --total;
  }
  error_code ignored;
  srv->sock.close(ignored);
  co_return nullptr;
}

const char* pool::role_changed(const server_conn& srv) {
  const pool_target& t = *srv.target;
  if (t.attrs == session_attrs::any) return nullptr;
  // What the server reported since its login (a promotion, ALTER SYSTEM ... read_only):
  // prefer-standby keeps whatever it settled for.
  if (role_suits(t.attrs, role_from_params(srv.params), t.attrs != session_attrs::prefer_standby)) {
    // 25006 alone may be the client's own doing (SET TRANSACTION READ ONLY): that server
    // goes, the others stay; a server that refuses writes says so in what it reports.
    return srv.refused_write ? "server refused a write (25006)" : nullptr;
  }
  // The other servers of the pool were opened under the same belief: they go too, at
  // release or when idle, and new ones walk the host list again.
  role_changes.fetch_add(1);
  {
    std::lock_guard lk(mu);
    if (t.host_index < hosts_seen_.size()) hosts_seen_[t.host_index].role = role_from_params(srv.params);
  }
  if (srv.generation == generation.load()) {
    generation.fetch_add(1);
    log::info("{}/{}: server {}:{} is now {}: reconnecting", db_name, user_name, t.host, t.port,
              role_from_params(srv.params).name());
  }
  return "server role changed";
}

std::vector<std::shared_ptr<const pool_target>> pool::host_targets(const pool_target& t,
                                                                    std::size_t& start) {
  std::vector<std::shared_ptr<const pool_target>> hosts;
  for (std::size_t i = 0; i < t.hosts.size(); ++i) hosts.push_back(t.for_host(i));
  const int in_use = host_in_use.load();
  const bool one_role = t.attrs == session_attrs::read_write || t.attrs == session_attrs::primary;
  if (one_role && in_use >= 0 && std::size_t(in_use) < hosts.size()) {
    start = std::size_t(in_use);  // there is one primary: start where it was last
  } else if (t.balance == load_balance::round_robin) {
    start = next_host_.fetch_add(1) % hosts.size();
  } else {
    start = 0;
  }
  return hosts;
}

void pool::note_host(const pool_target& whole, std::size_t i) {
  const int was = host_in_use.exchange(int(i));
  if (was == int(i) || whole.hosts.size() < 2) return;
  const host_port& now = whole.hosts[i];
  const std::string what =
      whole.attrs == session_attrs::read_write || whole.attrs == session_attrs::primary
          ? "new primary"
          : "new server host";
  if (was < 0 || std::size_t(was) >= whole.hosts.size()) {
    log::info("{} {}:{} for {}", what, now.host, now.port, db_name);
  } else {
    const host_port& old = whole.hosts[std::size_t(was)];
    log::info("{} {}:{} for {} (was {}:{})", what, now.host, now.port, db_name, old.host, old.port);
  }
}

void pool::note_seen(const pool_target& whole, const std::vector<host_seen>& seen) {
  if (hosts_seen_.size() != whole.hosts.size()) {
    hosts_seen_.assign(whole.hosts.size(), host_status{});
    for (std::size_t i = 0; i < whole.hosts.size(); ++i) {
      hosts_seen_[i].host = whole.hosts[i].host;
      hosts_seen_[i].port = whole.hosts[i].port;
    }
  }
  for (std::size_t i = 0; i < seen.size() && i < hosts_seen_.size(); ++i) {
    if (!seen[i].tried) continue;
    hosts_seen_[i].up = seen[i].up;
    hosts_seen_[i].role = seen[i].role;
  }
}

std::vector<pool::host_status> pool::hosts_seen() const {
  std::lock_guard lk(mu);
  return hosts_seen_;
}

// `keep` holds the pool while the login runs: its clients may all be gone by then.
awaitable<void> pool::open_server(std::shared_ptr<pool> /*keep*/, shard& s, server_ptr srv,
                                  std::optional<pgwire::scram_keys> keys) {
  const std::shared_ptr<const pool_target> whole = srv->target;  // the pool's, at launch
  std::size_t start = 0;
  const auto hosts = host_targets(*whole, start);
  const connect_result r = co_await server_connect(*srv, hosts, start, s.cfg_ptr(), keys);
  {
    std::lock_guard lk(mu);
    // A login that worked stays counted until its server is placed (release() below): were
    // it uncounted first, another shard serving the queue meanwhile would see the waiter it
    // is about to take as uncovered and open a connection too many.
    if (!r.ok) --connecting;
    note_seen(*whole, r.seen);
  }
  if (r.ok) {
    note_host(*whole, r.host);
    no_suitable_logged_ = false;
    {
      std::lock_guard lk(mu);
      if (!have_welcome) {
        welcome = srv->params;
        have_welcome = true;
      }
      login_generation = std::max(login_generation, srv->generation);
      last_login_failure = {};
      last_login_error.clear();
    }
    // Hosts of the list this login walked past (unresolvable, refused, the wrong role): the
    // connection was made all the same, and the operator learns why the others were not used.
    if (!r.skipped.empty())
      log::info("S-0x{:x}: {}/{}: hosts passed over: {}", srv->id, db_name, user_name, r.skipped);
    if (s.cfg().log_connections)
      log::info("S-0x{:x}: {}/{}@{}:{} new connection to server (from {})", srv->id, db_name,
                user_name, srv->target->host, srv->target->port,
                net::local_end(srv->sock.native_handle()).text());
    release(std::move(srv), s);
    {
      std::lock_guard lk(mu);
      --connecting;
    }
    // After a wait for a suitable host only one connection was under way: the rest of the
    // queue is served now.
    if (nwaiters.load() > 0) try_serve_waiters(s);
    co_return;
  }
  if (r.answered) {
    // Hosts answer but none suits (no primary yet: a promotion under way). Not a failed
    // login: waiters stay queued (up to query_wait_timeout) and the list is tried again
    // shortly, as long as someone waits.
    {
      std::lock_guard lk(mu);
      --total;
    }
    if (!no_suitable_logged_.exchange(true))
      log::warning("{}/{}: {}", db_name, user_name, r.error);
    error_code ignored;
    srv->sock.close(ignored);
    retry_hosts_later(s);
    co_return;
  }
  const bool no_answer = unreachable(r);
  if (no_answer)  // pgbouncer's "closing because: connect timeout" line
    log::info("S-0x{:x}: {}/{}@{}:{} closing because: {}", srv->id, db_name, user_name,
              srv->target->host, srv->target->port, r.error);
  else
    log::warning("S-0x{:x}: {}/{}@{}:{} server login failed: {} {}", srv->id, db_name, user_name,
                 srv->target->host, srv->target->port, r.severity, r.error);
  // pgbouncer then closes the server with the server's own message as the reason.
  if (!no_answer && s.cfg().log_disconnections)
    log::info("S-0x{:x}: {}/{}@{}:{} closing because: {} (age=0s)", srv->id, db_name, user_name,
              srv->target->host, srv->target->port, r.error);
  bool fail = false;
  {
    std::lock_guard lk(mu);
    --total;
    last_login_error = r.error;
    last_login_failure = clock::now();
    // While no usable logged-in server is left (none yet, all closed by a restart, or all
    // made obsolete by RECONNECT or a failover and none logged in since), a server that refused a login (bad password, no such database, pg_hba)
    // would most likely refuse the next one the same way: the queued clients hear its error
    // now instead of at their own timeout. Until a first login has worked, later clients get
    // the cached error until server_login_retry has passed (login.cpp). A server that could
    // not be reached (refused, connect timeout) or that cannot take connections yet (57P03:
    // starting up, shutting down) may be coming back: its clients stay queued (up to
    // query_wait_timeout), and the login is tried again after server_login_retry, as
    // pgbouncer does.
    const bool none_usable = !have_welcome || total - connecting == 0 ||
                             login_generation != generation.load();
    fail = none_usable && !no_answer && r.sqlstate != "57P03";
  }
  // The server's own SQLSTATE and message, as pgbouncer 1.20+ forwards them; 08P01 and the
  // reason when the server gave none.
  if (fail)
    fail_waiters(r.sqlstate.empty()
                     ? wait_error{"08P01", fmt::format("server login failed: {}", r.error)}
                     : wait_error{r.sqlstate, r.error});
  error_code ignored;
  srv->sock.close(ignored);
  if (nwaiters.load() > 0) try_serve_waiters(s);
}

awaitable<server_ptr> pool::queue_for_server(shard& s, wait_error& error,
                                             const std::function<void(waiter*)>& queued) {
  // The pool's callback fires a timer this coroutine waits on.
  struct result {
    explicit result(asio::io_context& io) : event(io) {}
    asio::steady_timer event;
    server_ptr srv;
    wait_error error;
    bool done = false;
  };
  auto r = std::make_shared<result>(s.io);
  const wait_done::fn_type wake = [](std::shared_ptr<void> ctx, server_ptr srv, wait_error err) {
    auto& res = *static_cast<result*>(ctx.get());
    res.srv = std::move(srv);
    res.error = std::move(err);
    res.done = true;
    res.event.cancel();
  };
  waiter* w = wait_for_server(s, wait_done{wake, r});
  if (queued) queued(w);
  while (!r->done) {
    r->event.expires_at(clock::time_point::max());
    co_await r->event.async_wait(nothrow);
  }
  if (!r->srv) error = std::move(r->error);
  co_return std::move(r->srv);
}

}  // namespace sluice

// Pools: acquire/release with exact limits across shards, the cross-shard hand-off, server
// launches and the per-shard janitor.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include "shard/shard.hpp"
#include "sluice/log.hpp"

namespace sluice {

namespace {

clock::duration to_duration(double seconds) {
  return std::chrono::duration_cast<clock::duration>(seconds_d(seconds));
}

/// How much longer than strict FIFO order a waiter on another shard may wait so that a released
/// server is given to a waiter on its own shard instead of being handed over.
constexpr auto kLocalWindow = std::chrono::milliseconds(2);

double age_seconds(clock::time_point since) {
  return std::chrono::duration<double>(clock::now() - since).count();
}

/// Gives a server to a waiter that lives on the current shard.
void deliver_here(const std::shared_ptr<waiter>& w, server_ptr srv) {
  w->delivered = std::move(srv);
  w->timer.cancel();
}

}  // namespace

waiter::waiter(shard& s, wait_done d)
    : home(s), timer(s.io), done(std::move(d)), since(clock::now()) {}

pool::pool(runtime& rt_, std::string db, std::string user, pool_target t, pool_mode m, int size,
           int min_size, int reserve, std::size_t nshards)
    : rt(rt_),
      db_name(std::move(db)),
      user_name(std::move(user)),
      target(std::move(t)),
      mode(m),
      pool_size(size),
      min_pool_size(min_size),
      reserve_size(reserve),
      locals(new local[nshards]),
      nshards(nshards) {}

param_set_ptr pool::intern(const config& cfg, param_map values) {
  std::string key = tracked_key(cfg, values);
  std::lock_guard lk(intern_mu);
  auto it = interned.find(key);
  if (it != interned.end()) {
    if (param_set_ptr live = it->second.lock()) return live;
  }
  auto set = std::make_shared<const param_set>(param_set{std::move(values), key});
  interned.insert_or_assign(std::move(key), set);
  if (interned.size() >= intern_sweep_at) {
    std::erase_if(interned, [](const auto& e) { return e.second.expired(); });
    intern_sweep_at = std::max<std::size_t>(64, 2 * interned.size());
  }
  return set;
}

shard::shard(runtime& r, int i) : rt(r), id(i), janitor(io) {}

void shard::send(mail* m) {
  // The queue allocates nodes when its freelist is empty; push fails only when that fails.
  while (!mailbox.push(m)) std::this_thread::yield();
  if (!wake_pending.exchange(true)) asio::post(io, [this] { drain(); });
}

void shard::drain() {
  wake_pending.store(false);
  mail* m;
  while (mailbox.pop(m)) {
    struct destroy_after {
      mail* m;
      ~destroy_after() { m->destroy(); }
    } guard{m};
    m->run(*this);
  }
}

server_ptr runtime::take_idle(pool& p, shard& s, bool& needs_check) {
  needs_check = false;
  auto& loc = p.locals[s.id];
  // No lock: the idle list is this shard's own; a queued client elsewhere goes first.
  if (p.nwaiters.load() != 0) return nullptr;
  while (!loc.idle.empty()) {
    server_ptr srv = std::move(loc.idle.back());
    loc.idle.pop_back();
    loc.idle_count.fetch_sub(1);
    // A server idle for a while may have been closed by PostgreSQL (the janitor notices
    // within a second); one that was busy a moment ago is not worth a syscall.
    const auto idle_for = clock::now() - srv->idle_since;
    if (idle_for > std::chrono::milliseconds(100) && server_is_dead(*srv)) {
      discard(std::move(srv), s, "server conn crashed?");
      continue;
    }
    // server_check_query after server_check_delay, as pgbouncer does.
    const config& c = cfg();
    needs_check = !c.server_check_query.empty() && idle_for > to_duration(c.server_check_delay);
    return srv;
  }
  return nullptr;
}

awaitable<server_ptr> runtime::check_server(server_ptr srv, shard& s) {
  const config& c = cfg();
  std::string err;
  const bool alive = co_await server_simple_query(*srv, c.server_check_query, &err);
  if (!alive) {
    discard(std::move(srv), s, fmt::format("server_check_query failed: {}", err));
    co_return nullptr;
  }
  srv->tracked_key = tracked_key(c, srv->params);
  co_return srv;
}

awaitable<server_ptr> runtime::acquire(pool& p, shard& s, std::string& error) {
  for (;;) {
    bool check = false;
    server_ptr srv = take_idle(p, s, check);
    if (!srv) break;
    if (check) {
      srv = co_await check_server(std::move(srv), s);
    }
    if (srv) {
      co_return srv;
    }
  }
  // Wait, using a timer as the event the pool's callback fires.
  struct result {
    explicit result(asio::io_context& io) : event(io) {}
    asio::steady_timer event;
    server_ptr srv;
    std::string error;
    bool done = false;
  };
  auto r = std::make_shared<result>(s.io);
  const wait_done::fn_type wake = [](std::shared_ptr<void> ctx, server_ptr srv, std::string err) {
    auto& res = *static_cast<result*>(ctx.get());
    res.srv = std::move(srv);
    res.error = std::move(err);
    res.done = true;
    res.event.cancel();
  };
  wait_for_server(p, s, wait_done{wake, r});
  while (!r->done) {
    r->event.expires_at(clock::time_point::max());
    co_await r->event.async_wait(nothrow);
  }
  if (!r->srv) error = std::move(r->error);
  co_return std::move(r->srv);
}

void runtime::wait_for_server(pool& p, shard& s, wait_done done) {
  // Pooled: under contention every transaction waits, and allocates nothing for it.
  auto w = std::allocate_shared<waiter>(pooled_allocator<waiter>{}, s, std::move(done));
  const config& c = cfg();
  const auto never = clock::time_point::max();
  w->wait_deadline = c.query_wait_timeout > 0 ? w->since + to_duration(c.query_wait_timeout) : never;
  w->reserve_deadline = p.reserve_size > 0 ? w->since + to_duration(c.reserve_pool_timeout) : never;
  {
    std::lock_guard lk(p.mu);
    p.waiters.push_back(w);
    p.nwaiters.fetch_add(1);
  }
  try_serve_waiters(p, s);
  arm_waiter(p, w);
}

void runtime::arm_waiter(pool& p, const std::shared_ptr<waiter>& w) {
  w->timer.expires_at(std::min(w->wait_deadline, w->reserve_deadline));
  w->timer.async_wait([this, &p, w](error_code) { on_waiter_timer(p, w); });
}

void runtime::on_waiter_timer(pool& p, const std::shared_ptr<waiter>& w) {
  if (w->delivered || w->failed) {
    bump(p.locals[w->home.id].wait_time_us,
         std::uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - w->since).count()));
    wait_done done = std::move(w->done);
    if (w->delivered) {
      done(std::move(w->delivered), {});
    } else {
      done(nullptr, std::move(*w->failed));
    }
    return;
  }
  const auto now = clock::now();
  if (now >= w->reserve_deadline) {
    w->reserve_deadline = clock::time_point::max();
    launch_server(p, w->home, true);
  } else if (now >= w->wait_deadline) {
    bool queued = false;
    {
      std::lock_guard lk(p.mu);
      auto it = std::find(p.waiters.begin(), p.waiters.end(), w);
      if (it != p.waiters.end()) {
        queued = true;
        p.waiters.erase(it);
        p.nwaiters.fetch_sub(1);
      }
    }
    if (queued) {
      wait_done done = std::move(w->done);
      done(nullptr, "query_wait_timeout");
      return;
    }
    // Not queued any more: a server is on its way from another shard; wait for it.
    w->wait_deadline = clock::time_point::max();
  }
  arm_waiter(p, w);
}

void runtime::release(server_ptr srv, shard& s) {
  pool& p = *srv->owner;
  const config& c = cfg();
  if (c.server_lifetime > 0 && age_seconds(srv->connected_at) > c.server_lifetime) {
    discard(std::move(srv), s, "server lifetime over");
    return;
  }
  srv->idle_since = clock::now();
  auto& loc = p.locals[s.id];
  // Publish the idle server first, then look for waiters: paired with acquire() (enqueue,
  // then look for idle servers) neither side can miss the other.
  loc.idle.push_back(std::move(srv));
  loc.idle_count.fetch_add(1);
  while (p.nwaiters.load() > 0 && !loc.idle.empty()) {
    std::shared_ptr<waiter> w;
    {
      std::lock_guard lk(p.mu);
      if (p.waiters.empty()) break;
      // Prefer a waiter on this shard among those that queued within kLocalWindow of the
      // oldest: the server stays here (no hand-off), and no one waits more than the window
      // longer than strict FIFO order would make it.
      auto pick = p.waiters.begin();
      const auto horizon = p.waiters.front()->since + kLocalWindow;
      for (auto it = p.waiters.begin(); it != p.waiters.end() && (*it)->since <= horizon; ++it) {
        if (&(*it)->home == &s) {
          pick = it;
          break;
        }
      }
      w = std::move(*pick);
      p.waiters.erase(pick);
      p.nwaiters.fetch_sub(1);
    }
    server_ptr give = std::move(loc.idle.back());
    loc.idle.pop_back();
    loc.idle_count.fetch_sub(1);
    if (&w->home == &s) {
      deliver_here(w, std::move(give));
      continue;
    }
    // Re-home the socket: the fd travels, the object is rebuilt on the waiter's shard.
    log::debug("S-0x{:x}: {}/{} handed over from shard {} to shard {}", give->id, p.db_name,
               p.user_name, s.id, w->home.id);
    const int family = give->protocol_family;
    error_code ec;
    const int fd = give->sock.release(ec);
    if (ec) {
      discard(std::move(give), s, "could not hand over socket");
      std::lock_guard lk(p.mu);
      p.waiters.push_front(w);
      p.nwaiters.fetch_add(1);
      continue;
    }
    w->home.post_fn([w, fd, family, srv = std::move(give)](shard& t) mutable {
      const asio::generic::stream_protocol proto(family, family == AF_UNIX ? 0 : IPPROTO_TCP);
      srv->sock = stream_socket(t.io, proto, fd);
      deliver_here(w, std::move(srv));
    });
  }
}

void runtime::discard(server_ptr srv, shard& s, std::string_view reason) {
  pool& p = *srv->owner;
  if (cfg().log_disconnections)
    log::info("S-0x{:x}: {}/{}@{}:{} closing because: {} (age={:.0f}s)", srv->id, p.db_name,
              p.user_name, p.target.host, p.target.port, reason, age_seconds(srv->connected_at));
  if (srv->sock.is_open() && !srv->in_login) {
    // Say goodbye so the backend exits at once instead of logging an unexpected EOF.
    pgwire::byte_buffer bye;
    pgwire::write_terminate(bye);
    error_code ignored;
    srv->sock.non_blocking(true, ignored);
    ::send(srv->sock.native_handle(), bye.data(), bye.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  error_code ignored;
  srv->sock.close(ignored);
  srv.reset();
  {
    std::lock_guard lk(p.mu);
    --p.total;
  }
  if (p.nwaiters.load() > 0) try_serve_waiters(p, s);
}

void runtime::try_serve_waiters(pool& p, shard& s) {
  const config& c = cfg();
  int to_launch = 0;
  bool schedule_retry = false;
  {
    std::lock_guard lk(p.mu);
    const int waiting = int(p.waiters.size());
    if (waiting == 0) return;
    const bool failing = p.last_login_failure != clock::time_point{} &&
                         age_seconds(p.last_login_failure) < c.server_login_retry;
    if (failing) {
      schedule_retry = !p.retry_scheduled;
      p.retry_scheduled = true;
    } else {
      // Open as many as there are waiters not yet covered by a connection being opened.
      to_launch = std::min(waiting - p.connecting, p.pool_size - p.total);
    }
  }
  for (int i = 0; i < to_launch; ++i) launch_server(p, s, false);
  if (schedule_retry) {
    auto t = std::make_shared<asio::steady_timer>(s.io);
    std::unique_lock lk(p.mu);
    t->expires_at(p.last_login_failure + to_duration(c.server_login_retry));
    lk.unlock();
    t->async_wait([this, &p, &s, t](error_code) {
      {
        std::lock_guard lk2(p.mu);
        p.retry_scheduled = false;
      }
      try_serve_waiters(p, s);
    });
  }
  // Idle servers on other shards serve waiters here: ask their owners to release them.
  for (auto& other : shards_) {
    if (other.get() == &s || p.locals[other->id].idle_count.load() == 0) continue;
    other->post_fn([this, &p](shard& t) {
      auto& loc = p.locals[t.id];
      if (p.nwaiters.load() == 0 || loc.idle.empty()) return;
      server_ptr srv = std::move(loc.idle.back());
      loc.idle.pop_back();
      loc.idle_count.fetch_sub(1);
      release(std::move(srv), t);
    });
  }
}

void runtime::launch_server(pool& p, shard& s, bool reserve) {
  const config& c = cfg();
  std::optional<pgwire::scram_keys> keys;
  {
    std::lock_guard lk(p.mu);
    const int limit = p.pool_size + (reserve ? p.reserve_size : 0);
    if (p.total >= limit) return;
    if (p.max_db_connections > 0 || c.max_user_connections > 0) {
      int db_total = 0, user_total = 0;
      std::lock_guard plk(pools_mu_);
      for (auto& [key, q] : pools_) {
        const int n = q->total.load();
        if (q->db_name == p.db_name) db_total += n;
        if (q->target.user == p.target.user) user_total += n;
      }
      if (p.max_db_connections > 0 && db_total >= p.max_db_connections) return;
      if (c.max_user_connections > 0 && user_total >= c.max_user_connections) return;
    }
    ++p.total;
    ++p.connecting;
    keys = p.scram_keys;
  }
  if (reserve) log::info("{}/{}: taking connection from reserve_pool", p.db_name, p.user_name);
  auto srv = std::make_unique<server_conn>(s.io, p, std::uint32_t(c.max_packet_size));
  srv->id = next_id.fetch_add(1);
  asio::co_spawn(s.io, open_server(p, s, std::move(srv), keys), asio::detached);
}

awaitable<void> runtime::open_server(pool& p, shard& s, server_ptr srv,
                                     std::optional<pgwire::scram_keys> keys) {
  const login_result r = co_await server_login(*srv, cfg(), keys);
  {
    std::lock_guard lk(p.mu);
    --p.connecting;
  }
  if (r.ok) {
    {
      std::lock_guard lk(p.mu);
      if (!p.have_welcome) {
        p.welcome = srv->params;
        p.have_welcome = true;
      }
      p.last_login_failure = {};
      p.last_login_error.clear();
    }
    if (cfg().log_connections)
      log::info("S-0x{:x}: {}/{}@{}:{} new connection to server", srv->id, p.db_name, p.user_name,
                p.target.host, p.target.port);
    release(std::move(srv), s);
    co_return;
  }
  log::warning("S-0x{:x}: {}/{}@{}:{} server login failed: {}", srv->id, p.db_name, p.user_name,
               p.target.host, p.target.port, r.error);
  std::vector<std::shared_ptr<waiter>> fail;
  {
    std::lock_guard lk(p.mu);
    --p.total;
    p.last_login_error = r.error;
    p.last_login_failure = clock::now();
    // A server that answered with an error (bad password, no such database) will
    // answer the same to the next attempt: clients still logging in get it now.
    if (!r.sqlstate.empty() && !p.have_welcome) {
      fail.assign(p.waiters.begin(), p.waiters.end());
      p.waiters.clear();
      p.nwaiters.store(0);
    }
  }
  for (auto& w : fail) {
    w->home.post_fn([w, msg = r.error](shard&) {
      if (w->delivered) return;
      w->failed = msg;
      w->timer.cancel();
    });
  }
  error_code ignored;
  srv->sock.close(ignored);
  if (p.nwaiters.load() > 0) try_serve_waiters(p, s);
}

void runtime::janitor_tick(shard& s) {
  const config& c = cfg();
  std::vector<pool*> all;
  {
    std::lock_guard lk(pools_mu_);
    for (auto& [k, p] : pools_) all.push_back(p.get());
  }
  for (pool* p : all) {
    auto& idle = p->locals[s.id].idle;
    for (std::size_t i = 0; i < idle.size();) {
      server_conn& srv = *idle[i];
      const char* reason = nullptr;
      if (server_is_dead(srv))
        reason = "server conn crashed?";
      else if (c.server_idle_timeout > 0 && age_seconds(srv.idle_since) > c.server_idle_timeout &&
               p->total > p->min_pool_size)
        reason = "server idle timeout";
      else if (c.server_lifetime > 0 && age_seconds(srv.connected_at) > c.server_lifetime)
        reason = "server lifetime over";
      if (!reason) {
        ++i;
        continue;
      }
      server_ptr gone = std::move(idle[i]);
      idle.erase(idle.begin() + std::ptrdiff_t(i));
      p->locals[s.id].idle_count.fetch_sub(1);
      discard(std::move(gone), s, reason);
    }
    // min_pool_size: shard 0 keeps the pool topped up once it has been used.
    if (s.id == 0 && p->min_pool_size > 0) {
      int missing;
      {
        std::lock_guard lk(p->mu);
        missing = p->have_welcome ? std::min(p->min_pool_size, p->pool_size) - p->total : 0;
      }
      for (int i = 0; i < missing; ++i) launch_server(*p, s, false);
    }
  }
}

}  // namespace sluice

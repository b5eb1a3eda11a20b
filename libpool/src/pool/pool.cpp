// Pools: acquire/release with exact limits across shards, the cross-shard hand-off, server
// launches and the per-shard janitor.
#include "pool/pool.hpp"

#include "net/socket_options.hpp"

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include "sluice/log.hpp"

namespace sluice {

namespace {

using pool_rules::to_duration;

/// A server as the keep-or-close rules see it.
pool_rules::server_view view_of(const server_conn& srv) {
  return {srv.generation, srv.connected_at, srv.idle_since, srv.used};
}

/// The pool as the keep-or-close rules see it, read now; server_idle_timeout (a [pgbouncer]
/// setting) is the caller's to fill in where it matters.
pool_rules::pool_view view_of(const pool& p) {
  pool_rules::pool_view v;
  v.generation = p.generation.load();
  v.total = p.total.load();
  v.pool_size = p.pool_size.load();
  v.reserve_size = p.reserve_size.load();
  v.min_pool_size = p.min_pool_size.load();
  v.server_lifetime = p.server_lifetime.load();
  return v;
}

/// Whether an idle server is worth a liveness probe before it serves: one idle for a while
/// may have been closed by PostgreSQL (the janitor notices within a second); one that was
/// busy a moment ago is not worth a syscall, unless a sibling has just died (server_lost).
bool worth_probing(const pool& p, const server_conn& srv) {
  const auto now = clock::now();
  return now.time_since_epoch().count() < p.check_idle_until.load(std::memory_order_relaxed) ||
         now - srv.idle_since > std::chrono::milliseconds(100);
}

/// Gives a server to a waiter that lives on the current shard.
void deliver_here(const std::shared_ptr<waiter>& w, server_ptr srv) {
  w->delivered = std::move(srv);
  w->timer.cancel();
}

}  // namespace

waiter::waiter(pool& p, shard& s, wait_done d)
    : owner(p), home(s), timer(s.io), done(std::move(d)), since(clock::now()) {}

pool::pool(pool_registry& reg, shard_set& set, std::string db, std::string user, pool_settings st)
    : registry(reg),
      shards(set),
      db_name(std::move(db)),
      user_name(std::move(user)),
      dbstate(reg.state_of(db_name)),
      mode(st.mode),
      pool_size(st.pool_size),
      min_pool_size(st.min_pool_size),
      reserve_size(st.reserve_size),
      max_db_connections(st.max_db_connections),
      max_user_connections(st.max_user_connections),
      server_lifetime(st.server_lifetime),
      query_wait_timeout(st.query_wait_timeout),
      auto_db(st.auto_db),
      forced_user(st.forced_user),
      locals(new local[set.size()]),
      nshards(set.size()),
      target_(std::make_shared<const pool_target>(std::move(st.target))) {}

std::shared_ptr<const pool_target> pool::target() const {
  std::lock_guard lk(mu);
  return target_;
}

void pool::reconfigure(pool_settings st) {
  const int old_limit = pool_size.load() + reserve_size.load();
  bool new_target = false;
  {
    std::lock_guard lk(mu);
    if (!(*target_ == st.target)) {
      new_target = true;
      target_ = std::make_shared<const pool_target>(std::move(st.target));
      generation.fetch_add(1);
      // What was learnt from the old target says nothing about the new one.
      hosts_seen_.clear();
      host_in_use.store(-1);
      have_welcome = false;
      last_login_failure = {};
      last_login_error.clear();
    }
    mode.store(st.mode);
    pool_size.store(st.pool_size);
    min_pool_size.store(st.min_pool_size);
    reserve_size.store(st.reserve_size);
    max_db_connections.store(st.max_db_connections);
    max_user_connections.store(st.max_user_connections);
    server_lifetime.store(st.server_lifetime);
    query_wait_timeout.store(st.query_wait_timeout);
    auto_db.store(st.auto_db);
    forced_user.store(st.forced_user);
  }
  removed.store(false);
  // Idle servers that no longer fit close now, on the shards that hold them.
  if (new_target || st.pool_size + st.reserve_size < old_limit) {
    for (auto& sh : shards.shards) sh->post_fn([p = shared_from_this()](shard& t) { p->tidy(t); });
  }
}

const char* pool::surplus(const server_conn& srv) const {
  const auto v = pool_rules::surplus(view_of(srv), view_of(*this));
  // held() only names the reason: a PAUSE's bump and a reload's look the same to the rule.
  return v == pool_rules::server_verdict::keep ? nullptr : pool_rules::reason(v, held());
}

param_set_ptr pool::intern(const config& cfg, param_map values) {
  std::string key = tracked_key(cfg, values);
  std::lock_guard lk(intern_mu_);
  auto it = interned_.find(key);
  if (it != interned_.end()) {
    if (param_set_ptr live = it->second.lock()) return live;
  }
  auto set = std::make_shared<const param_set>(param_set{std::move(values), key});
  interned_.insert_or_assign(std::move(key), set);
  if (interned_.size() >= intern_sweep_at_) {
    std::erase_if(interned_, [](const auto& e) { return e.second.expired(); });
    intern_sweep_at_ = std::max<std::size_t>(64, 2 * interned_.size());
  }
  return set;
}

server_ptr pool::take_idle(shard& s, bool& needs_check) {
  needs_check = false;
  auto& loc = locals[s.id];
  // No lock: the idle list is this shard's own; a queued client elsewhere goes first.
  if (nwaiters.load() != 0) return nullptr;
  const bool oldest_first = s.cfg().server_round_robin;
  while (!loc.idle.empty()) {
    // Newest first keeps the fewest servers warm (and lets the rest reach
    // server_idle_timeout); server_round_robin spreads the load over all of them instead.
    server_ptr srv;
    if (oldest_first) {
      srv = std::move(loc.idle.front());
      loc.idle.erase(loc.idle.begin());
    } else {
      srv = std::move(loc.idle.back());
      loc.idle.pop_back();
    }
    loc.idle_count.fetch_sub(1);
    // RECONNECT or a reload bumped the generation, and this shard's tidy pass has not run
    // yet: the server must not serve again (after a failover it points at the old primary).
    if (srv->generation != generation.load(std::memory_order_relaxed)) {
      const char* why = surplus(*srv);
      discard(std::move(srv), s, why ? why : "database configuration changed");
      continue;
    }
    if (worth_probing(*this, *srv) && server_is_dead(*srv)) {
      discard(std::move(srv), s, "server conn crashed?");
      continue;
    }
    // server_check_query after server_check_delay, as pgbouncer does.
    needs_check = check_due(*srv, s.cfg());
    return srv;
  }
  return nullptr;
}

awaitable<server_ptr> pool::check_server(server_ptr srv, shard& s) {
  const config_ptr keep = s.cfg_ptr();  // a reload may replace the shard's config meanwhile
  const config& c = *keep;
  std::string err;
  // "<empty>" is pgbouncer's spelling of the empty query: the cheapest round trip there is.
  const std::string_view query = c.server_check_query == "<empty>"
                                     ? std::string_view()
                                     : std::string_view(c.server_check_query);
  const bool alive = co_await server_simple_query(*srv, query, &err);
  if (!alive) {
    discard(std::move(srv), s, fmt::format("server_check_query failed: {}", err));
    co_return nullptr;
  }
  srv->tracked_key = tracked_key(c, srv->params);
  co_return srv;
}

awaitable<server_ptr> pool::acquire_idle(shard& s) {
  for (;;) {
    bool check = false;
    server_ptr srv = take_idle(s, check);
    if (!srv) {
      co_return nullptr;
    }
    if (check) {
      srv = co_await check_server(std::move(srv), s);
    }
    if (srv) {
      co_return srv;
    }
  }
}

waiter* pool::wait_for_server(shard& s, wait_done done) {
  // Pooled: under contention every transaction waits, and allocates nothing for it.
  auto w = std::allocate_shared<waiter>(pooled_allocator<waiter>{}, *this, s, std::move(done));
  const config& c = s.cfg();
  w->deadlines = pool_rules::deadlines_for(w->since, query_wait_timeout.load(), reserve_size.load(),
                                           c.reserve_pool_timeout, w->done.notify != nullptr,
                                           c.query_wait_notify);
  {
    std::lock_guard lk(mu);
    waiters.push(w);
    nwaiters.fetch_add(1);
  }
  try_serve_waiters(s);
  arm_waiter(w);
  return w.get();
}

void pool::cancel_wait(waiter& w) {
  bool queued = false;
  {
    std::lock_guard lk(mu);
    queued = waiters.leave([&](const std::shared_ptr<waiter>& q) { return q.get() == &w; });
    if (queued) nwaiters.fetch_sub(1);
  }
  if (!queued) return;
  w.failed = wait_error{"08P01", "client gone while waiting for a server"};
  w.timer.cancel();
}

void pool::fail_waiters(const wait_error& why) {
  waiter_fifo::container all;
  {
    std::lock_guard lk(mu);
    all = waiters.take_all();
    nwaiters.store(0);
  }
  for (auto& w : all) {
    w->home.post_fn([w, why](shard&) {
      if (w->delivered) return;
      w->failed = why;
      w->timer.cancel();
    });
  }
}

void pool::arm_waiter(const std::shared_ptr<waiter>& w) {
  w->timer.expires_at(w->deadlines.next());
  w->timer.async_wait([this, w](error_code) { on_waiter_timer(w); });
}

void pool::on_waiter_timer(const std::shared_ptr<waiter>& w) {
  if (w->delivered || w->failed) {
    const auto waited = std::uint64_t(
        std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - w->since).count());
    bump(locals[w->home.id].wait_time_us, waited);
    locals[w->home.id].wait_hist.observe(waited);
    wait_done done = std::move(w->done);
    if (w->delivered) {
      done(std::move(w->delivered), {});
    } else {
      done(nullptr, std::move(*w->failed));
    }
    return;
  }
  const pool_rules::waiter_due due = pool_rules::due(w->deadlines, clock::now());
  if (due.notify) {
    w->deadlines.notify = clock::time_point::max();  // once per wait
    w->done.notify(w->done.ctx);
    if (w->delivered || w->failed) {  // the client was ended meanwhile (cancel_wait)
      on_waiter_timer(w);
      return;
    }
  }
  if (due.reserve) {
    w->deadlines.reserve = clock::time_point::max();
    launch_server(w->home, pool_rules::launch_for::reserve);
  } else if (due.time_out) {
    bool queued = false;
    {
      std::lock_guard lk(mu);
      queued = waiters.leave([&](const std::shared_ptr<waiter>& q) { return q == w; });
      if (queued) nwaiters.fetch_sub(1);
    }
    if (queued) {
      wait_done done = std::move(w->done);
      done(nullptr, wait_error{"08P01", "query_wait_timeout"});
      return;
    }
    // Not queued any more: a server is on its way from another shard; wait for it.
    w->deadlines.wait = clock::time_point::max();
  }
  arm_waiter(w);
}

void pool::release(server_ptr srv, shard& s) {
  if (const char* why = role_changed(*srv)) {
    discard(std::move(srv), s, why);
    return;
  }
  const auto verdict = pool_rules::on_release(view_of(*srv), view_of(*this), clock::now());
  if (verdict != pool_rules::server_verdict::keep) {
    discard(std::move(srv), s, pool_rules::reason(verdict, held()));
    return;
  }
  srv->idle_since = clock::now();
  auto& loc = locals[s.id];
  // Publish the idle server first, then look for waiters: paired with acquire() (enqueue,
  // then look for idle servers) neither side can miss the other.
  loc.idle.push_back(std::move(srv));
  loc.idle_count.fetch_add(1);
  while (nwaiters.load() > 0 && !loc.idle.empty()) {
    std::shared_ptr<waiter> w;
    {
      std::lock_guard lk(mu);
      // A waiter on this shard among those that queued within the local window of the
      // oldest: the server stays here (no hand-off), and no one waits more than the window
      // longer than strict FIFO order would make it.
      std::optional<std::shared_ptr<waiter>> next = waiters.take_for(s.id);
      if (!next) break;
      w = std::move(*next);
      nwaiters.fetch_sub(1);
    }
    server_ptr give = std::move(loc.idle.back());
    loc.idle.pop_back();
    loc.idle_count.fetch_sub(1);
    if (&w->home == &s) {
      deliver_here(w, std::move(give));
      continue;
    }
    // Re-home the socket: the fd travels, the object is rebuilt on the waiter's shard.
    log::debug("S-0x{:x}: {}/{} handed over from shard {} to shard {}", give->id, db_name,
               user_name, s.id, w->home.id);
    const int family = give->protocol_family;
    give->unlink_from_list();  // off this shard's list before its fd leaves the shard
    error_code ec;
    const int fd = give->sock.release(ec);
    if (ec) {
      give->link_into(s.servers);
      discard(std::move(give), s, "could not hand over socket");
      std::lock_guard lk(mu);
      waiters.push_front(w);
      nwaiters.fetch_add(1);
      continue;
    }
    w->home.post_fn([w, fd, family, srv = std::move(give)](shard& t) mutable {
      const asio::generic::stream_protocol proto(family, family == AF_UNIX ? 0 : IPPROTO_TCP);
      srv->sock = stream_socket(t.io, proto, fd);
      srv->link_into(t.servers);
      deliver_here(w, std::move(srv));
    });
  }
  // Nobody here wants it, and another pool of the database (or user) waits for a slot that
  // max_db_connections (max_user_connections) withholds: this shard's most idle server of the
  // pool makes room ("evicted", as pgbouncer); discard() wakes the starved pool.
  if (!loc.idle.empty() && registry.starving() &&
      (max_db_connections.load() > 0 || max_user_connections.load() > 0)) {
    if (std::shared_ptr<pool> starved = registry.starved_sibling(*this)) {
      server_ptr victim = std::move(loc.idle.front());
      loc.idle.erase(loc.idle.begin());
      loc.idle_count.fetch_sub(1);
      starved->eviction_over();
      discard(std::move(victim), s, "evicted");
    }
  }
}

void pool::discard(server_ptr srv, shard& s, std::string_view reason, bool keep_slot) {
  if (s.cfg().log_disconnections)
    log::info("S-0x{:x}: {}/{}@{}:{} closing because: {} (age={:.0f}s)", srv->id, db_name,
              user_name, srv->target->host, srv->target->port, reason,
              seconds_since(srv->connected_at));
  if (srv->sock.is_open() && !srv->in_login) {
    // Say goodbye so the backend exits at once instead of logging an unexpected EOF.
    pgwire::byte_buffer bye;
    pgwire::write_terminate(bye);
    error_code ignored;
    srv->sock.non_blocking(true, ignored);
    net::send_now(srv->sock, srv->tls.get(), bye);
  }
  error_code ignored;
  srv->sock.close(ignored);
  srv.reset();
  if (keep_slot) return;
  {
    std::lock_guard lk(mu);
    --total;
  }
  if (nwaiters.load() > 0) try_serve_waiters(s);
  // A slot of the database (user) is free: pools a limit across pools held back try again.
  if (registry.starving() && (max_db_connections.load() > 0 || max_user_connections.load() > 0))
    registry.wake_starved(*this, s);
}

void pool::retry_hosts_later(shard& s) {
  if (hosts_retry_pending_.exchange(true)) return;
  auto t = std::make_shared<asio::steady_timer>(s.io);
  t->expires_after(hosts_retry_delay);
  t->async_wait([p = shared_from_this(), &s, t](error_code) {
    p->hosts_retry_pending_.store(false);
    if (p->nwaiters.load() > 0) p->try_serve_waiters(s);
  });
}

namespace {
/// server_login_retry, but at least 100 ms: with 0, a server that fails at once (refused, a
/// cached failed lookup) would be retried in a busy loop while clients wait.
double login_retry(const config& c) { return std::max(c.server_login_retry, 0.1); }
}  // namespace

void pool::try_serve_waiters(shard& s, bool ask_idle) {
  const config& c = s.cfg();
  int to_launch = 0;
  bool schedule_retry = false;
  {
    std::lock_guard lk(mu);
    const int waiting = int(waiters.size());
    if (waiting == 0) {
      if (starved_by.load(std::memory_order_relaxed) != 0) note_starved({}, 0);
      return;
    }
    const pool_rules::serve_plan plan =
        pool_rules::plan_serving(waiting, connecting + idle_elsewhere(s), total.load(),
                                 pool_size.load(),
                                 last_login_failure, login_retry(c), retry_scheduled,
                                 clock::now());
    if (plan.failing) retry_scheduled = true;
    schedule_retry = plan.schedule_retry;
    to_launch = plan.launch;
    // While no host suits, one connection at a time walks the list (retry_hosts_later): a
    // queue of clients must not become a storm of logins to a standby.
    if (no_suitable_logged_.load()) to_launch = std::min(to_launch, connecting == 0 ? 1 : 0);
  }
  // A launch that a limit across pools refuses: the rest would be refused too. Those waiters
  // are starved while the pool has no idle server of its own on any shard (which the loop at
  // the end sends them); one idle server of a sibling pool is evicted for them per call, the
  // next when that one's slot has been taken (discard -> wake_starved -> here).
  pool_rules::starve_reason why{};
  int blocked = 0;
  for (int i = 0; i < to_launch; ++i) {
    const auto v = launch_server(s, pool_rules::launch_for::queue);
    if (v == pool_rules::launch_verdict::go) continue;
    why = pool_rules::starved_by(v);
    if (why != pool_rules::starve_reason::none) blocked = to_launch - i;
    break;
  }
  if (blocked > 0) {
    for (std::size_t i = 0; i < nshards; ++i)
      if (locals[i].idle_count.load() > 0) blocked = 0;
  }
  note_starved(blocked > 0 ? why : pool_rules::starve_reason::none,
               std::max(0, blocked - evicting.load()));
  if (blocked > 0 && take_eviction() && !registry.evict_for(*this, why)) {
    eviction_over();
    starved_want.fetch_add(1);  // given back: a sibling's server going idle may serve it
  }
  if (schedule_retry) {
    auto t = std::make_shared<asio::steady_timer>(s.io);
    std::unique_lock lk(mu);
    t->expires_at(last_login_failure + to_duration(login_retry(c)));
    lk.unlock();
    t->async_wait([p = shared_from_this(), &s, t](error_code) {
      {
        std::lock_guard lk2(p->mu);
        p->retry_scheduled = false;
      }
      p->try_serve_waiters(s);
    });
  }
  // Idle servers on other shards serve waiters here: ask their owners to release them.
  if (!ask_idle) return;
  for (auto& other : shards.shards) {
    if (other.get() == &s || locals[other->id].idle_count.load() == 0) continue;
    other->post_fn([p = shared_from_this()](shard& t) {
      auto& loc = p->locals[t.id];
      if (p->nwaiters.load() == 0) return;
      // A client of this shard took it meanwhile: it covered a waiter in the plan that
      // launched nothing for it, so the launches are planned again without it. The other
      // shards' idle servers have been asked already: asking again from here would bounce
      // posts between shards for as long as servers churn (a connection storm).
      if (loc.idle.empty()) {
        p->try_serve_waiters(t, false);
        return;
      }
      server_ptr srv = std::move(loc.idle.back());
      loc.idle.pop_back();
      loc.idle_count.fetch_sub(1);
      // Probed like take_idle's: a server PostgreSQL closed while it idled (a restart) must
      // not be handed to a waiter on another shard. discard() serves the waiters again.
      if (worth_probing(*p, *srv) && server_is_dead(*srv)) {
        p->discard(std::move(srv), t, "server conn crashed?");
        return;
      }
      p->release(std::move(srv), t);
    });
  }
}

int pool::idle_elsewhere(const shard& s) const {
  int n = 0;
  for (std::size_t i = 0; i < nshards; ++i)
    if (int(i) != s.id) n += locals[i].idle_count.load(std::memory_order_relaxed);
  return n;
}

void pool::server_lost() {
  constexpr auto window = std::chrono::seconds(5);
  check_idle_until.store((clock::now() + window).time_since_epoch().count(),
                         std::memory_order_relaxed);
  for (auto& sh : shards.shards) sh->post_fn([p = shared_from_this()](shard& t) { p->tidy(t); });
}

void pool::tidy(shard& s) {
  if (s.id == 0)
    if (auto hub = notifications_if_any()) hub->tidy(s);
  const config& c = s.cfg();
  auto& idle = locals[s.id].idle;
  for (std::size_t i = 0; i < idle.size();) {
    server_conn& srv = *idle[i];
    const char* reason = nullptr;
    if (server_is_dead(srv)) {
      reason = "server conn crashed?";
    } else {
      // Read again for each server: every one closed here lowers the total.
      pool_rules::pool_view pv = view_of(*this);
      pv.server_idle_timeout = c.server_idle_timeout;
      const auto verdict = pool_rules::on_idle(view_of(srv), pv, clock::now());
      if (verdict != pool_rules::server_verdict::keep) reason = pool_rules::reason(verdict, held());
    }
    if (!reason) {
      ++i;
      continue;
    }
    server_ptr gone = std::move(idle[i]);
    idle.erase(idle.begin() + std::ptrdiff_t(i));
    locals[s.id].idle_count.fetch_sub(1);
    discard(std::move(gone), s, reason);
  }
  // min_pool_size: shard 0 keeps the pool topped up once it has been used, or from the
  // start when its entry forces a user. Never by evicting another pool's server.
  if (pool_rules::tops_up(s.id, min_pool_size.load(), draining.load(), held()) &&
      !removed.load()) {
    int missing;
    {
      std::lock_guard lk(mu);
      const bool may = pool_rules::may_top_up(have_welcome, forced_user.load(),
                                              last_login_failure, login_retry(c), clock::now());
      missing = pool_rules::top_up_count(min_pool_size.load(), pool_size.load(), total.load(),
                                         may);
    }
    for (int i = 0; i < missing; ++i)
      if (launch_server(s, pool_rules::launch_for::top_up) != pool_rules::launch_verdict::go)
        break;
  }
  // A starved queue whose wake-up was missed (its sibling's server went idle on a shard
  // that found no want left, then the want came back): tried again once a second.
  if (s.id == 0 && starved_by.load() != 0 && nwaiters.load() > 0) try_serve_waiters(s);
}

bool pool::take_eviction() {
  int want = starved_want.load();
  while (want > 0) {
    if (starved_want.compare_exchange_weak(want, want - 1)) {
      evicting.fetch_add(1);
      return true;
    }
  }
  return false;
}

void pool::note_starved(pool_rules::starve_reason why, int want) {
  starved_want.store(want);
  const int was = starved_by.exchange(int(why));
  if ((was != 0) != (why != pool_rules::starve_reason::none))
    registry.starving_changed(was != 0 ? -1 : 1);
}

}  // namespace sluice

namespace sluice {

void pool::drain(shard& s, std::string_view reason) {
  auto& loc = locals[s.id];
  while (!loc.idle.empty()) {
    server_ptr gone = std::move(loc.idle.back());
    loc.idle.pop_back();
    loc.idle_count.fetch_sub(1);
    discard(std::move(gone), s, reason);
  }
}

}  // namespace sluice

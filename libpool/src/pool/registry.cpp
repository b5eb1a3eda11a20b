// The registry of pools: one per (database, user), created on first use.
#include "pool/pool.hpp"

#include <algorithm>
#include <set>

#include "sluice/log.hpp"

namespace sluice {

namespace {

/// The settings of the pool for (database entry, client user). `looked_up` holds the
/// passwords auth_query found for users that auth_file lacks.
pool_settings settings_for(const database_config& db, const std::string& dbname,
                           const std::string& user, const config& c, const userlist& users,
                           const std::map<std::string, std::string, std::less<>>& looked_up) {
  pool_settings st;
  pool_target& t = st.target;
  t.host = db.host;
  t.port = db.port;
  t.hosts = db.hosts;
  t.attrs = effective_session_attrs(c, db);
  t.balance = db.load_balance_hosts;
  t.dbname = db.dbname.empty() ? dbname : db.dbname;
  t.user = db.user.empty() ? user : db.user;
  t.password = db.password;
  if (t.password.empty()) {
    // From the userlist, as stored: plaintext or an md5 hash logs in directly; a SCRAM secret
    // needs the keys of a client that proved it (pass-through), which the pool learns when a
    // client logs in with SCRAM. The server login says which of these cannot answer what the
    // server asks.
    if (const std::string* stored = users.find(t.user))
      t.password = *stored;
    else if (auto it = looked_up.find(t.user); it != looked_up.end())
      t.password = it->second;
  }
  if (!db.client_encoding.empty())
    t.startup_params.emplace_back("client_encoding", db.client_encoding);
  if (!db.datestyle.empty()) t.startup_params.emplace_back("datestyle", db.datestyle);
  if (!db.timezone.empty()) t.startup_params.emplace_back("timezone", db.timezone);
  if (!db.application_name.empty())
    t.startup_params.emplace_back("application_name", db.application_name);
  t.connect_query = db.connect_query;
  t.server_tls = net::server_tls_settings(c);
  // A [users] entry wins over the database's settings, which win over [pgbouncer]'s: the
  // entry of the pool's user, which is the database's forced user= when it has one (the
  // login user's own entry does not apply then, as with pgbouncer).
  const user_config* u = c.find_user(t.user);
  auto pick = [&](auto user_value, auto db_value, auto global) {
    return u && user_value ? *user_value : db_value.value_or(global);
  };
  st.mode = pick(u ? u->mode : std::nullopt, db.mode, c.mode);
  st.pool_size = pick(u ? u->pool_size : std::nullopt, db.pool_size, c.default_pool_size);
  st.min_pool_size = db.min_pool_size.value_or(c.min_pool_size);
  st.reserve_size =
      pick(u ? u->reserve_pool_size : std::nullopt, db.reserve_pool_size, c.reserve_pool_size);
  st.max_db_connections = db.max_db_connections.value_or(c.max_db_connections);
  st.max_user_connections =
      u && u->max_user_connections ? *u->max_user_connections : c.max_user_connections;
  st.server_lifetime = db.server_lifetime.value_or(c.server_lifetime);
  st.query_wait_timeout =
      pick(u ? u->query_wait_timeout : std::nullopt, db.query_wait_timeout, c.query_wait_timeout);
  st.auto_db = db.name == "*";
  st.forced_user = !db.user.empty();
  return st;
}

/// The settings of an auth_query pool: the database entry's server, logged in as auth_user
/// with auth_file's password, never the entry's own user or password.
pool_settings auth_settings_for(const database_config& db, const std::string& dbname,
                                const std::string& auth_user, const config& c,
                                const userlist& users) {
  database_config as_auth = db;
  as_auth.user = auth_user;
  as_auth.password.clear();
  pool_settings st = settings_for(as_auth, dbname, auth_user, c, users, {});
  st.mode = pool_mode::session;  // no client ever links to one of its servers
  return st;
}

}  // namespace

std::shared_ptr<pool> pool_registry::find_or_add(const std::string& dbname, bool for_auth,
                                                  pool_settings st, bool& created) {
  pool_key key{dbname, st.target.user, for_auth};
  auto it = pools_.find(key);
  created = it == pools_.end();
  if (!created) return it->second;
  std::string pool_user = st.target.user;
  auto p = std::make_shared<pool>(*this, shards_, dbname, std::move(pool_user), std::move(st));
  p->for_auth = for_auth;
  pools_.emplace(std::move(key), p);
  return p;
}

pool_client_ref pool_registry::get(const database_config& db, const std::string& dbname,
                                   const std::string& user, const config& c,
                                   const userlist& users, bool& created) {
  std::lock_guard lk(mu_);
  // A login that read its shard's config before a reload reached that shard must not create
  // a pool with the old settings after reconfigure() has passed: new pools take the newest.
  const config& cfg = latest_ ? *latest_ : c;
  const database_config* entry = latest_ ? latest_->find_database(dbname) : &db;
  pool_settings st = settings_for(entry ? *entry : db, dbname, user, cfg,
                                  latest_users_ ? *latest_users_ : users, looked_up_);
  // Counted as a client under the lock, so reap() never drops a pool a session is taking.
  return pool_client_ref(find_or_add(dbname, false, std::move(st), created));
}

std::shared_ptr<pool> pool_registry::get_auth_pool(const database_config& db,
                                                   const std::string& dbname,
                                                   const std::string& auth_user,
                                                   const config& c, const userlist& users) {
  std::lock_guard lk(mu_);
  bool created = false;
  return find_or_add(dbname, true, auth_settings_for(db, dbname, auth_user, c, users), created);
}

void pool_registry::remember_password(const std::string& user, const std::string& password,
                                      const config& c, const userlist& users) {
  std::vector<std::pair<std::shared_ptr<pool>, pool_settings>> changed;
  {
    std::lock_guard lk(mu_);
    auto [it, added] = looked_up_.try_emplace(user, password);
    if (!added) {
      if (it->second == password) return;
      it->second = password;
    }
    // A password that changed in PostgreSQL: the user's pools log in with the new one, and
    // their servers of the old one close as they come back.
    for (auto& [key, p] : pools_) {
      if (key.for_auth || p->user_name != user || p->removed.load()) continue;
      if (const database_config* db = c.find_database(p->db_name))
        changed.emplace_back(p, settings_for(*db, p->db_name, user, c, users, looked_up_));
    }
  }
  // Applied outside the registry's lock: see reconfigure().
  for (auto& [p, st] : changed) p->reconfigure(std::move(st));
}

void pool_registry::reconfigure(config_ptr cfg, std::shared_ptr<const userlist> user_list) {
  peers_.configure(*cfg);
  std::vector<std::pair<std::shared_ptr<pool>, pool_settings>> changed;
  std::unique_lock lk(mu_);
  latest_ = std::move(cfg);
  latest_users_ = std::move(user_list);
  const config& c = *latest_;
  const userlist& users = *latest_users_;
  for (auto& [key, p] : pools_) {
    const database_config* db = c.find_database(p->db_name);
    pool_settings st;
    // The pool's key user is the server login user: the client's unless the entry names one.
    if (db)
      st = key.for_auth ? auth_settings_for(*db, p->db_name, p->user_name, c, users)
                        : settings_for(*db, p->db_name, p->user_name, c, users, looked_up_);
    if (!db || st.target.user != p->user_name) {
      // Gone, or now logging in as someone else (a new pool will serve new clients): its
      // clients are refused, and its servers close as they come back.
      p->removed.store(true);
      p->generation.fetch_add(1);
      for (auto& sh : shards_.shards) sh->post_fn([q = p](shard& t) { q->tidy(t); });
      continue;
    }
    changed.emplace_back(p, std::move(st));
  }
  lk.unlock();
  // pool::reconfigure takes the pool's mu, and a launch holds a pool's mu while it takes the
  // registry's (claim_slot, connection_totals): applied under the registry's lock, the two
  // orders could deadlock. Reloads are serialized by the runtime, so none overtakes this one.
  for (auto& [p, st] : changed) p->reconfigure(std::move(st));
}

void pool_registry::connection_totals(std::string_view db, std::string_view user, int& db_total,
                                      int& user_total) {
  db_total = user_total = 0;
  std::lock_guard lk(mu_);
  for (auto& [key, q] : pools_) {
    const int n = q->total.load();
    if (q->db_name == db) db_total += n;
    if (q->user_name == user) user_total += n;
  }
}

pool_rules::launch_verdict pool_registry::claim_slot(pool& p,
                                                     const pool_rules::launch_limits& limits) {
  int db_total = 0, user_total = 0;
  std::lock_guard lk(mu_);
  for (auto& [key, q] : pools_) {
    const int n = q->total.load();
    if (q->db_name == p.db_name) db_total += n;
    if (q->user_name == p.user_name) user_total += n;
  }
  const auto verdict = pool_rules::check_totals(limits, db_total, user_total);
  if (verdict == pool_rules::launch_verdict::go) ++p.total;  // p.mu is the caller's
  return verdict;
}

namespace {
/// q shares with the starved pool p the limit that starves it.
bool shares_limit(const pool& q, const pool& p, int why) {
  return why == int(pool_rules::starve_reason::db)     ? q.db_name == p.db_name
         : why == int(pool_rules::starve_reason::user) ? q.user_name == p.user_name
                                                       : false;
}
}  // namespace

bool pool_registry::evict_for(pool& p, pool_rules::starve_reason why) {
  std::shared_ptr<pool> victim;
  std::size_t on = 0;
  {
    std::lock_guard lk(mu_);
    int best = 0;
    // The sibling with the most idle servers, on the shard where it has most: its oldest
    // there goes. (pgbouncer takes the most idle server of all; idle lists here belong to
    // their shards, whose servers' ages other threads do not read.)
    for (auto& [key, q] : pools_) {
      if (q.get() == &p || q->nwaiters.load() > 0 || !shares_limit(*q, p, int(why))) continue;
      int sum = 0, top = 0;
      std::size_t top_on = 0;
      for (std::size_t i = 0; i < q->nshards; ++i) {
        const int n = q->locals[i].idle_count.load();
        sum += n;
        if (n > top) {
          top = n;
          top_on = i;
        }
      }
      if (sum > best) {
        best = sum;
        victim = q;
        on = top_on;
      }
    }
  }
  if (!victim) return false;
  shards_.shards[on]->post_fn([q = victim, p = p.shared_from_this()](shard& t) {
    auto& loc = q->locals[t.id];
    p->eviction_over();  // before discard(), whose wake-up lets p launch into the slot
    if (q->nwaiters.load() == 0 && !loc.idle.empty()) {
      server_ptr gone = std::move(loc.idle.front());
      loc.idle.erase(loc.idle.begin());
      loc.idle_count.fetch_sub(1);
      q->discard(std::move(gone), t, "evicted");
    } else if (p->nwaiters.load() > 0) {
      p->wake(t);  // gone meanwhile: p looks again
    }
  });
  return true;
}

std::shared_ptr<pool> pool_registry::starved_sibling(const pool& from) {
  std::lock_guard lk(mu_);
  for (auto& [key, r] : pools_) {
    if (r.get() == &from || r->nwaiters.load() == 0) continue;
    if (!shares_limit(from, *r, r->starved_by.load())) continue;
    if (r->take_eviction()) return r;
  }
  return nullptr;
}

void pool_registry::wake_starved(const pool& from, shard& s) {
  std::vector<std::shared_ptr<pool>> starved;
  {
    std::lock_guard lk(mu_);
    for (auto& [key, r] : pools_)
      if (r.get() != &from && r->nwaiters.load() > 0 && shares_limit(from, *r, r->starved_by.load()))
        starved.push_back(r);
  }
  for (auto& r : starved) r->wake(s);
}

void pool_registry::ensure_forced_pools(const config& c, const userlist& u) {
  std::lock_guard lk(mu_);
  const config& cfg = latest_ ? *latest_ : c;
  const userlist& users = latest_users_ ? *latest_users_ : u;
  for (const database_config& db : cfg.databases) {
    if (db.user.empty() || db.name == "*" || db.min_pool_size.value_or(cfg.min_pool_size) <= 0)
      continue;
    bool created = false;
    find_or_add(db.name, false, settings_for(db, db.name, db.user, cfg, users, looked_up_),
                created);
  }
}

std::vector<std::shared_ptr<pool>> pool_registry::all() {
  std::vector<std::shared_ptr<pool>> out;
  std::lock_guard lk(mu_);
  out.reserve(pools_.size());
  for (auto& [key, p] : pools_) out.push_back(p);
  return out;
}

void pool_registry::reap(const config& c) {
  const auto now = clock::now();
  auto older = [&](clock::time_point t, double limit) {
    return limit > 0 && now - t > std::chrono::duration_cast<clock::duration>(seconds_d(limit));
  };
  std::lock_guard lk(mu_);
  // Which pools are in use now. A waiter or an active server always has a client behind
  // it; they are counted too so that nothing in flight looks unused.
  std::map<std::string, clock::time_point, std::less<>> autodb_used;  // latest, per database
  for (auto& [key, p] : pools_) {
    const bool used =
        p->clients.load() > 0 || p->nwaiters.load() > 0 || p->active_total() > 0;
    if (used) {
      p->last_used = now;
      p->draining.store(false);
    }
    if (used || p->total.load() > 0) p->last_nonempty = now;
    if (p->auto_db.load()) {
      auto [it, fresh] = autodb_used.try_emplace(p->db_name, p->last_used);
      if (!fresh) it->second = std::max(it->second, p->last_used);
    }
  }
  // autodb_idle_timeout: an auto-database none of whose pools has been used for that long is
  // dropped whole, its idle servers closed first.
  for (const auto& [db, used] : autodb_used) {
    if (!older(used, c.autodb_idle_timeout)) continue;
    for (auto& [key, p] : pools_) {
      if (key.db != db || !p->auto_db.load() || p->draining.load()) continue;
      p->draining.store(true);
      for (auto& sh : shards_.shards)
        sh->post_fn([q = p](shard& t) { q->drain(t, "database removed"); });
    }
  }
  // Drop what is empty and unreferenced: pools being drained once their servers are gone, and
  // (pool_idle_timeout) pools that have had no client and no server for that long. A pool
  // someone else still references (a login, a janitor pass, work posted to a shard) waits
  // for the next pass: nobody can take a new reference while mu_ is held.
  std::set<std::string> autodb_dropped;
  for (auto it = pools_.begin(); it != pools_.end();) {
    pool& p = *it->second;
    // A forced user's pool with min_pool_size is kept (ensure_forced_pools would only make it
    // again): pgbouncer exempts it, even while its logins fail.
    const bool keeps_min = p.forced_user.load() && p.min_pool_size.load() > 0 && !p.removed.load();
    const bool idle_expired = !keeps_min && older(p.last_nonempty, c.pool_idle_timeout);
    const bool empty = p.total.load() == 0 && p.clients.load() == 0 && p.nwaiters.load() == 0;
    if ((p.draining.load() || idle_expired) && empty && it->second.use_count() == 1) {
      if (!p.draining.load())
        log::info("cleaning up idle pool for user {} on db {} because: pool idle timeout (age= {}s)",
                  p.user_name, p.db_name,
                  std::chrono::duration_cast<std::chrono::seconds>(now - p.last_nonempty).count());
      else if (p.auto_db.load())
        autodb_dropped.insert(p.db_name);
      if (p.starved_by.exchange(0) != 0) starving_changed(-1);
      it = pools_.erase(it);
      continue;
    }
    ++it;
  }
  // The database is gone with its last pool.
  for (const auto& db : autodb_dropped) {
    const bool left = std::any_of(pools_.begin(), pools_.end(), [&](const auto& e) {
      return e.first.db == db && e.second->auto_db.load();
    });
    if (!left)
      log::warning("dropping database '{}' as it does not exist anymore or inactive auto-database",
                   db);
  }
}

int pool_registry::active_total() {
  int active = 0;
  std::lock_guard lk(mu_);
  for (auto& [key, p] : pools_) active += p->active_total();
  return active;
}

db_state& pool_registry::state_of(std::string_view db) {
  std::lock_guard lk(states_mu_);
  auto it = states_.find(db);
  if (it == states_.end())
    it = states_.emplace(std::string(db), std::make_unique<db_state>()).first;
  return *it->second;
}

const char* client_counts::admit(const std::string& db, const std::string& user, int db_limit,
                                 int user_limit) {
  std::lock_guard lk(mu_);
  auto count = [](const auto& m, const std::string& k) {
    auto it = m.find(k);
    return it == m.end() ? 0 : it->second;
  };
  if (db_limit > 0 && count(by_db_, db) >= db_limit)
    return "client connections exceeded (max_db_client_connections)";
  if (user_limit > 0 && count(by_user_, user) >= user_limit)
    return "client connections exceeded (max_user_client_connections)";
  ++by_db_[db];
  ++by_user_[user];
  return nullptr;
}

void client_counts::leave(const std::string& db, const std::string& user) {
  std::lock_guard lk(mu_);
  if (auto it = by_db_.find(db); it != by_db_.end() && --it->second <= 0) by_db_.erase(it);
  if (auto it = by_user_.find(user); it != by_user_.end() && --it->second <= 0) by_user_.erase(it);
}

int client_counts::db_count(const std::string& db) {
  std::lock_guard lk(mu_);
  auto it = by_db_.find(db);
  return it == by_db_.end() ? 0 : it->second;
}

int client_counts::user_count(const std::string& user) {
  std::lock_guard lk(mu_);
  auto it = by_user_.find(user);
  return it == by_user_.end() ? 0 : it->second;
}

void pool_registry::clear() {
  std::lock_guard lk(mu_);
  // Sessions not yet destroyed may keep a pool alive past this: what belongs to the shards'
  // io_contexts (idle servers, waiters' timers) goes now, while those still exist.
  for (auto& [key, p] : pools_) {
    if (auto hub = p->notifications_if_any()) hub->close();  // its server, and its hold on p
    waiter_fifo::container waiters;  // destroyed after the pool's lock is let go
    {
      std::lock_guard plk(p->mu);
      waiters = p->waiters.take_all();
      p->nwaiters.store(0);
    }
    for (std::size_t i = 0; i < p->nshards; ++i) {
      p->locals[i].idle.clear();
      p->locals[i].idle_count.store(0);
    }
  }
  pools_.clear();
}

}  // namespace sluice

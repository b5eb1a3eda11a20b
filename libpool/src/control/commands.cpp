// The commands that act: PAUSE, RESUME, RECONNECT, KILL, KILL_CLIENT, DISABLE,
// ENABLE, WAIT_CLOSE. The console (admin/process_commands.cpp), the signals and later the
// HTTP endpoint call these; the texts of the errors are pgbouncer's.
//
// How they act on pools: a pause is a flag read by pool::held() (launch_server opens nothing
// while it is set) plus a generation bump, so that every server open at the time is closed
// as it is released, with no check added to the release path. RECONNECT is the bump alone.
#include <fmt/format.h>

#include <boost/asio/steady_timer.hpp>

#include "control/control.hpp"
#include "session/client_session.hpp"
#include "sluice/log.hpp"

namespace sluice {

namespace {

/// How often a command that waits (PAUSE, WAIT_CLOSE) looks again.
constexpr auto kPollEvery = std::chrono::milliseconds(20);

constexpr std::string_view kAdminDb = "pgbouncer";

awaitable<void> pause_for(asio::io_context& home, clock::duration d) {
  asio::steady_timer t(home);
  t.expires_after(d);
  co_await t.async_wait(nothrow);
}

/// A session of a database the commands act on: not the console's, and (if db is given) of db.
client_session* user_session(client_link* l, std::string_view db) {
  auto* c = static_cast<client_session*>(l);
  const session_view v = c->view();
  // Still reading its startup packet: no database yet.
  if (v.console || v.state >= session_state::closing || v.database.empty()) return nullptr;
  if (v.database == kAdminDb) return nullptr;
  if (!db.empty() && v.database != db) return nullptr;
  return c;
}

}  // namespace

std::string control::check_db(const config& cfg, std::string_view db, std::string_view verb) {
  const std::string name(db);
  if (name == kAdminDb) return fmt::format("cannot {} admin db: {}", verb, name);
  if (cfg.find_database(name)) return {};
  // An auto-database created from "*" stays known while its pools live.
  for (const auto& p : registry_.all())
    if (p->db_name == name) return {};
  return fmt::format("no such database: {}", name);
}

std::vector<std::shared_ptr<pool>> control::pools_of(std::string_view db) {
  std::vector<std::shared_ptr<pool>> out;
  for (auto& p : registry_.all())
    if ((db.empty() && p->db_name != kAdminDb) || p->db_name == db) out.push_back(std::move(p));
  return out;
}

void control::renew_servers(const std::vector<std::shared_ptr<pool>>& pools) {
  for (const auto& p : pools) {
    p->generation.fetch_add(1);
    // After a failover the host name may point elsewhere now: the new servers look it up
    // again rather than reuse the address cached for dns_max_ttl.
    const auto t = p->target();
    registry_.dns().forget(t->host, t->port);
  }
  tidy_everywhere(pools);
}

void control::tidy_everywhere(const std::vector<std::shared_ptr<pool>>& pools) {
  if (pools.empty()) return;
  for (auto& sh : shards_.shards)
    sh->post_fn([pools](shard& s) {
      for (const auto& p : pools) p->tidy(s);
    });
}

// ---------------------------------------------------------------------------- PAUSE / RESUME

command_result control::begin_pause(const config& cfg, std::string_view db) {
  if (shards_.paused.load()) return command_result::fail("already suspended/paused");
  if (db.empty()) {
    shards_.paused.store(true);
  } else {
    if (std::string e = check_db(cfg, db, "pause"); !e.empty()) return command_result::fail(e);
    registry_.state_of(db).paused.store(true);
  }
  // After the flag: a server launched from now on either sees the flag (and is not opened)
  // or was given the old generation (and closes when released).
  const auto pools = pools_of(db);
  renew_servers(pools);
  return {};
}

awaitable<void> control::wait_paused(std::string db, asio::io_context& home) {
  for (;;) {
    bool left = false;
    for (const auto& p : pools_of(db))
      if (p->total.load() > 0) left = true;
    // A RESUME meanwhile ends the wait too: there is nothing left to wait for.
    const bool still = db.empty() ? shards_.paused.load() : registry_.state_of(db).paused.load();
    if (!left || !still) co_return;
    co_await pause_for(home, kPollEvery);
  }
}

command_result control::resume(const config& cfg, std::string_view db) {
  std::vector<std::shared_ptr<pool>> pools;
  if (db.empty()) {
    // pgbouncer's text: sluice refuses SUSPEND, so only a PAUSE can be undone here.
    if (!shards_.paused.exchange(false))
      return command_result::fail("pooler is not paused/suspended");
    pools = pools_of({});
  } else {
    const std::string name(db);
    if (!cfg.find_database(name) && pools_of(db).empty())
      return command_result::fail(fmt::format("no such database: {}", name));
    if (!registry_.state_of(db).paused.exchange(false))
      return command_result::fail(fmt::format("database {} is not paused", name));
    pools = pools_of(db);
  }
  // Waiters queued during the pause get servers now.
  for (const auto& p : pools) {
    if (p->nwaiters.load() == 0) continue;
    shards_.at(0).post_fn([p](shard& s) { p->wake(s); });
  }
  return {};
}

// ---------------------------------------------------------------------------- RECONNECT / KILL

command_result control::reconnect(const config& cfg, std::string_view db) {
  if (!db.empty())
    if (std::string e = check_db(cfg, db, "reconnect"); !e.empty()) return command_result::fail(e);
  const auto pools = pools_of(db);
  renew_servers(pools);
  return {};
}

command_result control::kill(const config& cfg, std::string_view db) {
  if (shards_.paused.load()) return command_result::fail("already suspended/paused");
  if (!db.empty()) {
    if (std::string e = check_db(cfg, db, "kill"); !e.empty()) return command_result::fail(e);
    registry_.state_of(db).paused.store(true);
  }
  const auto pools = pools_of(db);
  // As pgbouncer: KILL without a database pauses every database that has a pool.
  for (const auto& p : pools) {
    p->dbstate.paused.store(true);
    p->generation.fetch_add(1);
  }
  const std::string name(db);
  for (auto& sh : shards_.shards)
    sh->post_fn([name, pools](shard& s) {
      for (client_link* l = s.clients.next; l != &s.clients; l = l->next)
        if (client_session* c = user_session(l, name)) c->kill("database removed");
      for (const auto& p : pools) p->tidy(s);
    });
  return {};
}

awaitable<bool> control::kill_client(std::uint64_t id, asio::io_context& home) {
  std::vector<char> found(shards_.size(), 0);
  co_await on_every_shard(shards_, home, [&found, id](shard& s) {
    for (client_link* l = s.clients.next; l != &s.clients; l = l->next) {
      auto* c = static_cast<client_session*>(l);
      const session_view v = c->view();
      if (v.id != id || v.state >= session_state::closing) continue;
      found[std::size_t(s.id)] = 1;
      c->kill("admin forced disconnect");
      return;
    }
  });
  for (char f : found)
    if (f) co_return true;
  co_return false;
}

// ---------------------------------------------------------------------------- DISABLE / ENABLE

command_result control::disable(const config& cfg, std::string_view db) {
  if (db.empty()) return command_result::fail("a database is required");
  if (std::string e = check_db(cfg, db, "disable"); !e.empty()) return command_result::fail(e);
  registry_.state_of(db).disabled.store(true);
  return {};
}

command_result control::enable(const config& cfg, std::string_view db) {
  if (db.empty()) return command_result::fail("a database is required");
  if (std::string e = check_db(cfg, db, "enable"); !e.empty()) return command_result::fail(e);
  registry_.state_of(db).disabled.store(false);
  return {};
}

// ---------------------------------------------------------------------------- WAIT_CLOSE

command_result control::check_wait_close(const config& cfg, std::string_view db) {
  if (db.empty()) return {};
  if (std::string e = check_db(cfg, db, "wait in"); !e.empty()) return command_result::fail(e);
  return {};
}

awaitable<void> control::wait_closed(std::string db, asio::io_context& home) {
  for (;;) {
    const auto pools = pools_of(db);
    std::vector<int> old(shards_.size(), 0);
    co_await on_every_shard(shards_, home, [&old, &pools, &db](shard& s) {
      int& n = old[std::size_t(s.id)];
      for (const auto& p : pools) {
        const auto gen = p->generation.load();
        for (const auto& srv : p->locals[s.id].idle)
          if (srv->generation != gen) ++n;
      }
      for (client_link* l = s.clients.next; l != &s.clients; l = l->next) {
        const client_session* c = user_session(l, db);
        if (!c) continue;
        const session_view v = c->view();
        if (v.server && v.pool_of && v.server->generation != v.pool_of->generation.load()) ++n;
      }
    });
    int n = 0;
    for (int o : old) n += o;
    if (n == 0) co_return;
    co_await pause_for(home, kPollEvery);
  }
}

}  // namespace sluice

// SHOW POOLS, DATABASES, USERS.
#include <fmt/format.h>

#include <map>
#include <set>

#include "admin/admin.hpp"
#include "session/client_session.hpp"

namespace sluice {

namespace {

/// What one shard counts for a pool: its clients by state, and its idle servers by whether
/// server_check_query is due.
struct pool_counts {
  long long cl_active = 0, cl_waiting = 0, sv_idle = 0, sv_used = 0;
};

}  // namespace

awaitable<console_result> admin_console::show_pools(const admin_request& req) {
  const std::vector<std::shared_ptr<pool>> pools = ctl_.registry().all();
  const std::size_t nshards = ctl_.shards().size();
  // [shard][pool index], written by each shard into its own row only.
  std::vector<std::vector<pool_counts>> per(nshards, std::vector<pool_counts>(pools.size()));
  std::vector<long long> console_clients(nshards, 0);
  co_await control::on_every_shard(ctl_.shards(), req.home.io, [&](shard& s) {
    auto& mine = per[std::size_t(s.id)];
    std::map<const pool*, std::size_t> index;
    for (std::size_t i = 0; i < pools.size(); ++i) index[pools[i].get()] = i;
    for (client_link* l = s.clients.next; l != &s.clients; l = l->next) {
      const auto* c = static_cast<const client_session*>(l);
      if (c->console) {
        ++console_clients[std::size_t(s.id)];
        continue;
      }
      if (!c->logged_in || c->closing || !c->pool_) continue;
      auto it = index.find(c->pool_.get());
      if (it == index.end()) continue;
      ++(c->wait_ ? mine[it->second].cl_waiting : mine[it->second].cl_active);
    }
    const double check_delay = s.cfg().server_check_delay;
    for (std::size_t i = 0; i < pools.size(); ++i) {
      for (const server_ptr& srv : pools[i]->locals[std::size_t(s.id)].idle) {
        const bool due = check_delay <= 0 || seconds_since(srv->idle_since) > check_delay;
        ++(due ? mine[i].sv_used : mine[i].sv_idle);
      }
    }
  });

  result_builder b;
  b.text("database").text("user");
  for (const char* n : {"cl_active", "cl_waiting", "cl_active_cancel_req", "cl_waiting_cancel_req",
                        "sv_active", "sv_active_cancel", "sv_being_canceled", "sv_idle", "sv_used",
                        "sv_tested", "sv_login", "maxwait", "maxwait_us"})
    b.int4(n);
  b.text("pool_mode").text("load_balance_hosts");

  long long consoles = 0;
  for (long long n : console_clients) consoles += n;
  b.row().add("pgbouncer").add("pgbouncer").add(consoles);
  for (int i = 0; i < 12; ++i) b.add(0);
  b.add("statement").null();

  for (std::size_t i = 0; i < pools.size(); ++i) {
    pool& p = *pools[i];
    pool_counts sum;
    for (std::size_t s = 0; s < nshards; ++s) {
      sum.cl_active += per[s][i].cl_active;
      sum.cl_waiting += per[s][i].cl_waiting;
      sum.sv_idle += per[s][i].sv_idle;
      sum.sv_used += per[s][i].sv_used;
    }
    long long login = 0, wait_us = 0;
    {
      std::lock_guard lk(p.mu);
      login = p.connecting;
      if (!p.waiters.empty())
        wait_us = std::chrono::duration_cast<std::chrono::microseconds>(clock::now() -
                                                                        p.waiters.front()->since)
                      .count();
    }
    b.row().add(p.db_name).add(p.user_name).add(sum.cl_active).add(sum.cl_waiting).add(0).add(0);
    b.add(p.active_total()).add(0).add(0).add(sum.sv_idle).add(sum.sv_used).add(0).add(login);
    b.add(wait_us / 1000000).add(wait_us % 1000000).add(to_string(p.mode.load())).null();
  }
  co_return b.done();
}

awaitable<console_result> admin_console::show_databases(const admin_request& req) {
  const config& c = req.home.cfg();
  pool_registry& reg = ctl_.registry();
  result_builder b;
  b.text("name").text("host").int4("port").text("database").text("force_user");
  b.int4("pool_size").int4("min_pool_size").int4("reserve_pool_size").int4("server_lifetime");
  b.text("pool_mode").text("load_balance_hosts").int4("max_connections");
  b.int4("current_connections").int4("max_client_connections");
  b.int4("current_client_connections").int4("paused").int4("disabled");

  // The configured databases, then those the "*" entry created, then the console's own.
  std::vector<std::pair<std::string, const database_config*>> dbs;
  std::set<std::string> seen;
  for (const auto& db : c.databases)
    if (db.name != "*" && seen.insert(db.name).second) dbs.emplace_back(db.name, &db);
  for (const auto& p : reg.all())
    if (const database_config* db = c.find_database(p->db_name); db && db->name == "*")
      if (seen.insert(p->db_name).second) dbs.emplace_back(p->db_name, db);
  for (const auto& [name, db] : dbs) {
    int servers = 0, unused = 0;
    reg.connection_totals(name, {}, servers, unused);
    b.row().add(name);
    if (db->host.empty())
      b.null();
    else
      b.add(db->host);
    b.add(db->port).add(db->dbname.empty() ? name : db->dbname);
    if (db->user.empty())
      b.null();
    else
      b.add(db->user);
    b.add(db->pool_size.value_or(c.default_pool_size))
        .add(db->min_pool_size.value_or(c.min_pool_size))
        .add(db->reserve_pool_size.value_or(c.reserve_pool_size))
        .add(static_cast<long long>(c.server_lifetime));
    if (db->mode)
      b.add(to_string(*db->mode));
    else
      b.null();
    b.null()  // load_balance_hosts: shown for host lists only, which sluice does not take yet
        .add(db->max_db_connections.value_or(c.max_db_connections))
        .add(servers)
        .add(db->max_db_client_connections.value_or(c.max_db_client_connections))
        .add(reg.clients.db_count(name))
        .add(reg.state_of(name).paused.load() ? 1 : 0)
        .add(reg.state_of(name).disabled.load() ? 1 : 0);
  }
  b.row().add("pgbouncer").null().add(c.listen_port).add("pgbouncer").add("pgbouncer");
  b.add(2).add(0).add(0).add(static_cast<long long>(c.server_lifetime)).add("statement").null();
  b.add(0).add(0).add(0).add(0).add(0).add(0);
  co_return b.done();
}

awaitable<console_result> admin_console::show_users(const admin_request& req) {
  const config& c = req.home.cfg();
  pool_registry& reg = ctl_.registry();
  std::set<std::string> names;
  for (const auto& [name, pw] : req.home.users().passwords) names.insert(name);
  for (const auto& [name, u] : c.users) names.insert(name);
  for (const auto& p : reg.all()) names.insert(p->user_name);
  result_builder b;
  b.text("name").text("pool_size").text("reserve_pool_size").text("pool_mode");
  b.int4("max_user_connections").int4("current_connections");
  b.int4("max_user_client_connections").int4("current_client_connections");
  for (const auto& name : names) {
    const user_config* u = c.find_user(name);
    int unused = 0, servers = 0;
    reg.connection_totals({}, name, unused, servers);
    b.row().add(name);
    if (u && u->pool_size)
      b.add(*u->pool_size);
    else
      b.add("");
    if (u && u->reserve_pool_size)
      b.add(*u->reserve_pool_size);
    else
      b.add("");
    if (u && u->mode)
      b.add(to_string(*u->mode));
    else
      b.null();
    b.add(u && u->max_user_connections ? *u->max_user_connections : c.max_user_connections)
        .add(servers)
        .add(u && u->max_user_client_connections ? *u->max_user_client_connections
                                                 : c.max_user_client_connections)
        .add(reg.clients.user_count(name));
  }
  co_return b.done();
}

}  // namespace sluice

// The pools, databases, users and lists snapshots. What a shard counts (its clients, its
// idle servers) is counted on its own thread into its own slot; the caller merges.
#include "control/pools.hpp"

#include <map>
#include <set>

#include "session/client_session.hpp"

namespace sluice {

namespace {

/// What one shard counts for a pool: its clients by state, its idle servers by whether
/// server_check_query is due, and its servers running a check or reset query.
struct pool_counts {
  long long cl_active = 0, cl_waiting = 0, sv_idle = 0, sv_used = 0, sv_tested = 0;
};

}  // namespace

awaitable<std::vector<pool_info>> snapshot_pools(control& ctl, asio::io_context& home) {
  const std::vector<std::shared_ptr<pool>> pools = ctl.registry().all();
  const std::size_t nshards = ctl.shards().size();
  // [shard][pool index], written by each shard into its own row only.
  std::vector<std::vector<pool_counts>> per(nshards, std::vector<pool_counts>(pools.size()));
  std::vector<long long> console_clients(nshards, 0);
  co_await control::on_every_shard(ctl.shards(), home, [&](shard& s) {
    auto& mine = per[std::size_t(s.id)];
    std::map<const pool*, std::size_t> index;
    for (std::size_t i = 0; i < pools.size(); ++i) index[pools[i].get()] = i;
    for (client_link* l = s.clients.next; l != &s.clients; l = l->next) {
      const session_view c = static_cast<const client_session*>(l)->view();
      if (c.console) {
        ++console_clients[std::size_t(s.id)];
        continue;
      }
      if (!c.logged_in || c.state >= session_state::closing || !c.pool_of) continue;
      auto it = index.find(c.pool_of);
      if (it == index.end()) continue;
      ++(c.state == session_state::waiting ? mine[it->second].cl_waiting
                                           : mine[it->second].cl_active);
    }
    for (std::size_t i = 0; i < pools.size(); ++i) {
      for (const server_ptr& srv : pools[i]->locals[std::size_t(s.id)].idle) {
        ++(check_due(*srv, s.cfg()) ? mine[i].sv_used : mine[i].sv_idle);
      }
    }
    for (client_link* l = s.servers.next; l != &s.servers; l = l->next) {
      const auto* srv = static_cast<const server_conn*>(l);
      if (!srv->testing) continue;
      if (auto it = index.find(srv->owner); it != index.end()) ++mine[it->second].sv_tested;
    }
  });

  std::vector<pool_info> out;
  out.reserve(pools.size() + 1);
  // The console's sessions are statement-mode clients of a pool with no server.
  pool_info& con = out.emplace_back();
  con.database = con.user = "pgbouncer";
  con.console = true;
  con.mode = pool_mode::statement;
  for (long long n : console_clients) con.cl_active += n;

  for (std::size_t i = 0; i < pools.size(); ++i) {
    pool& p = *pools[i];
    pool_info& info = out.emplace_back();
    info.database = p.db_name;
    info.user = p.user_name;
    info.for_auth = p.for_auth;
    for (std::size_t s = 0; s < nshards; ++s) {
      info.cl_active += per[s][i].cl_active;
      info.cl_waiting += per[s][i].cl_waiting;
      info.sv_idle += per[s][i].sv_idle;
      info.sv_used += per[s][i].sv_used;
      info.sv_tested += per[s][i].sv_tested;
    }
    {
      std::lock_guard lk(p.mu);
      info.sv_login = p.connecting;
      if (!p.waiters.empty())
        info.maxwait_us = std::chrono::duration_cast<std::chrono::microseconds>(
                              clock::now() - p.waiters.front()->since)
                              .count();
    }
    info.sv_active = p.active_total();
    info.mode = p.mode.load();
    if (const auto t = p.target(); t->hosts.size() > 1) info.balance = t->balance;
  }
  co_return out;
}

std::vector<peer_info> snapshot_peers(control& ctl, const config& cfg) {
  std::vector<peer_info> out;
  const std::vector<peer_pool_row> pools = ctl.registry().peers().pool_rows();
  for (const auto& [id, p] : cfg.peers) {
    peer_info i{id, p.host, p.port, p.pool_size.value_or(cfg.default_pool_size),
                id == cfg.peer_id, {}};
    i.pool.peer_id = id;
    for (const peer_pool_row& r : pools)
      if (r.peer_id == id) i.pool = r;
    out.push_back(std::move(i));
  }
  return out;
}

std::vector<database_info> snapshot_databases(control& ctl, const config& c) {
  pool_registry& reg = ctl.registry();
  std::vector<std::pair<std::string, const database_config*>> dbs;
  std::set<std::string> seen;
  for (const auto& db : c.databases)
    if (db.name != "*" && seen.insert(db.name).second) dbs.emplace_back(db.name, &db);
  for (const auto& p : reg.all())
    if (const database_config* db = c.find_database(p->db_name); db && db->name == "*")
      if (seen.insert(p->db_name).second) dbs.emplace_back(p->db_name, db);

  std::vector<database_info> out;
  out.reserve(dbs.size() + 1);
  for (const auto& [name, db] : dbs) {
    database_info& d = out.emplace_back();
    int unused = 0;
    reg.connection_totals(name, {}, d.current_connections, unused);
    d.name = name;
    d.host = db->host;
    d.port = db->port;
    d.dbname = db->dbname.empty() ? name : db->dbname;
    d.force_user = db->user;
    d.pool_size = db->pool_size.value_or(c.default_pool_size);
    d.min_pool_size = db->min_pool_size.value_or(c.min_pool_size);
    d.reserve_pool_size = db->reserve_pool_size.value_or(c.reserve_pool_size);
    d.server_lifetime = c.server_lifetime;
    d.mode = db->mode;
    d.max_connections = db->max_db_connections.value_or(c.max_db_connections);
    d.max_client_connections = db->max_db_client_connections.value_or(c.max_db_client_connections);
    d.current_client_connections = reg.clients.db_count(name);
    d.paused = reg.state_of(name).paused.load();
    d.disabled = reg.state_of(name).disabled.load();
    if (db->hosts.size() > 1) d.balance = db->load_balance_hosts;
    for (const auto& p : reg.all()) {
      if (p->db_name != name || p->for_auth) continue;
      d.role_changes += p->role_changes.load();
      if (p->no_suitable_host()) d.no_suitable_host = true;
      if (d.hosts.empty() && db->hosts.size() > 1) {
        for (const auto& h : p->hosts_seen())
          d.hosts.push_back({h.host, h.port, h.up, std::string(h.role.name())});
      }
      const int i = p->host_in_use.load();
      const auto t = p->target();
      if (!d.host_in_use.empty() || i < 0 || std::size_t(i) >= t->hosts.size()) continue;
      d.port = t->hosts[std::size_t(i)].port;
      d.host_in_use = fmt::format("{}:{}", t->hosts[std::size_t(i)].host, d.port);
    }
  }

  database_info& con = out.emplace_back();
  con.name = con.dbname = con.force_user = "pgbouncer";
  con.console = true;
  con.port = c.listen_port;
  con.max_client_connections = c.max_db_client_connections;
  con.current_client_connections = reg.clients.db_count("pgbouncer");
  con.pool_size = 2;
  con.server_lifetime = c.server_lifetime;
  con.mode = pool_mode::statement;
  return out;
}

std::vector<user_info> snapshot_users(control& ctl, const config& c, const userlist& users) {
  pool_registry& reg = ctl.registry();
  std::set<std::string> names;
  for (const auto& [name, pw] : users.passwords) names.insert(name);
  for (const auto& [name, u] : c.users) names.insert(name);
  for (const auto& p : reg.all()) names.insert(p->user_name);

  std::vector<user_info> out;
  out.reserve(names.size());
  for (const auto& name : names) {
    const user_config* u = c.find_user(name);
    user_info& info = out.emplace_back();
    int unused = 0;
    reg.connection_totals({}, name, unused, info.current_connections);
    info.name = name;
    if (u) {
      info.pool_size = u->pool_size;
      info.reserve_pool_size = u->reserve_pool_size;
      info.mode = u->mode;
    }
    info.max_user_connections =
        u && u->max_user_connections ? *u->max_user_connections : c.max_user_connections;
    info.max_user_client_connections = u && u->max_user_client_connections
                                           ? *u->max_user_client_connections
                                           : c.max_user_client_connections;
    info.current_client_connections = reg.clients.user_count(name);
  }
  return out;
}

awaitable<lists_info> snapshot_lists(control& ctl, config_ptr cfg, asio::io_context& home) {
  // Counted by each shard on its own thread: its clients, by state.
  struct counts {
    long long used_clients = 0, login_clients = 0;
  };
  std::vector<counts> per(ctl.shards().size());
  co_await control::on_every_shard(ctl.shards(), home, [&per](shard& s) {
    counts& c = per[std::size_t(s.id)];
    for (client_link* l = s.clients.next; l != &s.clients; l = l->next) {
      ++c.used_clients;
      if (!static_cast<const client_session*>(l)->view().logged_in) ++c.login_clients;
    }
  });
  lists_info out;
  for (const auto& c : per) {
    out.used_clients += c.used_clients;
    out.login_clients += c.login_clients;
  }
  const auto pools = ctl.registry().all();
  std::set<std::string> users;
  for (const auto& p : pools) {
    users.insert(p->user_name);
    out.used_servers += p->total.load();
  }
  out.databases = static_cast<long long>(cfg->databases.size()) + 1;  // + the pgbouncer database
  out.users = static_cast<long long>(users.size());
  out.pools = static_cast<long long>(pools.size());
  co_return out;
}

}  // namespace sluice

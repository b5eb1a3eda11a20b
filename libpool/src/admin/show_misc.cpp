// SHOW HELP, VERSION, CONFIG, STATE, LISTS, DNS_HOSTS, DNS_ZONES, PEERS, PEER_POOLS.
#include <fmt/format.h>

#include <set>

#include "admin/admin.hpp"
#include "session/client_session.hpp"

namespace sluice {

awaitable<console_result> admin_console::show_help(const admin_request&) {
  console_result r;
  r.notices.push_back(
      "Console usage\n"
      "\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION\n"
      "\tSHOW PEERS|PEER_POOLS\n"
      "\tSHOW FDS|SOCKETS|ACTIVE_SOCKETS|LISTS|MEM|STATE\n"
      "\tSHOW DNS_HOSTS|DNS_ZONES\n"
      "\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS\n"
      "\tSET key = arg\n"
      "\tRELOAD\n"
      "\tPAUSE [<db>]\n"
      "\tRESUME [<db>]\n"
      "\tDISABLE <db>\n"
      "\tENABLE <db>\n"
      "\tRECONNECT [<db>]\n"
      "\tKILL [<db>]\n"
      "\tKILL_CLIENT <client_id>\n"
      "\tSUSPEND\n"
      "\tSHUTDOWN\n"
      "\tSHUTDOWN WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS\n"
      "\tWAIT_CLOSE [<db>]");
  r.tag = "SHOW";
  co_return r;
}

awaitable<console_result> admin_console::show_version(const admin_request&) {
  result_builder b;
  b.text("version");
  b.row().add("sluice " SLUICE_VERSION);
  co_return b.done();
}

awaitable<console_result> admin_console::show_config(const admin_request& req) {
  result_builder b;
  b.text("key").text("value").text("default").text("changeable");
  for (const auto& row : sluice::show_config(req.home.cfg()))
    b.row().add(row.key).add(row.value).add(row.default_value).add(row.changeable ? "yes" : "no");
  co_return b.done();
}

awaitable<console_result> admin_console::show_state(const admin_request&) {
  const shard_set& set = ctl_.shards();
  const bool paused = set.paused.load();
  result_builder b;
  b.text("key").text("value");
  b.row().add("active").add(!paused ? "yes" : "no");
  b.row().add("paused").add(paused ? "yes" : "no");
  // pgbouncer's row; sluice refuses SUSPEND, so it is never suspended.
  b.row().add("suspended").add("no");
  co_return b.done();
}

awaitable<console_result> admin_console::show_lists(const admin_request& req) {
  // Counted by each shard on its own thread: its clients, by state.
  struct counts {
    long long used_clients = 0, login_clients = 0;
  };
  std::vector<counts> per(ctl_.shards().size());
  co_await control::on_every_shard(ctl_.shards(), req.home.io, [&per](shard& s) {
    counts& c = per[std::size_t(s.id)];
    for (client_link* l = s.clients.next; l != &s.clients; l = l->next) {
      ++c.used_clients;
      if (!static_cast<const client_session*>(l)->logged_in) ++c.login_clients;
    }
  });
  counts all;
  for (const auto& c : per) {
    all.used_clients += c.used_clients;
    all.login_clients += c.login_clients;
  }
  const auto pools = ctl_.registry().all();
  std::set<std::string> users;
  long long servers = 0;
  for (const auto& p : pools) {
    users.insert(p->user_name);
    servers += p->total.load();
  }
  const config& c = req.home.cfg();
  result_builder b;
  b.text("list").int4("items");
  b.row().add("databases").add(c.databases.size() + 1);  // + the pgbouncer database
  b.row().add("users").add(users.size());
  b.row().add("peers").add(0);
  b.row().add("pools").add(pools.size());
  b.row().add("peer_pools").add(0);
  // sluice keeps no free lists of client or server objects: nothing is free.
  b.row().add("free_clients").add(0);
  b.row().add("used_clients").add(all.used_clients);
  b.row().add("login_clients").add(all.login_clients);
  b.row().add("free_servers").add(0);
  b.row().add("used_servers").add(servers);
  b.row().add("dns_names").add(0);
  b.row().add("dns_zones").add(0);
  b.row().add("dns_queries").add(0);
  b.row().add("dns_pending").add(0);
  co_return b.done();
}

awaitable<console_result> admin_console::show_dns_hosts(const admin_request&) {
  // Host names are resolved per connection: there is no cache to list.
  result_builder b;
  b.text("hostname").int8("ttl").text("addrs");
  co_return b.done();
}

awaitable<console_result> admin_console::show_dns_zones(const admin_request&) {
  result_builder b;
  b.text("zonename").int8("serial").int4("count");
  co_return b.done();
}

awaitable<console_result> admin_console::show_peers(const admin_request&) {
  // Peering is not supported: [peers] entries are accepted with a warning, none is used.
  result_builder b;
  b.int4("peer_id").text("host").int4("port").int4("pool_size");
  co_return b.done();
}

awaitable<console_result> admin_console::show_peer_pools(const admin_request&) {
  result_builder b;
  b.int4("peer_id")
      .int4("cl_active_cancel_req")
      .int4("cl_waiting_cancel_req")
      .int4("sv_active_cancel")
      .int4("sv_login");
  co_return b.done();
}

}  // namespace sluice

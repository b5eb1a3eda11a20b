// SHOW HELP, VERSION, CONFIG, STATE, LISTS, DNS_HOSTS, DNS_ZONES, PEERS, PEER_POOLS.
#include "admin/admin.hpp"
#include "control/pools.hpp"
#include "sluice/config.hpp"

namespace sluice {

awaitable<console_result> admin_console::show_help(const admin_request&) {
  console_result r;
  r.notices.push_back(
      "Console usage\n"
      "\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION\n"
      "\tSHOW PEERS|PEER_POOLS\n"
      "\tSHOW LISTENERS\n"
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
  for (const auto& row : sluice::show_config(*control::config_of(req.home)))
    b.row().add(row.key).add(row.value).add(row.default_value).add(row.changeable ? "yes" : "no");
  co_return b.done();
}

awaitable<console_result> admin_console::show_state(const admin_request&) {
  const pooler_state st = ctl_.state();
  result_builder b;
  b.text("key").text("value");
  b.row().add("active").add(st.paused ? "no" : "yes");
  b.row().add("paused").add(st.paused ? "yes" : "no");
  b.row().add("suspended").add("no");  // pgbouncer's row; sluice refuses SUSPEND
  co_return b.done();
}

awaitable<console_result> admin_console::show_lists(const admin_request& req) {
  const lists_info l = co_await snapshot_lists(ctl_, control::config_of(req.home), req.home.io);
  result_builder b;
  b.text("list").int4("items");
  b.row().add("databases").add(l.databases);
  b.row().add("users").add(l.users);
  b.row().add("peers").add(int(control::config_of(req.home)->peers.size()));
  b.row().add("pools").add(l.pools);
  b.row().add("peer_pools").add(int(ctl_.registry().peers().pool_rows().size()));
  // sluice keeps no free lists of client or server objects: nothing is free.
  b.row().add("free_clients").add(0);
  b.row().add("used_clients").add(l.used_clients);
  b.row().add("login_clients").add(l.login_clients);
  b.row().add("free_servers").add(0);
  b.row().add("used_servers").add(l.used_servers);
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

awaitable<console_result> admin_console::show_peers(const admin_request& req) {
  // Every [peers] entry, this process's own included (as pgbouncer lists it).
  result_builder b;
  b.int4("peer_id").text("host").int4("port").int4("pool_size");
  for (const peer_info& p : snapshot_peers(ctl_, *control::config_of(req.home)))
    b.row().add(p.peer_id).add(p.host).add(p.port).add(p.pool_size);
  co_return b.done();
}

awaitable<console_result> admin_console::show_peer_pools(const admin_request& req) {
  // A pool per peer other than this process (pgbouncer makes one for each it forwards to).
  result_builder b;
  b.int4("peer_id")
      .int4("cl_active_cancel_req")
      .int4("cl_waiting_cancel_req")
      .int4("sv_active_cancel")
      .int4("sv_login");
  for (const peer_info& p : snapshot_peers(ctl_, *control::config_of(req.home))) {
    if (p.self) continue;
    const peer_pool_row& r = p.pool;
    b.row().add(r.peer_id).add(r.active).add(r.waiting).add(r.active).add(r.connecting);
  }
  co_return b.done();
}

awaitable<console_result> admin_console::show_listeners(const admin_request&) {
  // sluice's own: LISTEN/NOTIFY in transaction mode, a row per channel some client listens to.
  result_builder b;
  b.text("database").text("user").text("channel").int4("clients").int8("delivered");
  for (const auto& p : ctl_.registry().all())
    if (const auto hub = p->notifications_if_any())
      for (const auto& r : hub->channel_rows())
        b.row().add(p->db_name).add(p->user_name).add(r.channel).add(r.clients).add(r.delivered);
  co_return b.done();
}

}  // namespace sluice

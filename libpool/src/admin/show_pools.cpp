// SHOW POOLS, DATABASES, USERS: rows of the control API's pools, databases and users
// snapshots (control/pools.hpp), in pgbouncer's columns.
#include "admin/admin.hpp"
#include "control/pools.hpp"

namespace sluice {

namespace {

void add_text_or_null(result_builder& b, const std::string& v) {
  if (v.empty())
    b.null();
  else
    b.add(v);
}

void add_mode_or_null(result_builder& b, const std::optional<pool_mode>& m) {
  if (m)
    b.add(to_string(*m));
  else
    b.null();
}

}  // namespace

awaitable<console_result> admin_console::show_pools(const admin_request& req) {
  const std::vector<pool_info> pools = co_await snapshot_pools(ctl_, req.home.io);
  result_builder b;
  b.text("database").text("user");
  for (const char* n : {"cl_active", "cl_waiting", "cl_active_cancel_req", "cl_waiting_cancel_req",
                        "sv_active", "sv_active_cancel", "sv_being_canceled", "sv_idle", "sv_used",
                        "sv_tested", "sv_login", "maxwait", "maxwait_us"})
    b.int4(n);
  b.text("pool_mode").text("load_balance_hosts");
  // Cancel requests are forwarded at once, never queued or pooled: those columns are 0.
  for (const pool_info& p : pools) {
    b.row().add(p.database).add(p.user).add(p.cl_active).add(p.cl_waiting).add(0).add(0);
    b.add(p.sv_active).add(0).add(0).add(p.sv_idle).add(p.sv_used).add(p.sv_tested).add(p.sv_login);
    b.add(p.maxwait_us / 1000000).add(p.maxwait_us % 1000000).add(to_string(p.mode));
    if (p.balance)
      b.add(to_string(*p.balance));
    else
      b.null();  // load_balance_hosts: shown for host lists only, as pgbouncer does
  }
  co_return b.done();
}

awaitable<console_result> admin_console::show_databases(const admin_request& req) {
  const std::vector<database_info> dbs = snapshot_databases(ctl_, *control::config_of(req.home));
  result_builder b;
  b.text("name").text("host").int4("port").text("database").text("force_user");
  b.int4("pool_size").int4("min_pool_size").int4("reserve_pool_size").int4("server_lifetime");
  b.text("pool_mode").text("load_balance_hosts").int4("max_connections");
  b.int4("current_connections").int4("max_client_connections");
  b.int4("current_client_connections").int4("paused").int4("disabled");
  b.text("host_in_use");  // sluice's own: the host of the list now used, "host:port"
  for (const database_info& d : dbs) {
    b.row().add(d.name);
    add_text_or_null(b, d.host);
    b.add(d.port).add(d.dbname);
    add_text_or_null(b, d.force_user);
    b.add(d.pool_size).add(d.min_pool_size).add(d.reserve_pool_size);
    b.add(static_cast<long long>(d.server_lifetime));
    add_mode_or_null(b, d.mode);
    if (d.balance)
      b.add(to_string(*d.balance));
    else
      b.null();  // load_balance_hosts: shown for host lists only, as pgbouncer does
    b.add(d.max_connections)
        .add(d.current_connections)
        .add(d.max_client_connections)
        .add(d.current_client_connections)
        .add(d.paused ? 1 : 0)
        .add(d.disabled ? 1 : 0);
    add_text_or_null(b, d.host_in_use);
  }
  co_return b.done();
}

awaitable<console_result> admin_console::show_users(const admin_request& req) {
  const std::vector<user_info> users =
      snapshot_users(ctl_, *control::config_of(req.home), control::users_of(req.home));
  result_builder b;
  b.text("name").text("pool_size").text("reserve_pool_size").text("pool_mode");
  b.int4("max_user_connections").int4("current_connections");
  b.int4("max_user_client_connections").int4("current_client_connections");
  for (const user_info& u : users) {
    b.row().add(u.name);
    // pgbouncer prints an unset size as an empty string, an unset mode as NULL.
    if (u.pool_size)
      b.add(*u.pool_size);
    else
      b.add("");
    if (u.reserve_pool_size)
      b.add(*u.reserve_pool_size);
    else
      b.add("");
    add_mode_or_null(b, u.mode);
    b.add(u.max_user_connections)
        .add(u.current_connections)
        .add(u.max_user_client_connections)
        .add(u.current_client_connections);
  }
  co_return b.done();
}

}  // namespace sluice

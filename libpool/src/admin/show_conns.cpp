// SHOW CLIENTS, SERVERS, SOCKETS, ACTIVE_SOCKETS, FDS, MEM: rows of the control API's
// connections snapshot (control/connections.hpp), in pgbouncer's columns and spellings.
#include <fmt/format.h>

#include <ctime>

#include "admin/admin.hpp"
#include "control/connections.hpp"

namespace sluice {

namespace {

/// pgbouncer's timestamp: local time to the second and the zone's abbreviation.
std::string timestamp(std::chrono::system_clock::time_point t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %Z", &tm);
  return std::string(buf, n);
}

/// The state as SHOW SOCKETS spells it: the name of the pool list it is in.
std::string socket_state(const connection_info& c) {
  std::string s(c.server ? "sv_" : "cl_");
  switch (c.state) {
    case conn_state::login: s.append("login"); break;
    case conn_state::active: s.append("active"); break;
    case conn_state::idle: s.append(c.server ? "idle" : "active"); break;
    case conn_state::waiting: s.append("waiting"); break;
    case conn_state::used: s.append("used"); break;
    case conn_state::tested: s.append("tested"); break;
  }
  return s;
}

void socket_columns(result_builder& b, bool buffers) {
  b.text("type").text("user").text("database").text("replication").text("state");
  b.text("addr").int4("port").text("local_addr").int4("local_port");
  b.text("connect_time").text("request_time").int4("wait").int4("wait_us");
  b.int4("close_needed").text("ptr").text("link").int4("remote_pid").text("tls");
  b.text("application_name").int4("prepared_statements").int4("id");
  if (!buffers) return;
  for (const char* n :
       {"recv_pos", "pkt_pos", "pkt_remain", "send_pos", "send_remain", "pkt_avail", "send_avail"})
    b.int4(n);
}

void socket_row(result_builder& b, const connection_info& c, std::string_view state,
                bool buffers) {
  b.row().add(c.server ? "S" : "C").add(c.user.empty() ? "(nouser)" : c.user);
  b.add(c.database.empty() ? "(nodb)" : c.database);
  b.add("none");  // replication connections are not pooled by sluice
  b.add(state).add(c.addr).add(c.port).add(c.local_addr).add(c.local_port);
  b.add(timestamp(c.connect_time)).add(timestamp(c.request_time));
  b.add(c.wait_us / 1000000).add(c.wait_us % 1000000).add(c.close_needed ? 1 : 0);
  b.add(c.ptr).add(c.link).add(static_cast<long long>(c.remote_pid));
  b.add(c.tls);
  b.add(c.application_name);
  b.add(static_cast<unsigned long long>(c.prepared_statements));
  b.add(static_cast<unsigned long long>(c.id));
  if (!buffers) return;
  // sluice keeps no per-socket buffer with read/parse/send positions: what it holds is bytes
  // received and not yet forwarded (a client's bytes waiting for a server, a server's bytes
  // of the pooler's own queries, a held-back message header) and bytes not yet written.
  b.add(static_cast<unsigned long long>(c.held_in)).add(0).add(0).add(0).add(0);
  b.add(static_cast<unsigned long long>(c.held_in)).add(static_cast<unsigned long long>(c.held_out));
}

}  // namespace

awaitable<console_result> admin_console::show_clients(const admin_request& req) {
  const connections_snapshot snap = co_await snapshot_connections(ctl_.shards(), req.home.io);
  result_builder b;
  socket_columns(b, false);
  for (const connection_info& c : snap.clients)
    if (c.state != conn_state::login) socket_row(b, c, list_state(c), false);
  co_return b.done();
}

awaitable<console_result> admin_console::show_servers(const admin_request& req) {
  const connections_snapshot snap = co_await snapshot_connections(ctl_.shards(), req.home.io);
  result_builder b;
  socket_columns(b, false);
  for (const connection_info& s : snap.servers) socket_row(b, s, list_state(s), false);
  co_return b.done();
}

awaitable<console_result> admin_console::show_sockets(const admin_request& req) {
  const connections_snapshot snap = co_await snapshot_connections(ctl_.shards(), req.home.io);
  result_builder b;
  socket_columns(b, true);
  for (const connection_info& c : snap.clients) socket_row(b, c, socket_state(c), true);
  for (const connection_info& s : snap.servers) socket_row(b, s, socket_state(s), true);
  co_return b.done();
}

awaitable<console_result> admin_console::show_active_sockets(const admin_request& req) {
  const connections_snapshot snap = co_await snapshot_connections(ctl_.shards(), req.home.io);
  result_builder b;
  socket_columns(b, true);
  for (const connection_info& c : snap.clients)
    if (c.in_flight) socket_row(b, c, socket_state(c), true);
  for (const connection_info& s : snap.servers)
    if (s.in_flight) socket_row(b, s, socket_state(s), true);
  co_return b.done();
}

awaitable<console_result> admin_console::show_fds(const admin_request& req) {
  const connections_snapshot snap = co_await snapshot_connections(ctl_.shards(), req.home.io);
  result_builder b;
  b.int4("fd").text("task").text("user").text("database").text("addr").int4("port");
  b.int8("cancel").int4("link").text("client_encoding").text("std_strings").text("datestyle");
  b.text("timezone").text("password").bytea("scram_client_key").bytea("scram_server_key");
  const auto opt = [&b](const std::string& v) {
    if (v.empty())
      b.null();
    else
      b.add(v);
  };
  const auto row = [&](const connection_info& c) {
    if (c.fd < 0 || c.console) return;  // the console's own sessions are not pooled fds
    b.row().add(c.fd).add(c.server ? "server" : "client");
    opt(c.user);
    opt(c.database);
    b.add(c.addr).add(c.port).add(static_cast<unsigned long long>(c.cancel_key));
    b.add(c.link_fd < 0 ? 0 : c.link_fd);
    opt(c.client_encoding);
    opt(c.std_strings);
    opt(c.datestyle);
    opt(c.timezone);
    // pgbouncer fills these for an online restart (-R), which hands its sockets to a new
    // process over the console; sluice does not take part in that hand-over, and a
    // password or SCRAM key must never reach a console client, admin or not: always NULL.
    b.null().null().null();
  };
  // pgbouncer also lists its listening sockets ("pooler"); they live in the runtime, which
  // the control API does not expose yet.
  for (const connection_info& c : snap.clients) row(c);
  for (const connection_info& s : snap.servers) row(s);
  co_return b.done();
}

awaitable<console_result> admin_console::show_mem(const admin_request& req) {
  const connections_snapshot snap = co_await snapshot_connections(ctl_.shards(), req.home.io);
  result_builder b;
  b.text("name").int4("size").int4("used").int4("free").int4("memtotal");
  for (const memory_info& m : snap.memory)
    b.row()
        .add(m.name)
        .add(static_cast<unsigned long long>(m.size))
        .add(static_cast<unsigned long long>(m.used))
        .add(static_cast<unsigned long long>(m.free))
        .add(static_cast<unsigned long long>(m.size * (m.used + m.free)));
  co_return b.done();
}

}  // namespace sluice

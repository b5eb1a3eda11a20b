// The connections snapshot: each shard walks its own client and server lists on its own
// thread (the only thread that may touch them) and fills its own slot; the caller merges.
#include "control/connections.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include <unordered_map>
#include <unordered_set>

#include "net/socket_options.hpp"
#include "session/client_session.hpp"

namespace sluice {

namespace {

/// The two ends of a socket; empty addresses if it is closed or not connected yet.
void ends_of(int fd, net::endpoint& remote, net::endpoint& local) {
  if (fd < 0) return;
  remote = net::peer_end(fd);
  local = net::local_end(fd);
}

/// The process id of a Unix-socket peer (what pgbouncer shows as a client's remote_pid).
std::uint32_t peer_pid(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (fd < 0 || ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return 0;
  return std::uint32_t(cred.pid);
}

/// The socket's descriptor, -1 if closed (Asio's native_handle() is not const, but reads only).
int fd_of(const stream_socket& so) {
  auto& s = const_cast<stream_socket&>(so);
  return s.is_open() ? s.native_handle() : -1;
}

/// Fills the row's descriptor and both ends from the socket; the remote end is returned for
/// what the caller still needs to know of it (a Unix socket).
net::endpoint socket_ends(connection_info& row, const stream_socket& so) {
  row.fd = fd_of(so);
  net::endpoint remote, local;
  ends_of(row.fd, remote, local);
  row.addr = remote.addr;
  row.port = remote.port;
  row.local_addr = local.addr;
  row.local_port = local.port;
  return remote;
}

std::string param_of(const param_map& m, std::string_view name) {
  auto it = m.find(name);
  return it == m.end() ? std::string() : it->second;
}

/// The log prefixes' spelling: a client is "C-<address of its session>" (session_view::ptr),
/// a server "S-0x<id>"; SHOW's ptr and link columns use the same values so that rows and log
/// lines can be matched.
std::string server_ptr_text(const server_conn& s) { return fmt::format("0x{:x}", s.id); }

struct shard_slot {
  std::vector<connection_info> clients, servers;
  std::size_t sessions = 0, server_objects = 0, relay_bufs = 0, waiting = 0;
  std::size_t relay_buf_size = 0, scratch_size = 0;
};

void gather(shard& s, shard_slot& out) {
  const auto steady_now = clock::now();
  const auto wall_now = std::chrono::system_clock::now();
  const auto wall = [&](clock::time_point t) {
    return wall_now - std::chrono::duration_cast<std::chrono::system_clock::duration>(
                          steady_now - t);
  };
  out.relay_buf_size = s.buffer_size;
  out.scratch_size = s.scratch.size();

  // Clients, and which client each linked server belongs to (a linked server lives on its
  // client's shard, so this shard's pass sees both ends of every link it has).
  std::unordered_map<const server_conn*, session_view> linked_to;
  for (client_link* l = s.clients.next; l != &s.clients; l = l->next) {
    const session_view c = static_cast<const client_session*>(l)->view();
    ++out.sessions;
    if (c.server) linked_to[c.server] = c;
    if (c.state == session_state::finished) continue;
    connection_info ci;
    ci.server = false;
    ci.shard = s.id;
    ci.console = c.console != nullptr;
    ci.user = std::string(c.user);
    ci.database = std::string(c.database);
    const bool waiting = c.waiting_since != clock::time_point{};
    if (!c.logged_in && !ci.console)
      ci.state = conn_state::login;
    else if (waiting)
      ci.state = conn_state::waiting;
    else if (c.server)
      ci.state = conn_state::active;
    else
      ci.state = conn_state::idle;
    if (waiting) ++out.waiting;
    socket_ends(ci, *c.socket);
    if (c.is_unix) {
      // A Unix socket has no port: the listening port names it, as in pgbouncer.
      ci.addr.assign("unix");
      ci.local_addr.assign("unix");
      ci.port = ci.local_port = s.cfg().listen_port;
      ci.remote_pid = peer_pid(ci.fd);
    }
    ci.connect_time = wall(c.connected_at);
    ci.request_time = wall(c.last_client_io);
    if (waiting)
      ci.wait_us =
          std::chrono::duration_cast<std::chrono::microseconds>(steady_now - c.waiting_since)
              .count();
    ci.ptr = fmt::format("{}", c.ptr);  // the log prefix's spelling
    if (c.server) {
      ci.link = server_ptr_text(*c.server);
      ci.link_fd = fd_of(c.server->sock);
    }
    ci.id = c.id;
    if (c.tls) ci.tls = c.tls->describe();
    ci.cancel_key = c.cancel_key;
    if (c.params) {
      const param_map& p = c.params->values;
      ci.application_name = param_of(p, "application_name");
      ci.client_encoding = param_of(p, "client_encoding");
      ci.std_strings = param_of(p, "standard_conforming_strings");
      ci.datestyle = param_of(p, "DateStyle");
      ci.timezone = param_of(p, "TimeZone");
    }
    ci.held_in = c.held_in;
    ci.prepared_statements = c.prepared_statements;
    ci.in_flight = c.server || waiting || ci.state == conn_state::login;
    out.clients.push_back(std::move(ci));
  }

  // Idle servers, from the idle lists of the pools this shard's servers belong to.
  std::unordered_map<const server_conn*, bool> idle;  // -> server_check_query is due
  std::unordered_set<const pool*> pools_seen;
  for (client_link* l = s.servers.next; l != &s.servers; l = l->next) {
    const pool* p = static_cast<const server_conn*>(l)->owner;
    if (!pools_seen.insert(p).second) continue;
    for (const server_ptr& srv : p->locals[std::size_t(s.id)].idle)
      idle[srv.get()] = check_due(*srv, s.cfg());
  }

  for (client_link* l = s.servers.next; l != &s.servers; l = l->next) {
    const auto* srv = static_cast<const server_conn*>(l);
    ++out.server_objects;
    if (!srv->relay_buf.empty()) ++out.relay_bufs;
    const pool& p = *srv->owner;
    const auto lt = linked_to.find(srv);
    const session_view* peer = lt == linked_to.end() ? nullptr : &lt->second;
    const auto it = idle.find(srv);
    connection_info si;
    si.server = true;
    si.shard = s.id;
    si.user = srv->target && !srv->target->user.empty() ? srv->target->user : p.user_name;
    si.database = p.db_name;
    if (peer)
      si.state = conn_state::active;
    else if (srv->in_login)
      si.state = conn_state::login;
    else if (srv->testing)
      si.state = conn_state::tested;
    else if (it != idle.end())
      si.state = it->second ? conn_state::used : conn_state::idle;
    else
      si.state = conn_state::active;  // busy for the pooler itself (auth_query)
    const net::endpoint remote = socket_ends(si, srv->sock);
    if (remote.unix_socket || (si.addr.empty() && srv->target)) {
      si.port = srv->target ? srv->target->port : 0;  // the socket file's port number
      if (remote.unix_socket) si.local_port = 0;
    }
    const bool logged_in = srv->connected_at != clock::time_point{};
    si.connect_time = wall(logged_in ? srv->connected_at : steady_now);
    si.request_time = peer                        ? wall(peer->last_client_io)
                      : it != idle.end() && logged_in ? wall(srv->idle_since)
                                                      : si.connect_time;
    si.close_needed = p.surplus(*srv) != nullptr;
    si.ptr = server_ptr_text(*srv);
    if (peer) {
      si.link = fmt::format("{}", peer->ptr);
      si.link_fd = fd_of(*peer->socket);
    }
    si.remote_pid = srv->be_pid;
    si.id = srv->id;
    si.cancel_key = (std::uint64_t(srv->be_pid) << 32) | srv->be_secret;
    si.application_name = param_of(srv->params, "application_name");
    if (srv->tls) si.tls = srv->tls->describe();
    si.client_encoding = param_of(srv->params, "client_encoding");
    si.std_strings = param_of(srv->params, "standard_conforming_strings");
    si.datestyle = param_of(srv->params, "DateStyle");
    si.timezone = param_of(srv->params, "TimeZone");
    si.held_in = srv->rbuf.size() + srv->relay_hold_len;
    si.prepared_statements = srv->statements.size();
    si.in_flight = si.state != conn_state::idle && si.state != conn_state::used;
    out.servers.push_back(std::move(si));
  }
}

}  // namespace

awaitable<connections_snapshot> snapshot_connections(shard_set& set, asio::io_context& home) {
  std::vector<shard_slot> slots(set.size());
  co_await control::on_every_shard(set, home,
                                   [&slots](shard& s) { gather(s, slots[std::size_t(s.id)]); });
  connections_snapshot snap;
  std::size_t sessions = 0, servers = 0, relay_bufs = 0, waiting = 0, relay_size = 0,
              scratch_size = 0;
  for (shard_slot& sl : slots) {
    for (auto& c : sl.clients) snap.clients.push_back(std::move(c));
    for (auto& c : sl.servers) snap.servers.push_back(std::move(c));
    sessions += sl.sessions;
    servers += sl.server_objects;
    relay_bufs += sl.relay_bufs;
    waiting += sl.waiting;
    relay_size = sl.relay_buf_size;
    scratch_size = sl.scratch_size;
  }
  // sluice has no slab caches: these are its own per-connection objects and buffers, as
  // allocated now (free = 0: blocks returned go back to the allocator, not to a cache
  // counted here).
  snap.memory = {
      {"client_session", sizeof(client_session), sessions, 0},
      {"server_conn", sizeof(server_conn), servers, 0},
      {"waiter", sizeof(waiter), waiting, 0},
      {"relay_buf", relay_size, relay_bufs, 0},
      {"shard_scratch", scratch_size, set.size(), 0},
  };
  co_return snap;
}

}  // namespace sluice

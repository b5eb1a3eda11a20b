// A client session's life on its shard: start, errors, kill, finish, timeouts, cancel.
#include "session/session.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>
#include <stdexcept>

#include "net/socket_options.hpp"
#include "net/stream.hpp"
#include "pgwire/crypto.hpp"
#include "pgwire/writer.hpp"
#include "pool/cancel_key.hpp"
#include "session/client_session.hpp"
#include "sluice/log.hpp"

namespace sluice {

namespace {

std::string peer_string(const sockaddr_storage& ss, bool is_unix) {
  if (is_unix) return "unix";
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
    return fmt::format("[{}]:{}", host, port);
  }
  return fmt::format("{}:{}", host, port);
}

}  // namespace

client_session::client_session(pool_registry& reg, shard& s, stream_socket so, bool unix_socket)
    : registry(reg),
      sh(s),
      sock(std::move(so)),
      // A statement message held to be renamed (a named Parse) may be as long as any other.
      relay(s.cfg().max_packet_size),
      is_unix(unix_socket) {}

session_view client_session::view() const {
  session_view v;
  v.id = id;
  v.state = state();
  v.logged_in = logged_in();
  v.console = console.get();
  v.user = !user_name.empty() ? std::string_view(user_name)
           : console          ? std::string_view(console->name)
                              : std::string_view();
  v.database = console    ? std::string_view("pgbouncer")
               : pool_    ? std::string_view(pool_->db_name)
               : login_db ? std::string_view(*login_db)
                          : std::string_view();
  v.pool_of = pool_.get();
  v.ptr = this;
  v.socket = &sock;
  v.is_unix = is_unix;
  v.server = srv.get();
  v.connected_at = connected_at;
  v.last_client_io = last_client_io;
  if (wait_) v.waiting_since = wait_->since;
  v.tls = tls.get();
  v.cancel_key = (std::uint64_t(key_pid) << 32) | key_secret;
  v.params = params.get();
  v.held_in = cbuf.size();
  v.prepared_statements = statements ? statements->size() : 0;
  return v;
}

std::string client_session::prefix() const {
  const std::string_view db = pool_      ? std::string_view(pool_->db_name)
                              : login_db ? std::string_view(*login_db)
                                         : "(nodb)";
  return fmt::format("C-{}: {}/{}@{}", static_cast<const void*>(this), db,
                     user_name.empty() ? "(nouser)" : user_name, addr);
}

awaitable<void> client_session::send_error(std::string_view severity, std::string_view sqlstate,
                                           std::string_view msg) {
  pgwire::byte_buffer out;
  pgwire::write_error(out, severity, sqlstate, msg);
  co_await net::write_all(sock, tls.get(), out);
}

/// Closes the client with a FATAL error, as pgbouncer's "closing because" does.
awaitable<void> client_session::fatal(std::string_view sqlstate, std::string_view msg) {
  log::info("{} closing because: {} (age={:.0f}s)", prefix(), msg, seconds_since(connected_at));
  if (sh.cfg().log_pooler_errors) log::warning("{} pooler error: {}", prefix(), msg);
  co_await send_error("FATAL", sqlstate, msg);
}

/// Ends the session from outside its coroutines (janitor, shutdown): best-effort error to
/// the client if nothing else is writing to it, then both sockets closed.
void client_session::kill(std::string_view reason, std::string_view sqlstate) {
  if (!begin_closing()) return;
  log::info("{} closing because: {} (age={:.0f}s)", prefix(), reason, seconds_since(connected_at));
  leave_queue();
  if (!client_writing && !relay.to_client_pending) {
    pgwire::byte_buffer out;
    pgwire::write_error(out, "FATAL", sqlstate, reason);
    net::send_now(sock, tls.get(), out);
  }
  error_code ignored;
  sock.close(ignored);
  if (srv) {
    relay.poison_server = true;
    srv->sock.close(ignored);
  }
}

/// Sends a FATAL error to the client, then ends the session.
void client_session::fail(self_ptr self, std::string_view sqlstate, std::string_view msg) {
  client_session& c = *self;
  c.begin_closing();
  if (c.client_writing || c.relay.to_client_pending) {
    c.finish();  // something else is writing to the client: no error message
    return;
  }
  c.client_writing = true;
  asio::co_spawn(c.sh.io, fail_coro(std::move(self), std::string(sqlstate), std::string(msg)),
                 asio::detached);
}

awaitable<void> client_session::fail_coro(self_ptr self, std::string sqlstate, std::string msg) {
  co_await self->fatal(sqlstate, msg);
  self->client_writing = false;
  self->finish();
  error_code ignored;
  self->sock.close(ignored);
}

/// The client is gone (or being closed): let the server chain wind down, then forget the
/// client.
void client_session::finish() {
  begin_closing();
  if (!end_finished()) return;
  leave_queue();
  drop_listens();
  if (counted) {
    registry.clients.leave(pool_ ? pool_->db_name : std::string("pgbouncer"), user_name);
    counted = false;
  }
  if (srv) {
    error_code ignored;
    if (relay.server_armed) {
      // A clean server has no reply in flight, so cancelling the read loses nothing;
      // otherwise it is closed and replaced. The read's handler unlinks.
      if (clean() && !relay.poison_server) {
        srv->sock.cancel(ignored);
      } else {
        relay.poison_server = true;
        srv->sock.close(ignored);
      }
    }
    // With a write to the client pending, closing the client socket below ends it and its
    // handler unlinks.
  }
  unlink_from_list();
  sh.set.client_count.fetch_sub(1);
  if (logged_in() && sh.cfg().log_disconnections)
    log::info("{} closing because: client close request (age={:.0f}s)", prefix(),
              seconds_since(connected_at));
  if (!client_writing) {
    error_code ignored;
    sock.close(ignored);
  }
}

void client_session::check_timeouts(const config& c) {
  if (closing()) return;
  // pgbouncer's janitor holds every queued client, logging in (waiting for the server that
  // brings the welcome) or not, to [pgbouncer] query_timeout, checked before
  // query_wait_timeout (the waiter's own deadline).
  if (wait_ && c.query_timeout > 0 && seconds_since(wait_->since) > c.query_timeout) {
    kill("query_timeout");
    return;
  }
  if (!logged_in()) {
    if (c.client_login_timeout > 0 && seconds_since(connected_at) > c.client_login_timeout)
      kill("client_login_timeout");
    return;
  }
  if (wait_) return;  // query_wait_timeout is the waiter's own deadline
  // server_fast_close: in session mode a server a reload has made obsolete goes as soon as
  // its transaction is over, and the client with it, so that it notices.
  if (srv && c.server_fast_close && pool_->mode == pool_mode::session && clean() &&
      !client_writing && !relay.to_client_pending && srv->generation != pool_->generation.load() &&
      !pool_->held()) {  // a PAUSE waits for session clients to leave, it does not end them
    server_close_reason = "database configuration changed";
    kill("database configuration changed");
    return;
  }
  // A [users] entry's own timeouts win over [pgbouncer]'s.
  const user_config* u = c.find_user(user_name);
  const double idle_limit =
      u && u->client_idle_timeout ? *u->client_idle_timeout : c.client_idle_timeout;
  const double query_limit = u && u->query_timeout ? *u->query_timeout : c.query_timeout;
  const double tx_limit =
      u && u->idle_transaction_timeout ? *u->idle_transaction_timeout : c.idle_transaction_timeout;
  if (!srv) {
    // A client queued for a server is held to query_timeout too (pgbouncer's spelling differs
    // from a running query's).
    if (wait_ && query_limit > 0 && seconds_since(last_client_io) > query_limit)
      kill("query_timeout");
    else if (!wait_ && idle_limit > 0 && seconds_since(last_client_io) > idle_limit)
      kill("client_idle_timeout");
    return;
  }
  const double xact_limit =
      u && u->transaction_timeout ? *u->transaction_timeout : c.transaction_timeout;
  if (relay.tx_status != 'I' && xact_limit > 0 && seconds_since(relay.tx_started) > xact_limit) {
    kill("transaction timeout");
    return;
  }
  if (relay.pending_rfq > 0) {
    if (query_limit > 0 && seconds_since(last_client_io) > query_limit) kill("query timeout");
  } else if (relay.tx_status != 'I' && tx_limit > 0 &&
             seconds_since(std::max(last_client_io, last_server_io)) > tx_limit) {
    kill("idle transaction timeout");
  }
}

void client_session::leave_queue() {
  if (!wait_) return;
  waiter* w = wait_;
  wait_ = nullptr;  // the wait still ends through its callback, which sees the session closing
  w->owner.cancel_wait(*w);
}

/// A queued client's socket is readable: more input pipelined (it waits for the server with
/// the rest), or the client closed.
void client_session::on_queued_readable(self_ptr self, error_code ec, std::size_t n) {
  client_session& c = *self;
  // Linked or closed meanwhile: the relay (or nobody) reads the socket now.
  if (!c.wait_ || c.closing() || ec == asio::error::operation_aborted) return;
  if (!ec) {
    if (n == 0) watch_while_queued(std::move(self));  // nothing after all
    return;
  }
  if (c.sh.cfg().log_disconnections)
    log::info("{} closing because: client close request while waiting for a server (age={:.0f}s)",
              c.prefix(), seconds_since(c.connected_at));
  c.finish();
}

bool client_session::still_queued(const client_session& c) {
  return c.wait_ != nullptr && !c.closing();
}

void client_session::watch_while_queued(self_ptr self) {
  client_session& c = *self;
  // The read that queued this client may have reported the socket drained while an end of
  // file came with its data (relay_read.hpp): look once before waiting for the next event.
  char b;
  const ssize_t r = ::recv(c.sock.native_handle(), &b, 1, MSG_PEEK | MSG_DONTWAIT);
  if (r > 0) return;  // more input pipelined: it waits for the server with the rest
  if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    on_queued_readable(std::move(self),
                       r == 0 ? error_code(asio::error::eof)
                              : error_code(errno, asio::error::get_system_category()),
                       0);
    return;
  }
  c.sh.reads.watch<&on_queued_readable, &still_queued>(c.sock, std::move(self));
}

void start_client(pool_registry& registry, shard& s, stream_socket sock, bool is_unix,
                  const sockaddr_storage& peer) {
  const config& c = s.cfg();
  if (!is_unix) net::apply_tcp_options(sock.native_handle(), c);
  // Non-blocking from the start, as Asio and the relay's own reads (write_now) both want it:
  // one ioctl, where Asio's first operation and the relay would each make one.
  error_code ignored;
  sock.non_blocking(true, ignored);
  auto cs = std::make_shared<client_session>(registry, s, std::move(sock), is_unix);
  cs->addr = peer_string(peer, is_unix);
  cs->id = s.set.next_id.fetch_add(1);
  cs->link_into(s.clients);
  s.set.client_count.fetch_add(1);
  asio::co_spawn(s.io, client_session::main(std::move(cs)), asio::detached);
}

void client_check_timeouts(client_link* l, const config& cfg) {
  static_cast<client_session*>(l)->check_timeouts(cfg);
}

bool client_session::cancel_if_key(std::uint32_t pid, std::uint32_t secret) {
  if (!logged_in() || key_pid != pid || key_secret != secret) return false;
  if (!srv) return true;
  if (!srv->cancels_in_flight) srv->cancels_in_flight = std::make_shared<int>(0);
  ++*srv->cancels_in_flight;
  asio::co_spawn(
      sh.io,
      [&io = sh.io, target = *srv->target, pid = srv->be_pid, secret = srv->be_secret,
       timeout = sh.cfg().cancel_wait_timeout,
       count = srv->cancels_in_flight]() -> awaitable<void> {
        co_await send_cancel(io, target, pid, secret, timeout);
        --*count;
      },
      asio::detached);
  return true;
}

void route_cancel(shard& s, pool_registry& registry, std::uint32_t pid, std::uint32_t secret) {
  if (const int own = s.cfg().peer_id; own > 0) {
    if (const int peer = cancel_key::peer_of(pid); peer != own) {
      registry.peers().forward(s, peer, pid, secret);
      return;
    }
    secret |= cancel_key::ttl_mask;  // keys are given out with the whole TTL
  }
  for (auto& sh : s.set.shards) {
    sh->post_fn([pid, secret](shard& s) {
      for (client_link* l = s.clients.next; l != &s.clients; l = l->next) {
        if (static_cast<client_session*>(l)->cancel_if_key(pid, secret)) return;
      }
    });
  }
}

void new_cancel_key(const config& cfg, std::uint32_t& pid, std::uint32_t& secret) {
  std::uint8_t k[8];
  if (!pgwire::random_bytes(k)) throw std::runtime_error("no randomness for cancel keys");
  cancel_key::make(cfg.peer_id, k, pid, secret);
}

// ---------------------------------------------------------------------------- waiting for a server

/// The client sent something and has no server: take an idle one at once if possible,
/// otherwise queue; either way cbuf is forwarded once linked.
void client_session::find_server(self_ptr self) {
  client_session& c = *self;
  if (c.sh.set.refuse_new_links.load()) {  // SHUTDOWN WAIT_FOR_SERVERS (pgbouncer's words)
    fail(std::move(self), "08P01", "server shutting down");
    return;
  }
  if (c.pool_->removed.load()) {
    fail(std::move(self), "08P01", "database removed");  // pgbouncer's reason
    return;
  }
  bool check = false;
  server_ptr s = c.pool_->take_idle(c.sh, check);
  if (s) {
    c.pool_->locals[c.sh.id].wait_hist.observe(0);
    got_server(std::move(self), std::move(s), check);
    return;
  }
  pool& p = *c.pool_;
  c.wait_ = p.wait_for_server(c.sh, wait_done{&on_wait_done, self, &on_wait_notify});
  watch_while_queued(std::move(self));
}

void client_session::on_wait_done(std::shared_ptr<void> ctx, server_ptr srv, wait_error error) {
  auto self = std::static_pointer_cast<client_session>(std::move(ctx));
  self->wait_ = nullptr;
  if (!srv) {
    if (self->closing()) {  // the client left the queue: nobody to tell
      self->finish();
      return;
    }
    fail(std::move(self), error.sqlstate, error.message);
    return;
  }
  // A server handed over from a client that has just released it is checked like an idle
  // one (at server_check_delay = 0, every time).
  const bool check = check_due(*srv, self->sh.cfg());
  got_server(std::move(self), std::move(srv), check);
}

void client_session::on_wait_notify(const std::shared_ptr<void>& ctx) {
  client_session& c = *static_cast<client_session*>(ctx.get());
  // Queued means nothing else writes to the client: no server is linked, and what the last
  // one sent has been written (the client chain reads again only then).
  if (c.closing() || !c.wait_ || c.client_writing || c.relay.to_client_pending) return;
  pgwire::byte_buffer out;
  pgwire::write_error(out, "NOTICE", "00000",
                      "No server connection available in postgres backend, client being queued",
                      {}, pgwire::be::notice_response);
  const net::sent r = net::send_now(c.sock, c.tls.get(), out);
  if (r == net::sent::all) return;
  log::warning("{} Sending queue warning failed", c.prefix());
  if (r == net::sent::part) {
    // Part of a message went out: the client's stream is broken, end it without writing more.
    c.client_writing = true;
    c.kill("Sending queue warning failed");
  }
}

awaitable<void> client_session::reset_and_release(shard& sh, server_ptr s, std::string sql,
                                                  const char* what) {
  pool& p = *s->owner;
  // The client may be gone: hold the pool until its server is back (or closed).
  const std::shared_ptr<pool> hold = p.shared_from_this();
  const config_ptr keep = sh.cfg_ptr();  // a reload may replace the shard's config meanwhile
  const config& c = *keep;
  std::string err;
  const bool ok = co_await server_simple_query(*s, sql, &err);
  if (!ok) {
    p.discard(std::move(s), sh, fmt::format("{} failed: {}", what, err));
    co_return;
  }
  s->tracked_key = tracked_key(c, s->params);  // a reset query may have changed them
  p.release(std::move(s), sh);
}

}  // namespace sluice

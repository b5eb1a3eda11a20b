// Replication connections (replication=true|database in the startup packet), as pgbouncer
// 1.23 has them: the client gets a server of its own for its whole session, never pooled,
// counted in max_db_connections and max_user_connections; after the welcome the bytes go
// both ways unparsed (replication commands, CopyBoth streams of WAL or logical changes).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>

#include "net/stream.hpp"
#include "pgwire/writer.hpp"
#include "session/client_session.hpp"
#include "session/session.hpp"
#include "sluice/log.hpp"

namespace sluice {

namespace {

constexpr std::size_t pump_buffer = 64 * 1024;

/// Copies what `from` sends to `to` until either fails or closes.
awaitable<void> pump(stream_socket& from, net::tls_engine* from_tls, stream_socket& to,
                     net::tls_engine* to_tls) {
  std::vector<std::uint8_t> buf(pump_buffer);
  for (;;) {
    auto [ec, n] = co_await net::read_some(from, from_tls, buf);
    if (ec || n == 0) co_return;
    if (co_await net::write_all(to, to_tls, {buf.data(), n})) co_return;
  }
}

}  // namespace

awaitable<void> client_session::replicate(const self_ptr& self,
                                          std::optional<pgwire::scram_keys> keys) {
  auto t = std::make_shared<pool_target>(*pool_->target());
  for (auto& kv : *replication) t->startup_params.push_back(kv);
  wait_error error;
  server_ptr s, slot;
  for (;;) {
    bool full = false;
    s = co_await pool_->open_dedicated(sh, t, keys, std::move(slot), error, full);
    if (s || !full) break;
    // The pool is at pool_size: one of its servers gives up its place, an idle one at once
    // ("evicted", as pgbouncer), else the first released; meanwhile the client waits in
    // the pool's queue like any other.
    slot = co_await pool_->acquire_idle(sh);
    if (!slot) slot = co_await wait_in_queue(self, *pool_, error);
    if (!slot) break;
  }
  if (!s) {
    if (!closing()) co_await fatal(error.sqlstate, error.message);
    co_return;
  }
  // The server's welcome, with a cancel key of sluice's own.
  new_cancel_key(sh.cfg(), key_pid, key_secret);
  pgwire::byte_buffer out;
  pgwire::write_auth_ok(out);
  for (const auto& [k, v] : s->params) pgwire::write_parameter_status(out, k, v);
  pgwire::write_backend_key_data(out, key_pid, key_secret);
  pgwire::write_ready_for_query(out, 'I');
  error_code ec = co_await net::write_all(sock, tls.get(), out);
  if (!ec && !cbuf.empty()) {  // what the client sent right after its startup packet
    ec = co_await net::write_all(s->sock, s->tls.get(), cbuf);
    cbuf.clear();
  }
  if (!ec) {
    mark_logged_in();
    // Client to server on a coroutine of its own, server to client here; whichever ends
    // first closes both sockets, which ends the other.
    struct shared_state {
      explicit shared_state(asio::io_context& io) : ended(io) {}
      asio::steady_timer ended;
      bool done = false;
    };
    auto st = std::make_shared<shared_state>(sh.io);
    server_conn& srv = *s;
    asio::co_spawn(
        sh.io,
        [self, &srv, st]() -> awaitable<void> {
          co_await pump(self->sock, self->tls.get(), srv.sock, srv.tls.get());
          error_code ignored;
          self->sock.close(ignored);
          srv.sock.close(ignored);
          st->done = true;
          st->ended.cancel();
        },
        asio::detached);
    co_await pump(srv.sock, srv.tls.get(), sock, tls.get());
    error_code ignored;
    sock.close(ignored);
    srv.sock.close(ignored);
    while (!st->done) {
      st->ended.expires_at(clock::time_point::max());
      co_await st->ended.async_wait(nothrow);
    }
  }
  pool_->discard(std::move(s), sh, "replication connection closed");
}

}  // namespace sluice

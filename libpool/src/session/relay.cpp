// The relay between a client and the server it is linked to, in session, transaction and
// statement mode.
//
// After login a session is driven by completion handlers, not coroutines: an idle client
// costs one pending read without a buffer and no frame, and a transaction costs no
// coroutine spawn. Two chains run independently while linked:
//   client chain: read into a buffer lent by the shard, which becomes its scratch buffer ->
//     forward to the server (linking first if there is none) -> read again;
//   server chain: read the server into the link buffer -> forward to the client -> read
//     again, or unlink when the transaction is over.
// Writes are tried at once (non-blocking); only a partial write waits, and the chain
// that made it pauses until it is done, which is the backpressure. Slow paths (parameter
// replay, server_check_query, errors sent to the client) run as coroutines.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>
#include <sys/socket.h>

#include <cstring>

#include "pgwire/messages.hpp"
#include "pgwire/scanner.hpp"
#include "net/stream.hpp"
#include "session/client_session.hpp"
#include "sluice/log.hpp"

namespace sluice {

/// The handler of the wait on a TLS client's socket, with an allocator of its own so that
/// the pending operation is a block of its exact size (Asio's per-thread recycling hands out
/// whatever larger block ran before).
struct client_wait_handler {
  client_session::self_ptr self;
  using allocator_type = pooled_allocator<void>;
  allocator_type get_allocator() const noexcept { return {}; }
  void operator()(error_code ec) { client_session::on_client(std::move(self), ec); }
};

namespace {

/// Microseconds from `from` to `to`, 0 if `to` is not later.
std::uint64_t elapsed_us(clock::time_point from, clock::time_point to) {
  if (to <= from) return 0;
  return std::uint64_t(std::chrono::duration_cast<std::chrono::microseconds>(to - from).count());
}

}  // namespace

void client_session::start_relay(self_ptr self) {
  client_session& c = *self;
  c.cbuf.clear();
  c.cbuf.shrink_to_fit();
  c.track_statements =
      c.pool_->mode != pool_mode::session && c.sh.cfg().max_prepared_statements > 0;
  arm_client(std::move(self));
}

void client_session::arm_client(self_ptr self) {
  client_session& c = *self;
  if (!c.tls) {  // read by the shard's relay reader (shard/relay_read.hpp)
    const bool at_boundary = c.relay.cscan.at_boundary();
    c.sh.reads.start_client<&on_client_read>(c.sock, std::move(self), at_boundary);
    return;
  }
  if (c.tls->buffered()) {  // whole records read already: no need to wait
    asio::post(c.sh.io, [h = client_wait_handler{std::move(self)}]() mutable { h({}); });
    return;
  }
  c.sock.async_wait(asio::socket_base::wait_read, client_wait_handler{std::move(self)});
}

/// What one client message means to the session: counters, transaction state, and what the
/// read must not forward.
void client_session::note_message(char tag, client_read& rd) {
  pool::local& st = pool_->locals[sh.id];
  if (!relay.query_counted && tag != pgwire::fe::terminate) {
    relay.query_counted = true;
    bump(st.query_count, std::uint64_t{1});
  }
  switch (tag) {
    case pgwire::fe::query:
      if (sh.cfg().disable_pqexec) {
        rd.pqexec_refused = true;
        break;
      }
      [[fallthrough]];
    case pgwire::fe::function_call:
      ++relay.pending_rfq;
      break;
    case pgwire::fe::sync:
      ++relay.pending_rfq;
      relay.batch_open = false;
      break;
    case pgwire::fe::execute:
      relay.batch_open = true;
      break;
    // The prepared-statement counters (SHOW STATS *_parse_count, bind_count) count named
    // statements as statement tracking sees them (prepared.cpp); without it (session mode,
    // max_prepared_statements = 0) they stay 0, as in pgbouncer.
    case pgwire::fe::parse:
    case pgwire::fe::bind:
      relay.batch_open = true;
      break;
    case pgwire::fe::describe:
    case pgwire::fe::close:
    case pgwire::fe::flush:
      relay.batch_open = true;
      break;
    case pgwire::fe::copy_data:
    case pgwire::fe::copy_done:
    case pgwire::fe::copy_fail:
      break;
    case pgwire::fe::terminate:
      // Not forwarded: the server connection outlives this client.
      rd.terminate = true;
      break;
    default:
      if (rd.unknown_tag < 0) rd.unknown_tag = static_cast<unsigned char>(tag);
      break;
  }
}

/// A TLS client is readable: decrypt what came into the shard's scratch buffer.
void client_session::on_client(self_ptr self, error_code ec) {
  client_session& c = *self;
  if (ec || c.closing()) {
    c.finish();
    return;
  }
  const std::size_t n = net::read_now(c.sock, c.tls.get(), c.sh.scratch, c.sh.tls_raw, ec);
  if (ec == asio::error::would_block) {
    arm_client(std::move(self));
    return;
  }
  on_client_read(std::move(self), ec, n);
}

/// Client -> server: n bytes the client sent are in the shard's scratch buffer. An idle
/// client holds no read buffer. Bytes are copied into the session's own buffer only when
/// they must outlive this turn (no server linked yet, or a partial write).
void client_session::on_client_read(self_ptr self, error_code ec, std::size_t n) {
  client_session& c = *self;
  if (ec || c.closing()) {
    c.finish();
    return;
  }
  c.last_client_io = clock::now();
  // The first bytes since the last query (transaction) ended start the next one: the
  // read's timestamp is reused, no clock read of its own.
  if (c.relay.query_start == clock::time_point{}) c.relay.query_start = c.last_client_io;
  if (c.relay.xact_start == clock::time_point{}) c.relay.xact_start = c.relay.query_start;
  client_read rd;
  rd.data = c.sh.scratch.data();
  rd.forward = n;
  pool::local& st = c.pool_->locals[c.sh.id];
  // max_prepared_statements changed at run time applies from the client's next transaction
  // (pgbouncer reads it per message; between transactions nothing is half-renamed). Statements
  // tracked before stay known if tracking comes back.
  if (!c.srv && c.relay.clean(nullptr))
    c.track_statements =
        c.pool_->mode != pool_mode::session && c.sh.cfg().max_prepared_statements > 0;
  // LISTEN/UNLISTEN are the pooler's business in transaction and statement mode (listen.cpp).
  if (c.pool_->mode != pool_mode::session && c.relay.cscan.at_boundary() &&
      may_listen(c.listening.get(), rd.data, n))
    c.scan_listen(self, rd.data, n);
  if (!c.track_statements) {
    rd.err = c.relay.cscan.feed(pgwire::bytes_view(rd.data, n), [](char) { return false; },
                          [&](char tag, pgwire::bytes_view, std::size_t header_end) {
                            c.note_message(tag, rd);
                            if (tag != pgwire::fe::terminate || rd.split_terminate) return;
                            if (header_end >= 5) {
                              rd.forward = std::min(rd.forward, header_end - 5);
                            } else {
                              rd.split_terminate = true;
                            }
                          });
  } else if (!route_read(self, n, rd)) {
    return;  // answered or ended there
  }
  if (rd.pqexec_refused) {
    log::warning("{} client used 'Q' packet type", c.prefix());
    if (!c.clean()) c.relay.poison_server = true;
    fail(std::move(self), "08P01", "PQexec disallowed");
    return;
  }
  if (rd.unknown_tag >= 0) {
    // PostgreSQL kills its backend for this; never forward it, end the client instead, as
    // pgbouncer does (nothing of this read is forwarded).
    log::warning("{} unknown pkt from client: {}/0x{:x}", c.prefix(), rd.unknown_tag,
                 rd.unknown_tag);
    if (!c.clean()) c.relay.poison_server = true;
    fail(std::move(self), "08P01", "unknown pkt");
    return;
  }
  if (rd.err != pgwire::errc::ok) {
    // A length over max_packet_size (or under 4): the client is told and closed, linked or
    // not, and nothing of this read is forwarded; a server mid-transaction is not reused.
    if (c.srv) c.relay.poison_server = true;
    fail(std::move(self), "08P01", "bad packet header");
    return;
  }
  if (rd.split_terminate) c.relay.poison_server = true;
  bump(st.bytes_in, std::uint64_t(n));
  if (rd.forward > 0) {
    if (!c.srv) {
      // Waiting for a server yields to other sessions, which reuse the scratch buffer.
      c.cbuf.assign(rd.data, rd.data + rd.forward);
      c.sh.trim_rewrite_buf();
      if (rd.terminate) c.begin_closing();  // forward what came before the Terminate, then end
      if (c.listening && c.listening->writing) {  // notifications first: their write resumes
        c.listening->link_after = true;
        return;
      }
      find_server(std::move(self));
      return;
    }
    const bool sent = send_to_server(self, rd.data, rd.forward);
    c.sh.trim_rewrite_buf();  // what was not sent at once is in cbuf now
    if (!sent) return;  // the write completes (or fails) on its own and resumes the chain
  }
  if (rd.terminate) {
    c.finish();
    return;
  }
  arm_client(std::move(self));
}

/// Forwards bytes to the linked server. True if they all went at once; otherwise the rest
/// is kept in cbuf and written asynchronously, after which the client chain resumes (or
/// the session finishes on error), and false is returned.
bool client_session::send_to_server(const self_ptr& self, const std::uint8_t* data,
                                    std::size_t len) {
  client_session& c = *self;
  error_code ec;
  if (!c.srv->sock.non_blocking()) c.srv->sock.non_blocking(true, ec);
  std::span<const std::uint8_t> rest;
  if (net::write_now(c.srv->sock, c.srv->tls.get(), data, len, rest, ec)) return true;
  if (ec) {
    // The server chain sees the same failure and reports it to the client.
    c.finish();
    return false;
  }
  // The rest is kept in cbuf, which the session owns (the server may be unlinked before the
  // write ends).
  if (c.srv->tls) {
    c.cbuf.assign(rest.begin(), rest.end());
    c.srv->tls->output_written();
  } else if (data != c.cbuf.data()) {
    c.cbuf.assign(rest.begin(), rest.end());
  } else {
    c.cbuf.erase(c.cbuf.begin(), c.cbuf.begin() + (rest.data() - c.cbuf.data()));
  }
  asio::async_write(c.srv->sock, asio::buffer(c.cbuf), [self](error_code wec, std::size_t) mutable {
    cbuf_written(std::move(self), wec);
  });
  return false;
}

void client_session::cbuf_written(self_ptr self, error_code ec) {
  client_session& c = *self;
  c.cbuf = {};
  if (ec || c.closing()) {
    c.finish();
    return;
  }
  arm_client(std::move(self));
}

void client_session::got_server(self_ptr self, server_ptr s, bool check) {
  client_session& c = *self;
  if (c.closing() && !c.sock.is_open()) {  // killed while waiting
    c.pool_->release(std::move(s), c.sh);
    c.finish();
    return;
  }
  if (check || s->tracked_key != c.params->key) {
    asio::co_spawn(c.sh.io, prepare_server(std::move(self), std::move(s), check), asio::detached);
    return;
  }
  c.srv = std::move(s);
  attach(std::move(self));
}

/// The slow part of linking: server_check_query, then parameter replay.
awaitable<void> client_session::prepare_server(self_ptr self, server_ptr s, bool check) {
  client_session& c = *self;
  if (check) {
    s = co_await c.pool_->check_server(std::move(s), c.sh);
    if (!s) {
      find_server(std::move(self));  // that one was dead: look again
      co_return;
    }
  }
  c.srv = std::move(s);
  const bool replayed = co_await c.replay_params();
  if (!replayed) {
    c.pool_->discard(std::move(c.srv), c.sh, "parameter replay failed");
    fail(std::move(self), "08P01", "server parameter replay failed");
    co_return;
  }
  attach(std::move(self));
}

/// Linked: start the server chain, forward what the client sent, resume the client chain.
void client_session::attach(self_ptr self) {
  client_session& c = *self;
  pool::local& st = c.pool_->locals[c.sh.id];
  bump(st.active, 1);
  bump(st.server_assignment_count, std::uint64_t{1});
  c.relay.tx_status = 'I';
  server_conn& s = *c.srv;
  s.used = true;
  s.scan.reset();
  s.relay_hold_len = 0;
  if (s.relay_buf.empty()) s.relay_buf.resize(c.sh.buffer_size);
  s.replies.clear();
  pgwire::bytes_view out(c.cbuf.data(), c.cbuf.size());
  if (c.track_statements) {
    out = c.route_held(s);
    if (client_statements::refusal why = c.take_refusal(); !why.message.empty()) {
      c.relay.poison_server = true;  // what it answers to the messages before is owed to nobody
      unlink(self);
      fail(std::move(self), why.sqlstate, why.message);
      return;
    }
  }
  // The query goes out before the server read is armed: arming costs a syscall (Asio tries
  // a speculative read), which should not delay the query.
  const bool sent = send_to_server(self, out.data(), out.size());
  c.sh.trim_rewrite_buf();
  arm_server(self);
  if (c.finished()) {
    // The write failed and finish() ran before the read was armed: end the read now so
    // its handler unlinks (and discards) the server.
    c.relay.poison_server = true;
    error_code ignored;
    c.srv->sock.close(ignored);
  }
  if (!sent) return;
  c.cbuf = {};      // an idle client keeps no buffer
  if (c.closing()) {  // a Terminate followed what was just forwarded
    c.finish();
    return;
  }
  arm_client(std::move(self));
}

void client_session::arm_server(self_ptr self) {
  client_session& c = *self;
  c.relay.server_armed = true;
  server_conn& s = *c.srv;
  // A header held back from the last read goes in front of what this read brings.
  std::memcpy(s.relay_buf.data(), s.relay_hold, s.relay_hold_len);
  s.relay_held = s.relay_hold_len;
  if (s.tls) {
    // Read into tls_in; on_server decrypts into relay_buf. Whole records the engine has
    // already are decrypted without waiting.
    if (s.tls->buffered()) {
      asio::post(c.sh.io, [self = std::move(self)]() mutable { on_server(std::move(self), {}, 0); });
      return;
    }
    if (s.tls_in.empty()) s.tls_in.resize(net::tls_read_size);
    c.sh.reads.start<&on_server>(s.sock, s.tls_in.data(), s.tls_in.size(), std::move(self),
                                 drain_rule::never);
    return;
  }
  c.sh.reads.start<&on_server>(s.sock, s.relay_buf.data() + s.relay_held,
                               s.relay_buf.size() - s.relay_held, std::move(self),
                               drain_rule::server_answer);
}

/// Server -> client.
void client_session::on_server(self_ptr self, error_code ec, std::size_t n) {
  client_session& c = *self;
  c.relay.server_armed = false;
  if (!ec && c.srv->tls) {
    server_conn& t = *c.srv;
    const std::span<std::uint8_t> plain(t.relay_buf.data() + t.relay_held,
                                        t.relay_buf.size() - t.relay_held);
    if (!net::decrypt(*t.tls, t.tls_in.data(), n, plain, ec)) {
      arm_server(std::move(self));  // no whole record yet
      return;
    }
  }
  if (ec) {
    if (!c.closing()) {
      // The server went away under this client: tell it at once and end the session.
      log::info("{} server connection lost: {}", c.prefix(), ec.message());
      c.relay.poison_server = true;
      c.pool_->server_lost();
      unlink(self);
      fail(std::move(self), "08006", "server conn crashed?");
      return;
    }
    if (ec != asio::error::operation_aborted) c.relay.poison_server = true;
    unlink(self);
    return;
  }
  c.last_server_io = clock::now();
  pool& p = *c.pool_;
  pool::local& st = p.locals[c.sh.id];
  bump(st.bytes_out, std::uint64_t(n));
  bool stmt_violation = false, bad_status = false, unexpected_reply = false;
  server_conn& s = *c.srv;
  const std::size_t held = s.relay_held;
  const bool track = c.track_statements;
  // A read-write pool watches errors: 25006 says the server refuses writes (a primary made
  // read-only, a standby that did not say so).
  const bool watch = s.target->attrs == session_attrs::read_write;
  const bool listens = c.listening != nullptr;  // LISTEN/UNLISTEN replies matter (listen.cpp)
  std::vector<std::size_t> cuts;  // answers to sluice's own messages, not for the client
  const auto err = s.scan.feed(
      pgwire::bytes_view(s.relay_buf.data() + held, n),
      [track, watch, listens](char tag) {
        return tag == pgwire::be::ready_for_query || tag == pgwire::be::parameter_status ||
               ((track || listens) && tag == pgwire::be::command_complete) ||
               (watch && tag == pgwire::be::error_response);
      },
      [&](char tag, pgwire::bytes_view body, std::size_t header_end) {
        if (listens) c.listen_reply(tag, body);
        if (track) {
          const reply_step step = c.on_server_reply(s, tag, body);
          // Only ParseComplete and CloseComplete are dropped or changed: whole 5-byte
          // messages, whose header began in the held bytes when it is not in this read.
          const std::size_t at = header_end >= 5 ? held + header_end - 5 : 0;
          if (step == reply_step::drop) {
            cuts.push_back(at);
          } else if (step == reply_step::as_parse_complete) {
            s.relay_buf[at] = static_cast<std::uint8_t>(pgwire::be::parse_complete);
          } else if (step == reply_step::unexpected) {
            unexpected_reply = true;
          }
        }
        if (tag == pgwire::be::ready_for_query) {
          const char status = body.size() == 1 ? static_cast<char>(body[0]) : '?';
          if (status != 'I' && status != 'T' && status != 'E') {
            bad_status = true;  // not relayed: nothing of this read reaches the client
            return;
          }
          if (status != 'I' && c.relay.tx_status == 'I') c.relay.tx_started = clock::now();
          c.relay.tx_status = status;
          if (c.relay.pending_rfq > 0) --c.relay.pending_rfq;
          // Times end at this read's timestamp. With pipelined queries, the time counted is
          // the time until the last of them is answered (as pgbouncer does).
          if (c.relay.pending_rfq == 0) c.relay.query_counted = false;
          if (c.relay.pending_rfq == 0 && c.relay.query_start != clock::time_point{}) {
            const std::uint64_t us = elapsed_us(c.relay.query_start, c.last_server_io);
            bump(st.query_time_us, us);
            st.query_hist.observe(us);
            c.relay.query_start = {};
          }
          if (c.relay.tx_status == 'I') {
            bump(st.xact_count, std::uint64_t{1});
            if (c.relay.xact_start != clock::time_point{}) {
              const std::uint64_t us = elapsed_us(c.relay.xact_start, c.last_server_io);
              bump(st.xact_time_us, us);
              st.xact_hist.observe(us);
              c.relay.xact_start = {};
            }
          }
          if (p.mode == pool_mode::statement && c.relay.tx_status != 'I') stmt_violation = true;
        } else if (tag == pgwire::be::parameter_status) {
          c.track_parameter_status(body);
        } else if (tag == pgwire::be::error_response && watch) {
          pgwire::error_fields e;
          const pgwire::frame f{tag, body, body.size() + 5};
          if (pgwire::decode(f, e) == pgwire::errc::ok && e.sqlstate == "25006")
            s.refused_write = true;
        }
      });
  if (err != pgwire::errc::ok || bad_status || unexpected_reply) {
    // A broken server: never reused, and the client is told whose fault it is.
    const std::string why =
        bad_status         ? "server sent ReadyForQuery with an invalid status"
        : unexpected_reply ? "server answered a message it was not sent"
                           : fmt::format("server sent a malformed message: {}",
                                         make_error_code(err).message());
    log::warning("{} bad packet from server: {}", c.prefix(), why);
    c.relay.poison_server = true;
    unlink(self);
    fail(std::move(self), "08P01", why);
    return;
  }
  // Forward everything but an incomplete header at the end, which waits for its rest.
  s.relay_hold_len = static_cast<std::uint8_t>(s.scan.partial_header());
  std::size_t forward = held + n - s.relay_hold_len;
  std::memcpy(s.relay_hold, s.relay_buf.data() + forward, s.relay_hold_len);
  if (!cuts.empty()) forward = drop_answers(s.relay_buf.data(), forward, cuts);
  if (c.closing()) {
    if (c.clean()) {
      unlink(self);  // a late async message for a client that has gone
    } else {
      arm_server(std::move(self));
    }
    return;
  }
  if (stmt_violation) {
    c.relay.poison_server = true;
    unlink(self);
    fail(std::move(self), "08P01", "transaction blocks not allowed in statement pooling mode");
    return;
  }
  std::span<const std::uint8_t> rest;
  const bool all = forward == 0 ||
                   net::write_now(c.sock, c.tls.get(), s.relay_buf.data(), forward, rest, ec);
  if (ec) {
    client_gone_while_writing(self);
    return;
  }
  if (!all) {
    // The rest of relay_buf, or of the client engine's output (see write_now).
    c.relay.to_client_pending = true;
    asio::async_write(c.sock, asio::buffer(rest.data(), rest.size()),
                      [self](error_code wec, std::size_t) mutable {
                        client_session& cs = *self;
                        cs.relay.to_client_pending = false;
                        if (cs.tls) cs.tls->output_written();
                        if (wec) {
                          client_gone_while_writing(self);
                          return;
                        }
                        server_next(std::move(self));
                      });
    return;
  }
  server_next(std::move(self));
}

void client_session::client_gone_while_writing(const self_ptr& self) {
  client_session& c = *self;
  c.begin_closing();
  if (!c.clean()) c.relay.poison_server = true;
  unlink(self);
  c.finish();
}

void client_session::server_next(self_ptr self) {
  client_session& c = *self;
  if (c.closing() && !c.clean()) {
    c.relay.poison_server = true;
  }
  if (c.releasable() || c.closing()) {
    unlink(self);
    if (c.listening) flush_notifications(self);  // held while the transaction ran
    return;
  }
  arm_server(std::move(self));
}

/// Unlinks the server: back to the pool if it is clean, closed otherwise.
void client_session::unlink(const self_ptr& self) {
  client_session& c = *self;
  if (!c.srv) return;
  bump(c.pool_->locals[c.sh.id].active, -1);
  const bool canceling = c.srv->cancels_in_flight && *c.srv->cancels_in_flight > 0;
  const bool reusable = !c.relay.poison_server && c.clean() && c.srv->sock.is_open() &&
                        c.srv->replies.empty() && !canceling;
  server_ptr s = std::move(c.srv);
  pool& p = *c.pool_;
  const config& cfg = c.sh.cfg();
  const bool listened = c.listening && std::exchange(c.listening->server_listened, false);
  if (reusable && listened) {
    // The LISTEN it ran for this client must not reach whoever gets it next.
    asio::co_spawn(c.sh.io, reset_and_release(c.sh, std::move(s), "UNLISTEN *", "UNLISTEN *"),
                   asio::detached);
    return;
  }
  if (!reusable) {
    p.discard(std::move(s), c.sh,
              c.server_close_reason ? c.server_close_reason
              : canceling && !c.relay.poison_server ? "server being canceled"
              : c.closing()           ? "client disconnect while server was not ready"
                                    : "unclean server");
    c.relay.poison_server = false;
    return;
  }
  const bool reset = !cfg.server_reset_query.empty() &&
                     (c.pool_->mode == pool_mode::session || cfg.server_reset_query_always);
  if (reset) {
    asio::co_spawn(c.sh.io, reset_and_release(c.sh, std::move(s), cfg.server_reset_query,
                                     "server_reset_query"),
                   asio::detached);
    return;
  }
  p.release(std::move(s), c.sh);
}
}  // namespace sluice

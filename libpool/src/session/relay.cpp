// Client sessions: login (startup, auth, welcome) and the relay between a client and the
// server it is linked to, in session, transaction and statement mode.
//
// Login is a coroutine. The relay that follows is two chains of completion handlers (see
// "link and relay" below). Only the server chain unlinks: it releases the server when the
// transaction is over (transaction/statement mode) or when the client has gone (session
// mode), so a server is never freed under an operation in flight.
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cctype>

#include "shard/shard.hpp"
#include "pgwire/messages.hpp"
#include "pgwire/scanner.hpp"
#include "sluice/log.hpp"

namespace sluice {

namespace {

std::string peer_string(int fd, bool is_unix) {
  if (is_unix) return "unix";
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "unknown";
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
    return fmt::format("[{}]:{}", host, port);
  }
  return fmt::format("{}:{}", host, port);
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string quote_literal(std::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

double seconds_since(clock::time_point t) {
  return std::chrono::duration<double>(clock::now() - t).count();
}

}  // namespace

struct client_session : client_link {
  client_session(runtime& r, shard& s, stream_socket so, bool unix_socket)
      : rt(r), sh(s), sock(std::move(so)), is_unix(unix_socket),
        cscan(r.cfg().max_packet_size) {}

  runtime& rt;
  shard& sh;
  stream_socket sock;
  const bool is_unix;
  std::string addr, user_name;
  std::unique_ptr<std::string> login_db;  ///< the database asked for, until pool_ is known
  pool* pool_ = nullptr;
  server_ptr srv;

  // Relay state.
  int pending_rfq = 0;      ///< Query/Sync/FunctionCall sent, ReadyForQuery not yet seen
  bool batch_open = false;  ///< extended-protocol messages sent since the last Sync
  char tx_status = 'I';
  pgwire::stream_scanner cscan;  ///< message boundaries of what the client sends
  param_set_ptr params;  ///< tracked parameters as this client sees them (shared, immutable)

  std::uint32_t key_pid = 0, key_secret = 0;  ///< cancel key given to the client
  bool closing = false, finished = false, client_writing = false, logged_in = false;
  bool waiting = false;  ///< queued for a server (query_wait_timeout applies, not idle timeouts)
  bool poison_server = false;  ///< the server must be closed, not reused
  clock::time_point connected_at = clock::now(), last_client_io = clock::now(),
                    last_server_io = clock::now();
  pgwire::byte_buffer cbuf;  ///< client bytes that must outlive a read (login, linking)

  /// "C-0x...: db/user@addr" for log lines; the address of the session is its id.
  std::string prefix() const {
    const std::string_view db = pool_ ? std::string_view(pool_->db_name) : login_db ? std::string_view(*login_db) : "(nodb)";
    return fmt::format("C-{}: {}/{}@{}", static_cast<const void*>(this), db,
                       user_name.empty() ? "(nouser)" : user_name, addr);
  }

  // ------------------------------------------------------------------ small helpers

  awaitable<void> send_error(std::string_view severity, std::string_view sqlstate,
                             std::string_view msg) {
    pgwire::byte_buffer out;
    pgwire::write_error(out, severity, sqlstate, msg);
    co_await asio::async_write(sock, asio::buffer(out), nothrow);
  }

  /// Closes the client with a FATAL error, as pgbouncer's "closing because" does.
  awaitable<void> fatal(std::string_view sqlstate, std::string_view msg) {
    if (rt.cfg().log_pooler_errors) log::warning("{} pooler error: {}", prefix(), msg);
    co_await send_error("FATAL", sqlstate, msg);
  }

  bool clean() const {
    return pending_rfq == 0 && !batch_open && tx_status == 'I' && cscan.at_boundary() &&
           (!srv || srv->scan.at_boundary());
  }

  /// Ends the session from outside its coroutines (janitor, shutdown): best-effort error to
  /// the client if nothing else is writing to it, then both sockets closed.
  void kill(std::string_view reason, std::string_view sqlstate = "08P01") {
    if (closing) return;
    closing = true;
    log::info("{} closing because: {} (age={:.0f}s)", prefix(), reason, seconds_since(connected_at));
    if (!client_writing && !to_client_pending) {
      pgwire::byte_buffer out;
      pgwire::write_error(out, "FATAL", sqlstate, reason);
      ::send(sock.native_handle(), out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    error_code ignored;
    sock.close(ignored);
    if (srv) {
      poison_server = true;
      srv->sock.close(ignored);
    }
  }

  // ------------------------------------------------------------------ login

  /// Reads until cbuf starts with one whole packet as `frame_fn` frames it (startup packets,
  /// then typed messages during authentication, both capped at PostgreSQL's startup limit).
  template <class FrameFn>
  awaitable<pgwire::frame_result> read_packet(FrameFn frame_fn) {
    for (;;) {
      auto r = frame_fn(pgwire::bytes_view(cbuf));
      if (r.status != pgwire::frame_status::need_more) co_return r;
      const std::size_t old = cbuf.size();
      cbuf.resize(old + 1024);
      auto [ec, n] = co_await sock.async_read_some(asio::buffer(cbuf.data() + old, 1024), nothrow);
      cbuf.resize(old + n);
      if (ec) {
        co_return pgwire::frame_result{pgwire::frame_status::error, {}, 0, pgwire::errc::truncated};
      }
    }
  }
  awaitable<pgwire::frame_result> read_startup() { return read_packet(pgwire::frame_startup); }
  awaitable<pgwire::frame_result> read_message() {
    return read_packet([](pgwire::bytes_view b) {
      return pgwire::frame_message(b, pgwire::max_startup_packet);
    });
  }

  void consume(std::size_t n) { cbuf.erase(cbuf.begin(), cbuf.begin() + std::ptrdiff_t(n)); }

  /// Verifies the client per auth_type; SCRAM keys it proved end up in `keys`.
  awaitable<bool> authenticate(const config& c, const std::string& user,
                               std::optional<pgwire::scram_keys>& keys) {
    if (c.auth == auth_type::trust || c.auth == auth_type::any) {
      co_return true;
    }
    pgwire::client_auth_method method;
    switch (c.auth) {
      case auth_type::plain: method = pgwire::client_auth_method::cleartext; break;
      case auth_type::md5: method = pgwire::client_auth_method::md5; break;
      case auth_type::scram_sha_256: method = pgwire::client_auth_method::scram_sha_256; break;
      default:
        co_await fatal("0A000", fmt::format("auth_type {} is not supported by this version", to_string(c.auth)));
        co_return false;
    }
    const std::string* stored = rt.users().find(user);
    const std::string fail_msg = fmt::format("password authentication failed for user \"{}\"", user);
    if (!stored) {
      log::info("{} login failed: no such user in auth_file", prefix());
      co_await send_error("FATAL", "28P01", fail_msg);
      co_return false;
    }
    pgwire::client_authenticator auth(method, user, *stored);
    auto step = auth.start();
    for (;;) {
      if (step.what == pgwire::auth_step::kind::failed) {
        log::info("{} login failed: {}", prefix(), make_error_code(step.error).message());
        co_await send_error("FATAL", "28P01", fail_msg);
        co_return false;
      }
      if (!step.out.empty()) {
        auto [ec, n] = co_await asio::async_write(sock, asio::buffer(step.out), nothrow);
        if (ec) {
          co_return false;
        }
      }
      if (step.what == pgwire::auth_step::kind::done) break;
      const auto r = co_await read_message();
      if (r.status != pgwire::frame_status::message) {
        co_return false;
      }
      step = auth.resume(r.msg);
      consume(r.msg.size);
    }
    keys = auth.keys();
    co_return true;
  }

  awaitable<bool> login() {
    const config& c = rt.cfg();
    pgwire::startup_packet pkt;
    std::size_t startup_size = 0;
    for (;;) {
      const auto r = co_await read_startup();
      if (r.status == pgwire::frame_status::error) {
        if (r.error != pgwire::errc::truncated) {
          co_await fatal("08P01", "bad packet header");
        }
        co_return false;
      }
      const auto err = pgwire::decode_startup(r.msg, pkt);
      if (err == pgwire::errc::unsupported_protocol) {
        co_await fatal("08P01", "unsupported protocol version");
        co_return false;
      }
      if (err != pgwire::errc::ok) {
        co_await fatal("08P01", "invalid startup packet");
        co_return false;
      }
      if (pkt.kind == pgwire::startup_kind::cancel) {
        rt.route_cancel(pkt.cancel.pid, pkt.cancel.secret);
        co_return false;
      }
      if (pkt.kind == pgwire::startup_kind::startup) {
        // The params are views into cbuf: they are copied out before cbuf moves on.
        startup_size = r.msg.size;
        break;
      }
      // SSLRequest / GSSENCRequest: not offered (yet); the client continues in plaintext.
      consume(r.msg.size);
      static const std::uint8_t no_ssl = 'N';
      auto [ec, n] = co_await asio::async_write(sock, asio::buffer(&no_ssl, 1), nothrow);
      if (ec) {
        co_return false;
      }
    }

    const auto& sm = pkt.startup;
    user_name = std::string(sm.get("user"));
    login_db = std::make_unique<std::string>(sm.get("database"));
    if (login_db->empty()) *login_db = user_name;
    const std::string& db_name = *login_db;
    if (user_name.empty()) {
      co_await fatal("08P01", "no username supplied");
      co_return false;
    }
    param_map startup_tracked;
    for (const auto& [k, v] : sm.params) {
      if (k == "user" || k == "database") continue;
      const std::string canon = canonical_param(k);
      if (is_tracked_param(c, canon)) {
        startup_tracked[canon] = std::string(v);
        continue;
      }
      const bool ignored = std::any_of(c.ignore_startup_parameters.begin(), c.ignore_startup_parameters.end(),
                                       [&](const std::string& i) { return iequals(i, k); });
      if (!ignored) {
        co_await fatal("08P01", fmt::format("unsupported startup parameter: {}", k));
        co_return false;
      }
    }
    if (c.application_name_add_host) {
      auto& app = startup_tracked["application_name"];
      app = fmt::format("{} - {}", app, addr);
    }
    consume(startup_size);  // everything needed from the startup packet has been copied
    if (c.log_connections)
      log::info("{} login attempt: db={} user={} tls=no", prefix(), db_name, user_name);

    if (rt.client_count.load() > c.max_client_conn) {
      co_await fatal("53300", "no more connections allowed (max_client_conn)");
      co_return false;
    }
    if (db_name == "pgbouncer") {
      co_await fatal("0A000", "the admin console is not available in this version of sluice");
      co_return false;
    }
    // Authenticate before saying whether the database exists, as pgbouncer does.
    std::optional<pgwire::scram_keys> keys;
    const bool authenticated = co_await authenticate(c, user_name, keys);
    if (!authenticated) {
      co_return false;
    }
    const database_config* db = c.find_database(db_name);
    if (!db) {
      co_await fatal("08P01", fmt::format("no such database: {}", db_name));
      co_return false;
    }
    bool created = false;
    pool_ = rt.get_pool(*db, db_name, user_name, created);
    if (created && db->name == "*") log::info("registered new auto-database: db={}", db_name);
    if (keys) {
      std::lock_guard lk(pool_->mu);
      pool_->scram_keys = keys;
    }

    // The welcome: ParameterStatus as a server reports them, the client's own values on top.
    param_map welcome;
    {
      std::unique_lock lk(pool_->mu);
      if (pool_->have_welcome) {
        welcome = pool_->welcome;
      } else if (pool_->total == 0 && pool_->last_login_failure != clock::time_point{} &&
                 seconds_since(pool_->last_login_failure) < c.server_login_retry) {
        const std::string cached = pool_->last_login_error;
        lk.unlock();
        co_await fatal("08P01", fmt::format("server login has been failing, cached error: {} (server_login_retry)", cached));
        co_return false;
      }
    }
    if (welcome.empty()) {
      std::string error;
      server_ptr s = co_await rt.acquire(*pool_, sh, error);
      if (!s) {
        co_await fatal("08P01", error);
        co_return false;
      }
      welcome = s->params;
      rt.release(std::move(s), sh);
    }
    param_map mine;
    for (const auto& [k, v] : welcome)
      if (is_tracked_param(c, k)) mine[k] = v;
    for (auto& [k, v] : startup_tracked) {
      mine[k] = v;
      welcome[k] = v;
    }
    params = pool_->intern(c, std::move(mine));

    runtime::new_cancel_key(key_pid, key_secret);
    pgwire::byte_buffer out;
    pgwire::write_auth_ok(out);
    for (const auto& [k, v] : welcome) pgwire::write_parameter_status(out, k, v);
    pgwire::write_backend_key_data(out, key_pid, key_secret);
    pgwire::write_ready_for_query(out, 'I');
    auto [ec, n] = co_await asio::async_write(sock, asio::buffer(out), nothrow);
    if (ec) {
      co_return false;
    }
    logged_in = true;
    login_db.reset();  // pool_ names the database from now on
    co_return true;
  }

  // ------------------------------------------------------------------ link and relay
  //
  // After login a session is driven by completion handlers, not coroutines: an idle client
  // costs one pending wait and no frame, and a transaction costs no coroutine spawn. Two
  // chains run independently while linked:
  //   client chain: wait until the client is readable -> read into the shard's scratch
  //     buffer -> forward to the server (linking first if there is none) -> wait again;
  //   server chain: read the server into the link buffer -> forward to the client -> read
  //     again, or unlink when the transaction is over.
  // Writes are tried at once (non-blocking); only a partial write waits, and the chain
  // that made it pauses until it is done, which is the backpressure. Slow paths (parameter
  // replay, server_check_query, errors sent to the client) run as coroutines.
  using self_ptr = std::shared_ptr<client_session>;

  bool server_armed = false;   ///< a read on the server socket is pending
  bool to_client_pending = false;  ///< the server chain waits for a partial write to drain

  static void start_relay(self_ptr self) {
    client_session& c = *self;
    c.cbuf.clear();
    c.cbuf.shrink_to_fit();
    error_code ignored;
    c.sock.non_blocking(true, ignored);
    arm_client(std::move(self));
  }

  /// The handler of the wait on the client socket. It has its own allocator so that the
  /// pending operation, the only thing an idle client holds besides the session, is a block
  /// of its exact size: Asio's per-thread recycling would hand it whatever larger block ran
  /// before (an accept, a read), which made idle clients cost ~200 bytes more.
  struct client_wait_handler {
    self_ptr self;
    using allocator_type = pooled_allocator<void>;
    allocator_type get_allocator() const noexcept { return {}; }
    void operator()(error_code ec) { on_client(std::move(self), ec); }
  };

  static void arm_client(self_ptr self) {
    client_session& c = *self;
    c.sock.async_wait(asio::socket_base::wait_read, client_wait_handler{std::move(self)});
  }

  /// Client -> server. An idle client holds no read buffer: it waits for readability, then
  /// reads into its shard's scratch buffer. Bytes are copied into the session's own buffer
  /// only when they must outlive that read (no server linked yet, or a partial write).
  static void on_client(self_ptr self, error_code ec) {
    client_session& c = *self;
    if (ec || c.closing) {
      c.finish();
      return;
    }
    const std::size_t n = c.sock.read_some(asio::buffer(c.sh.scratch), ec);
    if (ec == asio::error::would_block) {
      arm_client(std::move(self));
      return;
    }
    if (ec) {
      c.finish();
      return;
    }
    c.last_client_io = clock::now();
    std::size_t forward = n;
    bool terminate = false, split_terminate = false;
    pool::local& st = c.pool_->locals[c.sh.id];
    const auto err = c.cscan.feed(
        pgwire::bytes_view(c.sh.scratch.data(), n), [](char) { return false; },
        [&](char tag, pgwire::bytes_view, std::size_t header_end) {
          switch (tag) {
            case pgwire::fe::query:
            case pgwire::fe::function_call:
              ++c.pending_rfq;
              bump(st.query_count, std::uint64_t{1});
              break;
            case pgwire::fe::sync:
              ++c.pending_rfq;
              c.batch_open = false;
              break;
            case pgwire::fe::execute:
              bump(st.query_count, std::uint64_t{1});
              c.batch_open = true;
              break;
            case pgwire::fe::parse:
            case pgwire::fe::bind:
            case pgwire::fe::describe:
            case pgwire::fe::close:
            case pgwire::fe::flush:
              c.batch_open = true;
              break;
            case pgwire::fe::terminate:
              // Not forwarded: the server connection outlives this client.
              terminate = true;
              if (header_end >= 5) {
                forward = std::min(forward, header_end - 5);
              } else {
                split_terminate = true;
              }
              break;
            default:
              break;
          }
        });
    if (err != pgwire::errc::ok) {
      if (!c.srv) {
        fail(std::move(self), "08P01", "bad packet header");
      } else {
        c.poison_server = true;
        c.finish();
      }
      return;
    }
    if (split_terminate) c.poison_server = true;
    bump(st.bytes_in, std::uint64_t(n));
    if (forward > 0) {
      if (!c.srv) {
        // Waiting for a server yields to other sessions, which reuse the scratch buffer.
        c.cbuf.assign(c.sh.scratch.data(), c.sh.scratch.data() + forward);
        if (terminate) c.closing = true;  // forward what came before the Terminate, then end
        find_server(std::move(self));
        return;
      }
      const bool sent = send_to_server(self, c.sh.scratch.data(), forward);
      if (!sent) return;  // the write completes (or fails) on its own and resumes the chain
    }
    if (terminate) {
      c.finish();
      return;
    }
    arm_client(std::move(self));
  }

  /// Forwards bytes to the linked server. True if they all went at once; otherwise the rest
  /// is kept in cbuf and written asynchronously, after which the client chain resumes (or
  /// the session finishes on error), and false is returned.
  static bool send_to_server(const self_ptr& self, const std::uint8_t* data, std::size_t len) {
    client_session& c = *self;
    error_code ec;
    if (!c.srv->sock.non_blocking()) c.srv->sock.non_blocking(true, ec);
    std::size_t done = c.srv->sock.write_some(asio::buffer(data, len), ec);
    if (ec && ec != asio::error::would_block) {
      // The server chain sees the same failure and reports it to the client.
      c.finish();
      return false;
    }
    if (ec) done = 0;
    if (done == len) return true;
    if (data != c.cbuf.data()) {
      c.cbuf.assign(data + done, data + len);
    } else {
      c.cbuf.erase(c.cbuf.begin(), c.cbuf.begin() + std::ptrdiff_t(done));
    }
    asio::async_write(c.srv->sock, asio::buffer(c.cbuf), [self](error_code wec, std::size_t) mutable {
      client_session& cs = *self;
      cs.cbuf = {};
      if (wec || cs.closing) {
        cs.finish();
        return;
      }
      arm_client(std::move(self));
    });
    return false;
  }

  /// The client sent something and has no server: take an idle one at once if possible,
  /// otherwise queue; either way cbuf is forwarded once linked.
  static void find_server(self_ptr self) {
    client_session& c = *self;
    if (c.rt.refuse_new_links.load()) {
      fail(std::move(self), "08P01", "pooler is shutting down");
      return;
    }
    bool check = false;
    server_ptr s = c.rt.take_idle(*c.pool_, c.sh, check);
    if (s) {
      got_server(std::move(self), std::move(s), check);
      return;
    }
    pool& p = *c.pool_;
    c.waiting = true;
    c.rt.wait_for_server(p, c.sh, wait_done{&on_wait_done, std::move(self)});
  }

  static void on_wait_done(std::shared_ptr<void> ctx, server_ptr srv, std::string error) {
    auto self = std::static_pointer_cast<client_session>(std::move(ctx));
    self->waiting = false;
    if (!srv) {
      fail(std::move(self), "08P01", error);
      return;
    }
    got_server(std::move(self), std::move(srv), false);
  }

  static void got_server(self_ptr self, server_ptr s, bool check) {
    client_session& c = *self;
    if (c.closing && !c.sock.is_open()) {  // killed while waiting
      c.rt.release(std::move(s), c.sh);
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
  static awaitable<void> prepare_server(self_ptr self, server_ptr s, bool check) {
    client_session& c = *self;
    if (check) {
      s = co_await c.rt.check_server(std::move(s), c.sh);
      if (!s) {
        find_server(std::move(self));  // that one was dead: look again
        co_return;
      }
    }
    c.srv = std::move(s);
    const bool replayed = co_await c.replay_params();
    if (!replayed) {
      c.rt.discard(std::move(c.srv), c.sh, "parameter replay failed");
      fail(std::move(self), "08P01", "server parameter replay failed");
      co_return;
    }
    attach(std::move(self));
  }

  /// Linked: start the server chain, forward what the client sent, resume the client chain.
  static void attach(self_ptr self) {
    client_session& c = *self;
    bump(c.pool_->locals[c.sh.id].active, 1);
    c.tx_status = 'I';
    server_conn& s = *c.srv;
    s.scan.reset();
    if (s.relay_buf.empty()) s.relay_buf.resize(c.sh.buffer_size);
    // The query goes out before the server read is armed: arming costs a syscall (Asio tries
    // a speculative read), which should not delay the query.
    const bool sent = send_to_server(self, c.cbuf.data(), c.cbuf.size());
    arm_server(self);
    if (c.finished) {
      // The write failed and finish() ran before the read was armed: end the read now so
      // its handler unlinks (and discards) the server.
      c.poison_server = true;
      error_code ignored;
      c.srv->sock.close(ignored);
    }
    if (!sent) return;
    c.cbuf = {};  // an idle client keeps no buffer
    if (c.closing) {  // a Terminate followed what was just forwarded
      c.finish();
      return;
    }
    arm_client(std::move(self));
  }

  /// Brings the server's session parameters in line with what this client has seen.
  awaitable<bool> replay_params() {
    if (srv->tracked_key == params->key) co_return true;
    std::string sql;
    for (const auto& [k, v] : params->values) {
      auto it = srv->params.find(k);
      if (it != srv->params.end() && it->second == v) continue;
      sql += fmt::format("SET {} = {};", k, quote_literal(v));
    }
    if (sql.empty()) {
      co_return true;
    }
    std::string err;
    const bool ok = co_await server_simple_query(*srv, sql, &err);
    if (!ok) {
      log::warning("{} parameter replay failed: {}", prefix(), err);
      co_return false;
    }
    // The server reports canonical spellings ("utc" -> "UTC"): adopt them so the next link
    // compares equal.
    param_map adopted = params->values;
    for (auto& [k, v] : adopted) {
      auto it = srv->params.find(k);
      if (it != srv->params.end()) v = it->second;
    }
    srv->tracked_key = tracked_key(rt.cfg(), srv->params);
    params = pool_->intern(rt.cfg(), std::move(adopted));
    co_return true;
  }

  static void arm_server(self_ptr self) {
    client_session& c = *self;
    c.server_armed = true;
    c.srv->sock.async_read_some(asio::buffer(c.srv->relay_buf), [self = std::move(self)](error_code ec, std::size_t n) mutable {
      on_server(std::move(self), ec, n);
    });
  }

  /// Server -> client.
  static void on_server(self_ptr self, error_code ec, std::size_t n) {
    client_session& c = *self;
    c.server_armed = false;
    if (ec) {
      if (!c.closing) {
        // The server went away under this client: tell it at once and end the session.
        log::info("{} server connection lost: {}", c.prefix(), ec.message());
        c.poison_server = true;
        unlink(self);
        fail(std::move(self), "08006", "server conn crashed?");
        return;
      }
      if (ec != asio::error::operation_aborted) c.poison_server = true;
      unlink(self);
      return;
    }
    c.last_server_io = clock::now();
    pool& p = *c.pool_;
    pool::local& st = p.locals[c.sh.id];
    bump(st.bytes_out, std::uint64_t(n));
    bool stmt_violation = false;
    server_conn& s = *c.srv;
    const config& cfg = c.rt.cfg();
    const auto err = s.scan.feed(
        pgwire::bytes_view(s.relay_buf.data(), n),
        [](char tag) { return tag == pgwire::be::ready_for_query || tag == pgwire::be::parameter_status; },
        [&](char tag, pgwire::bytes_view body, std::size_t) {
          if (tag == pgwire::be::ready_for_query) {
            if (!body.empty()) c.tx_status = static_cast<char>(body[0]);
            if (c.pending_rfq > 0) --c.pending_rfq;
            if (c.tx_status == 'I') bump(st.xact_count, std::uint64_t{1});
            if (p.mode == pool_mode::statement && c.tx_status != 'I') stmt_violation = true;
          } else if (tag == pgwire::be::parameter_status) {
            pgwire::parameter_status_msg m;
            const pgwire::frame f{tag, body, body.size() + 5};
            if (pgwire::decode(f, m) == pgwire::errc::ok) {
              const std::string k(m.name);
              s.params[k] = std::string(m.value);
              if (is_tracked_param(cfg, k)) {
                param_map mine = c.params->values;
                mine[k] = std::string(m.value);
                c.params = p.intern(cfg, std::move(mine));
                s.tracked_key = tracked_key(cfg, s.params);
              }
            }
          }
        });
    if (err != pgwire::errc::ok) {
      log::warning("{} bad packet from server: {}", c.prefix(), make_error_code(err).message());
      c.poison_server = true;
      unlink(self);
      fail(std::move(self), "08P01", "server sent a malformed message");
      return;
    }
    if (c.closing) {
      if (c.clean()) {
        unlink(self);  // a late async message for a client that has gone
      } else {
        arm_server(std::move(self));
      }
      return;
    }
    if (stmt_violation) {
      c.poison_server = true;
      unlink(self);
      fail(std::move(self), "08P01", "transaction blocks not allowed in statement pooling mode");
      return;
    }
    std::size_t done = c.sock.write_some(asio::buffer(s.relay_buf.data(), n), ec);
    if (ec == asio::error::would_block) {
      ec = {};
      done = 0;
    }
    if (ec) {
      client_gone_while_writing(self);
      return;
    }
    if (done < n) {
      c.to_client_pending = true;
      asio::async_write(c.sock, asio::buffer(s.relay_buf.data() + done, n - done),
                        [self](error_code wec, std::size_t) mutable {
                          client_session& cs = *self;
                          cs.to_client_pending = false;
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

  static void client_gone_while_writing(const self_ptr& self) {
    client_session& c = *self;
    c.closing = true;
    if (!c.clean()) c.poison_server = true;
    unlink(self);
    c.finish();
  }

  static void server_next(self_ptr self) {
    client_session& c = *self;
    if (c.closing && !c.clean()) {
      c.poison_server = true;
    }
    if (c.releasable() || c.closing) {
      unlink(self);
      return;
    }
    arm_server(std::move(self));
  }

  bool releasable() const {
    return pool_->mode != pool_mode::session && !closing && clean();
  }

  /// Unlinks the server: back to the pool if it is clean, closed otherwise.
  static void unlink(const self_ptr& self) {
    client_session& c = *self;
    if (!c.srv) return;
    bump(c.pool_->locals[c.sh.id].active, -1);
    const bool reusable = !c.poison_server && c.clean() && c.srv->sock.is_open();
    server_ptr s = std::move(c.srv);
    runtime& rt = c.rt;
    const config& cfg = rt.cfg();
    if (!reusable) {
      rt.discard(std::move(s), c.sh, c.closing ? "client disconnect while server was not ready" : "unclean server");
      c.poison_server = false;
      return;
    }
    const bool reset = !cfg.server_reset_query.empty() &&
                       (c.pool_->mode == pool_mode::session || cfg.server_reset_query_always);
    if (reset) {
      asio::co_spawn(c.sh.io, reset_and_release(rt, c.sh, std::move(s)), asio::detached);
      return;
    }
    rt.release(std::move(s), c.sh);
  }

  static awaitable<void> reset_and_release(runtime& rt, shard& sh, server_ptr s) {
    const config& c = rt.cfg();
    std::string err;
    const bool ok = co_await server_simple_query(*s, c.server_reset_query, &err);
    if (!ok) {
      rt.discard(std::move(s), sh, fmt::format("server_reset_query failed: {}", err));
      co_return;
    }
    s->tracked_key = tracked_key(c, s->params);  // the reset query may have changed them
    rt.release(std::move(s), sh);
  }

  /// Sends a FATAL error to the client, then ends the session.
  static void fail(self_ptr self, std::string_view sqlstate, std::string_view msg) {
    client_session& c = *self;
    c.closing = true;
    if (c.client_writing || c.to_client_pending) {
      c.finish();  // something else is writing to the client: no error message
      return;
    }
    c.client_writing = true;
    asio::co_spawn(c.sh.io, fail_coro(std::move(self), std::string(sqlstate), std::string(msg)), asio::detached);
  }
  static awaitable<void> fail_coro(self_ptr self, std::string sqlstate, std::string msg) {
    co_await self->fatal(sqlstate, msg);
    self->client_writing = false;
    self->finish();
    error_code ignored;
    self->sock.close(ignored);
  }

  // ------------------------------------------------------------------ session

  // Coroutines take their owner as a parameter (kept in the frame), never as a lambda
  // capture: a capture lives in the closure object, which may die before the frame does.
  static awaitable<void> main(std::shared_ptr<client_session> self) {
    const bool logged_in = co_await self->login();
    if (logged_in) {
      start_relay(std::move(self));
      co_return;
    }
    self->finish();
  }

  /// The client is gone (or being closed): let the server chain wind down, then forget the
  /// client.
  void finish() {
    closing = true;
    if (finished) return;
    finished = true;
    if (srv) {
      error_code ignored;
      if (server_armed) {
        // A clean server has no reply in flight, so cancelling the read loses nothing;
        // otherwise it is closed and replaced. The read's handler unlinks.
        if (clean() && !poison_server) {
          srv->sock.cancel(ignored);
        } else {
          poison_server = true;
          srv->sock.close(ignored);
        }
      }
      // With a write to the client pending, closing the client socket below ends it and its
      // handler unlinks.
    }
    unlink_from_list();
    rt.client_count.fetch_sub(1);
    if (logged_in && rt.cfg().log_disconnections)
      log::info("{} closing because: client close request (age={:.0f}s)", prefix(), seconds_since(connected_at));
    if (!client_writing) {
      error_code ignored;
      sock.close(ignored);
    }
  }

  void check_timeouts(const config& c) {
    if (closing) return;
    if (!logged_in) {
      if (c.client_login_timeout > 0 && seconds_since(connected_at) > c.client_login_timeout)
        kill("client_login_timeout");
      return;
    }
    if (waiting) return;  // query_wait_timeout is the waiter's own deadline
    if (!srv) {
      if (c.client_idle_timeout > 0 && seconds_since(last_client_io) > c.client_idle_timeout)
        kill("client_idle_timeout");
      return;
    }
    if (pending_rfq > 0) {
      if (c.query_timeout > 0 && seconds_since(last_client_io) > c.query_timeout) kill("query_timeout");
    } else if (tx_status != 'I' && c.idle_transaction_timeout > 0 &&
               seconds_since(std::max(last_client_io, last_server_io)) > c.idle_transaction_timeout) {
      kill("idle transaction timeout");
    }
  }
};

void start_client(runtime& rt, shard& s, stream_socket sock, bool is_unix) {
  const config& c = rt.cfg();
  const int fd = sock.native_handle();
  if (!is_unix) apply_tcp_options(fd, c);
  auto cs = std::make_shared<client_session>(rt, s, std::move(sock), is_unix);
  cs->addr = peer_string(fd, is_unix);
  cs->link_into(s.clients);
  rt.client_count.fetch_add(1);
  asio::co_spawn(s.io, client_session::main(std::move(cs)), asio::detached);
}

void client_check_timeouts(client_link* l, const config& cfg) {
  static_cast<client_session*>(l)->check_timeouts(cfg);
}
bool client_cancel_if(client_link* l, shard& s, std::uint32_t pid, std::uint32_t secret) {
  auto* c = static_cast<client_session*>(l);
  if (!c->logged_in || c->key_pid != pid || c->key_secret != secret) return false;
  if (!c->srv) return true;
  asio::co_spawn(s.io, send_cancel(s.io, c->pool_->target, c->srv->be_pid, c->srv->be_secret), asio::detached);
  return true;
}

}  // namespace sluice

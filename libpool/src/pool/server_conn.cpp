// Connections to PostgreSQL: connect, log in, run simple queries, send cancel requests.
#include "pool/server_conn.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cctype>

#include "net/dns_cache.hpp"
#include "pool/hosts.hpp"
#include "net/socket_options.hpp"
#include "net/stream.hpp"
#include "pgwire/messages.hpp"
#include "pool/pool.hpp"
#include "sluice/log.hpp"

namespace sluice {

namespace {

constexpr std::string_view default_unix_dir = "/var/run/postgresql";

/// The addresses of a TCP target: from dns (if given and fresh), else looked up without
/// blocking the shard (Asio's resolver thread) and stored in dns for dns_max_ttl seconds,
/// a failure for dns_nxdomain_ttl.
awaitable<dns_cache::answer> resolve(asio::any_io_executor ex, const pool_target& t,
                                     const config* cfg, dns_cache* dns) {
  if (dns && cfg) {
    if (auto hit = dns->find(t.host, t.port, clock::now())) co_return std::move(*hit);
  }
  asio::ip::tcp::resolver resolver(ex);
  auto [ec, results] = co_await resolver.async_resolve(t.host, std::to_string(t.port), nothrow);
  dns_cache::answer a;
  a.error = ec;
  if (!ec)
    for (const auto& r : results) a.endpoints.push_back(r.endpoint());
  if (dns && cfg && ec != asio::error::operation_aborted)
    dns->store(t.host, t.port, a, ec ? cfg->dns_nxdomain_ttl : cfg->dns_max_ttl, clock::now());
  co_return a;
}

/// Opens a socket to the pool's target: a Unix socket when host is empty or a directory,
/// else TCP to every resolved address in turn.
awaitable<error_code> connect_socket(stream_socket& sock, const pool_target& t, int& family,
                                     const config* cfg, dns_cache* dns = nullptr) {
  if (t.host.empty() || t.host.front() == '/') {
    const std::string dir = t.host.empty() ? std::string(default_unix_dir) : t.host;
    asio::local::stream_protocol::endpoint ep(fmt::format("{}/.s.PGSQL.{}", dir, t.port));
    const asio::generic::stream_protocol::endpoint gep(ep);
    family = AF_UNIX;
    auto [ec] = co_await sock.async_connect(gep, nothrow);
    co_return ec;
  }
  const dns_cache::answer addrs = co_await resolve(sock.get_executor(), t, cfg, dns);
  if (addrs.error) {
    co_return addrs.error;
  }
  error_code last = asio::error::host_not_found;
  for (const auto& endpoint : addrs.endpoints) {
    const asio::generic::stream_protocol::endpoint gep(endpoint);
    if (sock.is_open()) sock.close();
    // Options go on before connect: buffer sizes set afterwards do not change the window
    // scale agreed in the handshake, and a receive buffer shrunk under an established
    // window made PostgreSQL's sends stall (seen: a 20 MB result at tcp_socket_buffer=16384
    // took over a minute; pgbouncer, which sets them first, took 0.4 s).
    error_code oec;
    sock.open(gep.protocol(), oec);
    if (oec) {
      last = oec;
      continue;
    }
    if (cfg) {
      net::apply_tcp_buffers(sock.native_handle(), *cfg);
      net::apply_tcp_options(sock.native_handle(), *cfg);
    }
    auto [ec] = co_await sock.async_connect(gep, nothrow);
    if (!ec) {
      family = endpoint.protocol().family();
      co_return error_code{};
    }
    last = ec;
  }
  co_return last;
}

/// libpq refuses authentication requests longer than this; so does sluice (a SCRAM
/// server-first-message with a 100 kB nonce was accepted before).
constexpr std::uint32_t max_auth_message = 2000;

/// Reads until s.rbuf starts with one whole message. The caller consumes f.size bytes.
/// Authentication requests ('R') are held to auth_max, every other message to max_len.
awaitable<error_code> read_message(server_conn& s, pgwire::frame& f, std::uint32_t max_len,
                                   std::uint32_t auth_max = 0xffffffffu) {
  for (;;) {
    const bool auth = !s.rbuf.empty() && s.rbuf[0] == pgwire::be::authentication;
    const auto r = pgwire::frame_message(s.rbuf, auth ? std::min(auth_max, max_len) : max_len);
    if (r.status == pgwire::frame_status::message) {
      f = r.msg;
      co_return error_code{};
    }
    if (r.status == pgwire::frame_status::error) {
      co_return make_error_code(r.error);
    }
    const std::size_t old = s.rbuf.size();
    s.rbuf.resize(old + 8192);
    auto [ec, n] = co_await net::read_some(s.sock, s.tls.get(), {s.rbuf.data() + old, 8192});
    s.rbuf.resize(old + n);
    if (ec) {
      co_return ec;
    }
  }
}

/// server_tls_sslmode: an SSLRequest, then the handshake if the server says 'S'; plaintext
/// on 'N' unless the mode requires TLS ("allow" does not ask). What failed, or "".
awaitable<std::string> start_tls(server_conn& s, const config& cfg, std::string host) {
  if (cfg.server_tls_sslmode == "allow") co_return std::string();
  pgwire::byte_buffer req;
  pgwire::write_ssl_request(req);
  auto [wec, wn] = co_await asio::async_write(s.sock, asio::buffer(req), nothrow);
  if (wec) {
    co_return fmt::format("write failed: {}", wec.message());
  }
  std::uint8_t answer = 0;
  auto [rec, rn] = co_await asio::async_read(s.sock, asio::buffer(&answer, 1), nothrow);
  if (rec) {
    co_return fmt::format("login failed: {}", rec.message());
  }
  if (answer == 'N') {
    if (!cfg.server_tls->required()) co_return std::string();  // prefer
    co_return std::string("server refused SSL");
  }
  if (answer != 'S') co_return std::string("server sent an invalid answer to SSLRequest");
  // Bytes after the 'S', before the handshake, would be taken as TLS data that nobody
  // encrypted (CVE-2021-23222): refuse them.
  std::uint8_t extra = 0;
  if (::recv(s.sock.native_handle(), &extra, 1, MSG_PEEK | MSG_DONTWAIT) > 0)
    co_return std::string("server sent unencrypted data after SSL response");
  s.tls = std::make_unique<net::tls_engine>(cfg.server_tls, host);
  const error_code hec = co_await net::handshake(s.sock, *s.tls);
  if (hec) {
    co_return fmt::format("TLS handshake with server failed: {}",
                          s.tls->error().empty() ? hec.message() : s.tls->error());
  }
  co_return std::string();
}

void consume(server_conn& s, const pgwire::frame& f) {
  s.rbuf.erase(s.rbuf.begin(), s.rbuf.begin() + std::ptrdiff_t(f.size));
}

std::string error_text(const pgwire::frame& f, std::string* sqlstate = nullptr,
                       std::string* severity = nullptr) {
  pgwire::error_fields e;
  if (pgwire::decode(f, e) != pgwire::errc::ok) return "malformed ErrorResponse";
  if (sqlstate) *sqlstate = std::string(e.sqlstate);
  if (severity) *severity = std::string(e.severity);
  return std::string(e.message);
}

}  // namespace

/// Registers the socket with the reactor again, without write interest. Asio adds EPOLLOUT to
/// a descriptor's (edge-triggered) epoll registration the first time it waits for
/// writability, as connect does, and never removes it; the kernel then reports write space
/// after each query sent (seen with strace: one extra epoll_wait wake-up per transaction).
/// A fresh registration asks for reads only; a later partial write adds EPOLLOUT back.
static void register_read_only(server_conn& s) {
  error_code ec;
  const int fd = s.sock.release(ec);
  if (ec) return;
  const asio::generic::stream_protocol proto(s.protocol_family,
                                             s.protocol_family == AF_UNIX ? 0 : IPPROTO_TCP);
  s.sock.assign(proto, fd, ec);
  if (ec) ::close(fd);  // the server is then seen closed and discarded
}

awaitable<login_result> server_login(server_conn& s, config_ptr cfg_ptr,
                                     std::optional<pgwire::scram_keys> keys) {
  // Held for the whole login: a reload may replace the shard's config meanwhile.
  const config& cfg = *cfg_ptr;
  const std::shared_ptr<const pool_target> target = s.target;
  const pool_target& t = *target;
  // One deadline for connect and login: server_connect_timeout.
  auto expired = std::make_shared<bool>(false);
  asio::steady_timer deadline(s.sock.get_executor());
  if (cfg.server_connect_timeout > 0) {
    deadline.expires_after(
        std::chrono::duration_cast<clock::duration>(seconds_d(cfg.server_connect_timeout)));
    deadline.async_wait([&sock = s.sock, expired](error_code ec) {
      if (ec || *expired) return;
      *expired = true;
      error_code ignored;
      sock.close(ignored);
    });
  }
  auto finish = [&](login_result r) {
    if (*expired && !r.ok) r.error = "connect timeout";
    *expired = true;  // disarm the timer handler
    deadline.cancel();
    return r;
  };

  const error_code cec =
      co_await connect_socket(s.sock, t, s.protocol_family, &cfg, &s.owner->registry.dns());
  if (cec) {
    co_return finish({false, fmt::format("connect failed: {}", cec.message()), {}, {}});
  }
  if (cfg.server_tls && s.protocol_family != AF_UNIX) {
    const std::string why = co_await start_tls(s, cfg, t.host);
    if (!why.empty()) {
      co_return finish({false, why, {}, {}});
    }
  }

  pgwire::byte_buffer out;
  std::vector<std::pair<std::string_view, std::string_view>> params;
  params.emplace_back("user", t.user);
  params.emplace_back("database", t.dbname);
  for (const auto& [k, v] : t.startup_params) params.emplace_back(k, v);
  pgwire::write_startup(out, params);
  const error_code wec = co_await net::write_all(s.sock, s.tls.get(), out);
  if (wec) {
    co_return finish({false, fmt::format("write failed: {}", wec.message()), {}, {}});
  }

  pgwire::server_authenticator auth(t.user, t.password, keys);
  for (;;) {
    pgwire::frame f;
    const error_code rec = co_await read_message(s, f, cfg.max_packet_size, max_auth_message);
    if (rec) {
      if (rec == pgwire::errc::length_too_large && !s.rbuf.empty() &&
          s.rbuf[0] == pgwire::be::authentication) {
        co_return finish({false,
                          fmt::format("the server sent an authentication message longer than {} "
                                      "bytes",
                                      max_auth_message),
                          {}, {}});
      }
      co_return finish({false, fmt::format("login failed: {}", rec.message()), {}, {}});
    }
    switch (f.tag) {
      case pgwire::be::authentication: {
        auto step = auth.resume(f);
        if (step.what == pgwire::auth_step::kind::failed) {
          co_return finish({false, make_error_code(step.error).message(), {}, {}});
        }
        if (!step.out.empty()) {
          const error_code ec = co_await net::write_all(s.sock, s.tls.get(), step.out);
          if (ec) {
            co_return finish({false, fmt::format("write failed: {}", ec.message()), {}, {}});
          }
        }
        break;
      }
      case pgwire::be::error_response: {
        login_result r{false, {}, {}, {}};
        r.error = error_text(f, &r.sqlstate, &r.severity);
        co_return finish(std::move(r));
      }
      case pgwire::be::parameter_status: {
        pgwire::parameter_status_msg m;
        if (pgwire::decode(f, m) == pgwire::errc::ok)
          s.params[std::string(m.name)] = std::string(m.value);
        break;
      }
      case pgwire::be::backend_key_data: {
        pgwire::backend_key_data_msg m;
        if (pgwire::decode(f, m) == pgwire::errc::ok) {
          s.be_pid = m.pid;
          s.be_secret = m.secret;
        }
        break;
      }
      case pgwire::be::ready_for_query: {
        consume(s, f);
        if (!t.connect_query.empty()) {
          std::string err;
          const bool ok = co_await server_simple_query(s, t.connect_query, &err);
          if (!ok) {
            co_return finish({false, fmt::format("connect_query failed: {}", err), {}, {}});
          }
        }
        s.in_login = false;
        s.tracked_key = tracked_key(cfg, s.params);
        s.connected_at = s.idle_since = clock::now();
        login_result ok = finish({true, {}, {}, {}});
        register_read_only(s);
        co_return ok;
      }
      default:  // NoticeResponse, NegotiateProtocolVersion: nothing to do
        break;
    }
    consume(s, f);
  }
}

awaitable<bool> server_simple_query(server_conn& s, std::string_view sql, std::string* error,
                                    std::vector<std::string>* row) {
  // SHOW SERVERS calls an unlinked server in here "tested" (check and reset queries).
  struct testing_mark {
    server_conn& s;
    explicit testing_mark(server_conn& c) : s(c) { s.testing = true; }
    ~testing_mark() { s.testing = false; }
  } mark(s);
  pgwire::byte_buffer out;
  pgwire::write_query(out, sql);
  const error_code wec = co_await net::write_all(s.sock, s.tls.get(), out);
  if (wec) {
    const error_code& ec = wec;
    if (error) *error = ec.message();
    co_return false;
  }
  bool failed = false;
  for (;;) {
    pgwire::frame f;
    const error_code ec = co_await read_message(s, f, 1u << 30);
    if (ec) {
      if (error) *error = ec.message();
      co_return false;
    }
    if (f.tag == pgwire::be::data_row && row && row->empty()) {
      pgwire::data_row_msg m;
      if (pgwire::decode(f, m) == pgwire::errc::ok)
        for (const auto& col : m.columns)
          row->emplace_back(col ? std::string(reinterpret_cast<const char*>(col->data()), col->size())
                                : std::string());
    } else if (f.tag == pgwire::be::error_response) {
      failed = true;
      if (error) *error = error_text(f);
    } else if (f.tag == pgwire::be::parameter_status) {
      pgwire::parameter_status_msg m;
      if (pgwire::decode(f, m) == pgwire::errc::ok)
        s.params[std::string(m.name)] = std::string(m.value);
    } else if (f.tag == pgwire::be::command_complete) {
      // A reset query (DISCARD ALL) drops the statements sluice prepared on this connection.
      if (drops_all_statements(f.body)) s.statements.clear();
    } else if (f.tag == pgwire::be::ready_for_query) {
      pgwire::ready_for_query_msg m;
      const bool idle = pgwire::decode(f, m) == pgwire::errc::ok && m.status == 'I';
      consume(s, f);
      if (!idle && error && error->empty()) *error = "server left in a transaction";
      co_return idle && !failed && s.rbuf.empty();
    }
    consume(s, f);
  }
}

awaitable<auth_lookup> server_auth_query(server_conn& s, std::string_view sql,
                                         std::string_view user) {
  // Extended protocol: the user name travels as a parameter, never spliced into the SQL.
  auth_lookup r;
  pgwire::byte_buffer out;
  const std::optional<std::string_view> params[] = {user};
  pgwire::write_parse(out, "", sql);
  pgwire::write_bind(out, "", "", params);
  pgwire::write_execute(out, "");
  pgwire::write_sync(out);
  const error_code wec = co_await net::write_all(s.sock, s.tls.get(), out);
  if (wec) {
    const error_code& ec = wec;
    r.error = ec.message();
    co_return r;
  }
  bool failed = false, have_row = false;
  for (;;) {
    pgwire::frame f;
    const error_code ec = co_await read_message(s, f, 1u << 20);
    if (ec) {
      r.error = ec.message();
      co_return r;
    }
    switch (f.tag) {
      case pgwire::be::error_response:
        failed = true;
        r.error = error_text(f);
        break;
      case pgwire::be::data_row: {
        pgwire::data_row_msg row;
        if (pgwire::decode(f, row) != pgwire::errc::ok || row.columns.size() != 2) {
          failed = true;
          r.error = "auth_query must return two columns (user name, password)";
        } else if (!have_row) {
          have_row = true;
          if (row.columns[1])
            r.password = std::string(reinterpret_cast<const char*>(row.columns[1]->data()),
                                     row.columns[1]->size());
        }
        break;
      }
      case pgwire::be::ready_for_query: {
        pgwire::ready_for_query_msg m;
        const bool idle = pgwire::decode(f, m) == pgwire::errc::ok && m.status == 'I';
        consume(s, f);
        r.reusable = idle && s.rbuf.empty();
        if (!idle && r.error.empty()) r.error = "server left in a transaction";
        r.ok = r.reusable && !failed;
        r.found = r.ok && have_row;
        if (!r.found) r.password.reset();
        co_return r;
      }
      default:  // ParseComplete, BindComplete, CommandComplete, notices, ParameterStatus
        break;
    }
    consume(s, f);
  }
}

namespace {

/// A cancel request in flight, shared with its cancel_wait_timeout timer.
struct cancel_call {
  explicit cancel_call(asio::io_context& io) : sock(io), timer(io) {}
  stream_socket sock;
  asio::steady_timer timer;
  bool done = false, timed_out = false;

  /// Gives up on the server: closes the socket, and again shortly after while the request is
  /// still under way (connect_socket opens a new socket for the next address of a host).
  static void arm(const std::shared_ptr<cancel_call>& call, clock::duration after) {
    call->timer.expires_after(after);
    call->timer.async_wait([call](error_code ec) {
      if (ec || call->done) return;
      call->timed_out = true;
      error_code ignored;
      call->sock.close(ignored);
      arm(call, std::chrono::milliseconds(50));
    });
  }
};

}  // namespace

awaitable<bool> send_cancel(asio::io_context& io, pool_target target, std::uint32_t pid,
                            std::uint32_t secret, double timeout,
                            std::function<void()> on_sent) {
  auto call = std::make_shared<cancel_call>(io);
  // cancel_wait_timeout: a server that does not take the request in time (down, or not
  // answering) is given up on rather than holding a connection for ever.
  if (timeout > 0)
    cancel_call::arm(call,
                     std::chrono::duration_cast<clock::duration>(seconds_d(timeout)));
  int family = 0;
  error_code ec = co_await connect_socket(call->sock, target, family, nullptr);
  bool sent = false;
  if (!ec && !call->timed_out) {
    pgwire::byte_buffer out;
    pgwire::write_cancel_request(out, pid, secret);
    auto [wec, n] = co_await asio::async_write(call->sock, asio::buffer(out), nothrow);
    ec = wec;
    sent = !wec && !call->timed_out;
    if (sent && on_sent) on_sent();
    // The server closes the connection once it has read the request; wait for that so the
    // cancel is delivered before the socket is torn down.
    std::array<char, 16> sink;
    co_await call->sock.async_read_some(asio::buffer(sink), nothrow);
  }
  call->done = true;
  call->timer.cancel();
  if (call->timed_out) {
    log::warning("cancel request to {}:{} failed: cancel_wait_timeout", target.host, target.port);
  } else if (ec) {
    log::warning("cancel request to {}:{} failed: {}", target.host, target.port, ec.message());
  }
  error_code ignored;
  call->sock.close(ignored);
  co_return sent;
}

bool server_is_dead(server_conn& s) {
  char c;
  const ssize_t n = ::recv(s.sock.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  return true;  // EOF, or bytes nobody asked for (e.g. a FATAL before the server exited)
}

namespace {

/// Back to the state of a server_conn that has not logged in: the next host starts afresh.
void reset_for_next_host(server_conn& s) {
  if (!s.in_login) {  // logged in: say goodbye, so the server does not log an unexpected EOF
    pgwire::byte_buffer bye;
    pgwire::write_terminate(bye);
    net::send_now(s.sock, s.tls.get(), bye);
  }
  error_code ignored;
  s.sock.close(ignored);
  s.tls.reset();
  s.rbuf.clear();
  s.params.clear();
  s.be_pid = s.be_secret = 0;
  s.in_login = true;
}

}  // namespace

awaitable<connect_result> server_connect(server_conn& s,
                                         const std::vector<std::shared_ptr<const pool_target>>& hosts,
                                         std::size_t start, config_ptr cfg,
                                         std::optional<pgwire::scram_keys> keys) {
  connect_result out;
  const session_attrs attrs = hosts.front()->attrs;
  const std::vector<std::size_t> order = host_order(hosts.size(), start);
  out.seen.resize(hosts.size());
  auto note = [&](std::size_t i, std::string_view why) {
    if (!out.skipped.empty()) out.skipped += "; ";
    out.skipped += fmt::format("{}:{} {}", hosts[i]->host, hosts[i]->port, why);
  };
  for (int pass = 0; pass < passes(attrs); ++pass) {
    for (const std::size_t i : order) {
      if (pass > 0 && !out.seen[i].up) continue;  // the second pass only revisits live hosts
      if (s.sock.is_open() || !s.params.empty()) reset_for_next_host(s);
      s.target = hosts[i];
      const login_result r = co_await server_login(s, cfg, keys);
      out.seen[i].tried = true;
      if (!r.ok) {
        if (pass == 0) note(i, r.error);
        static_cast<login_result&>(out) = r;
        continue;
      }
      out.seen[i].up = true;
      server_role role = role_from_params(s.params);
      if (!role.known && attrs != session_attrs::any) {
        // PostgreSQL before 14 reports neither parameter: ask.
        std::vector<std::string> row;
        std::string err;
        const bool asked = co_await server_simple_query(s, role_query, &err, &row);
        if (asked && row.size() == 2) role = role_from_query(row[0], row[1]);
      }
      out.seen[i].role = role;
      if (role_suits(attrs, role, pass == 0)) {
        out.ok = true;
        out.error.clear();
        out.sqlstate.clear();
        out.host = i;
        co_return out;
      }
      out.answered = true;
      if (pass == 0) note(i, role.name());
    }
  }
  reset_for_next_host(s);
  if (out.answered) {
    out.error = fmt::format("no host suits target_session_attrs={}: {}", to_string(attrs),
                            out.skipped);
    out.sqlstate.clear();
  }
  co_return out;
}

}  // namespace sluice

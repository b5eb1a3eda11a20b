// The Beast session and the endpoints' actions. What a request asks for is decided by
// route() (router.cpp); the data comes from the control API's snapshots, formatted by
// metrics.cpp and stats_json.cpp.
#include "http/server.hpp"

#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <array>
#include <thread>

#include "control/connections.hpp"
#include "http/metrics.hpp"
#include "http/router.hpp"
#include "http/stats_json.hpp"
#include "sluice/log.hpp"

namespace sluice::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

/// What an endpoint answers.
struct reply {
  unsigned status = 200;
  std::string body;
  const char* content_type = "application/json";
  std::string_view allow;
  bool challenge = false;
};

reply make_reply(unsigned status, std::string body, const char* content_type) {
  reply r;
  r.status = status;
  r.body = std::move(body);
  r.content_type = content_type;
  return r;
}

reply json_reply(unsigned status, json::object o) {
  return make_reply(status, json::serialize(o) + "\n", "application/json");
}

reply text_reply(unsigned status, std::string body) {
  return make_reply(status, std::move(body), "text/plain; charset=utf-8");
}

reply error_reply(unsigned status, std::string_view message) {
  json::object o;
  o["error"] = message;
  return json_reply(status, std::move(o));
}

/// The status for a control API error: an unknown database is not found, a missing one a bad
/// request, anything else (already paused, not paused, shutting down) a conflict.
unsigned status_of(const std::string& error) {
  if (error.starts_with("no such database")) return 404;
  if (error == "a database is required" || error.starts_with("cannot ")) return 400;
  return 409;
}

json::array strings(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

}  // namespace

struct server::impl {
  impl(control& c, server_hooks h, server_limits l)
      : ctl(c), hooks(std::move(h)), limits(l) {}

  control& ctl;
  server_hooks hooks;
  server_limits limits;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::thread thread;
  std::size_t connections = 0;  // on io's thread only

  awaitable<void> accept_loop();
  awaitable<void> linger_close(beast::tcp_stream stream);
  pooler_state state() const {
    pooler_state st = ctl.state();
    if (hooks.shutting_down) st.shutting_down = st.shutting_down || hooks.shutting_down();
    return st;
  }
  awaitable<void> session(tcp::socket sock);
  awaitable<reply> serve(endpoint ep, std::string database, std::string peer);
  awaitable<reply> readyz(const std::string& database);
  awaitable<reply> metrics();
  awaitable<reply> stats();
  awaitable<reply> run_command(endpoint ep, const std::string& database);
};

server::server(control& ctl, server_hooks hooks, server_limits limits)
    : impl_(std::make_unique<impl>(ctl, std::move(hooks), limits)) {}

server::~server() { stop(); }

void server::start(const std::string& addr, int port) {
  impl& m = *impl_;
  error_code ec;
  tcp::resolver resolver(m.io);
  auto found = resolver.resolve(addr, std::to_string(port),
                                tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || found.empty())
    throw std::runtime_error(fmt::format("http_listen_addr {}: {}", addr, ec.message()));
  const tcp::endpoint at = found.begin()->endpoint();
  m.acceptor.open(at.protocol(), ec);
  if (!ec) m.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) m.acceptor.bind(at, ec);
  if (!ec) m.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw std::runtime_error(
        fmt::format("cannot listen on HTTP {}:{}: {}", at.address().to_string(), port, ec.message()));
  log::info("listening on HTTP {}:{}", at.address().to_string(), at.port());
  asio::co_spawn(m.io, m.accept_loop(), asio::detached);
  m.thread = std::thread([&m] {
    auto guard = asio::make_work_guard(m.io);
    m.io.run();
  });
}

void server::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->io.stop();
  impl_->thread.join();
}

awaitable<void> server::impl::accept_loop() {
  for (;;) {
    auto [ec, sock] = co_await acceptor.async_accept(nothrow);
    if (ec == asio::error::operation_aborted) {
      co_return;
    }
    if (ec) {
      // Out of descriptors and the like: wait a little rather than spin.
      log::warning("HTTP accept failed: {}", ec.message());
      asio::steady_timer t(io);
      t.expires_after(std::chrono::milliseconds(100));
      co_await t.async_wait(nothrow);
      continue;
    }
    if (connections >= limits.max_connections) {
      // Over the cap: say so without waiting on the client, and close.
      static constexpr std::string_view busy =
          "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
          "Content-Length: 38\r\nConnection: close\r\n\r\n"
          "{\"error\":\"too many HTTP connections\"}\n";
      error_code ignored;
      sock.non_blocking(true, ignored);
      sock.write_some(asio::buffer(busy), ignored);
      asio::co_spawn(io, linger_close(beast::tcp_stream(std::move(sock))), asio::detached);
      continue;
    }
    ++connections;
    asio::co_spawn(io, session(std::move(sock)), [this](std::exception_ptr e) {
      --connections;
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& x) {
          log::error("HTTP session failed: {}", x.what());
        } catch (...) {
          log::error("HTTP session failed");
        }
      }
    });
  }
}

awaitable<void> server::impl::session(tcp::socket sock) {
  error_code ec;
  const tcp::endpoint remote = sock.remote_endpoint(ec);
  const std::string peer = ec ? std::string("?") : remote.address().to_string();
  beast::tcp_stream stream(std::move(sock));
  // Bounded as a whole too: Boost 1.81's parser checks neither limit on chunk-size lines and
  // trailers, which would otherwise grow the buffer for as long as a client sends them.
  beast::flat_buffer buf(limits.header_limit + limits.body_limit + 16 * 1024);
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.header_limit));
    parser.body_limit(limits.body_limit);
    stream.expires_after(limits.request_timeout);
    auto [rec, n] = co_await bhttp::async_read(stream, buf, parser, nothrow);
    bool keep_alive = false;
    bool linger = false;  // the request was not read whole: see linger_close
    reply r;
    unsigned version = 11;
    if (rec == bhttp::error::end_of_stream || rec == beast::error::timeout ||
        rec == asio::error::connection_reset || rec == asio::error::eof) {
      break;  // the client went away or idled out: nothing to answer
    } else if (rec == bhttp::error::header_limit) {
      r = error_reply(431, "request headers too large");
      linger = true;
    } else if (rec == bhttp::error::body_limit || rec == bhttp::error::buffer_overflow) {
      r = error_reply(413, "request body too large");
      linger = true;
    } else if (rec) {
      r = error_reply(400, fmt::format("malformed request: {}", rec.message()));
      linger = true;
    } else {
      const auto& req = parser.get();
      version = req.version();
      keep_alive = req.keep_alive();
      const method m = req.method() == bhttp::verb::get    ? method::get
                       : req.method() == bhttp::verb::post ? method::post
                                                           : method::other;
      const auto token = hooks.token();
      const auto auth = req[bhttp::field::authorization];
      route_result routed = route(m, req.target(), auth, token.get());
      if (!routed.ep) {
        if (routed.status == 401 || routed.status == 403)
          log::warning("HTTP {} {} from {} refused: {}", req.method_string(),
                       routed.status == 401 ? "request" : "command", peer, routed.message);
        r = error_reply(routed.status, routed.message);
        r.allow = routed.allow;
        r.challenge = routed.challenge;
      } else {
        r = co_await serve(*routed.ep, std::move(routed.database), peer);
      }
    }
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(r.status), version};
    res.set(bhttp::field::server, "sluice");
    res.set(bhttp::field::content_type, r.content_type);
    res.set(bhttp::field::cache_control, "no-store");
    if (!r.allow.empty()) res.set(bhttp::field::allow, r.allow);
    if (r.challenge) res.set(bhttp::field::www_authenticate, "Bearer");
    res.keep_alive(keep_alive);
    res.body() = std::move(r.body);
    res.prepare_payload();
    stream.expires_after(limits.request_timeout);
    auto [wec, wn] = co_await bhttp::async_write(stream, res, nothrow);
    if (!wec && linger) {
      co_await linger_close(std::move(stream));
      co_return;
    }
    if (wec || !keep_alive) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.close();
}

awaitable<void> server::impl::linger_close(beast::tcp_stream stream) {
  // Closing with unread bytes in the socket makes the kernel send a reset, and the client may
  // then lose the answer it was sent. So: no more sending, then read and drop what the client
  // still sends, for a second at most, and close.
  error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.expires_after(std::chrono::seconds(1));
  std::array<char, 4096> sink;
  for (;;) {
    auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink), nothrow);
    if (rec) {
      break;
    }
  }
  stream.close();
}

awaitable<reply> server::impl::serve(endpoint ep, std::string database, std::string peer) {
  // One coroutine per endpoint, and no co_await inside a switch: GCC 12 destroys the locals
  // of a case block that suspends twice.
  if (ep == endpoint::healthz) {
    co_return text_reply(200, "ok\n");
  }
  if (ep == endpoint::readyz) {
    reply r = co_await readyz(database);
    co_return r;
  }
  if (ep == endpoint::metrics) {
    reply r = co_await metrics();
    co_return r;
  }
  if (ep == endpoint::stats) {
    reply r = co_await stats();
    co_return r;
  }
  const std::string_view cmd = command_name(ep);
  if (database.empty())
    log::info("{} command issued over HTTP by {}", cmd, peer);
  else
    log::info("{} '{}' command issued over HTTP by {}", cmd, database, peer);
  reply r = co_await run_command(ep, database);
  if (r.status >= 400) log::error("HTTP {}: {}", cmd, r.body.substr(0, r.body.size() - 1));
  co_return r;
}

awaitable<reply> server::impl::metrics() {
  const config_ptr cfg = hooks.config();
  metrics_input in;
  in.version = SLUICE_VERSION;
  in.state = state();
  in.default_mode = cfg->mode;
  in.client_connections = ctl.shards().client_count.load();
  in.max_client_conn = cfg->max_client_conn;
  // Results of co_await are bound to locals first (GCC 12 mishandles `x.m = co_await f()`).
  std::vector<pool_info> pools = co_await snapshot_pools(ctl, io);
  std::vector<shard_info> shards = co_await snapshot_shards(ctl.shards(), io);
  in.pools = std::move(pools);
  in.shards = std::move(shards);
  in.databases = snapshot_databases(ctl, *cfg);
  in.pool_stats = snapshot_pool_metrics(ctl.registry());
  in.peers = snapshot_peers(ctl, *cfg);
  co_return make_reply(200, render_metrics(in), metrics_content_type);
}

awaitable<reply> server::impl::stats() {
  const config_ptr cfg = hooks.config();
  stats_input in;
  in.version = SLUICE_VERSION;
  in.state = state();
  std::vector<pool_info> pools = co_await snapshot_pools(ctl, io);
  connections_snapshot conns = co_await snapshot_connections(ctl.shards(), io);
  in.pools = std::move(pools);
  in.connections = std::move(conns);
  in.stats = ctl.stats().snapshot();
  in.databases = snapshot_databases(ctl, *cfg);
  in.peers = snapshot_peers(ctl, *cfg);
  co_return make_reply(200, render_stats(in), "application/json");
}

awaitable<reply> server::impl::readyz(const std::string& database) {
  const pooler_state st = state();
  std::string why;
  if (st.shutting_down || (hooks.listening && !hooks.listening())) {
    why = st.shutting_down ? "shutting down" : "not listening";
  } else if (st.paused) {
    why = "paused";
  } else if (!database.empty()) {
    const config_ptr cfg = hooks.config();
    bool found = false;
    for (const database_info& d : snapshot_databases(ctl, *cfg)) {
      if (d.console || d.name != database) continue;
      found = true;
      if (d.paused) why = fmt::format("database {} is paused", database);
      if (d.disabled) why = fmt::format("database {} is disabled", database);
      if (d.no_suitable_host)
        why = fmt::format("database {}: no host suits target_session_attrs", database);
    }
    if (!found) {
      co_return error_reply(404, fmt::format("no such database: {}", database));
    }
  }
  if (!why.empty()) {
    co_return text_reply(503, why + "\n");
  }
  co_return text_reply(200, "ready\n");
}

awaitable<reply> server::impl::run_command(endpoint ep, const std::string& database) {
  if (ep == endpoint::reload) {
    const reload_result rr = ctl.reload();
    json::object o;
    if (!rr.ok) {
      o["errors"] = strings(rr.errors);
      co_return json_reply(400, std::move(o));
    }
    o["changes"] = strings(rr.changes);
    o["needs_restart"] = strings(rr.needs_restart);
    co_return json_reply(200, std::move(o));
  }
  const config_ptr cfg = hooks.config();
  const config& c = *cfg;
  command_result res;
  switch (ep) {
    case endpoint::pause:
      res = ctl.begin_pause(c, database);
      break;
    case endpoint::resume:
      if (database.empty() && ctl.state().shutting_down)  // as the console
        res = command_result::fail("pooler is shutting down");
      else
        res = ctl.resume(c, database);
      break;
    case endpoint::reconnect:
      res = ctl.reconnect(c, database);
      break;
    case endpoint::kill:
      res = ctl.state().paused ? command_result::fail("already suspended/paused")
                               : ctl.kill(c, database);
      break;
    case endpoint::disable:
      res = database.empty() ? command_result::fail("a database is required")
                             : ctl.disable(c, database);
      break;
    case endpoint::enable:
      res = database.empty() ? command_result::fail("a database is required")
                             : ctl.enable(c, database);
      break;
    default:
      res = command_result::fail("not a command");
      break;
  }
  if (!res.ok()) {
    co_return error_reply(status_of(res.error), res.error);
  }
  // As the console: PAUSE answers once every server of those databases has been released.
  if (ep == endpoint::pause) {
    co_await ctl.wait_paused(database, io);
  }
  json::object o;
  o["command"] = command_name(ep);
  o["database"] = database.empty() ? json::value(nullptr) : json::value(database);
  co_return json_reply(200, std::move(o));
}

}  // namespace sluice::http

// Client login: the startup packet, SSLRequest/GSSENCRequest, authentication per auth_type,
// the pool for (database, user), and the welcome (AuthenticationOk, ParameterStatus,
// BackendKeyData, ReadyForQuery).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/write.hpp>
#include <cctype>
#include <cstring>
#include <stdexcept>

#include "net/stream.hpp"
#include "pgwire/crypto.hpp"
#include "pgwire/messages.hpp"
#include "session/client_session.hpp"
#include "session/session.hpp"
#include "sluice/log.hpp"

namespace sluice {

namespace {

/// The password an unknown user is checked against: random, drawn once per process.
const std::string& mock_secret() {
  static const std::string secret = [] {
    std::uint8_t b[24];
    if (!pgwire::random_bytes({b, sizeof b})) throw std::runtime_error("no randomness");
    return fmt::format("{:02x}", fmt::join(b, ""));
  }();
  return secret;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

auth_type client_session::hba_method(const config& c, const std::string& user,
                                     const std::string& database, std::string& why) const {
  hba_peer p;
  p.is_unix = is_unix;
  p.tls = tls != nullptr;
  p.user = user;
  p.database = database;
  // native_handle() is not const; the descriptor is only read.
  const int fd = const_cast<stream_socket&>(sock).native_handle();
  if (!is_unix) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      p.family = ss.ss_family;
      if (ss.ss_family == AF_INET)
        std::memcpy(p.addr, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, 4);
      else if (ss.ss_family == AF_INET6)
        std::memcpy(p.addr, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, 16);
    }
  }
  const std::string host = is_unix ? std::string("[local]") : addr.substr(0, addr.rfind(':'));
  const hba_rule* r = c.hba ? match_hba(*c.hba, p) : nullptr;
  if (!r) {
    why = fmt::format("no pg_hba.conf entry for host \"{}\", user \"{}\", database \"{}\"", host,
                      user, database);
    return auth_type::hba;
  }
  switch (r->method) {
    case hba_rule::trust:
      return auth_type::trust;
    case hba_rule::md5:
      return auth_type::md5;
    case hba_rule::password:
      return auth_type::plain;
    case hba_rule::scram_sha_256:
      return auth_type::scram_sha_256;
    case hba_rule::peer: {
      // The peer's OS user must be the one it logs in as (Unix sockets only).
      ucred cred{};
      socklen_t len = sizeof cred;
      const passwd* pw = nullptr;
      if (is_unix && ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
        pw = ::getpwuid(cred.uid);
      if (pw && user == pw->pw_name) return auth_type::any;  // proven: nothing more to ask
      why = fmt::format("peer authentication failed for user \"{}\"", user);
      return auth_type::hba;
    }
    case hba_rule::cert:
      return auth_type::cert;
    case hba_rule::reject:
      break;
  }
  why = fmt::format("pg_hba.conf rejects connection for host \"{}\", user \"{}\", database \"{}\"",
                    host, user, database);
  return auth_type::hba;
}

// Coroutines take their owner as a parameter (kept in the frame), never as a lambda
// capture: a capture lives in the closure object, which may die before the frame does.
awaitable<void> client_session::main(self_ptr self) {
  const bool welcomed = co_await self->login(self);
  if (welcomed && self->console) {
    const console_user who = *self->console;
    co_await run_console(self, who);
  } else if (welcomed) {
    start_relay(std::move(self));
    co_return;
  }
  self->finish();
}

/// Reads until cbuf starts with one whole packet as `frame_fn` frames it (startup packets,
/// then typed messages during authentication, both capped at PostgreSQL's startup limit).
template <class FrameFn>
awaitable<pgwire::frame_result> client_session::read_packet(FrameFn frame_fn) {
  for (;;) {
    auto r = frame_fn(pgwire::bytes_view(cbuf));
    if (r.status != pgwire::frame_status::need_more) co_return r;
    const std::size_t old = cbuf.size();
    cbuf.resize(old + 1024);
    auto [ec, n] = co_await net::read_some(sock, tls.get(), {cbuf.data() + old, 1024});
    cbuf.resize(old + n);
    if (ec) {
      co_return pgwire::frame_result{pgwire::frame_status::error, {}, 0, pgwire::errc::truncated};
    }
  }
}

awaitable<pgwire::frame_result> client_session::read_startup() {
  return read_packet(pgwire::frame_startup);
}

awaitable<pgwire::frame_result> client_session::read_message(std::uint32_t max_len) {
  return read_packet([max_len](pgwire::bytes_view b) { return pgwire::frame_message(b, max_len); });
}

awaitable<std::optional<std::string>> client_session::look_up_password(
    const self_ptr& self, const config& c, const std::string& user, const std::string& database,
    wait_error& no_server, bool& found) {
  found = false;
  // The database's own auth settings win over [pgbouncer]'s.
  const database_config* db = c.find_database(database);
  auto pick = [&](std::string database_config::*own,
                  const std::string& global) -> const std::string& {
    return db && !(db->*own).empty() ? db->*own : global;
  };
  const std::string& auth_user = pick(&database_config::auth_user, c.auth_user);
  if (auth_user.empty()) {
    log::info("{} no such user: {}", prefix(), user);
    co_return std::nullopt;
  }
  const std::string& auth_dbname = pick(&database_config::auth_dbname, c.auth_dbname);
  const std::string& query = pick(&database_config::auth_query, c.auth_query);
  const std::string& lookup_db = auth_dbname.empty() ? database : auth_dbname;
  if (lookup_db == "pgbouncer") {
    log::error("{} cannot use the reserved \"pgbouncer\" database as an auth_dbname", prefix());
    no_server = {"08P01", "bouncer config error"};
    co_return std::nullopt;
  }
  const database_config* entry = auth_dbname.empty() ? db : c.find_database(auth_dbname);
  if (!entry && auth_dbname.empty()) {
    // The client's own database does not exist: nothing to ask, and the client learns that
    // only after authenticating (as an unknown user here), as from pgbouncer.
    co_return std::nullopt;
  }
  if (!entry) {
    log::error("{} authentication database \"{}\" is not configured", prefix(), lookup_db);
    no_server = {"08P01", "bouncer config error"};
    co_return std::nullopt;
  }
  if (registry.state_of(lookup_db).disabled.load()) {
    no_server = {"08P01", fmt::format("authentication database \"{}\" is disabled", lookup_db)};
    co_return std::nullopt;
  }
  const std::shared_ptr<pool> auth_pool = registry.get_auth_pool(*entry, lookup_db, auth_user, c, sh.users());
  server_ptr s = co_await auth_pool->acquire_idle(sh);
  if (!s) {
    s = co_await wait_in_queue(self, *auth_pool, no_server);
  }
  if (!s) {
    if (!closing())
      log::warning("{} auth_query as {} in {} got no server: {}", prefix(), auth_user, lookup_db,
                   no_server.message);
    co_return std::nullopt;
  }
  const auth_lookup r = co_await server_auth_query(*s, query, user);
  if (r.reusable)
    auth_pool->release(std::move(s), sh);
  else
    auth_pool->discard(std::move(s), sh, fmt::format("auth_query failed: {}", r.error));
  if (!r.ok) {
    log::warning("{} auth_query as {} in {} failed: {}", prefix(), auth_user, lookup_db, r.error);
  } else if (!r.found) {
    // pgbouncer tells the client "no such user"; sluice answers as for a wrong password
    // (a mock exchange), so that logins cannot probe which roles exist.
    log::info("{} no such user: {}", prefix(), user);
  } else if (!r.password) {
    log::info("{} login failed: auth_query found no valid password", prefix());
  }
  found = r.ok && r.found;
  co_return r.password;
}

/// Verifies the client per auth_type; SCRAM keys it proved end up in `keys`.
awaitable<bool> client_session::authenticate(const self_ptr& self, const config& c,
                                             const std::string& user,
                                             const std::string& database,
                                             std::optional<pgwire::scram_keys>& keys) {
  auth_type how = c.auth;
  if (how == auth_type::hba) {
    // The first matching rule of auth_hba_file says how, before anything is asked.
    std::string why;
    how = hba_method(c, user, database, why);
    if (!why.empty()) {
      log::info("{} login failed: {}", prefix(), why);
      co_await send_error("FATAL", "28000", why);
      co_return false;
    }
  }
  if (how == auth_type::any) co_return true;
  // Whom auth_file does not list, auth_user may look up (a password nobody checks, for trust).
  const std::string* stored = sh.users().find(user);
  std::optional<std::string> looked_up;
  bool found = stored != nullptr;
  if (!stored && how != auth_type::cert) {
    wait_error no_server;
    looked_up = co_await look_up_password(self, c, user, database, no_server, found);
    if (closing()) {
      co_return false;
    }
    if (!no_server.message.empty()) {  // no server to ask, or nobody by that name: say so
      co_await fatal(no_server.sqlstate, no_server.message);
      co_return false;
    }
    if (looked_up) stored = &*looked_up;
  }
  if (how == auth_type::trust) {
    // As in pgbouncer, trust still wants a user it knows.
    if (!found) {
      co_await fatal("28000", "\"trust\" authentication failed");
      co_return false;
    }
    co_return true;
  }
  if (how == auth_type::cert) {
    // The client certificate (verified against client_tls_ca_file in the handshake) names
    // the user in its CN.
    const std::string cn = tls ? tls->peer_common_name() : std::string();
    if (cn.empty() || cn != user) {
      const std::string why =
          cn.empty() ? std::string("connection requires a valid client certificate")
                     : fmt::format("certificate authentication failed for user \"{}\"", user);
      log::info("{} login failed: {}", prefix(), why);
      co_await send_error("FATAL", "28000", why);
      co_return false;
    }
    co_return true;
  }
  pgwire::client_auth_method method;
  switch (how) {
    case auth_type::plain:
      method = pgwire::client_auth_method::cleartext;
      break;
    case auth_type::md5:
      method = pgwire::client_auth_method::md5;
      break;
    case auth_type::scram_sha_256:
      method = pgwire::client_auth_method::scram_sha_256;
      break;
    default:
      co_await fatal(
          "0A000", fmt::format("auth_type {} is not supported by this version", to_string(c.auth)));
      co_return false;
  }
  const std::string fail_msg = fmt::format("password authentication failed for user \"{}\"", user);
  // A user nobody knows goes through the same exchange against a secret no password matches,
  // so that the answer (and its timing) does not tell unknown users from wrong passwords.
  pgwire::client_authenticator auth(method, user, stored ? *stored : mock_secret(), {},
                                    c.scram_iterations);
  auto step = auth.start();
  for (;;) {
    if (step.what == pgwire::auth_step::kind::failed) {
      log::info("{} login failed: {}", prefix(), make_error_code(step.error).message());
      co_await fatal("28P01", fail_msg);
      co_return false;
    }
    if (!step.out.empty()) {
      const error_code ec = co_await net::write_all(sock, tls.get(), step.out);
      if (ec) {
        co_return false;
      }
    }
    if (step.what == pgwire::auth_step::kind::done) break;
    const auto r = co_await read_message();
    if (r.status != pgwire::frame_status::message) {
      // truncated: the client went away, nothing to say. Anything else is a bad packet.
      if (r.error != pgwire::errc::truncated) {
        co_await fatal("08P01", fmt::format("invalid authentication message: {}",
                                            make_error_code(r.error).message()));
      }
      co_return false;
    }
    step = auth.resume(r.msg);
    consume(r.msg.size);
  }
  keys = auth.keys();
  // The client proved the looked-up password: its pools log in to PostgreSQL with it.
  if (looked_up) registry.remember_password(user, *looked_up, c, sh.users());
  co_return true;
}

awaitable<bool> client_session::console_login(const self_ptr& self, const config& c) {
  auto listed = [&](const std::vector<std::string>& names) {
    return std::find(names.begin(), names.end(), user_name) != names.end();
  };
  const bool admin = listed(c.admin_users), stats = listed(c.stats_users);
  console_user who;
  who.name = user_name;
  who.session_id = id;
  // Over the Unix socket, user pgbouncer from the OS user sluice runs as needs no password.
  ucred cred{};
  socklen_t len = sizeof cred;
  if (is_unix && user_name == "pgbouncer" &&
      ::getsockopt(sock.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
      cred.uid == ::getuid()) {
    who.admin = true;
    if (c.log_connections) log::info("{} pgbouncer access from unix socket", prefix());
  } else {
    if (c.auth != auth_type::any) {
      std::optional<pgwire::scram_keys> keys;
      const bool authenticated = co_await authenticate(self, c, user_name, "pgbouncer", keys);
      if (!authenticated) {
        co_return false;
      }
    }
    if (!admin && !stats) {
      co_await fatal("08P01", "not allowed");
      co_return false;
    }
    who.admin = admin;
  }
  // The console counts as database "pgbouncer" in the client limits; only admin users are
  // exempt from them there.
  const user_config* u = c.find_user(user_name);
  const int user_limit = who.admin                              ? 0
                         : u && u->max_user_client_connections ? *u->max_user_client_connections
                                                               : c.max_user_client_connections;
  if (const char* why = registry.clients.admit("pgbouncer", user_name,
                                               who.admin ? 0 : c.max_db_client_connections,
                                               user_limit)) {
    co_await fatal("53300", why);
    co_return false;
  }
  counted = true;  // no pool_: finish() leaves "pgbouncer"
  pgwire::byte_buffer out;
  pgwire::write_auth_ok(out);
  const std::pair<std::string_view, std::string_view> params[] = {
      {"server_version", SLUICE_VERSION "/sluice"},
      {"client_encoding", "UTF8"},
      {"server_encoding", "UTF8"},
      {"DateStyle", "ISO"},
      {"TimeZone", "GMT"},
      {"standard_conforming_strings", "on"},
      {"is_superuser", "on"},
  };
  for (const auto& [k, v] : params) pgwire::write_parameter_status(out, k, v);
  new_cancel_key(key_pid, key_secret);
  pgwire::write_backend_key_data(out, key_pid, key_secret);
  pgwire::write_ready_for_query(out, 'I');
  const error_code ec = co_await net::write_all(sock, tls.get(), out);
  if (ec) {
    co_return false;
  }
  console = std::make_unique<console_user>(std::move(who));
  mark_logged_in();
  if (sh.set.console) sh.set.console->logged_in(sh);
  co_return true;
}

awaitable<server_ptr> client_session::wait_in_queue(const self_ptr& self, pool& p,
                                                    wait_error& error) {
  // The pool's callback fires a timer this coroutine waits on.
  struct result {
    explicit result(asio::io_context& io) : event(io) {}
    asio::steady_timer event;
    server_ptr srv;
    wait_error error;
    bool done = false;
  };
  auto r = std::make_shared<result>(sh.io);
  const wait_done::fn_type wake = [](std::shared_ptr<void> ctx, server_ptr srv, wait_error err) {
    auto& res = *static_cast<result*>(ctx.get());
    res.srv = std::move(srv);
    res.error = std::move(err);
    res.done = true;
    res.event.cancel();
  };
  wait_ = p.wait_for_server(sh, wait_done{wake, r});
  watch_while_queued(self);
  while (!r->done) {
    r->event.expires_at(clock::time_point::max());
    co_await r->event.async_wait(nothrow);
  }
  wait_ = nullptr;
  if (!r->srv) error = std::move(r->error);
  co_return std::move(r->srv);
}

awaitable<bool> client_session::login(const self_ptr& self) {
  const config_ptr keep = sh.cfg_ptr();  // a reload may replace the shard's config meanwhile
  const config& c = *keep;
  param_map startup_tracked;
  const bool started = co_await negotiate_startup(c, startup_tracked);
  if (!started) co_return false;
  if (*login_db == "pgbouncer") {
    const bool ok = co_await console_login(self, c);
    co_return ok;
  }
  // Authenticate before saying whether the database exists, as pgbouncer does.
  std::optional<pgwire::scram_keys> keys;
  const bool authenticated = co_await authenticate(self, c, user_name, *login_db, keys);
  if (!authenticated) co_return false;
  const bool admitted = co_await admit(c);
  if (!admitted) co_return false;
  if (keys) {
    std::lock_guard lk(pool_->mu);
    pool_->scram_keys = keys;
  }
  const bool welcomed = co_await welcome(self, c, std::move(startup_tracked));
  co_return welcomed;
}

awaitable<bool> client_session::negotiate_startup(const config& c, param_map& startup_tracked) {
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
      route_cancel(sh.set, pkt.cancel.pid, pkt.cancel.secret);
      co_return false;
    }
    if (pkt.kind == pgwire::startup_kind::startup) {
      // The params are views into cbuf: they are copied out before cbuf moves on.
      startup_size = r.msg.size;
      break;
    }
    // SSLRequest: 'S' and a handshake when client TLS is configured. GSSENCRequest: 'N',
    // the client goes on in plaintext (or over the TLS it has).
    consume(r.msg.size);
    if (tls) {
      co_await fatal("08P01", "SSL or GSSAPI encryption request inside an encrypted connection");
      co_return false;
    }
    const bool offer = pkt.kind == pgwire::startup_kind::ssl_request && c.client_tls;
    const std::uint8_t answer = offer ? 'S' : 'N';
    auto [ec, n] = co_await asio::async_write(sock, asio::buffer(&answer, 1), nothrow);
    if (ec) {
      co_return false;
    }
    if (!cbuf.empty()) {
      // Bytes that came with the request were sent before the answer: they cannot be
      // encrypted, and taking them as the next packet is the CVE-2021-23214 hole. Refuse, as
      // PostgreSQL does.
      co_await fatal("08P01", pkt.kind == pgwire::startup_kind::ssl_request
                                  ? "received unencrypted data after SSL request"
                                  : "received unencrypted data after GSSAPI encryption request");
      co_return false;
    }
    if (offer) {
      tls = std::make_unique<net::tls_engine>(c.client_tls);
      const error_code hec = co_await net::handshake(sock, *tls);
      if (hec) {
        log::info("{} TLS handshake failed: {}", prefix(),
                  tls->error().empty() ? hec.message() : tls->error());
        co_return false;
      }
    }
  }
  // client_tls_sslmode require and stricter: TCP clients must have come over TLS.
  if (!tls && !is_unix && c.client_tls && c.client_tls->required()) {
    log::info("{} login failed: SSL required", prefix());
    co_await fatal("08P01", "SSL required");
    co_return false;
  }

  const auto& sm = pkt.startup;
  user_name = std::string(sm.get("user"));
  login_db = std::make_unique<std::string>(sm.get("database"));
  if (login_db->empty()) *login_db = user_name;
  if (user_name.empty()) {
    co_await fatal("08P01", "no username supplied");
    co_return false;
  }
  const auto ignored_param = [&](std::string_view k) {
    return std::any_of(c.ignore_startup_parameters.begin(), c.ignore_startup_parameters.end(),
                       [&](const std::string& i) { return iequals(i, k); });
  };
  for (const auto& [k, v] : sm.params) {
    if (k == "user" || k == "database") continue;
    if (k == "options") {
      // pgbouncer's reading: "-c name=value" items setting tracked parameters; others are
      // refused unless ignore_startup_parameters names them (or names "options").
      std::vector<std::pair<std::string, std::string>> items;
      if (!parse_startup_options(v, items)) {
        co_await fatal("08P01",
                       "unsupported options startup parameter: only '-c config=val' and "
                       "'--config=val' are allowed");
        co_return false;
      }
      for (auto& [name, value] : items) {
        const std::string canon_opt = canonical_param(name);
        if (is_tracked_param(c, canon_opt)) {
          startup_tracked[canon_opt] = std::move(value);
        } else if (!ignored_param(name) && !ignored_param("options")) {
          log::warning("{} unsupported startup parameter in options: {}={}", prefix(), name,
                       value);
          co_await fatal("08P01",
                         fmt::format("unsupported startup parameter in options: {}", name));
          co_return false;
        }
      }
      continue;
    }
    const std::string canon = canonical_param(k);
    if (is_tracked_param(c, canon)) {
      startup_tracked[canon] = std::string(v);
      continue;
    }
    if (!ignored_param(k)) {
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
    log::info("{} login attempt: db={} user={} tls={}", prefix(), *login_db, user_name,
              tls ? tls->describe() : std::string("no"));

  if (sh.set.client_count.load() > c.max_client_conn) {
    co_await fatal("53300", "no more connections allowed (max_client_conn)");
    co_return false;
  }
  co_return true;
}

awaitable<bool> client_session::admit(const config& c) {
  const std::string& db_name = *login_db;
  const database_config* db = c.find_database(db_name);
  if (!db) {
    co_await fatal("08P01", fmt::format("no such database: {}", db_name));
    co_return false;
  }
  if (registry.state_of(db_name).disabled.load()) {  // DISABLE db
    co_await fatal("08P01", fmt::format("database \"{}\" is disabled", db_name));
    co_return false;
  }
  // Client limits per database and per user (admin_users are exempt on the console only).
  const user_config* u = c.find_user(user_name);
  const int db_limit = db->max_db_client_connections.value_or(c.max_db_client_connections);
  const int user_limit = u && u->max_user_client_connections ? *u->max_user_client_connections
                                                             : c.max_user_client_connections;
  if (const char* why = registry.clients.admit(db_name, user_name, db_limit, user_limit)) {
    co_await fatal("53300", why);
    co_return false;
  }
  bool created = false;
  pool_ = registry.get(*db, db_name, user_name, c, sh.users(), created);
  counted = true;  // pool_->db_name is db_name
  if (created && db->name == "*") log::info("registered new auto-database: db={}", db_name);
  co_return true;
}

awaitable<bool> client_session::welcome(const self_ptr& self, const config& c,
                                        param_map startup_tracked) {
  // ParameterStatus as a server reports them, the client's own values on top.
  param_map welcome;
  {
    std::unique_lock lk(pool_->mu);
    if (pool_->have_welcome) {
      welcome = pool_->welcome;
    } else if (pool_->total == 0 && pool_->last_login_failure != clock::time_point{} &&
               seconds_since(pool_->last_login_failure) < c.server_login_retry) {
      const std::string cached = pool_->last_login_error;
      lk.unlock();
      co_await fatal(
          "08P01",
          fmt::format("server login has been failing, cached error: {} (server_login_retry)",
                      cached));
      co_return false;
    }
  }
  if (welcome.empty()) {
    wait_error error;
    server_ptr s = co_await pool_->acquire_idle(sh);
    if (!s) {
      s = co_await wait_in_queue(self, *pool_, error);
    }
    if (!s) {
      if (closing()) {  // killed (client_login_timeout) or gone while queued
        co_return false;
      }
      co_await fatal(error.sqlstate, error.message);
      co_return false;
    }
    welcome = s->params;
    pool_->release(std::move(s), sh);
  }
  param_map mine;
  for (const auto& [k, v] : welcome)
    if (is_tracked_param(c, k)) mine[k] = v;
  for (auto& [k, v] : startup_tracked) {
    mine[k] = v;
    welcome[k] = v;
  }
  params = pool_->intern(c, std::move(mine));

  new_cancel_key(key_pid, key_secret);
  pgwire::byte_buffer out;
  pgwire::write_auth_ok(out);
  for (const auto& [k, v] : welcome) pgwire::write_parameter_status(out, k, v);
  pgwire::write_backend_key_data(out, key_pid, key_secret);
  if (!c.login_notify_message.empty())
    pgwire::write_error(out, "NOTICE", "00000", c.login_notify_message, {},
                        pgwire::be::notice_response);
  pgwire::write_ready_for_query(out, 'I');
  const error_code ec = co_await net::write_all(sock, tls.get(), out);
  if (ec) {
    co_return false;
  }
  mark_logged_in();
  bump(pool_->locals[sh.id].client_login_count, std::uint64_t{1});
  login_db.reset();  // pool_ names the database from now on
  co_return true;
}

}  // namespace sluice

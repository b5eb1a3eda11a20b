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
#include <tuple>

#include "net/stream.hpp"
#include "pgwire/crypto.hpp"
#include "pgwire/messages.hpp"
#include "session/client_session.hpp"
#include "session/session.hpp"
#include "sluice/log.hpp"

namespace sluice {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

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
/// A plaintext read of whole packets from a packet boundary reports the socket drained (the
/// client waits for an answer): the next read waits for its event without a recv first.
template <class FrameFn>
awaitable<pgwire::frame_result> client_session::read_packet(FrameFn frame_fn, bool typed) {
  for (;;) {
    auto r = frame_fn(pgwire::bytes_view(cbuf));
    if (r.status != pgwire::frame_status::need_more) co_return r;
    const std::size_t old = cbuf.size();
    cbuf.resize(old + 1024);
    const drain_rule rule = old != 0 ? drain_rule::never
                            : typed  ? drain_rule::login_typed
                                     : drain_rule::login_untyped;
    error_code ec;
    std::size_t n = 0;
    if (tls) {
      std::tie(ec, n) = co_await net::read_some(sock, tls.get(), {cbuf.data() + old, 1024});
    } else {
      std::tie(ec, n) = co_await sh.reads.async_read(sock, cbuf.data() + old, 1024, rule, nothrow);
    }
    cbuf.resize(old + n);
    if (ec) {
      co_return pgwire::frame_result{pgwire::frame_status::error, {}, 0, pgwire::errc::truncated};
    }
  }
}

awaitable<pgwire::frame_result> client_session::read_startup() {
  return read_packet(pgwire::frame_startup, false);
}

awaitable<pgwire::frame_result> client_session::read_message(std::uint32_t max_len, char only) {
  return read_packet([max_len, only](pgwire::bytes_view b) {
    // A message of another type is refused from its first byte, before its length is waited
    // for: during a login that is a second startup packet, whose first byte (0) is no type.
    if (only != 0 && !b.empty() && b[0] != static_cast<std::uint8_t>(only))
      return pgwire::frame_result{pgwire::frame_status::error, {}, 0,
                                  pgwire::errc::unexpected_message};
    return pgwire::frame_message(b, max_len);
  }, true);
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
  new_cancel_key(sh.cfg(), key_pid, key_secret);
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
  // A named function, not a temporary in the co_await (GCC 12, see shard/io.hpp).
  const std::function<void(waiter*)> queued = [&](waiter* w) {
    wait_ = w;  // cancel_wait needs it if the client leaves while queued
    watch_while_queued(self);
  };
  server_ptr srv = co_await p.queue_for_server(sh, error, queued);
  wait_ = nullptr;
  co_return srv;
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
  if (replication) {
    co_await replicate(self, keys);
    co_return false;  // its session ends with its server
  }
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
      route_cancel(sh, registry, pkt.cancel.pid, pkt.cancel.secret);
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
    const error_code ec = co_await net::write_all(sock, nullptr, {&answer, 1});
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
  // replication=true|on|yes|1 (physical) or database (logical): a server of its own, which
  // gets every startup parameter as the client sent it (options included, any GUC).
  if (const std::string_view r = sm.get("replication"); !r.empty()) {
    const bool physical = iequals(r, "true") || iequals(r, "on") || iequals(r, "yes") || r == "1";
    if (physical || iequals(r, "database")) {
      replication = std::make_unique<std::vector<std::pair<std::string, std::string>>>();
      replication->emplace_back("replication", physical ? "true" : "database");
      for (const auto& [k, v] : sm.params)
        if (k != "user" && k != "database" && k != "replication")
          replication->emplace_back(std::string(k), std::string(v));
    } else if (!(iequals(r, "false") || iequals(r, "off") || iequals(r, "no") || r == "0")) {
      co_await fatal("08P01", fmt::format("invalid value for parameter \"replication\": \"{}\"", r));
      co_return false;
    }
  }
  for (const auto& [k, v] : sm.params) {
    if (k == "user" || k == "database") continue;
    if (replication || k == "replication") continue;
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
  // During SHUTDOWN WAIT_FOR_*, the Unix socket stays open for the console alone.
  if (sh.set.shutting_down.load()) {
    co_await fatal("08P01", "pooler is shutting down");
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

  new_cancel_key(sh.cfg(), key_pid, key_secret);
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

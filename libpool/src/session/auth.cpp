// Client authentication: the method per auth_type (or the auth_hba_file rule), the password
// from auth_file or auth_query, and the exchange itself (pgwire's client_authenticator).
#include <pwd.h>
#include <sys/socket.h>

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
      // The peer's OS user must be the one it logs in as (Unix sockets only), or one the
      // rule's map lets log in as that user.
      ucred cred{};
      socklen_t len = sizeof cred;
      const passwd* pw = nullptr;
      if (is_unix && ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
        pw = ::getpwuid(cred.uid);
      if (pw && (r->map.empty() ? user == pw->pw_name
                                : ident_map_allows(r->map_entries, pw->pw_name, user)))
        return auth_type::any;  // proven: nothing more to ask
      if (!r->map.empty()) log::info("{} ident map {} cannot be matched", prefix(), r->map);
      why = fmt::format("peer authentication failed for user \"{}\"", user);
      return auth_type::hba;
    }
    case hba_rule::cert: {
      if (r->map.empty()) return auth_type::cert;  // the CN must be the user (authenticate)
      // With a map, the CN of the certificate (verified in the handshake) must be one the map
      // lets log in as this user.
      const std::string cn = tls ? tls->peer_common_name() : std::string();
      if (cn.empty()) {
        why = "connection requires a valid client certificate";
        return auth_type::hba;
      }
      if (ident_map_allows(r->map_entries, cn, user)) return auth_type::any;
      log::info("{} ident map: {} does not have a match", prefix(), r->map);
      why = fmt::format("certificate authentication failed for user \"{}\"", user);
      return auth_type::hba;
    }
    case hba_rule::reject:
      break;
  }
  why = fmt::format("pg_hba.conf rejects connection for host \"{}\", user \"{}\", database \"{}\"",
                    host, user, database);
  return auth_type::hba;
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
    // A query that fails (a wrong table, no permission) is the operator's to fix: the client
    // hears pgbouncer's "bouncer config error", the log says why.
    log::warning("{} auth_query as {} in {} failed: {}", prefix(), auth_user, lookup_db, r.error);
    no_server = {"08P01", "bouncer config error"};
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
  const std::shared_ptr<const userlist> users = sh.users_ptr();  // kept: `scram` points in
  const std::string* stored = users->find(user);
  const pgwire::scram_secret* scram = stored ? users->find_scram(user) : nullptr;
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
  // A user nobody knows goes through the same exchange against a secret no password matches,
  // so that the answer (and its timing) does not tell unknown users from wrong passwords.
  pgwire::client_authenticator auth(method, user, stored ? *stored : mock_secret(), {},
                                    c.scram_iterations, scram);
  auto step = auth.start();
  // pgbouncer's words for a failed SCRAM exchange, PostgreSQL's for a wrong password;
  // either way the same for a wrong password and for a user nobody knows.
  const std::string fail_msg =
      auth.method() == pgwire::client_auth_method::scram_sha_256
          ? std::string("SASL authentication failed")
          : fmt::format("password authentication failed for user \"{}\"", user);
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
    const auto r = co_await read_message(pgwire::max_auth_message, pgwire::fe::password);
    if (r.status != pgwire::frame_status::message) {
      // truncated: the client went away, nothing to say. A password longer than any a login
      // takes is a wrong one (as pgbouncer answers it); anything else is a bad packet. A
      // second startup packet (CVE-2026-107350's way in) is another message type.
      if (r.error == pgwire::errc::unexpected_message) {
        const unsigned tag = cbuf.empty() ? 0u : cbuf[0];
        log::warning("{} login failed: expected a password message, got message type 0x{:02x}",
                     prefix(), tag);
        co_await fatal("08P01", fmt::format("expected a password message, got message type 0x{:02x}",
                                            tag));
      } else if (r.error == pgwire::errc::length_too_large) {
        log::info("{} login failed: the password message is too long", prefix());
        co_await fatal("28P01", fail_msg);
      } else if (r.error != pgwire::errc::truncated) {
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

}  // namespace sluice

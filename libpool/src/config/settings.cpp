#include "settings.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <limits>
#include <utility>

namespace sluice::config_detail {

namespace {

// ---------------------------------------------------------------------------------------------
// row makers. consteval, and one overload per member type, so a row that pairs a type with a
// member that cannot hold it, or bounds the member cannot hold, does not compile.

constexpr long long int_max = std::numeric_limits<int>::max();

consteval value_spec spec(value_type type, binding target = {}, long long lo = 0, long long hi = 0,
                          std::span<const std::string_view> choices = {}) {
  return {type, lo, hi, choices, target, {}};
}

consteval value_spec text() {
  return spec(value_type::string);
}
consteval value_spec text(std::string config::*m) {
  return spec(value_type::string, m);
}
consteval value_spec list(std::vector<std::string> config::*m) {
  return spec(value_type::list, m);
}
consteval value_spec integer(long long lo, long long hi) {
  if (lo > hi) throw "empty integer range";
  return spec(value_type::integer, {}, lo, hi);
}
consteval value_spec integer(int config::*m, long long lo, long long hi) {
  if (lo > hi || lo < std::numeric_limits<int>::min() || hi > int_max)
    throw "integer bounds do not fit an int";
  return spec(value_type::integer, m, lo, hi);
}
consteval value_spec integer(std::uint32_t config::*m, long long lo, long long hi) {
  if (lo > hi || lo < 0 || hi > std::numeric_limits<std::uint32_t>::max())
    throw "integer bounds do not fit a uint32";
  return spec(value_type::integer, m, lo, hi);
}
/// A size, count or limit: 0..INT_MAX.
consteval value_spec count() {
  return integer(0, int_max);
}
consteval value_spec count(int config::*m) {
  return integer(m, 0, int_max);
}
consteval value_spec boolean() {
  return spec(value_type::boolean);
}
consteval value_spec boolean(bool config::*m) {
  return spec(value_type::boolean, m);
}
consteval value_spec duration() {
  return spec(value_type::duration);
}
consteval value_spec duration(double config::*m) {
  return spec(value_type::duration, m);
}
consteval value_spec octal_mode(int config::*m) {
  return spec(value_type::octal_mode, m);
}
consteval value_spec pool_mode_of(pool_mode config::*m) {
  return spec(value_type::pool_mode, m);
}
consteval value_spec auth_type_of(auth_type config::*m) {
  return spec(value_type::auth_type, m);
}
consteval value_spec session_attrs_of(session_attrs config::*m) {
  return spec(value_type::session_attrs, m);
}
consteval value_spec one_of(std::span<const std::string_view> choices) {
  return spec(value_type::one_of, {}, 0, 0, choices);
}
consteval value_spec one_of(std::string config::*m, std::span<const std::string_view> choices) {
  return spec(value_type::one_of, m, 0, 0, choices);
}
/// A key sluice accepts and will not act on, and why: the WARNING a value set for it gets.
consteval value_spec no_effect(value_spec v, std::string_view why) {
  if (v.target.index() != 0 || why.empty()) throw "no_effect takes an unbound row and a reason";
  v.no_effect = why;
  return v;
}

constexpr bool reload = true;      // a new value takes effect on RELOAD
constexpr bool no_reload = false;  // read at startup only

constexpr std::string_view windows_only =
    "has no effect on this platform: pgbouncer uses it only as its Windows service name";

/// pgbouncer's names (log::syslog_facility_code maps them).
constexpr std::string_view syslog_facilities[] = {
    "auth",   "authpriv", "daemon", "user",   "local0", "local1",
    "local2", "local3",   "local4", "local5", "local6", "local7"};

constexpr std::string_view sslmodes[] = {"disable", "allow",     "prefer",
                                         "require", "verify-ca", "verify-full"};

// ---------------------------------------------------------------------------------------------
// the table. Reloadability of [pgbouncer] keys is pgbouncer's "changeable" column of SHOW
// CONFIG. Defaults are sluice's (struct config), which are not always pgbouncer 1.25's.

constexpr setting table[] = {
    // ---- [pgbouncer], acted on. Grouped as struct config is.
    // listening
    {"listen_addr", list(&config::listen_addr), "", no_reload},
    {"listen_port", integer(&config::listen_port, 1, 65535), "6432", no_reload},
    {"unix_socket_dir", text(&config::unix_socket_dir), "/tmp", no_reload},
    {"unix_socket_mode", octal_mode(&config::unix_socket_mode), "0777", no_reload},
    {"unix_socket_group", text(&config::unix_socket_group), "", no_reload},
    {"listen_backlog", count(&config::listen_backlog), "128", no_reload},
    // auth
    {"auth_type", auth_type_of(&config::auth), "md5", reload},
    {"auth_file", text(&config::auth_file), "", reload},
    {"auth_hba_file", text(&config::auth_hba_file), "", reload},
    {"auth_ident_file", text(&config::auth_ident_file), "", reload},
    {"scram_iterations", integer(&config::scram_iterations, 1, 10'000'000), "4096", reload},
    {"admin_users", list(&config::admin_users), "", reload},
    {"stats_users", list(&config::stats_users), "", reload},
    {"auth_user", text(&config::auth_user), "", reload},
    {"auth_query", text(&config::auth_query),
     "SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END FROM "
     "pg_authid WHERE rolname=$1 AND rolcanlogin",
     reload},
    {"auth_dbname", text(&config::auth_dbname), "", reload},
    // pools
    {"pool_mode", pool_mode_of(&config::mode), "session", reload},
    {"max_client_conn", count(&config::max_client_conn), "100", reload},
    {"max_prepared_statements", count(&config::max_prepared_statements), "200", reload},
    {"default_pool_size", count(&config::default_pool_size), "20", reload},
    {"min_pool_size", count(&config::min_pool_size), "0", reload},
    {"reserve_pool_size", count(&config::reserve_pool_size), "0", reload},
    {"reserve_pool_timeout", duration(&config::reserve_pool_timeout), "5", reload},
    {"max_db_connections", count(&config::max_db_connections), "0", reload},
    {"max_user_connections", count(&config::max_user_connections), "0", reload},
    {"max_db_client_connections", count(&config::max_db_client_connections), "0", reload},
    {"max_user_client_connections", count(&config::max_user_client_connections), "0", reload},
    // server lifecycle
    {"server_idle_timeout", duration(&config::server_idle_timeout), "600", reload},
    {"server_lifetime", duration(&config::server_lifetime), "3600", reload},
    {"server_connect_timeout", duration(&config::server_connect_timeout), "15", reload},
    {"server_login_retry", duration(&config::server_login_retry), "15", reload},
    {"server_reset_query", text(&config::server_reset_query), "DISCARD ALL", reload},
    {"server_reset_query_always", boolean(&config::server_reset_query_always), "0", reload},
    {"server_check_query", text(&config::server_check_query), "<empty>", reload},
    {"server_check_delay", duration(&config::server_check_delay), "30", reload},
    {"server_round_robin", boolean(&config::server_round_robin), "0", reload},
    {"dns_max_ttl", duration(&config::dns_max_ttl), "15", reload},
    {"dns_nxdomain_ttl", duration(&config::dns_nxdomain_ttl), "15", reload},
    {"server_fast_close", boolean(&config::server_fast_close), "0", reload},
    {"autodb_idle_timeout", duration(&config::autodb_idle_timeout), "3600", reload},
    {"pool_idle_timeout", duration(&config::pool_idle_timeout), "0", reload},
    // client timeouts
    {"query_wait_timeout", duration(&config::query_wait_timeout), "120", reload},
    {"query_wait_notify", duration(&config::query_wait_notify), "5", reload},
    {"cancel_wait_timeout", duration(&config::cancel_wait_timeout), "10", reload},
    {"query_timeout", duration(&config::query_timeout), "0", reload},
    {"client_idle_timeout", duration(&config::client_idle_timeout), "0", reload},
    {"client_login_timeout", duration(&config::client_login_timeout), "60", reload},
    {"idle_transaction_timeout", duration(&config::idle_transaction_timeout), "0", reload},
    {"transaction_timeout", duration(&config::transaction_timeout), "0", reload},
    // protocol
    {"ignore_startup_parameters", list(&config::ignore_startup_parameters), "", reload},
    {"track_extra_parameters", list(&config::track_extra_parameters), "IntervalStyle", no_reload},
    {"application_name_add_host", boolean(&config::application_name_add_host), "0", reload},
    {"disable_pqexec", boolean(&config::disable_pqexec), "0", no_reload},
    {"pkt_buf", integer(&config::pkt_buf, 1, int_max), "4096", no_reload},
    {"max_packet_size", integer(&config::max_packet_size, 1024, 2147483647), "2147483647", reload},
    // tcp
    {"tcp_keepalive", boolean(&config::tcp_keepalive), "1", reload},
    {"tcp_keepcnt", count(&config::tcp_keepcnt), "0", reload},
    {"tcp_keepidle", count(&config::tcp_keepidle), "0", reload},
    {"tcp_keepintvl", count(&config::tcp_keepintvl), "0", reload},
    {"tcp_user_timeout", count(&config::tcp_user_timeout), "0", reload},
    {"tcp_defer_accept", boolean(&config::tcp_defer_accept), "1", reload},
    {"tcp_socket_buffer", count(&config::tcp_socket_buffer), "0", reload},
    // logging and process
    {"logfile", text(&config::logfile), "", reload},
    {"pidfile", text(&config::pidfile), "", no_reload},
    {"user", text(&config::user), "", no_reload},
    {"log_connections", boolean(&config::log_connections), "1", reload},
    {"log_disconnections", boolean(&config::log_disconnections), "1", reload},
    {"log_pooler_errors", boolean(&config::log_pooler_errors), "1", reload},
    {"login_notify_message", text(&config::login_notify_message), "", reload},
    {"verbose", count(&config::verbose), "0", reload},
    {"syslog", boolean(&config::syslog), "0", reload},
    {"syslog_ident", text(&config::syslog_ident), "pgbouncer", reload},
    {"syslog_facility", one_of(&config::syslog_facility, syslog_facilities), "daemon", reload},
    {"log_stats", boolean(&config::log_stats), "1", reload},
    {"stats_period", count(&config::stats_period), "60", reload},

    // tls
    {"client_tls13_ciphers", text(&config::client_tls13_ciphers), "", reload},
    {"client_tls_ca_file", text(&config::client_tls_ca_file), "", reload},
    {"client_tls_cert_file", text(&config::client_tls_cert_file), "", reload},
    {"client_tls_ciphers", text(&config::client_tls_ciphers), "default", reload},
    {"client_tls_dheparams", text(&config::client_tls_dheparams), "auto", reload},
    {"client_tls_ecdhcurve", text(&config::client_tls_ecdhcurve), "auto", reload},
    {"client_tls_key_file", text(&config::client_tls_key_file), "", reload},
    {"client_tls_protocols", text(&config::client_tls_protocols), "secure", reload},
    {"client_tls_sslmode", one_of(&config::client_tls_sslmode, sslmodes), "disable", reload},
    {"server_tls13_ciphers", text(&config::server_tls13_ciphers), "", reload},
    {"server_tls_ca_file", text(&config::server_tls_ca_file), "", reload},
    {"server_tls_cert_file", text(&config::server_tls_cert_file), "", reload},
    {"server_tls_ciphers", text(&config::server_tls_ciphers), "default", reload},
    {"server_tls_key_file", text(&config::server_tls_key_file), "", reload},
    {"server_tls_protocols", text(&config::server_tls_protocols), "secure", reload},
    {"server_tls_sslmode", one_of(&config::server_tls_sslmode, sslmodes), "prefer", reload},

    // ---- [pgbouncer], accepted but not acted on (yet, or ever: no_effect says why). Their
    // values are not checked (the type says what pgbouncer expects; the tests check it
    // against the default).
    {"auth_ldap_options", text(), "", reload},
    {"conffile", text(), "", reload},
    {"dns_zone_check_period",
     no_effect(duration(),
               "has no effect: pgbouncer checks zone serials only when built with c-ares; "
               "sluice resolves names with the system resolver (getaddrinfo)"),
     "0", reload},
    {"job_name", no_effect(text(), windows_only), "pgbouncer", no_reload},
    {"peer_id", integer(&config::peer_id, 0, 16383), "0", reload},
    {"resolv_conf",
     no_effect(text(),
               "has no effect: sluice resolves names with the system resolver (getaddrinfo), "
               "which reads /etc/resolv.conf; pgbouncer reads another file only through its "
               "evdns or c-ares backend"),
     "", no_reload},
    {"sbuf_loopcnt",
     no_effect(count(),
               "has no effect: sluice's relay reads at most pkt_buf bytes per turn of its event "
               "loop, so a connection with a large result never holds a shard for more than one "
               "read (as sbuf_loopcnt = 1 would)"),
     "5", reload},
    // pgbouncer's Windows-only alias of job_name; SHOW CONFIG does not list it.
    {"service_name", no_effect(text(), windows_only), "", no_reload},
    {"so_reuseport", boolean(&config::so_reuseport), "0", no_reload},
    {"suspend_timeout",
     no_effect(duration(), "has no effect: SUSPEND is refused, sluice's -R takes no sockets over"), "10",
     reload},

    // ---- [sluice]
    {"workers", integer(&config::workers, 0, 4096), "0", no_reload, section::sluice},
    // the HTTP endpoint (http/): where it listens is fixed at startup; the token file is read
    // again on every reload.
    {"http_listen_addr", text(&config::http_listen_addr), "127.0.0.1", no_reload,
     section::sluice},
    {"http_listen_port", integer(&config::http_listen_port, 0, 65535), "0", no_reload,
     section::sluice},
    {"http_auth_token_file", text(&config::http_auth_token_file), "", reload, section::sluice},
    // libpq 14's values; a [databases] entry's own target_session_attrs wins. A reload applies
    // it as a changed target (new server connections are checked against the new value).
    {"target_session_attrs", session_attrs_of(&config::target_session_attrs), "any", reload,
     section::sluice},
};

/// Stores a parsed value in the member it was read for. The row makers pair each member type
/// with the one parsed alternative its value_type yields, so std::get cannot fail.
struct store {
  config& cfg;
  parsed_value& value;

  void operator()(std::monostate) const {}
  void operator()(int config::*m) const { cfg.*m = static_cast<int>(std::get<long long>(value)); }
  void operator()(std::uint32_t config::*m) const {
    cfg.*m = static_cast<std::uint32_t>(std::get<long long>(value));
  }
  template <typename T>
  void operator()(T config::*m) const {
    cfg.*m = std::move(std::get<T>(value));
  }
};

}  // namespace

std::span<const setting> all_settings() noexcept {
  return table;
}

const setting* find_setting(section sect, std::string_view key) noexcept {
  auto it = std::find_if(std::begin(table), std::end(table),
                         [&](const setting& s) { return s.sect == sect && s.name == key; });
  return it == std::end(table) ? nullptr : &*it;
}

void check_auth_dbname(const value_ctx& v, std::string_view db) {
  if (db == "pgbouncer")
    throw config_error(v.file, v.line,
                       "cannot use the reserved \"pgbouncer\" database as an auth_dbname");
}

parsed_value parse_value(const setting& s, const value_ctx& v) {
  switch (s.value.type) {
    case value_type::string:
      if (s.name == "auth_dbname") check_auth_dbname(v, trim(v.value));
      return std::string(trim(v.value));
    case value_type::integer:
      return parse_int(v, s.value.min, s.value.max);
    case value_type::boolean:
      return parse_bool(v);
    case value_type::duration:
      return parse_duration(v);
    case value_type::list:
      return parse_list(trim(v.value));
    case value_type::octal_mode:
      return static_cast<long long>(parse_octal_mode(v));
    case value_type::pool_mode:
      return parse_pool_mode(v);
    case value_type::auth_type:
      return parse_auth_type(v);
    case value_type::session_attrs:
      return parse_session_attrs(v);
    case value_type::one_of:
      check_one_of(v, s.value.choices);
      return std::string(trim(v.value));
  }
  return std::string(trim(v.value));  // not reached: the switch covers every value_type
}

namespace {

/// A member's value as SHOW CONFIG prints it.
struct value_text {
  const config& cfg;
  const setting& row;
  std::string operator()(std::monostate) const {
    auto it = cfg.unbound_values.find(std::string(row.name));
    return it == cfg.unbound_values.end() ? std::string(row.default_text) : it->second;
  }
  std::string operator()(std::string config::*m) const { return cfg.*m; }
  std::string operator()(std::vector<std::string> config::*m) const {
    return fmt::format("{}", fmt::join(cfg.*m, ","));
  }
  std::string operator()(int config::*m) const {
    return row.value.type == value_type::octal_mode ? fmt::format("{:04o}", cfg.*m)
                                                    : std::to_string(cfg.*m);
  }
  std::string operator()(std::uint32_t config::*m) const { return std::to_string(cfg.*m); }
  std::string operator()(double config::*m) const { return fmt::format("{:g}", cfg.*m); }
  std::string operator()(bool config::*m) const { return cfg.*m ? "1" : "0"; }
  std::string operator()(pool_mode config::*m) const { return to_string(cfg.*m); }
  std::string operator()(auth_type config::*m) const { return to_string(cfg.*m); }
  std::string operator()(session_attrs config::*m) const { return to_string(cfg.*m); }
};

}  // namespace

std::string setting_value(const setting& s, const config& cfg) {
  return std::visit(value_text{cfg, s}, s.value.target);
}

void apply(const setting& s, config& cfg, const value_ctx& v) {
  if (!s.acted_on()) {
    cfg.unbound_values[std::string(s.name)] = std::string(trim(v.value));
    // An empty value is PgBouncer's "not set": nothing to warn about.
    if (v.value.empty()) return;
    if (s.value.no_effect.empty())
      cfg.unsupported.push_back(fmt::format("{} ({})", s.name, where(v.file, v.line)));
    else
      cfg.no_effect.push_back(
          fmt::format("{} ({}): {}", s.name, where(v.file, v.line), s.value.no_effect));
    return;
  }
  parsed_value value = parse_value(s, v);
  std::visit(store{cfg, value}, s.value.target);
}

}  // namespace sluice::config_detail

namespace sluice {

std::vector<setting_row> show_config(const config& c) {
  using namespace config_detail;
  std::vector<setting_row> rows;
  for (const setting& s : all_settings()) {
    if (s.name == "service_name") continue;  // pgbouncer's Windows-only alias: not listed
    rows.push_back({std::string(s.name), setting_value(s, c),
                    std::string(s.default_text), s.reloadable});
  }
  return rows;
}

int default_workers(const config& c, int usable_cores) {
  const auto local = [](const host_port& h) {
    return h.is_unix_socket() || h.host == "localhost" || h.host == "::1" ||
           h.host.starts_with("127.");
  };
  bool all_local = !c.databases.empty();
  for (const database_config& db : c.databases)
    for (const host_port& h : db.hosts) all_local = all_local && local(h);
  usable_cores = std::max(1, usable_cores);
  return all_local ? std::max(1, usable_cores / 2) : usable_cores;
}

}  // namespace sluice

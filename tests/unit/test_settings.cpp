// The settings table (libpool/src/config/settings.hpp): its rows against struct config's
// defaults, against load_ini, and against each other.

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "catch.hpp"
#include "config_helpers.hpp"
#include "config/settings.hpp"
#include "sluice/config.hpp"
#include "sluice/log.hpp"

namespace {

using sluice::config;
using sluice::config_error;
using namespace sluice::config_detail;

using config_test::expect_error;
using config_test::temp_dir;

const std::string trust_header = "[pgbouncer]\nauth_type = trust\n";

/// The member each acted-on key must be stored in, written here by hand rather than read from
/// the table, so that a row bound to the wrong member (or a new row without a test) fails.
const std::map<std::string_view, binding>& expected_members() {
  static const std::map<std::string_view, binding> m = {
      {"listen_addr", &config::listen_addr},
      {"listen_port", &config::listen_port},
      {"unix_socket_dir", &config::unix_socket_dir},
      {"unix_socket_mode", &config::unix_socket_mode},
      {"unix_socket_group", &config::unix_socket_group},
      {"listen_backlog", &config::listen_backlog},
      {"auth_type", &config::auth},
      {"auth_file", &config::auth_file},
      {"auth_hba_file", &config::auth_hba_file},
      {"auth_ident_file", &config::auth_ident_file},
      {"scram_iterations", &config::scram_iterations},
      {"admin_users", &config::admin_users},
      {"stats_users", &config::stats_users},
      {"auth_user", &config::auth_user},
      {"auth_query", &config::auth_query},
      {"auth_dbname", &config::auth_dbname},
      {"pool_mode", &config::mode},
      {"max_client_conn", &config::max_client_conn},
      {"max_prepared_statements", &config::max_prepared_statements},
      {"default_pool_size", &config::default_pool_size},
      {"min_pool_size", &config::min_pool_size},
      {"reserve_pool_size", &config::reserve_pool_size},
      {"reserve_pool_timeout", &config::reserve_pool_timeout},
      {"max_db_connections", &config::max_db_connections},
      {"max_user_connections", &config::max_user_connections},
      {"max_db_client_connections", &config::max_db_client_connections},
      {"max_user_client_connections", &config::max_user_client_connections},
      {"server_idle_timeout", &config::server_idle_timeout},
      {"server_lifetime", &config::server_lifetime},
      {"server_connect_timeout", &config::server_connect_timeout},
      {"server_login_retry", &config::server_login_retry},
      {"server_reset_query", &config::server_reset_query},
      {"server_reset_query_always", &config::server_reset_query_always},
      {"server_check_query", &config::server_check_query},
      {"server_check_delay", &config::server_check_delay},
      {"server_round_robin", &config::server_round_robin},
      {"dns_max_ttl", &config::dns_max_ttl},
      {"dns_nxdomain_ttl", &config::dns_nxdomain_ttl},
      {"server_fast_close", &config::server_fast_close},
      {"autodb_idle_timeout", &config::autodb_idle_timeout},
      {"pool_idle_timeout", &config::pool_idle_timeout},
      {"query_wait_timeout", &config::query_wait_timeout},
      {"query_wait_notify", &config::query_wait_notify},
      {"cancel_wait_timeout", &config::cancel_wait_timeout},
      {"query_timeout", &config::query_timeout},
      {"client_idle_timeout", &config::client_idle_timeout},
      {"client_login_timeout", &config::client_login_timeout},
      {"idle_transaction_timeout", &config::idle_transaction_timeout},
      {"transaction_timeout", &config::transaction_timeout},
      {"ignore_startup_parameters", &config::ignore_startup_parameters},
      {"track_extra_parameters", &config::track_extra_parameters},
      {"application_name_add_host", &config::application_name_add_host},
      {"disable_pqexec", &config::disable_pqexec},
      {"pkt_buf", &config::pkt_buf},
      {"max_packet_size", &config::max_packet_size},
      {"tcp_keepalive", &config::tcp_keepalive},
      {"tcp_keepcnt", &config::tcp_keepcnt},
      {"tcp_keepidle", &config::tcp_keepidle},
      {"tcp_keepintvl", &config::tcp_keepintvl},
      {"tcp_user_timeout", &config::tcp_user_timeout},
      {"tcp_defer_accept", &config::tcp_defer_accept},
      {"so_reuseport", &config::so_reuseport},
      {"peer_id", &config::peer_id},
      {"tcp_socket_buffer", &config::tcp_socket_buffer},
      {"logfile", &config::logfile},
      {"pidfile", &config::pidfile},
      {"user", &config::user},
      {"log_connections", &config::log_connections},
      {"log_disconnections", &config::log_disconnections},
      {"log_pooler_errors", &config::log_pooler_errors},
      {"login_notify_message", &config::login_notify_message},
      {"verbose", &config::verbose},
      {"syslog", &config::syslog},
      {"syslog_ident", &config::syslog_ident},
      {"syslog_facility", &config::syslog_facility},
      {"log_stats", &config::log_stats},
      {"stats_period", &config::stats_period},
      {"workers", &config::workers},
      {"http_listen_addr", &config::http_listen_addr},
      {"http_listen_port", &config::http_listen_port},
      {"http_auth_token_file", &config::http_auth_token_file},
      {"target_session_attrs", &config::target_session_attrs},
      {"client_tls_sslmode", &config::client_tls_sslmode},
      {"client_tls_key_file", &config::client_tls_key_file},
      {"client_tls_cert_file", &config::client_tls_cert_file},
      {"client_tls_ca_file", &config::client_tls_ca_file},
      {"client_tls_protocols", &config::client_tls_protocols},
      {"client_tls_ciphers", &config::client_tls_ciphers},
      {"client_tls13_ciphers", &config::client_tls13_ciphers},
      {"client_tls_ecdhcurve", &config::client_tls_ecdhcurve},
      {"client_tls_dheparams", &config::client_tls_dheparams},
      {"server_tls_sslmode", &config::server_tls_sslmode},
      {"server_tls_key_file", &config::server_tls_key_file},
      {"server_tls_cert_file", &config::server_tls_cert_file},
      {"server_tls_ca_file", &config::server_tls_ca_file},
      {"server_tls_protocols", &config::server_tls_protocols},
      {"server_tls_ciphers", &config::server_tls_ciphers},
      {"server_tls13_ciphers", &config::server_tls13_ciphers},
  };
  return m;
}

/// True if the member b names holds the same value in x and y.
bool same_value(const binding& b, const config& x, const config& y) {
  return std::visit(
      [&](auto m) {
        if constexpr (std::is_same_v<decltype(m), std::monostate>)
          return true;
        else
          return x.*m == y.*m;
      },
      b);
}

/// The names of the members whose values differ between x and y.
std::vector<std::string> differing(const config& x, const config& y) {
  std::vector<std::string> out;
  for (const auto& s : all_settings())
    if (!same_value(s.value.target, x, y)) out.emplace_back(s.name);
  return out;
}

/// A valid value for s that differs from its default (and, for auth_type, from the trust the
/// tests' header sets).
std::string other_value(const setting& s) {
  const std::string name(s.name);
  const std::string def(s.default_text);
  switch (s.value.type) {
    case value_type::string:
      return "x-" + name;
    case value_type::list:
      return "a-" + name + ", b";
    case value_type::integer: {
      const long long d = std::stoll(def, nullptr, 0);
      return std::to_string(d + 1 <= s.value.max ? d + 1 : d - 1);
    }
    case value_type::boolean:
      return def == "1" ? "0" : "1";
    case value_type::duration:
      return std::to_string(std::stod(def) + 1.5);
    case value_type::octal_mode:
      return def == "0700" ? "0750" : "0700";
    case value_type::pool_mode:
      return def == "statement" ? "transaction" : "statement";
    case value_type::auth_type:
      return "pam";
    case value_type::session_attrs:
      return def == "read-write" ? "standby" : "read-write";
    case value_type::one_of:
      for (auto c : s.value.choices)
        if (c != s.default_text) return std::string(c);
      break;
  }
  FAIL("no other value for " << name);
  return "";
}

/// An ini that sets key = value in the row's section, after trust_header; the key's line is 3
/// for [pgbouncer] and 4 for [sluice].
std::string ini_setting(const setting& s, std::string_view key, const std::string& value) {
  std::string text = trust_header;
  if (s.sect == section::sluice) text += "[sluice]\n";
  return text + std::string(key) + " = " + value + "\n";
}

}  // namespace

TEST_CASE("settings: names are unique, lower case, and found in their own section only",
          "[settings]") {
  std::set<std::pair<section, std::string_view>> seen;
  for (const auto& s : all_settings()) {
    INFO(s.name);
    CHECK(!s.name.empty());
    CHECK(std::all_of(s.name.begin(), s.name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    }));
    CHECK(seen.insert({s.sect, s.name}).second);
    CHECK(find_setting(s.sect, s.name) == &s);
    const section other = s.sect == section::pgbouncer ? section::sluice : section::pgbouncer;
    CHECK(find_setting(other, s.name) == nullptr);
  }
  CHECK(find_setting(section::pgbouncer, "LISTEN_PORT") == nullptr);  // the reader lower-cases
  CHECK(find_setting(section::pgbouncer, "no_such_key") == nullptr);
  // [pgbouncer] rows come first, as all_settings() promises.
  CHECK(std::is_partitioned(all_settings().begin(), all_settings().end(),
                            [](const setting& s) { return s.sect == section::pgbouncer; }));
}

TEST_CASE("settings: every acted-on row is bound to its own member", "[settings]") {
  const auto& expected = expected_members();
  std::size_t acted_on = 0;
  for (const auto& s : all_settings()) {
    INFO(s.name);
    if (!s.acted_on()) {
      CHECK(expected.count(s.name) == 0);
      continue;
    }
    ++acted_on;
    auto it = expected.find(s.name);
    REQUIRE(it != expected.end());
    CHECK(s.value.target == it->second);
    for (const auto& t : all_settings())
      if (&t != &s) CHECK_FALSE(t.value.target == s.value.target);
  }
  CHECK(acted_on == expected.size());
}

TEST_CASE("settings: every row's default text parses and equals the config{} default",
          "[settings]") {
  const std::string file = "defaults";
  const config defaults{};
  for (const auto& s : all_settings()) {
    INFO(s.name << " = " << s.default_text);
    const value_ctx def{s.name, s.default_text, file, 0};
    // Rows not acted on are not checked on load, so this is what keeps their type honest.
    CHECK_NOTHROW(parse_value(s, def));
    if (s.value.type == value_type::one_of) CHECK(!s.value.choices.empty());
    if (!s.acted_on()) continue;

    // Move the member off its default first, so a no-op apply cannot pass.
    config c;
    const std::string other = other_value(s);
    apply(s, c, value_ctx{s.name, other, file, 0});
    CHECK_FALSE(same_value(s.value.target, c, defaults));
    apply(s, c, def);
    CHECK(same_value(s.value.target, c, defaults));
    CHECK(differing(c, defaults).empty());
    CHECK(c.unsupported.empty());
    CHECK(c.no_effect.empty());
  }
}

TEST_CASE("settings: every acted-on key reaches its member through load_ini", "[settings]") {
  temp_dir d;
  const config base = sluice::load_ini(d.write("base.ini", trust_header));
  const auto& expected = expected_members();
  for (const auto& s : all_settings()) {
    if (!s.acted_on()) continue;
    const std::string value = other_value(s);
    INFO(s.name << " = " << value);
    // Keys are case-insensitive: the upper-case spelling must land in the same member.
    std::string upper(s.name);
    for (auto& ch : upper)
      if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
    for (const std::string& key : {std::string(s.name), upper}) {
      const config c = sluice::load_ini(d.write("p.ini", ini_setting(s, key, value)));
      CHECK(differing(c, base) == std::vector<std::string>{std::string(s.name)});
      auto it = expected.find(s.name);
      REQUIRE(it != expected.end());
      CHECK_FALSE(same_value(it->second, c, base));
      CHECK(c.unsupported.empty());
    }
  }
}

TEST_CASE("settings: a key is unknown in the other section", "[settings]") {
  temp_dir d;
  for (const auto& s : all_settings()) {
    INFO(s.name);
    std::string text = trust_header;
    if (s.sect == section::pgbouncer) text += "[sluice]\n";
    text += std::string(s.name) + " = 1\n";
    const auto ini = d.write("p.ini", text);
    auto e = expect_error([&] { sluice::load_ini(ini); });
    const std::string expected =
        s.sect == section::pgbouncer
            ? ini + ":4: unknown parameter in [sluice]: " + std::string(s.name)
            : ini + ":3: unknown parameter: " + std::string(s.name);
    CHECK(std::string(e.what()) == expected);
  }
}

TEST_CASE("settings: a key not acted on lands in config::unsupported or no_effect with file:line",
          "[settings]") {
  temp_dir d;
  std::size_t rows = 0, no_effect_rows = 0;
  for (const auto& s : all_settings()) {
    if (s.acted_on()) continue;
    ++rows;
    INFO(s.name);
    const int line = s.sect == section::sluice ? 4 : 3;
    // Not checked: even a value of the wrong type is only noted.
    for (const std::string& value : {other_value(s), std::string("not a valid value?")}) {
      const auto ini = d.write("p.ini", ini_setting(s, s.name, value));
      const config c = sluice::load_ini(ini);
      const std::string at = std::string(s.name) + " (" + ini + ":" + std::to_string(line) + ")";
      if (s.value.no_effect.empty()) {
        CHECK(c.unsupported == std::vector<std::string>{at});
        CHECK(c.no_effect.empty());
      } else {
        // One warning, naming the key and saying why it does nothing.
        CHECK(c.unsupported.empty());
        CHECK(c.no_effect == std::vector<std::string>{at + ": " + std::string(s.value.no_effect)});
        CHECK(s.value.no_effect.starts_with("has no effect"));
      }
    }
    if (!s.value.no_effect.empty()) ++no_effect_rows;
    // An empty value is "not set": nothing to warn about.
    const config empty = sluice::load_ini(d.write("q.ini", ini_setting(s, s.name, "")));
    CHECK(empty.unsupported.empty());
    CHECK(empty.no_effect.empty());
  }
  CHECK(rows > 0);
  CHECK(no_effect_rows > 0);
}

TEST_CASE("settings: Windows-only and backend-specific keys say why they do nothing",
          "[settings]") {
  temp_dir d;
  const config c = sluice::load_ini(d.write("p.ini", trust_header +
                                                         "job_name = mybouncer\n"
                                                         "service_name = mybouncer\n"
                                                         "dns_zone_check_period = 60\n"
                                                         "resolv_conf = /etc/other.conf\n"
                                                         "sbuf_loopcnt = 10\n"
                                                         "suspend_timeout = 30\n"));
  REQUIRE(c.no_effect.size() == 6);
  CHECK_THAT(c.no_effect[0], Catch::StartsWith("job_name (") &&
                                 Catch::Contains(":3): has no effect on this platform") &&
                                 Catch::Contains("Windows service"));
  CHECK_THAT(c.no_effect[1], Catch::StartsWith("service_name (") &&
                                 Catch::Contains("has no effect on this platform"));
  CHECK_THAT(c.no_effect[2], Catch::StartsWith("dns_zone_check_period (") &&
                                 Catch::Contains("c-ares"));
  CHECK_THAT(c.no_effect[3], Catch::StartsWith("resolv_conf (") && Catch::Contains("getaddrinfo"));
  CHECK_THAT(c.no_effect[4], Catch::StartsWith("sbuf_loopcnt (") && Catch::Contains("pkt_buf"));
  CHECK_THAT(c.no_effect[5], Catch::StartsWith("suspend_timeout (") &&
                                 Catch::Contains("SUSPEND is refused") &&
                                 Catch::Contains("takes no sockets over"));
  CHECK(c.unsupported.empty());
}

TEST_CASE("settings: an unknown key is an error naming file:line", "[settings]") {
  temp_dir d;
  auto ini = d.write("p.ini", trust_header + "no_such_key = 1\n");
  CHECK(std::string(expect_error([&] { sluice::load_ini(ini); }).what()) ==
        ini + ":3: unknown parameter: no_such_key");
  auto s = d.write("s.ini", trust_header + "[sluice]\n\nno_such_key = 1\n");
  auto e = expect_error([&] { sluice::load_ini(s); });
  CHECK(e.file() == s);
  CHECK(e.line() == 5);
  CHECK(std::string(e.what()) == s + ":5: unknown parameter in [sluice]: no_such_key");
}

TEST_CASE("settings: the keys that need a restart are pgbouncer's, plus sluice's own", "[settings]") {
  // pgbouncer 1.25 SHOW CONFIG changeable = no, plus service_name (job_name's alias) and
  // sluice's workers and HTTP listener.
  const std::set<std::string_view> fixed = {"disable_pqexec",
                                            "job_name",
                                            "listen_addr",
                                            "listen_backlog",
                                            "listen_port",
                                            "pidfile",
                                            "pkt_buf",
                                            "resolv_conf",
                                            "service_name",
                                            "so_reuseport",
                                            "track_extra_parameters",
                                            "unix_socket_dir",
                                            "unix_socket_group",
                                            "unix_socket_mode",
                                            "user",
                                            "workers",
                                            "http_listen_addr",
                                            "http_listen_port"};
  std::set<std::string_view> got;
  for (const auto& s : all_settings())
    if (!s.reloadable) got.insert(s.name);
  CHECK(got == fixed);
}

TEST_CASE("settings: syslog_facility takes pgbouncer's names, and log maps each of them",
          "[settings][syslog]") {
  const setting* s = find_setting(section::pgbouncer, "syslog_facility");
  REQUIRE(s);
  REQUIRE(s->value.type == value_type::one_of);
  std::set<int> codes;
  for (auto name : s->value.choices) {
    INFO(name);
    const int code = sluice::log::syslog_facility_code(name);
    CHECK(code >= 0);
    codes.insert(code);
  }
  CHECK(codes.size() == s->value.choices.size());  // no two names for one facility
  CHECK(s->value.choices.size() == 12);            // auth, authpriv, daemon, user, local0-7
  CHECK(sluice::log::syslog_facility_code("LOCAL3") == sluice::log::syslog_facility_code("local3"));
  CHECK(sluice::log::syslog_facility_code("kern") == -1);
  CHECK(sluice::log::syslog_facility_code("") == -1);

  temp_dir d;
  const config c = sluice::load_ini(d.write(
      "ok.ini", trust_header + "syslog = 1\nsyslog_ident = mybouncer\nsyslog_facility = local5\n"));
  CHECK(c.syslog);
  CHECK(c.syslog_ident == "mybouncer");
  CHECK(c.syslog_facility == "local5");
  CHECK(c.unsupported.empty());

  const auto bad = d.write("bad.ini", trust_header + "syslog = 1\nsyslog_facility = kern\n");
  const config_error e = expect_error([&] { sluice::load_ini(bad); });
  CHECK(e.line() == 4);
  CHECK_THAT(e.what(),
             Catch::StartsWith(bad + ":4: invalid value \"kern\" for syslog_facility: "
                                     "expected one of auth, authpriv, daemon, user, local0"));
  // The same check in a sluice.toml.
  const auto toml =
      d.write("bad.toml", "[pgbouncer]\nauth_type = \"trust\"\nsyslog_facility = \"local8\"\n");
  CHECK_THAT(expect_error([&] { sluice::load_toml(toml); }).what(),
             Catch::StartsWith(toml + ":3: invalid value \"local8\" for syslog_facility"));
}

TEST_CASE("settings: scram_iterations must be one PBKDF2 can run", "[settings]") {
  temp_dir d;
  CHECK(sluice::load_ini(d.write("ok.ini", trust_header + "scram_iterations = 5000\n"))
            .scram_iterations == 5000);
  for (const char* bad : {"0", "-1", "10000001", "many"}) {
    INFO(bad);
    const auto ini = d.write("bad.ini", trust_header + "scram_iterations = " + bad + "\n");
    const config_error e = expect_error([&] { sluice::load_ini(ini); });
    CHECK_THAT(e.what(),
               Catch::StartsWith(ini + ":3: invalid value \"" + bad + "\" for scram_iterations"));
  }
}

TEST_CASE("workers = 0: one shard per core, half when every server is on this host", "[settings]") {
  sluice::config c;
  sluice::database_config local, remote;
  local.hosts = {{"", 5432}, {"127.0.0.1", 5433}, {"localhost", 5434}, {"::1", 5435}};
  remote.hosts = {{"127.0.0.1", 5432}, {"10.0.0.7", 5432}};
  CHECK(sluice::default_workers(c, 8) == 8);  // no [databases]: nothing says so
  c.databases = {local};
  CHECK(sluice::default_workers(c, 8) == 4);
  CHECK(sluice::default_workers(c, 2) == 1);
  CHECK(sluice::default_workers(c, 1) == 1);
  CHECK(sluice::default_workers(c, 0) == 1);
  c.databases = {local, remote};  // one server elsewhere: the cores are not shared with it
  CHECK(sluice::default_workers(c, 8) == 8);
}

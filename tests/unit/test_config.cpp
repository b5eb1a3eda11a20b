#include <arpa/inet.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "config_helpers.hpp"
#include "sluice/config.hpp"

namespace {

using sluice::config_error;

using config_test::expect_error;
using config_test::temp_dir;

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

/// The smallest config that passes validation without an auth_file.
const std::string trust_header = "[pgbouncer]\nauth_type = trust\n";

}  // namespace

TEST_CASE("config_error reads file:line: message", "[config]") {
  config_error e("a/b.ini", 12, "something is wrong");
  CHECK(std::string(e.what()) == "a/b.ini:12: something is wrong");
  CHECK(e.file() == "a/b.ini");
  CHECK(e.line() == 12);
}

TEST_CASE("to_string spells pool modes and auth types as pgbouncer does", "[config]") {
  using namespace sluice;
  CHECK(std::string(to_string(pool_mode::session)) == "session");
  CHECK(std::string(to_string(pool_mode::transaction)) == "transaction");
  CHECK(std::string(to_string(pool_mode::statement)) == "statement");
  CHECK(std::string(to_string(auth_type::trust)) == "trust");
  CHECK(std::string(to_string(auth_type::any)) == "any");
  CHECK(std::string(to_string(auth_type::plain)) == "plain");
  CHECK(std::string(to_string(auth_type::md5)) == "md5");
  CHECK(std::string(to_string(auth_type::scram_sha_256)) == "scram-sha-256");
  CHECK(std::string(to_string(auth_type::cert)) == "cert");
  CHECK(std::string(to_string(auth_type::hba)) == "hba");
  CHECK(std::string(to_string(auth_type::pam)) == "pam");
}

TEST_CASE("a minimal file yields pgbouncer's defaults", "[config]") {
  temp_dir d;
  auto ini = d.write("p.ini", "; comment\n# another\n[pgbouncer]\nauth_file = users.txt\n");
  auto c = sluice::load_ini(ini);
  CHECK(c.file == ini);
  CHECK(c.listen_addr.empty());
  CHECK(c.listen_port == 6432);
  CHECK(c.unix_socket_dir == "/tmp");
  CHECK(c.unix_socket_mode == 0777);
  CHECK(c.listen_backlog == 128);
  CHECK(c.auth == sluice::auth_type::md5);
  CHECK(c.auth_file == "users.txt");
  CHECK(c.mode == sluice::pool_mode::session);
  CHECK(c.max_client_conn == 100);
  CHECK(c.default_pool_size == 20);
  CHECK(c.reserve_pool_timeout == 5.0);
  CHECK(c.server_idle_timeout == 600.0);
  CHECK(c.server_lifetime == 3600.0);
  CHECK(c.query_wait_timeout == 120.0);
  CHECK(c.query_wait_notify == 5.0);
  CHECK(c.cancel_wait_timeout == 10.0);
  CHECK_FALSE(c.server_fast_close);
  CHECK(c.autodb_idle_timeout == 3600.0);
  CHECK(c.pool_idle_timeout == 0.0);
  CHECK(c.client_login_timeout == 60.0);
  CHECK(c.server_reset_query == "DISCARD ALL");
  CHECK(c.pkt_buf == 4096);
  CHECK(c.max_packet_size == 2147483647u);
  CHECK(c.tcp_keepalive);
  CHECK(c.log_connections);
  CHECK(c.workers == 0);
  CHECK(c.databases.empty());
  CHECK(c.unsupported.empty());
}

TEST_CASE("every honoured [pgbouncer] key is read into its field", "[config]") {
  temp_dir d;
  auto ini = d.write("p.ini",
                     "[pgbouncer]\n"
                     "listen_addr = 127.0.0.1, ::1 ,*\n"
                     "listen_port = 7432\n"
                     "unix_socket_dir =\n"
                     "unix_socket_mode = 0700\n"
                     "listen_backlog = 0x40\n"
                     "auth_type = scram-sha-256\n"
                     "auth_file = /etc/x/userlist.txt\n"
                     "admin_users = alice,bob\n"
                     "stats_users = carol\n"
                     "pool_mode = Transaction\n"
                     "max_client_conn = 5000\n"
                     "default_pool_size = 30\n"
                     "min_pool_size = 2\n"
                     "reserve_pool_size = 3\n"
                     "reserve_pool_timeout = 1.5\n"
                     "max_db_connections = 50\n"
                     "max_user_connections = 40\n"
                     "server_idle_timeout = 60\n"
                     "server_lifetime = 1h\n"
                     "server_connect_timeout = 3\n"
                     "server_login_retry = 0.5\n"
                     "server_reset_query = DEALLOCATE ALL; -- keeps ; in value\n"
                     "server_reset_query_always = yes\n"
                     "server_check_query = SELECT 2\n"
                     "server_check_delay = 10s\n"
                     "query_wait_timeout = 0\n"
                     "query_wait_notify = 0.25\n"
                     "cancel_wait_timeout = 2\n"
                     "server_fast_close = 1\n"
                     "autodb_idle_timeout = 30s\n"
                     "pool_idle_timeout = 1min\n"
                     "query_timeout = 7\n"
                     "client_idle_timeout = 8\n"
                     "client_login_timeout = 9\n"
                     "idle_transaction_timeout = 11\n"
                     "ignore_startup_parameters = extra_float_digits, options\n"
                     "track_extra_parameters = search_path\n"
                     "application_name_add_host = on\n"
                     "pkt_buf = 8192\n"
                     "max_packet_size = 65536\n"
                     "tcp_keepalive = off\n"
                     "tcp_keepcnt = 4\n"
                     "tcp_keepidle = 30\n"
                     "tcp_keepintvl = 5\n"
                     "tcp_user_timeout = 1000\n"
                     "tcp_defer_accept = false\n"
                     "tcp_socket_buffer = 65536\n"
                     "logfile = /var/log/sluice.log\n"
                     "pidfile = /run/sluice.pid\n"
                     "user = postgres\n"
                     "log_connections = 0\n"
                     "log_disconnections = false\n"
                     "LOG_POOLER_ERRORS = no\n"
                     "verbose = 2\n");
  auto c = sluice::load_ini(ini);
  CHECK(c.listen_addr == std::vector<std::string>{"127.0.0.1", "::1", "*"});
  CHECK(c.listen_port == 7432);
  CHECK(c.unix_socket_dir.empty());
  CHECK(c.unix_socket_mode == 0700);
  CHECK(c.listen_backlog == 64);
  CHECK(c.auth == sluice::auth_type::scram_sha_256);
  CHECK(c.auth_file == "/etc/x/userlist.txt");
  CHECK(c.admin_users == std::vector<std::string>{"alice", "bob"});
  CHECK(c.stats_users == std::vector<std::string>{"carol"});
  CHECK(c.mode == sluice::pool_mode::transaction);
  CHECK(c.max_client_conn == 5000);
  CHECK(c.default_pool_size == 30);
  CHECK(c.min_pool_size == 2);
  CHECK(c.reserve_pool_size == 3);
  CHECK(c.reserve_pool_timeout == 1.5);
  CHECK(c.max_db_connections == 50);
  CHECK(c.max_user_connections == 40);
  CHECK(c.server_idle_timeout == 60.0);
  CHECK(c.server_lifetime == 3600.0);
  CHECK(c.server_connect_timeout == 3.0);
  CHECK(c.server_login_retry == 0.5);
  CHECK(c.server_reset_query == "DEALLOCATE ALL; -- keeps ; in value");
  CHECK(c.server_reset_query_always);
  CHECK(c.server_check_query == "SELECT 2");
  CHECK(c.server_check_delay == 10.0);
  CHECK(c.query_wait_timeout == 0.0);
  CHECK(c.query_wait_notify == 0.25);
  CHECK(c.cancel_wait_timeout == 2.0);
  CHECK(c.server_fast_close);
  CHECK(c.autodb_idle_timeout == 30.0);
  CHECK(c.pool_idle_timeout == 60.0);
  CHECK(c.query_timeout == 7.0);
  CHECK(c.client_idle_timeout == 8.0);
  CHECK(c.client_login_timeout == 9.0);
  CHECK(c.idle_transaction_timeout == 11.0);
  CHECK(c.ignore_startup_parameters == std::vector<std::string>{"extra_float_digits", "options"});
  CHECK(c.track_extra_parameters == std::vector<std::string>{"search_path"});
  CHECK(c.application_name_add_host);
  CHECK(c.pkt_buf == 8192);
  CHECK(c.max_packet_size == 65536u);
  CHECK_FALSE(c.tcp_keepalive);
  CHECK(c.tcp_keepcnt == 4);
  CHECK(c.tcp_keepidle == 30);
  CHECK(c.tcp_keepintvl == 5);
  CHECK(c.tcp_user_timeout == 1000);
  CHECK_FALSE(c.tcp_defer_accept);  // the default is on
  CHECK(c.tcp_socket_buffer == 65536);
  CHECK(c.logfile == "/var/log/sluice.log");
  CHECK(c.pidfile == "/run/sluice.pid");
  CHECK(c.user == "postgres");
  CHECK_FALSE(c.log_connections);
  CHECK_FALSE(c.log_disconnections);
  CHECK_FALSE(c.log_pooler_errors);
  CHECK(c.verbose == 2);
  CHECK(c.unsupported.empty());
}

TEST_CASE("durations accept seconds, fractions and units", "[config]") {
  temp_dir d;
  auto load_timeout = [&](const std::string& v) {
    auto ini = d.write("p.ini", trust_header + "query_timeout = " + v + "\n");
    return sluice::load_ini(ini).query_timeout;
  };
  CHECK(load_timeout("45") == 45.0);
  CHECK(load_timeout("0.5") == 0.5);
  CHECK(load_timeout("30s") == 30.0);
  CHECK(load_timeout("100ms") == Approx(0.1));
  CHECK(load_timeout("250us") == Approx(0.00025));
  CHECK(load_timeout("5min") == 300.0);
  CHECK(load_timeout("1.5 h") == 5400.0);
  CHECK(load_timeout("2d") == 172800.0);

  for (const char* bad : {"-1", "10 parsecs", "abc", "", "1e3", "inf"}) {
    INFO(bad);
    auto e = expect_error([&] { load_timeout(bad); });
    CHECK(e.line() == 3);
    CHECK_THAT(e.what(), Catch::Contains("query_timeout"));
  }
}

TEST_CASE("%include reads another file in place, relative to cwd or the includer", "[config]") {
  temp_dir d;
  std::filesystem::create_directories(d.path + "/conf.d");
  d.write("conf.d/dbs.ini",
          "; included\n"
          "app = host=db1 port=5433\n"
          "[pgbouncer]\n"
          "default_pool_size = 7\n");
  auto main_ini = d.write("main.ini",
                          "[pgbouncer]\n"
                          "auth_type = trust\n"
                          "[databases]\n"
                          "%include conf.d/dbs.ini\n"
                          "max_client_conn = 9\n");  // the include switched to [pgbouncer]
  auto c = sluice::load_ini(main_ini);
  REQUIRE(c.databases.size() == 1);
  CHECK(c.databases[0].name == "app");
  CHECK(c.databases[0].port == 5433);
  CHECK(c.databases[0].source == d.path + "/conf.d/dbs.ini:2");
  CHECK(c.default_pool_size == 7);
  CHECK(c.max_client_conn == 9);

  SECTION("an error inside an included file names that file and line") {
    d.write("bad.ini", "\n\nnot_a_key = 1\n");
    auto ini = d.write("m.ini", trust_header + "%include " + d.path + "/bad.ini\n");
    auto e = expect_error([&] { sluice::load_ini(ini); });
    CHECK(e.file() == d.path + "/bad.ini");
    CHECK(e.line() == 3);
  }
  SECTION("a missing include is reported at the %include line") {
    auto ini = d.write("m.ini", trust_header + "%include nowhere.ini\n");
    auto e = expect_error([&] { sluice::load_ini(ini); });
    CHECK(e.file() == ini);
    CHECK(e.line() == 3);
    CHECK_THAT(e.what(), Catch::Contains("nowhere.ini"));
  }
  SECTION("an include cycle stops at the nesting limit") {
    auto ini = d.write("loop.ini", trust_header + "%include loop.ini\n");
    auto e = expect_error([&] { sluice::load_ini(ini); });
    CHECK_THAT(e.what(), Catch::Contains("nesting"));
  }
}

TEST_CASE("an unknown key is an error naming file:line", "[config]") {
  temp_dir d;
  auto ini = d.write("p.ini", trust_header + "\nlisten_prot = 1\n");
  auto e = expect_error([&] { sluice::load_ini(ini); });
  CHECK(e.line() == 4);
  CHECK(std::string(e.what()) == ini + ":4: unknown parameter: listen_prot");

  auto s = d.write("s.ini", trust_header + "[sluice]\nthreads = 4\n");
  auto es = expect_error([&] { sluice::load_ini(s); });
  CHECK(es.line() == 4);
  CHECK_THAT(es.what(), Catch::Contains("threads"));
}

TEST_CASE("unknown sections, syntax errors and a missing [pgbouncer] are errors", "[config]") {
  temp_dir d;
  auto e = expect_error([&] { sluice::load_ini(d.write("a.ini", trust_header + "[pgpool]\n")); });
  CHECK(e.line() == 3);
  CHECK_THAT(e.what(), Catch::Contains("unknown section [pgpool]"));

  auto e2 =
      expect_error([&] { sluice::load_ini(d.write("b.ini", trust_header + "just words\n")); });
  CHECK(e2.line() == 3);
  CHECK_THAT(e2.what(), Catch::Contains("syntax error"));

  auto e3 = expect_error([&] { sluice::load_ini(d.write("c.ini", "[databases]\nx = host=y\n")); });
  CHECK(e3.line() == 0);
  CHECK_THAT(e3.what(), Catch::Contains("[pgbouncer]"));

  auto e4 = expect_error([&] { sluice::load_ini(d.write("d.ini", "listen_port = 1\n")); });
  CHECK(e4.line() == 1);

  auto e5 = expect_error([&] { sluice::load_ini(d.path + "/absent.ini"); });
  CHECK(e5.line() == 0);
  CHECK_THAT(e5.what(), Catch::Contains("No such file"));
}

TEST_CASE("documented but unsupported keys are accepted and recorded", "[config]") {
  temp_dir d;
  auto ini = d.write("p.ini",
                     "[pgbouncer]\n"
                     "auth_type = trust\n"
                     "auth_query = SELECT usename, passwd FROM pg_shadow WHERE usename=$1\n"
                     "Client_TLS_SSLMode = require\n"  // acted on: no warning
                     "auth_ldap_options = host=ldap.example.com\n"
                     "client_tls_ca_file =\n"  // empty: "not set", nothing to warn about
                     "[users]\n"
                     "alice = pool_mode=transaction max_user_connections=4\n"
                     "[peers]\n"
                     "1 = host=/tmp/sluice-1 port=6433\n");
  auto c = sluice::load_ini(ini);
  CHECK(c.auth_query == "SELECT usename, passwd FROM pg_shadow WHERE usename=$1");
  CHECK_FALSE(contains(c.unsupported, "auth_query (" + ini + ":3)"));
  CHECK(c.client_tls_sslmode == "require");
  CHECK_FALSE(contains(c.unsupported, "client_tls_sslmode (" + ini + ":4)"));
  CHECK(contains(c.unsupported, "auth_ldap_options (" + ini + ":5)"));
  const sluice::user_config* alice = c.find_user("alice");
  REQUIRE(alice);
  CHECK(alice->mode == sluice::pool_mode::transaction);
  CHECK(alice->max_user_connections == 4);
  CHECK_FALSE(alice->pool_size);
  CHECK(c.unsupported.size() == 1);

  auto bad_user = d.write("u.ini", trust_header + "[users]\nbob = pool_size=x\n");
  CHECK(expect_error([&] { sluice::load_ini(bad_user); }).line() == 4);
  auto unknown_user_key = d.write("v.ini", trust_header + "[users]\nbob = dbname=x\n");
  CHECK_THAT(expect_error([&] { sluice::load_ini(unknown_user_key); }).what(),
             Catch::Contains("unknown user parameter: dbname"));
}

TEST_CASE("[peers] and peer_id: pgbouncer's peering, in both formats", "[config]") {
  temp_dir d;
  auto ini = d.write("p.ini", trust_header +
                                  "peer_id = 2\n"
                                  "[peers]\n"
                                  "1 = host=/tmp/sluice-1 port=6433\n"
                                  "2 = host=127.0.0.1\n"
                                  "3 = host=10.0.0.3 port=6434 pool_size=4\n");
  auto c = sluice::load_ini(ini);
  CHECK(c.peer_id == 2);
  REQUIRE(c.peers.size() == 3);
  CHECK(c.peers.at(1).host == "/tmp/sluice-1");
  CHECK(c.peers.at(1).port == 6433);
  CHECK_FALSE(c.peers.at(1).pool_size);
  CHECK(c.peers.at(2).port == 6432);  // pgbouncer's default
  CHECK(c.peers.at(3).pool_size == 4);
  CHECK(c.peers.at(3).source == ini + ":7");
  CHECK(c.unsupported.empty());

  // --convert-config keeps them, and the TOML reads back the same.
  auto toml = d.write("p.toml", sluice::convert_ini_to_toml(ini));
  auto t = sluice::load_config(toml);
  CHECK(t.peer_id == 2);
  REQUIRE(t.peers.size() == 3);
  CHECK(t.peers.at(1).host == c.peers.at(1).host);
  CHECK(t.peers.at(3).port == 6434);
  CHECK(t.peers.at(3).pool_size == 4);

  auto bad_peer = d.write("w.ini", trust_header + "[peers]\nzero = host=x\n");
  CHECK(expect_error([&] { sluice::load_ini(bad_peer); }).line() == 4);
  auto no_host = d.write("x.ini", trust_header + "[peers]\n1 = port=6432\n");
  CHECK_THAT(expect_error([&] { sluice::load_ini(no_host); }).what(),
             Catch::Contains("peer 1: host is required"));
  auto bad_key = d.write("y.ini", trust_header + "[peers]\n1 = host=a dbname=b\n");
  CHECK_THAT(expect_error([&] { sluice::load_ini(bad_key); }).what(),
             Catch::Contains("unknown peer parameter: dbname"));
  auto big_id = d.write("z.ini", trust_header + "peer_id = 16384\n");
  CHECK(expect_error([&] { sluice::load_ini(big_id); }).line() == 3);
}

TEST_CASE("[databases] entries parse connection strings", "[config]") {
  temp_dir d;
  auto ini = d.write("p.ini",
                     "[pgbouncer]\n"
                     "auth_type = trust\n"
                     "[databases]\n"
                     "plain =\n"
                     "app = host=10.0.0.1 port=5433 dbname=appdb user=u pool_size=5 "
                     "min_pool_size=1 reserve_pool=2 max_db_connections=9 pool_mode=statement\n"
                     "q = password='it''s \\'secret\\' x' connect_query='SELECT 1' "
                     "application_name = 'my app' client_encoding=UTF8 datestyle=ISO "
                     "timezone=UTC reserve_pool_size=4\n"
                     "\"odd \"\"name\"\"\" = host=/var/run/postgresql auth_user=pgb auth_dbname=plain "
                     "auth_query='SELECT usename, passwd FROM pg_shadow WHERE usename=$1'\n"
                     "* = host=fallback\n");
  auto c = sluice::load_ini(ini);
  REQUIRE(c.databases.size() == 5);

  const auto& plain = c.databases[0];
  CHECK(plain.name == "plain");
  CHECK(plain.host.empty());
  CHECK(plain.port == 5432);
  CHECK(plain.dbname.empty());
  CHECK_FALSE(plain.pool_size.has_value());
  CHECK_FALSE(plain.mode.has_value());
  CHECK(plain.source == ini + ":4");

  const auto& app = c.databases[1];
  CHECK(app.host == "10.0.0.1");
  CHECK(app.port == 5433);
  CHECK(app.dbname == "appdb");
  CHECK(app.user == "u");
  CHECK(app.pool_size == 5);
  CHECK(app.min_pool_size == 1);
  CHECK(app.reserve_pool_size == 2);
  CHECK(app.max_db_connections == 9);
  CHECK(app.mode == sluice::pool_mode::statement);

  const auto& q = c.databases[2];
  CHECK(q.password == "it's 'secret' x");
  CHECK(q.connect_query == "SELECT 1");
  CHECK(q.application_name == "my app");
  CHECK(q.client_encoding == "UTF8");
  CHECK(q.datestyle == "ISO");
  CHECK(q.timezone == "UTC");
  CHECK(q.reserve_pool_size == 4);

  CHECK(c.databases[3].name == "odd \"name\"");
  CHECK(c.databases[3].host == "/var/run/postgresql");
  CHECK(c.databases[3].auth_user == "pgb");
  CHECK(c.databases[3].auth_dbname == "plain");
  CHECK(c.databases[3].auth_query == "SELECT usename, passwd FROM pg_shadow WHERE usename=$1");
  CHECK(c.unsupported.empty());
  CHECK(c.databases[4].name == "*");
  CHECK(c.databases[4].host == "fallback");
}

TEST_CASE("parse_database_entry rejects bad connection strings", "[config]") {
  using sluice::parse_database_entry;
  auto err = [](const std::string& v) {
    return expect_error([&] { parse_database_entry("db", v, "f.ini", 7); });
  };
  CHECK_THAT(err("host=x bogus=1").what(), Catch::Contains("f.ini:7: "));
  CHECK_THAT(err("host=x bogus=1").what(),
             Catch::Contains("unrecognized connection parameter: bogus"));
  CHECK_THAT(err("port=0").what(), Catch::Contains("port"));
  CHECK_THAT(err("port=5432x").what(), Catch::Contains("port"));
  CHECK_THAT(err("pool_size=-1").what(), Catch::Contains("pool_size"));
  CHECK_THAT(err("pool_mode=sometimes").what(), Catch::Contains("pool_mode"));
  CHECK_THAT(err("password='open").what(), Catch::Contains("unterminated"));
  CHECK_THAT(err("host").what(), Catch::Contains("syntax error"));
  CHECK_THAT(err("host=").what(), Catch::Contains("missing value"));
  CHECK_THAT(err("load_balance_hosts=random").what(), Catch::Contains("load_balance_hosts"));
  // The console's name is reserved: the global setting is refused at load; a [databases]
  // entry's is loaded and refused at login ("bouncer config error"), as pgbouncer does.
  CHECK(parse_database_entry("db", "auth_dbname=pgbouncer", "f.ini", 9).auth_dbname == "pgbouncer");
  {
    temp_dir d;
    const auto ini = d.write("r.ini", trust_header + "auth_dbname = pgbouncer\n[databases]\n");
    CHECK_THROWS_WITH(sluice::load_config(ini), Catch::Contains("r.ini:") &&
                      Catch::Contains("reserved \"pgbouncer\" database as an auth_dbname"));
  }

  auto ok = parse_database_entry("db", "  host = h   password='' auth_dbname=x ", "f.ini", 7);
  CHECK(ok.host == "h");
  CHECK(ok.password.empty());
  CHECK(ok.auth_dbname == "x");
  CHECK(ok.unsupported.empty());
  // Acted on now (test_hostlist.cpp): no longer noted as accepted-but-ignored.
  auto lb = parse_database_entry("db", "host=h load_balance_hosts=round-robin", "f.ini", 8);
  CHECK(lb.unsupported.empty());
  CHECK(lb.load_balance_hosts == sluice::load_balance::round_robin);
}

TEST_CASE("[databases] server_lifetime and query_wait_timeout, [users] query_wait_timeout",
          "[config]") {
  temp_dir d;
  auto ini = d.write("p.ini", trust_header +
                                  "[databases]\n"
                                  "a = server_lifetime=90 query_wait_timeout=0.5\n"
                                  "b = server_lifetime=0 query_wait_timeout=-1\n"
                                  "c = query_wait_timeout=0\n"
                                  "[users]\n"
                                  "alice = query_wait_timeout=3\n"
                                  "bob = query_wait_timeout=-1\n");
  auto c = sluice::load_ini(ini);
  CHECK(c.unsupported.empty());
  REQUIRE(c.databases.size() == 3);
  CHECK(c.databases[0].server_lifetime == 90.0);
  CHECK(c.databases[0].query_wait_timeout == 0.5);
  // pgbouncer reads server_lifetime=0 and query_wait_timeout=-1 as "not set".
  CHECK_FALSE(c.databases[1].server_lifetime);
  CHECK_FALSE(c.databases[1].query_wait_timeout);
  CHECK(c.databases[2].query_wait_timeout == 0.0);  // 0 = no limit for this database
  CHECK(c.find_user("alice")->query_wait_timeout == 3.0);
  CHECK_FALSE(c.find_user("bob")->query_wait_timeout);

  auto err = [](const std::string& value) {
    return expect_error([&] { sluice::parse_database_entry("db", value, "f.ini", 3); });
  };
  CHECK_THAT(err("server_lifetime=-1").what(), Catch::Contains("server_lifetime"));
  CHECK_THAT(err("server_lifetime=soon").what(), Catch::Contains("server_lifetime"));
  CHECK_THAT(err("query_wait_timeout=-2").what(), Catch::Contains("query_wait_timeout"));
  auto bad_user = d.write("u.ini", trust_header + "[users]\nbob = query_wait_timeout=x\n");
  auto e = expect_error([&] { sluice::load_ini(bad_user); });
  CHECK(e.line() == 4);
  CHECK_THAT(e.what(), Catch::Contains("query_wait_timeout"));

  // A reload that changes them is a change of the database / user.
  auto changed = d.write("q.ini", trust_header +
                                      "[databases]\n"
                                      "a = server_lifetime=91 query_wait_timeout=0.5\n"
                                      "b = server_lifetime=0 query_wait_timeout=-1\n"
                                      "c = query_wait_timeout=0\n"
                                      "[users]\n"
                                      "alice = query_wait_timeout=4\n"
                                      "bob = query_wait_timeout=-1\n");
  const auto diff = sluice::diff_configs(c, sluice::load_ini(changed));
  CHECK(diff.changes == std::vector<std::string>{"database a changed", "user alice changed"});
}

TEST_CASE("find_database: exact name, else \"*\", else nullptr", "[config]") {
  sluice::config c;
  CHECK(c.find_database("x") == nullptr);
  c.databases.push_back(sluice::parse_database_entry("app", "host=a", "f", 1));
  CHECK(c.find_database("other") == nullptr);
  c.databases.push_back(sluice::parse_database_entry("*", "host=star", "f", 2));
  c.databases.push_back(sluice::parse_database_entry("late", "host=l", "f", 3));
  REQUIRE(c.find_database("app") != nullptr);
  CHECK(c.find_database("app")->host == "a");
  CHECK(c.find_database("late")->host == "l");
  REQUIRE(c.find_database("other") != nullptr);
  CHECK(c.find_database("other")->host == "star");
  CHECK(c.find_database("APP")->host == "star");  // database names are case-sensitive

  temp_dir d;
  auto ini = d.write("p.ini", trust_header + "[databases]\napp = host=one\napp = host=two\n");
  auto loaded = sluice::load_ini(ini);
  REQUIRE(loaded.databases.size() == 1);  // a later definition replaces the earlier one
  CHECK(loaded.find_database("app")->host == "two");
  auto reserved = d.write("r.ini", trust_header + "[databases]\npgbouncer = host=x\n");
  CHECK(expect_error([&] { sluice::load_ini(reserved); }).line() == 4);
}

TEST_CASE("[sluice] workers", "[config]") {
  temp_dir d;
  auto c = sluice::load_ini(d.write("p.ini", trust_header + "[Sluice]\nWorkers = 6\n"));
  CHECK(c.workers == 6);
  auto e = expect_error(
      [&] { sluice::load_ini(d.write("q.ini", trust_header + "[sluice]\nworkers = -2\n")); });
  CHECK(e.line() == 4);
  CHECK_THAT(e.what(), Catch::Contains("workers"));
}

TEST_CASE("bad integer, boolean and enum values are errors with their line", "[config]") {
  temp_dir d;
  struct bad_case {
    const char* line;
    const char* key;
  };
  const bad_case cases[] = {
      {"listen_port = 12ab", "listen_port"},
      {"listen_port = 70000", "listen_port"},
      {"listen_port = 0", "listen_port"},
      {"default_pool_size = -1", "default_pool_size"},
      {"max_client_conn = 1.5", "max_client_conn"},
      {"max_client_conn =", "max_client_conn"},
      {"verbose = 99999999999999999999", "verbose"},
      {"log_connections = maybe", "log_connections"},
      {"tcp_keepalive = -1", "tcp_keepalive"},
      {"unix_socket_mode = 0789", "unix_socket_mode"},
      {"pool_mode = sometimes", "pool_mode"},
      {"auth_type = password", "auth_type"},
      {"auth_type = ldap", "auth_type"},
      {"max_packet_size = 100", "max_packet_size"},
      // Above 2^31 - 1 (the CVE-2026-6668 / 107348 class: a length that overflows a signed
      // size when the buffer grows) is refused where it is written.
      {"max_packet_size = 2147483648", "max_packet_size"},
      {"max_packet_size = 2147483649", "max_packet_size"},
      {"max_packet_size = 4294967301", "max_packet_size"},
      {"pkt_buf = 0", "pkt_buf"},
  };
  for (const auto& bc : cases) {
    INFO(bc.line);
    auto ini = d.write("p.ini", trust_header + "\n" + bc.line + "\n");
    auto e = expect_error([&] { sluice::load_ini(ini); });
    CHECK(e.file() == ini);
    CHECK(e.line() == 4);
    CHECK_THAT(e.what(), Catch::Contains(bc.key));
  }
}

TEST_CASE("password auth types require auth_file", "[config]") {
  temp_dir d;
  for (const char* a : {"plain", "md5", "scram-sha-256"}) {
    INFO(a);
    auto ini = d.write("p.ini", std::string("[pgbouncer]\nauth_type = ") + a + "\n");
    auto e = expect_error([&] { sluice::load_ini(ini); });
    CHECK(e.line() == 0);
    CHECK(e.file() == ini);
    CHECK_THAT(e.what(), Catch::Contains("auth_file"));
  }
  // md5 is the default auth_type.
  CHECK(expect_error([&] { sluice::load_ini(d.write("q.ini", "[pgbouncer]\n")); }).line() == 0);
  // An explicitly empty auth_file is reported where it is set.
  auto e =
      expect_error([&] { sluice::load_ini(d.write("r.ini", "[pgbouncer]\n\nauth_file =\n")); });
  CHECK(e.line() == 3);
  // hba needs its rules instead.
  CHECK_THAT(expect_error([&] {
               sluice::load_ini(d.write("h.ini", "[pgbouncer]\nauth_type = hba\n"));
             }).what(),
             Catch::Contains("auth_type = hba requires auth_hba_file"));
  for (const char* a : {"trust", "any", "cert", "pam"}) {
    INFO(a);
    auto c =
        sluice::load_ini(d.write("s.ini", std::string("[pgbouncer]\nauth_type = ") + a + "\n"));
    CHECK(std::string(sluice::to_string(c.auth)) == a);
  }
}

TEST_CASE("load_userlist reads quoted user/password pairs", "[config]") {
  temp_dir d;
  auto path = d.write("userlist.txt",
                      "; comment\n"
                      "# also a comment\n"
                      "\n"
                      "\"alice\" \"md5abcdef\"\n"
                      "  \"bob\"   \"pa\"\"ss\" trailing junk ignored\r\n"
                      "\"we\"\"ird\" \"SCRAM-SHA-256$4096:c2FsdA==$a:b\"\n"
                      "\"empty\" \"\"\n"
                      "\"alice\" \"second wins\"\n");
  auto u = sluice::load_userlist(path);
  CHECK(u.passwords.size() == 4);
  REQUIRE(u.find("alice") != nullptr);
  CHECK(*u.find("alice") == "second wins");
  REQUIRE(u.find("bob") != nullptr);
  CHECK(*u.find("bob") == "pa\"ss");
  REQUIRE(u.find("we\"ird") != nullptr);
  CHECK(*u.find("we\"ird") == "SCRAM-SHA-256$4096:c2FsdA==$a:b");
  REQUIRE(u.find("empty") != nullptr);
  CHECK(u.find("empty")->empty());
  CHECK(u.find("nobody") == nullptr);
}

TEST_CASE("load_userlist rejects broken lines and missing files", "[config]") {
  temp_dir d;
  for (const char* bad : {"alice \"pw\"", "\"alice\" pw", "\"alice\"", "\"alice\" \"pw",
                          "\"unterminated", "\"\" \"pw\""}) {
    INFO(bad);
    auto path = d.write("u.txt", std::string("\"ok\" \"fine\"\n\n") + bad + "\n");
    auto e = expect_error([&] { sluice::load_userlist(path); });
    CHECK(e.file() == path);
    CHECK(e.line() == 3);
    CHECK_THAT(e.what(), Catch::Contains("broken line"));
  }
  auto e = expect_error([&] { sluice::load_userlist(d.path + "/none.txt"); });
  CHECK(e.line() == 0);
  CHECK_THAT(e.what(), Catch::Contains("No such file or directory"));
}

TEST_CASE("load_ini reads on after an error and reports every one with file:line", "[config]") {
  temp_dir d;
  const std::string inc = d.write("inc.ini", "listen_port = 0\n");
  const std::string p = d.write("all.ini", trust_header +
                                               "default_pool_size = lots\n"  // line 3
                                               "no_such_key = 1\n"           // line 4
                                               "%include " + inc + "\n"       // inc.ini:1
                                               "[nonsense]\n"                // line 6
                                               "whatever = 1\n"              // skipped
                                               "[pgbouncer]\n"
                                               "max_client_conn = 7\n");
  const config_error e = expect_error([&] { sluice::load_ini(p); });
  CHECK(e.line() == 3);
  const auto& all = e.all();
  REQUIRE(all.size() == 4);
  CHECK(all[0].rfind(p + ":3: ", 0) == 0);
  CHECK(all[0].find("default_pool_size") != std::string::npos);
  CHECK(all[1] == p + ":4: unknown parameter: no_such_key");
  CHECK(all[2].rfind(inc + ":1: ", 0) == 0);
  CHECK(all[2].find("listen_port") != std::string::npos);
  CHECK(all[3] == p + ":6: unknown section [nonsense]");
}

TEST_CASE("load_toml: typed settings, databases and users tables", "[config][toml]") {
  temp_dir d;
  const std::string p = d.write("s.toml", R"([pgbouncer]
auth_type = "trust"
listen_port = 7432
server_idle_timeout = "10min"
query_wait_timeout = 2.5
admin_users = ["admin", "ops"]
pool_mode = "transaction"
tcp_keepalive = false
unix_socket_mode = "0700"
autodb_idle_timeout = 20

[sluice]
workers = 3

[databases.bench]
host = "127.0.0.1"
port = 15432
pool_size = 7
dbname = "it's"

[users.app]
pool_mode = "session"
)");
  const sluice::config c = sluice::load_config(p);
  CHECK(c.listen_port == 7432);
  CHECK(c.server_idle_timeout == 600);
  CHECK(c.query_wait_timeout == 2.5);
  CHECK(c.admin_users == std::vector<std::string>{"admin", "ops"});
  CHECK(c.mode == sluice::pool_mode::transaction);
  CHECK_FALSE(c.tcp_keepalive);
  CHECK(c.unix_socket_mode == 0700);
  CHECK(c.workers == 3);
  REQUIRE(c.databases.size() == 1);
  CHECK(c.databases[0].port == 15432);
  CHECK(c.databases[0].pool_size == 7);
  CHECK(c.databases[0].dbname == "it's");
  CHECK(c.autodb_idle_timeout == 20);
}

TEST_CASE("load_toml: wrong types and unknown keys are errors with file:line", "[config][toml]") {
  temp_dir d;
  const std::string p = d.write("bad.toml", R"([pgbouncer]
auth_type = "trust"
default_pool_size = "lots"
listen_port = 70000
admin_users = "admin"
no_such_key = 1

[databases.x]
port = "many"
)");
  const config_error e = expect_error([&] { sluice::load_toml(p); });
  const auto& all = e.all();
  REQUIRE(all.size() == 5);
  CHECK(all[0] == p + ":3: default_pool_size: expected an integer");
  CHECK(all[1].rfind(p + ":4: invalid value \"70000\" for listen_port", 0) == 0);
  CHECK(all[2] == p + ":5: admin_users: expected an array of strings");
  CHECK(all[3] == p + ":6: unknown parameter: no_such_key");
  CHECK(all[4].rfind(p + ":8: ", 0) == 0);
}

TEST_CASE("convert_ini_to_toml: the TOML loads to the same configuration", "[config][toml]") {
  temp_dir d;
  const std::string dbs = d.write("dbs.ini", "[databases]\nbench = host=127.0.0.1 port=15432 pool_size=3\n");
  const std::string ini = d.write("c.ini", "%include " + dbs + "\n" + trust_header +
                                               "server_idle_timeout = 10min\n"
                                               "query_wait_timeout = 0.5\n"
                                               "admin_users = a, b\n"
                                               "pool_mode = transaction\n"
                                               "unix_socket_mode = 0700\n"
                                               "tcp_keepalive = no\n"
                                               "dns_max_ttl = 20\n"
                                               "[users]\napp = pool_mode=session\n"
                                               "[sluice]\nworkers = 2\n");
  const std::string toml = d.write("c.toml", sluice::convert_ini_to_toml(ini));
  const sluice::config a = sluice::load_ini(ini), b = sluice::load_toml(toml);
  const sluice::config_diff diff = sluice::diff_configs(a, b);
  CHECK(diff.changes.empty());
  CHECK(b.server_idle_timeout == 600);
  CHECK(b.admin_users == std::vector<std::string>{"a", "b"});
  CHECK(b.workers == 2);
  REQUIRE(b.databases.size() == 1);
  CHECK(b.databases[0].pool_size == 3);
  CHECK(b.unsupported.size() == a.unsupported.size());
}

TEST_CASE("auth_hba_file: rules parse and the first match decides", "[config][hba]") {
  temp_dir d;
  const std::string p = d.write("hba.conf",
                                "# comment\n"
                                "local all postgres peer\n"
                                "host sameuser all 192.168.0.0/16 md5\n"
                                "hostssl all all all cert\n"
                                "host app,reports alice,bob ::1/128 scram-sha-256\n"
                                "hostnossl all all 0.0.0.0/0 reject\n");
  const sluice::hba_rules rules = sluice::load_hba(p);
  REQUIRE(rules.size() == 5);
  auto peer = [](bool unix_socket, const char* db, const char* user, const char* ip) {
    sluice::hba_peer x;
    x.is_unix = unix_socket;
    x.database = db;
    x.user = user;
    if (ip) {
      const bool v6 = std::string(ip).find(':') != std::string::npos;
      x.family = v6 ? AF_INET6 : AF_INET;
      REQUIRE(::inet_pton(x.family, ip, x.addr) == 1);
    }
    return x;
  };
  auto line_of = [&](const sluice::hba_peer& x) {
    const sluice::hba_rule* r = sluice::match_hba(rules, x);
    return r ? r->line : 0;
  };
  CHECK(line_of(peer(true, "any", "postgres", nullptr)) == 2);
  CHECK(line_of(peer(true, "any", "alice", nullptr)) == 0);  // no local rule for alice
  CHECK(line_of(peer(false, "carol", "carol", "192.168.7.9")) == 3);  // sameuser
  CHECK(line_of(peer(false, "app", "carol", "192.168.7.9")) == 6);    // not sameuser
  CHECK(line_of(peer(false, "reports", "bob", "::1")) == 5);
  CHECK(line_of(peer(false, "reports", "eve", "::1")) == 0);  // hostssl never matches without TLS
  CHECK(line_of(peer(false, "app", "alice", "10.1.2.3")) == 6);
  sluice::hba_peer tls = peer(false, "x", "y", "10.1.2.3");
  tls.tls = true;
  CHECK(line_of(tls) == 4);

  const std::string bad = d.write("bad.conf", "host all all 1.2.3.4/40 trust\nhost all\nfoo a b c\n");
  const config_error e = expect_error([&] { sluice::load_hba(bad); });
  REQUIRE(e.all().size() == 3);
  CHECK(e.all()[0] == bad + ":1: invalid address \"1.2.3.4/40\"");
  CHECK(e.all()[1].rfind(bad + ":2: expected 5 fields", 0) == 0);
  CHECK(e.all()[2] == bad + ":3: unknown connection type \"foo\"");
}

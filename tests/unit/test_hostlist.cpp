// Host lists, load_balance_hosts and target_session_attrs in [databases] entries: libpq's
// pairing of host= with port=, the [sluice] default, the TOML forms and the reload diff.

#include <string>
#include <vector>

#include "catch.hpp"
#include "config_helpers.hpp"
#include "sluice/config.hpp"

namespace {

using sluice::config;
using sluice::config_error;
using sluice::database_config;
using sluice::host_port;
using sluice::load_balance;
using sluice::session_attrs;

using config_test::expect_error;
using config_test::temp_dir;

const std::string trust_header = "[pgbouncer]\nauth_type = trust\n";

/// One [databases] entry "db", as if read from f.ini line 7.
database_config entry(const std::string& value) {
  return sluice::parse_database_entry("db", value, "f.ini", 7);
}

std::string entry_error(const std::string& value) {
  return expect_error([&] { entry(value); }).what();
}

using hosts = std::vector<host_port>;

bool has_change(const sluice::config_diff& d, const std::string& line) {
  for (const auto& c : d.changes)
    if (c == line) return true;
  return false;
}

}  // namespace

TEST_CASE("host list: one host, and no host at all", "[config][hostlist]") {
  const auto one = entry("host=127.0.0.2 port=6000");
  CHECK(one.host == "127.0.0.2");
  CHECK(one.port == 6000);
  CHECK(one.hosts == hosts{{"127.0.0.2", 6000}});

  // No host=: one entry, the default Unix socket directory, with the port given.
  const auto none = entry("dbname=x port=6001");
  CHECK(none.host.empty());
  CHECK(none.hosts == hosts{{"", 6001}});
  CHECK(none.hosts.front().is_unix_socket());
  CHECK(entry("dbname=x").hosts == hosts{{"", 5432}});
  CHECK(database_config{}.hosts == hosts{{"", 5432}});
  // Order does not matter: port= before host= pairs the same way.
  CHECK(entry("port=6000 host=127.0.0.2,127.0.0.3").hosts ==
        hosts{{"127.0.0.2", 6000}, {"127.0.0.3", 6000}});
}

TEST_CASE("host list: three hosts share one port", "[config][hostlist]") {
  const auto db = entry("host=10.0.0.1,10.0.0.2,db3.example port=6432");
  CHECK(db.host == "10.0.0.1,10.0.0.2,db3.example");  // as written
  CHECK(db.port == 6432);
  CHECK(db.hosts == hosts{{"10.0.0.1", 6432}, {"10.0.0.2", 6432}, {"db3.example", 6432}});
  // Without port=, every host gets the default.
  CHECK(entry("host=a,b,c").hosts == hosts{{"a", 5432}, {"b", 5432}, {"c", 5432}});
}

TEST_CASE("host list: three hosts with one port each", "[config][hostlist]") {
  const auto db = entry("host=a,b,c port=15432,15433,15434");
  CHECK(db.hosts == hosts{{"a", 15432}, {"b", 15433}, {"c", 15434}});
  CHECK(db.port == 15432);  // the first, for code that reads one
  CHECK(db.host == "a,b,c");
}

TEST_CASE("host list: a port count that matches neither 1 nor the hosts is an error",
          "[config][hostlist]") {
  CHECK(entry_error("host=a,b,c port=1,2") ==
        "f.ini:7: database \"db\": could not match 2 port numbers to 3 hosts");
  CHECK(entry_error("host=a,b port=1,2,3") ==
        "f.ini:7: database \"db\": could not match 3 port numbers to 2 hosts");
  CHECK(entry_error("host=a port=1,2") ==
        "f.ini:7: database \"db\": could not match 2 port numbers to 1 hosts");
  // No host= is one host.
  CHECK(entry_error("port=1,2") ==
        "f.ini:7: database \"db\": could not match 2 port numbers to 1 hosts");
  // Each port is checked on its own and named.
  CHECK_THAT(entry_error("host=a,b port=5432,70000"),
             Catch::StartsWith("f.ini:7: invalid value \"70000\" for port"));
  CHECK_THAT(entry_error("host=a,b port=5432,x"),
             Catch::StartsWith("f.ini:7: invalid value \"x\" for port"));

  // Through load_ini, with the line of the entry.
  temp_dir d;
  const auto ini = d.write("p.ini", trust_header +
                                        "[databases]\n"
                                        "good = host=a port=1\n"
                                        "bad = host=127.0.0.2,127.0.0.3,127.0.0.4 port=1,2\n");
  const config_error e = expect_error([&] { sluice::load_ini(ini); });
  CHECK(e.line() == 5);
  CHECK(std::string(e.what()) ==
        ini + ":5: database \"bad\": could not match 2 port numbers to 3 hosts");
}

TEST_CASE("host list: empty elements and blanks are kept as libpq keeps them",
          "[config][hostlist]") {
  // An empty host element is the default Unix socket directory.
  const auto mid = entry("host=a,,b port=1,2,3");
  CHECK(mid.hosts == hosts{{"a", 1}, {"", 2}, {"b", 3}});
  CHECK(mid.hosts[1].is_unix_socket());
  CHECK_FALSE(mid.hosts[0].is_unix_socket());
  CHECK(entry("host='a,'").hosts == hosts{{"a", 5432}, {"", 5432}});
  CHECK(entry("host=''").hosts == hosts{{"", 5432}});
  // An empty port element is the default port.
  CHECK(entry("host=a,b port=,6000").hosts == hosts{{"a", 5432}, {"b", 6000}});
  // No trimming: a blank is part of the name.
  CHECK(entry("host='a, b'").hosts == hosts{{"a", 5432}, {" b", 5432}});
}

TEST_CASE("host list: a Unix socket directory among TCP hosts", "[config][hostlist]") {
  const auto db = entry("host=/var/run/postgresql,10.0.0.1 port=5432,6432");
  REQUIRE(db.hosts.size() == 2);
  CHECK(db.hosts[0] == host_port{"/var/run/postgresql", 5432});
  CHECK(db.hosts[0].is_unix_socket());
  CHECK(db.hosts[1] == host_port{"10.0.0.1", 6432});
  CHECK_FALSE(db.hosts[1].is_unix_socket());
}

TEST_CASE("target_session_attrs: libpq 14's values, and nothing else", "[config][hostlist]") {
  const std::pair<const char*, session_attrs> values[] = {
      {"any", session_attrs::any},
      {"read-write", session_attrs::read_write},
      {"read-only", session_attrs::read_only},
      {"primary", session_attrs::primary},
      {"standby", session_attrs::standby},
      {"prefer-standby", session_attrs::prefer_standby}};
  for (const auto& [text, value] : values) {
    INFO(text);
    const auto db = entry(std::string("host=a target_session_attrs=") + text);
    CHECK(db.target_session_attrs == value);
    CHECK(db.unsupported.empty());  // acted on, not "accepted, not acted on"
    CHECK(std::string(sluice::to_string(value)) == text);
  }
  CHECK_FALSE(entry("host=a").target_session_attrs.has_value());
  for (const char* bad : {"master", "read_write", "prefer-primary"}) {
    INFO(bad);
    CHECK_THAT(entry_error(std::string("host=a target_session_attrs=") + bad),
               Catch::StartsWith("f.ini:7: invalid value \"" + std::string(bad) +
                                 "\" for target_session_attrs: expected any, read-write"));
  }

  // The [sluice] key checks its value too, with its line.
  temp_dir d;
  const auto ini = d.write("p.ini", trust_header + "[sluice]\ntarget_session_attrs = master\n");
  const config_error e = expect_error([&] { sluice::load_ini(ini); });
  CHECK(e.line() == 4);
  CHECK_THAT(e.what(), Catch::StartsWith(ini + ":4: invalid value \"master\" for "
                                               "target_session_attrs"));
}

TEST_CASE("load_balance_hosts: round-robin (the default, as PgBouncer's) or disable",
          "[config][hostlist]") {
  CHECK(entry("host=a,b").load_balance_hosts == load_balance::round_robin);
  CHECK(entry("host=a,b load_balance_hosts=disable").load_balance_hosts == load_balance::disable);
  const auto rr = entry("host=a,b load_balance_hosts=round-robin");
  CHECK(rr.load_balance_hosts == load_balance::round_robin);
  CHECK(rr.unsupported.empty());
  CHECK(std::string(sluice::to_string(load_balance::round_robin)) == "round-robin");
  CHECK(std::string(sluice::to_string(load_balance::disable)) == "disable");
  for (const char* bad : {"random", "round_robin", "1"}) {
    INFO(bad);
    CHECK_THAT(entry_error(std::string("host=a load_balance_hosts=") + bad),
               Catch::StartsWith("f.ini:7: invalid value \"" + std::string(bad) +
                                 "\" for load_balance_hosts: expected disable or round-robin"));
  }
}

TEST_CASE("target_session_attrs: the [sluice] default applies, an entry's own value wins",
          "[config][hostlist]") {
  temp_dir d;
  const std::string dbs =
      "[databases]\n"
      "inherits = host=127.0.0.2,127.0.0.3 port=15432,15433\n"
      "own = host=127.0.0.2,127.0.0.3 port=15432,15433 target_session_attrs=read-only\n";
  const config plain = sluice::load_ini(d.write("a.ini", trust_header + dbs));
  CHECK(plain.target_session_attrs == session_attrs::any);
  CHECK(sluice::effective_session_attrs(plain, plain.databases[0]) == session_attrs::any);
  CHECK(sluice::effective_session_attrs(plain, plain.databases[1]) == session_attrs::read_only);

  const config rw = sluice::load_ini(
      d.write("b.ini", trust_header + "[sluice]\ntarget_session_attrs = read-write\n" + dbs));
  REQUIRE(rw.databases.size() == 2);
  CHECK(rw.target_session_attrs == session_attrs::read_write);
  CHECK_FALSE(rw.databases[0].target_session_attrs.has_value());
  CHECK(sluice::effective_session_attrs(rw, rw.databases[0]) == session_attrs::read_write);
  CHECK(sluice::effective_session_attrs(rw, rw.databases[1]) == session_attrs::read_only);
  CHECK(rw.unsupported.empty());

  // SHOW CONFIG lists the key with its value and libpq's default.
  bool listed = false;
  for (const auto& row : sluice::show_config(rw)) {
    if (row.key != "target_session_attrs") continue;
    listed = true;
    CHECK(row.value == "read-write");
    CHECK(row.default_value == "any");
    CHECK(row.changeable);
  }
  CHECK(listed);
}

TEST_CASE("host list in TOML: a string as written, or arrays", "[config][hostlist][toml]") {
  temp_dir d;
  const std::string p = d.write("s.toml", R"([pgbouncer]
auth_type = "trust"

[sluice]
target_session_attrs = "standby"

[databases.text]
host = "127.0.0.2,127.0.0.3"
port = "15432,15433"

[databases.arrays]
host = ["127.0.0.2", "", "/var/run/postgresql"]
port = [15432, 15433, 15434]
load_balance_hosts = "round-robin"
target_session_attrs = "read-write"

[databases.one_port]
host = ["a", "b"]
port = 6432
)");
  const config c = sluice::load_config(p);
  CHECK(c.target_session_attrs == session_attrs::standby);
  const database_config* text = c.find_database("text");
  const database_config* arrays = c.find_database("arrays");
  const database_config* one_port = c.find_database("one_port");
  REQUIRE(text);
  REQUIRE(arrays);
  REQUIRE(one_port);
  CHECK(text->host == "127.0.0.2,127.0.0.3");
  CHECK(text->hosts == hosts{{"127.0.0.2", 15432}, {"127.0.0.3", 15433}});
  CHECK(sluice::effective_session_attrs(c, *text) == session_attrs::standby);
  // The array is the same list the ini text would give, host= text included.
  CHECK(arrays->host == "127.0.0.2,,/var/run/postgresql");
  CHECK(arrays->hosts == hosts{{"127.0.0.2", 15432}, {"", 15433}, {"/var/run/postgresql", 15434}});
  CHECK(arrays->port == 15432);
  CHECK(arrays->load_balance_hosts == load_balance::round_robin);
  CHECK(sluice::effective_session_attrs(c, *arrays) == session_attrs::read_write);
  CHECK(one_port->hosts == hosts{{"a", 6432}, {"b", 6432}});
  CHECK(c.unsupported.empty());
}

TEST_CASE("host list in TOML: the ini's checks, and array types, with file:line",
          "[config][hostlist][toml]") {
  temp_dir d;
  auto first_error = [&](const std::string& db_table) {
    const auto p = d.write("bad.toml", "[pgbouncer]\nauth_type = \"trust\"\n\n" + db_table);
    return std::pair{p, std::string(expect_error([&] { sluice::load_toml(p); }).what())};
  };
  {
    auto [p, what] = first_error("[databases.x]\nhost = [\"a\", \"b\", \"c\"]\nport = [1, 2]\n");
    CHECK(what == p + ":4: database \"x\": could not match 2 port numbers to 3 hosts");
  }
  {
    auto [p, what] = first_error("[databases.x]\nhost = \"a,b\"\nport = \"1,2,3\"\n");
    CHECK(what == p + ":4: database \"x\": could not match 3 port numbers to 2 hosts");
  }
  {
    auto [p, what] = first_error("[databases.x]\nhost = [\"a\", \"b\"]\nport = [1,\n \"2\"]\n");
    CHECK(what == p + ":7: databases x: port: expected an array of integers");
  }
  {
    auto [p, what] = first_error("[databases.x]\nhost = [\"a\", 2]\n");
    CHECK(what == p + ":5: databases x: host: expected an array of strings");
  }
  {
    auto [p, what] = first_error("[databases.x]\nhost = [\"a,b\"]\n");
    CHECK(what == p + ":5: databases x: host: a host holds a comma");
  }
  {
    auto [p, what] = first_error("[databases.x]\nhost = []\n");
    CHECK(what == p + ":5: databases x: host: expected at least one host");
  }
  {
    auto [p, what] = first_error("[databases.x]\nhost = \"a\"\nport = [70000]\n");
    CHECK_THAT(what, Catch::StartsWith(p + ":4: invalid value \"70000\" for port"));
  }
  {
    // Only host and port take arrays.
    auto [p, what] = first_error("[databases.x]\ndbname = [\"a\"]\n");
    CHECK(what == p + ":5: databases x: dbname: expected a string or a number");
  }
  {
    auto [p, what] = first_error("[sluice]\ntarget_session_attrs = \"master\"\n");
    CHECK_THAT(what,
               Catch::StartsWith(p + ":5: invalid value \"master\" for target_session_attrs"));
  }
}

TEST_CASE("host list: --convert-config writes TOML that reads back the same lists",
          "[config][hostlist][toml]") {
  temp_dir d;
  const std::string ini =
      d.write("c.ini", trust_header +
                           "[sluice]\ntarget_session_attrs = prefer-standby\n"
                           "[databases]\n"
                           "two = host=127.0.0.2,127.0.0.3 port=15432,15433 "
                           "target_session_attrs=read-write load_balance_hosts=round-robin\n"
                           "shared = host=127.0.0.2,127.0.0.3 port=15432\n"
                           "holes = host='a,,/tmp' port=',6000,'\n"
                           "one = host=127.0.0.1 port=5432\n");
  const std::string text = sluice::convert_ini_to_toml(ini);
  // A port list is an array of numbers, not the ini's text.
  CHECK_THAT(text, !Catch::Contains("15432,15433"));
  const config a = sluice::load_ini(ini);
  const config b = sluice::load_toml(d.write("c.toml", text));
  CHECK(sluice::diff_configs(a, b).changes.empty());
  REQUIRE(b.databases.size() == a.databases.size());
  for (std::size_t i = 0; i < a.databases.size(); ++i) {
    INFO(a.databases[i].name);
    const database_config* other = b.find_database(a.databases[i].name);
    REQUIRE(other);
    CHECK(other->hosts == a.databases[i].hosts);
    CHECK(other->host == a.databases[i].host);
    CHECK(other->load_balance_hosts == a.databases[i].load_balance_hosts);
    CHECK(other->target_session_attrs == a.databases[i].target_session_attrs);
  }
  CHECK(b.target_session_attrs == session_attrs::prefer_standby);
  CHECK(b.find_database("holes")->hosts == hosts{{"a", 5432}, {"", 6000}, {"/tmp", 5432}});
}

TEST_CASE(
    "reload diff: a changed host list, port, load_balance_hosts or target_session_attrs "
    "changes the database",
    "[config][hostlist]") {
  temp_dir d;
  auto load = [&](const std::string& sluice_section, const std::string& bench) {
    return sluice::load_ini(d.write("r.ini", trust_header + sluice_section +
                                                 "[databases]\n"
                                                 "bench = " +
                                                 bench +
                                                 "\n"
                                                 "own = host=a target_session_attrs=read-only\n"));
  };
  const std::string base = "host=127.0.0.2,127.0.0.3 port=15432,15433";
  const config before = load("", base);
  CHECK(sluice::diff_configs(before, load("", base)).changes.empty());

  const std::string changed = "database bench changed";
  // Another host, the first host and first port unchanged.
  CHECK(has_change(
      sluice::diff_configs(before, load("", "host=127.0.0.2,127.0.0.4 port=15432,15433")),
      changed));
  // Only the second port: host= and the first port are the same as before.
  const auto port2 =
      sluice::diff_configs(before, load("", "host=127.0.0.2,127.0.0.3 port=15432,15434"));
  CHECK(port2.changes == std::vector<std::string>{changed});
  // A host added at the end.
  CHECK(has_change(sluice::diff_configs(
                       before, load("", "host=127.0.0.2,127.0.0.3,127.0.0.4 port=15432,15433,1")),
                   changed));
  CHECK(has_change(sluice::diff_configs(before, load("", base + " load_balance_hosts=disable")),
                   changed));
  CHECK(has_change(
      sluice::diff_configs(before, load("", base + " target_session_attrs=read-write")), changed));
  // Spelling out the default target_session_attrs changes nothing that applies.
  CHECK(sluice::diff_configs(before, load("", base + " target_session_attrs=any")).changes.empty());

  // A new [sluice] default changes the entries that take it, not the one with its own value.
  const auto global =
      sluice::diff_configs(before, load("[sluice]\ntarget_session_attrs = read-write\n", base));
  CHECK(has_change(global, "target_session_attrs any -> read-write"));
  CHECK(has_change(global, changed));
  CHECK_FALSE(has_change(global, "database own changed"));
  CHECK(global.needs_restart.empty());
}

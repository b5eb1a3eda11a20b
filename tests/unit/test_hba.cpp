// auth_hba_file as pgbouncer reads it (netmask fields, lists with blanks, quoting, options)
// and auth_ident_file, the user name maps of map=.

#include <arpa/inet.h>

#include <string>

#include "catch.hpp"
#include "config_helpers.hpp"
#include "sluice/config.hpp"

namespace {

using sluice::config_error;

using config_test::expect_error;
using config_test::temp_dir;

sluice::hba_peer tcp(const char* db, const char* user, const char* ip) {
  sluice::hba_peer x;
  x.database = db;
  x.user = user;
  const bool v6 = std::string(ip).find(':') != std::string::npos;
  x.family = v6 ? AF_INET6 : AF_INET;
  REQUIRE(::inet_pton(x.family, ip, x.addr) == 1);
  return x;
}

int line_of(const sluice::hba_rules& rules, const sluice::hba_peer& x) {
  const sluice::hba_rule* r = sluice::match_hba(rules, x);
  return r ? r->line : 0;
}

const std::string ident_text =
    "# MAPNAME   SYSTEM-USERNAME      PG-USERNAME\n"
    "test        pgbouncer.acme.org   someuser\n"
    "test\tpgbouncer.acme.org\tanotheruser\n"
    "test2       \"bouncer\"          all\n"
    "test2       pgbouncer.acme.org   \"anotheruser\"  # a comment\n"
    "\n"
    "quoted      alice                \"all\"";  // no final newline; a quoted all is a name

}  // namespace

TEST_CASE("auth_hba_file: netmasks, lists with blanks, quoting, comments", "[config][hba]") {
  temp_dir d;
  const std::string p = d.write("hba.conf",
                                "host  db   all  127.0.0.0  255.255.255.0  password\n"
                                "host\ttmp,db2\tu1,u2 , u3\t\t16.0.0.0/8\tmd5\n"
                                "host  \"q1\"\"q2\"  \"a , b\"  19.0.0.0/8  cert\n"
                                "host  \"all\"  \"all\"  19.0.0.0/8  trust\n"
                                "host  mdb  muser  ff20::/12  md5\n"
                                "host  mdb  muser  10.1.2.3  trust  # a single host\n"
                                "host  mdb2 muser  128.0.0.0/1  cert\n"
                                " \t \n"
                                "\t# only a comment\n");
  const sluice::hba_rules rules = sluice::load_hba(p);
  REQUIRE(rules.size() == 7);
  CHECK(line_of(rules, tcp("db", "user", "127.0.0.2")) == 1);
  CHECK(line_of(rules, tcp("db", "user", "127.0.1.4")) == 0);  // outside the netmask
  CHECK(line_of(rules, tcp("db2", "u3", "16.0.0.1")) == 2);
  CHECK(line_of(rules, tcp("tmp", "u1", "16.0.0.1")) == 2);
  CHECK(line_of(rules, tcp("db2", "u4", "16.0.0.1")) == 0);
  CHECK(line_of(rules, tcp("q1\"q2", "a , b", "19.0.0.2")) == 3);
  CHECK(line_of(rules, tcp("db", "t19user", "19.0.0.2")) == 0);  // "all" quoted is a name
  CHECK(line_of(rules, tcp("all", "all", "19.0.0.2")) == 4);
  CHECK(line_of(rules, tcp("mdb", "muser", "ff22:3::1")) == 5);
  CHECK(line_of(rules, tcp("mdb", "muser", "10.1.2.3")) == 6);
  CHECK(line_of(rules, tcp("mdb", "muser", "10.1.2.4")) == 0);
  CHECK(line_of(rules, tcp("mdb2", "muser", "254.1.1.1")) == 7);
  CHECK(line_of(rules, tcp("mdb2", "muser", "127.1.1.1")) == 0);
}

TEST_CASE("auth_ident_file: maps, quoted names, all", "[config][hba]") {
  temp_dir d;
  const sluice::ident_maps maps = sluice::load_ident(d.write("ident.conf", ident_text));
  REQUIRE(maps.size() == 3);
  const auto& test = maps.at("test");
  REQUIRE(test.size() == 2);
  CHECK(test[1].system_user == "pgbouncer.acme.org");
  CHECK(test[1].db_user == "anotheruser");
  CHECK(test[1].line == 3);
  CHECK(sluice::ident_map_allows(test, "pgbouncer.acme.org", "someuser"));
  CHECK(sluice::ident_map_allows(test, "pgbouncer.acme.org", "anotheruser"));
  CHECK_FALSE(sluice::ident_map_allows(test, "pgbouncer.acme.org", "bouncer"));
  CHECK_FALSE(sluice::ident_map_allows(test, "bouncer", "someuser"));
  const auto& test2 = maps.at("test2");
  CHECK(sluice::ident_map_allows(test2, "bouncer", "someuser"));  // all
  CHECK(sluice::ident_map_allows(test2, "pgbouncer.acme.org", "anotheruser"));
  CHECK_FALSE(sluice::ident_map_allows(test2, "pgbouncer.acme.org", "someuser"));
  const auto& quoted = maps.at("quoted");
  CHECK(sluice::ident_map_allows(quoted, "alice", "all"));
  CHECK_FALSE(sluice::ident_map_allows(quoted, "alice", "bob"));

  const std::string bad = d.write("bad.conf",
                                  "m /^(.*)$ \\1\n"
                                  "m a b c\n"
                                  "m a,b c\n"
                                  "\"m\" a b\n"
                                  "m a +admins\n");
  const config_error e = expect_error([&] { sluice::load_ident(bad); });
  REQUIRE(e.all().size() == 5);
  CHECK(e.all()[0] == bad + ":1: regular expressions are not supported by sluice (nor pgbouncer)");
  CHECK(e.all()[1] ==
        bad + ":2: expected 3 fields (map name, system user name, database user name), found 4");
  CHECK(e.all()[2] == bad + ":3: a list is not allowed: \"a,b\"");
  CHECK(e.all()[3] == bad + ":4: invalid map name \"m\"");
  CHECK(e.all()[4].rfind(bad + ":5: regular expressions and +group roles", 0) == 0);
  CHECK_THAT(expect_error([&] { sluice::load_ident(d.path + "/absent"); }).what(),
             Catch::Contains("cannot read auth_ident_file"));
}

TEST_CASE("auth_hba_file: map= names a map of auth_ident_file", "[config][hba]") {
  temp_dir d;
  const sluice::ident_maps maps = sluice::load_ident(d.write("ident.conf", ident_text));
  const std::string p = d.write("hba.conf",
                                "hostssl p0y  all      0.0.0.0/0  cert  map=test2\n"
                                "hostssl p0x  all      0.0.0.0/0  cert  map=test\n"
                                "hostssl p0   bouncer  0.0.0.0/0  cert\n"
                                "local   all  all      peer  map=test2");
  const sluice::hba_rules rules = sluice::load_hba(p, &maps);
  REQUIRE(rules.size() == 4);
  CHECK(rules[0].map == "test2");
  CHECK(rules[0].map_entries.size() == 2);
  CHECK(rules[1].map == "test");
  CHECK(sluice::ident_map_allows(rules[1].map_entries, "pgbouncer.acme.org", "someuser"));
  CHECK(rules[2].map.empty());
  CHECK(rules[2].map_entries.empty());
  CHECK(rules[3].method == sluice::hba_rule::peer);
  CHECK(rules[3].map == "test2");

  // Without auth_ident_file, a map= is an error.
  CHECK_THAT(expect_error([&] { sluice::load_hba(p); }).what(),
             Catch::Contains("map=test2 needs auth_ident_file to be set"));

  const std::string bad = d.write("bad.conf",
                                  "hostssl all all 0.0.0.0/0 cert clientcert=verify-full\n"
                                  "local all all peer map=nosuch\n"
                                  "local all all peer map=test map=test\n"
                                  "host all all 10.0.0.0 255.0.0.0\n"
                                  "host \"all all 1.2.3.4/32 trust\n"
                                  "host all a,,b 1.2.3.4/32 trust\n"
                                  "local all all peer map=\n");
  const config_error e = expect_error([&] { sluice::load_hba(bad, &maps); });
  REQUIRE(e.all().size() == 7);
  CHECK(e.all()[0] ==
        bad + ":1: unsupported option \"clientcert=verify-full\" (only map= is supported)");
  CHECK(e.all()[1] == bad + ":2: ident map \"nosuch\" is not in auth_ident_file");
  CHECK(e.all()[2] == bad + ":3: map= is given twice");
  CHECK(e.all()[3] == bad + ":4: expected 6 fields for a \"host\" line with a netmask, found 5");
  CHECK(e.all()[4] == bad + ":5: unterminated quoted name");
  CHECK(e.all()[5] == bad + ":6: empty name in a list");
  CHECK(e.all()[6] == bad + ":7: map= needs a map name");
}

TEST_CASE("auth_ident_file is read with auth_hba_file when auth_type = hba", "[config][hba]") {
  temp_dir d;
  const std::string ident = d.write("ident.conf", ident_text);
  const std::string hba = d.write("hba.conf", "local all all peer map=test2\n");
  auto c =
      sluice::load_ini(d.write("p.ini", "[pgbouncer]\nauth_type = hba\nauth_hba_file = " + hba +
                                            "\nauth_ident_file = " + ident + "\n"));
  CHECK(c.auth_ident_file == ident);
  REQUIRE(c.hba != nullptr);
  REQUIRE(c.hba->size() == 1);
  CHECK(c.hba->front().map_entries.size() == 2);
  CHECK(c.unsupported.empty());
  // Not read unless auth_type = hba (as pgbouncer).
  auto t = sluice::load_ini(
      d.write("t.ini", "[pgbouncer]\nauth_type = trust\nauth_ident_file = " + d.path + "/no\n"));
  CHECK(t.hba == nullptr);
  // A map= without auth_ident_file fails the load.
  const config_error e = expect_error([&] {
    sluice::load_ini(
        d.write("u.ini", "[pgbouncer]\nauth_type = hba\nauth_hba_file = " + hba + "\n"));
  });
  CHECK_THAT(e.what(), Catch::Contains("map=test2 needs auth_ident_file to be set"));
}

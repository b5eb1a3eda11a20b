// The files around the configuration: the readers stop at a bound (a path that names a
// device or a runaway file is a config_error naming the file, not an endless read), and the
// userlist decodes its SCRAM secrets once, when it is read.
#include "catch.hpp"

#include "config_helpers.hpp"
#include "sluice/config.hpp"

using namespace sluice;
using config_test::temp_dir;

TEST_CASE("a config file without end is refused, not read forever", "[config]") {
  temp_dir d;
  const auto ini = d.write("p.ini", "[databases]\n%include /dev/zero\n[pgbouncer]\n");
  REQUIRE_THROWS_WITH(load_config(ini), Catch::Contains("/dev/zero") &&
                                            Catch::Contains("too large"));
  REQUIRE_THROWS_WITH(load_userlist("/dev/zero"),
                      Catch::Contains("cannot read auth_file") &&
                          Catch::Contains("too large"));
  REQUIRE_THROWS_AS(load_hba("/dev/zero"), config_error);
}

TEST_CASE("the userlist decodes its SCRAM secrets when it is read", "[config]") {
  temp_dir d;
  const std::string secret =
      "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
      ":wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
  const auto path = d.write("users.txt", "\"alice\" \"" + secret + "\"\n\"bob\" \"plain\"\n"
                                          "\"carol\" \"" + secret + "\"\n\"carol\" \"md5abc\"\n");
  const userlist u = load_userlist(path);
  const pgwire::scram_secret* a = u.find_scram("alice");
  REQUIRE(a != nullptr);
  CHECK(a->iterations == 4096);
  CHECK(a->salt.size() == 16);
  CHECK(u.find_scram("bob") == nullptr);    // plaintext: nothing to decode
  CHECK(u.find_scram("carol") == nullptr);  // a later line replaced the secret
  CHECK(*u.find("carol") == "md5abc");
}

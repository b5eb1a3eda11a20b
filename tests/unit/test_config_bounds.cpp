// The configuration readers stop at a bound: a path that names a device or a runaway file is
// a config_error naming the file, not an endless read that takes the process's memory.
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

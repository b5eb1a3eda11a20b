// Host lists and target_session_attrs, the decisions (pool/hosts.hpp): what a server's reported
// parameters say it is, which roles serve which attrs, the order hosts are tried in.
#include "catch.hpp"
#include "pool/hosts.hpp"

using sluice::session_attrs;
using sluice::server_role;

namespace {

server_role role(bool standby, bool read_only) { return server_role{true, standby, read_only}; }
const server_role primary = role(false, false), standby = role(true, true),
                  read_only_primary = role(false, true), unknown{};

}  // namespace

TEST_CASE("hosts: the role from in_hot_standby and default_transaction_read_only", "[pool]") {
  sluice::param_map p{{"in_hot_standby", "off"}, {"default_transaction_read_only", "off"}};
  CHECK(sluice::role_from_params(p) == primary);
  CHECK(sluice::role_from_params(p).name() == "primary");
  p["in_hot_standby"] = "on";
  p["default_transaction_read_only"] = "on";  // a standby reports both
  CHECK(sluice::role_from_params(p).name() == "standby");
  p["in_hot_standby"] = "off";  // pg_auto_failover's draining or just-promoted primary
  CHECK(sluice::role_from_params(p) == read_only_primary);
  CHECK(sluice::role_from_params(p).name() == "read-only");
  // PostgreSQL 13 and older report neither: unknown, to be asked with role_query.
  CHECK_FALSE(sluice::role_from_params({{"default_transaction_read_only", "off"}}).known);
  CHECK_FALSE(sluice::role_from_params({}).known);
  CHECK(sluice::role_from_query("t", "f") == role(true, false));
  CHECK(sluice::role_from_query("f", "f") == primary);
}

TEST_CASE("hosts: which roles serve which target_session_attrs (libpq 14)", "[pool]") {
  using sluice::role_suits;
  CHECK(role_suits(session_attrs::any, unknown));
  CHECK(role_suits(session_attrs::any, standby));

  CHECK(role_suits(session_attrs::read_write, primary));
  CHECK_FALSE(role_suits(session_attrs::read_write, standby));
  CHECK_FALSE(role_suits(session_attrs::read_write, read_only_primary));
  CHECK_FALSE(role_suits(session_attrs::read_write, unknown));

  CHECK(role_suits(session_attrs::read_only, standby));
  CHECK(role_suits(session_attrs::read_only, read_only_primary));
  CHECK_FALSE(role_suits(session_attrs::read_only, primary));

  CHECK(role_suits(session_attrs::primary, primary));
  CHECK(role_suits(session_attrs::primary, read_only_primary));
  CHECK_FALSE(role_suits(session_attrs::primary, standby));

  CHECK(role_suits(session_attrs::standby, standby));
  CHECK_FALSE(role_suits(session_attrs::standby, primary));

  // prefer-standby: standbys on the first pass, anything on the second.
  CHECK(role_suits(session_attrs::prefer_standby, standby, true));
  CHECK_FALSE(role_suits(session_attrs::prefer_standby, primary, true));
  CHECK(role_suits(session_attrs::prefer_standby, primary, false));
  CHECK(sluice::passes(session_attrs::prefer_standby) == 2);
  CHECK(sluice::passes(session_attrs::read_write) == 1);
}

TEST_CASE("hosts: the order a new connection tries the list in", "[pool]") {
  using V = std::vector<std::size_t>;
  CHECK(sluice::host_order(3, 0) == V{0, 1, 2});
  CHECK(sluice::host_order(3, 1) == V{1, 2, 0});
  CHECK(sluice::host_order(3, 5) == V{2, 0, 1});
  CHECK(sluice::host_order(1, 7) == V{0});
}

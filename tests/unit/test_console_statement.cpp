// The console's statement grammar (admin/statement.hpp): what a Query on the `pgbouncer`
// database is split into before any command runs.
#include "catch.hpp"

#include "admin/statement.hpp"

using namespace sluice;

TEST_CASE("console statements: verb, subject and argument", "[console]") {
  std::string verb, what, arg;
  REQUIRE(parse_admin_statement("  show   pools ; ", verb, what, arg));
  CHECK(verb == "SHOW");
  CHECK(what == "POOLS");
  CHECK(arg == ";");
  REQUIRE(parse_admin_statement("select version", verb, what, arg));
  CHECK((verb == "SHOW" && what == "VERSION" && arg.empty()));
  REQUIRE(parse_admin_statement("pause \"my db\"", verb, what, arg));
  CHECK((verb == "PAUSE" && what.empty() && arg == "\"my db\""));
  REQUIRE(parse_admin_statement("set default_pool_size=5", verb, what, arg));
  CHECK((verb == "SET" && arg == "default_pool_size=5"));
  CHECK_FALSE(parse_admin_statement("", verb, what, arg));
  CHECK_FALSE(parse_admin_statement("   ", verb, what, arg));
  CHECK_FALSE(parse_admin_statement("show", verb, what, arg));
  CHECK_FALSE(parse_admin_statement("pause(bench)", verb, what, arg));
  CHECK_FALSE(parse_admin_statement("(select 1)", verb, what, arg));
}

TEST_CASE("console arguments: a word or a quoted name", "[console]") {
  std::string out;
  CHECK((parse_one_arg("", out) && out.empty()));
  CHECK((parse_one_arg("bench_1", out) && out == "bench_1"));
  CHECK((parse_one_arg("\"a \"\"b\"\"\"", out) && out == "a \"b\""));
  CHECK_FALSE(parse_one_arg("bench; drop", out));
  CHECK_FALSE(parse_one_arg("\"open", out));
  CHECK_FALSE(parse_one_arg("\"a\" b", out));
  CHECK_FALSE(parse_one_arg("\"", out));
}

TEST_CASE("SET arguments: key = value, key TO value, quoted values", "[console]") {
  std::string k, v;
  CHECK(parse_set_args("Default_Pool_Size = 7", k, v) == set_syntax::ok);
  CHECK((k == "default_pool_size" && v == "7"));
  CHECK(parse_set_args("log_connections to 0;", k, v) == set_syntax::ok);
  CHECK((k == "log_connections" && v == "0"));
  CHECK(parse_set_args("server_reset_query = 'DISCARD ALL; SELECT ''x'''", k, v) == set_syntax::ok);
  CHECK((k == "server_reset_query" && v == "DISCARD ALL; SELECT 'x'"));
  CHECK(parse_set_args("x", k, v) == set_syntax::not_set);
  CHECK(parse_set_args("x 5", k, v) == set_syntax::not_set);
  CHECK(parse_set_args("x = ", k, v) == set_syntax::bad_value);
  CHECK(parse_set_args("= 5", k, v) == set_syntax::bad_value);
  CHECK(parse_set_args("x = a b", k, v) == set_syntax::bad_value);
  CHECK(parse_set_args("x = 'open", k, v) == set_syntax::bad_value);
  CHECK(parse_set_args("x = 'a' 'b'", k, v) == set_syntax::bad_value);
}

TEST_CASE("KILL_CLIENT ids: decimal digits and nothing else", "[console]") {
  unsigned long long id = 0;
  CHECK((parse_client_id("42", id) && id == 42));
  CHECK_FALSE(parse_client_id("", id));
  CHECK_FALSE(parse_client_id("-1", id));
  CHECK_FALSE(parse_client_id("12x", id));
  CHECK_FALSE(parse_client_id("99999999999999999999999", id));
  CHECK_FALSE(parse_client_id(" 1", id));
}

// The startup packet's `options` parameter (pool/params.hpp): pgbouncer's "-c name=value" and
// "--name=value" items, backslash escapes, and every malformed shape refused (none loops).
#include <string>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "pool/params.hpp"

namespace {

using pairs = std::vector<std::pair<std::string, std::string>>;

bool parse(std::string_view s, pairs& out) {
  out.clear();
  return sluice::parse_startup_options(s, out);
}

}  // namespace

TEST_CASE("startup options: -c and -- items, spaces and escapes", "[params]") {
  pairs p;
  REQUIRE(parse("  -c    datestyle=German,\\ YMD", p));
  CHECK(p == pairs{{"datestyle", "German, YMD"}});
  REQUIRE(parse("-c timezone=Europe/Lisbon  -c    datestyle=German,\\ YMD", p));
  CHECK(p == pairs{{"timezone", "Europe/Lisbon"}, {"datestyle", "German, YMD"}});
  REQUIRE(parse("-ctimezone=Europe/Lisbon  -cdatestyle=ISO", p));
  CHECK(p == pairs{{"timezone", "Europe/Lisbon"}, {"datestyle", "ISO"}});
  REQUIRE(parse("--search_path=a\\,b --x=", p));
  CHECK(p == pairs{{"search_path", "a,b"}, {"x", ""}});
  REQUIRE(parse("", p));
  CHECK(p.empty());
  REQUIRE(parse("   \t ", p));
  CHECK(p.empty());
}

TEST_CASE("startup options: malformed shapes are refused", "[params]") {
  pairs p;
  for (const char* bad : {"-c", "-c ", "-c=", "-c =x", "--", "--=", "-c x", "x=1", "-d x=1",
                          "-c a=1 junk", "-c \\", "-", "--a", "-c a=1 -c"}) {
    INFO(bad);
    CHECK_FALSE(parse(bad, p));
  }
}

TEST_CASE("startup options: every byte string ends (no endless loop)", "[params]") {
  // Short strings over the characters the parser treats specially, exhaustively.
  const std::string alphabet = "-c= \\a";
  std::vector<std::string> cur{""};
  pairs p;
  for (int len = 1; len <= 6; ++len) {
    std::vector<std::string> next;
    for (const auto& s : cur)
      for (char ch : alphabet) next.push_back(s + ch);
    for (const auto& s : next) (void)parse(s, p);  // returns, true or false
    cur = std::move(next);
  }
  SUCCEED("all 6^1 .. 6^6 strings parsed");
}

TEST_CASE("tracked parameters are replayed as literals, search_path as a list", "[params]") {
  using sluice::set_statement;
  CHECK(set_statement("DateStyle", "ISO") == "SET DateStyle='ISO';");
  CHECK(set_statement("application_name", "it's") == "SET application_name='it''s';");
  // A backslash: an escape string, whatever standard_conforming_strings says.
  CHECK(set_statement("application_name", "a\\b") == "SET application_name=E'a\\\\b';");
  // Nothing a client sends leaves the literal.
  CHECK(set_statement("TimeZone", "UTC'; DROP TABLE t; --") ==
        "SET TimeZone='UTC''; DROP TABLE t; --';");
  // search_path as PostgreSQL reports it, and as a client may spell it.
  CHECK(set_statement("search_path", "\"$user\", public") ==
        "SET search_path='$user', 'public';");
  CHECK(set_statement("search_path", "a,public") == "SET search_path='a', 'public';");
  CHECK(set_statement("search_path", " Sales , \"Mixed Case\",\"q\"\"uote\" ") ==
        "SET search_path='sales', 'Mixed Case', 'q\"uote';");
  CHECK(set_statement("search_path", "\"\"") == "SET search_path='';");
  CHECK(set_statement("search_path", "") == "SET search_path='';");
  CHECK(set_statement("search_path", "a;drop table t") ==
        "SET search_path='a;drop table t';");
  // Not a list (an open quote, an empty element): one literal, one schema name.
  CHECK(set_statement("search_path", "\"open, public") == "SET search_path='\"open, public';");
  CHECK(set_statement("search_path", "a,,b") == "SET search_path='a,,b';");
}

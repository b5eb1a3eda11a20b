// LISTEN / UNLISTEN statements found in client SQL (pool/listen_sql.hpp).
#include <string>
#include <vector>

#include "catch.hpp"
#include "pool/listen_sql.hpp"

using sluice::listen_op;
using sluice::listen_ops;

namespace {
listen_op L(std::string c) { return {listen_op::listen, std::move(c)}; }
listen_op U(std::string c) { return {listen_op::unlisten, std::move(c)}; }
listen_op U_all() { return {listen_op::unlisten_all, {}}; }
}  // namespace

TEST_CASE("listen_ops: statements, names and case as PostgreSQL reads them") {
  CHECK(listen_ops("select 1").empty());
  CHECK(listen_ops("LISTEN events") == std::vector{L("events")});
  CHECK(listen_ops("  listen Events ;") == std::vector{L("events")});  // folded
  CHECK(listen_ops("LISTEN \"Mixed Case\"\"q\"") == std::vector{L("Mixed Case\"q")});
  CHECK(listen_ops("unlisten ch1") == std::vector{U("ch1")});
  CHECK(listen_ops("UNLISTEN *") == std::vector{U_all()});
  CHECK(listen_ops("begin; listen a; select 'listen b'; listen \"b\"; commit") ==
        std::vector{L("a"), L("b")});
  CHECK(listen_ops("/* listen x */ listen y -- listen z\n; unlisten y") ==
        std::vector{L("y"), U("y")});
  CHECK(listen_ops("select $$ ; listen q; $$; listen r") == std::vector{L("r")});
  CHECK(listen_ops("select $tag$ listen q $tag$").empty());
  CHECK(listen_ops("select 1 as listen").empty());      // not the first word
  CHECK(listen_ops("listen").empty());                  // no name: PostgreSQL refuses it
  CHECK(listen_ops("listen a b").empty());              // neither
  CHECK(listen_ops("listen *").empty());                // only UNLISTEN takes *
  CHECK(listen_ops("/* /* nested */ listen no */ listen yes") == std::vector{L("yes")});
  CHECK(listen_ops("listen \"unterminated").empty());
  CHECK(listen_ops("listen \"\"").empty());  // a zero-length name: PostgreSQL refuses it
}

TEST_CASE("quote_channel doubles quotes") {
  CHECK(sluice::quote_channel("ev") == "\"ev\"");
  CHECK(sluice::quote_channel("a\"b") == "\"a\"\"b\"");
}

TEST_CASE("contains_listen finds the word in any case, anywhere") {
  CHECK(sluice::contains_listen("LISTEN x"));
  CHECK(sluice::contains_listen("select 1; lIsTeN"));
  CHECK(sluice::contains_listen(std::string(100000, 'L') + "listen"));
  CHECK_FALSE(sluice::contains_listen("liste"));
  CHECK_FALSE(sluice::contains_listen(std::string(100000, 'l')));
  CHECK_FALSE(sluice::contains_listen(""));
}

// Unit tests of statement names in frontend messages: where Parse, Bind, Describe and Close
// name a statement, renaming it with the rest of the message unchanged, and the key that
// lets equal statements share one server-side statement.

#include <string>

#include "catch.hpp"
#include "pgwire/messages.hpp"
#include "pgwire/statements.hpp"
#include "wire_helpers.hpp"

using pgwire::errc;
using wire::body;
using wire::bytes;

namespace {

/// The single message `m` with its statement renamed to `to`.
bytes renamed(const bytes& m, std::string_view to, std::string_view expect_from) {
  const pgwire::frame f = wire::frame_whole(m);
  pgwire::statement_ref ref;
  REQUIRE(pgwire::find_statement(f, ref) == errc::ok);
  REQUIRE(ref.present);
  CHECK(ref.name == expect_from);
  bytes out;
  pgwire::write_renamed(out, f, ref, to);
  return out;
}

}  // namespace

TEST_CASE("statements: Parse is renamed, query and parameter types kept", "[statements]") {
  const bytes in = wire::msg('P', body{}.cstr("s1").cstr("SELECT $1").i16(1).i32(23));
  const bytes out = renamed(in, "sluice_7", "s1");
  CHECK(out == wire::msg('P', body{}.cstr("sluice_7").cstr("SELECT $1").i16(1).i32(23)));
  pgwire::parse_msg m;
  REQUIRE(pgwire::decode(wire::frame_whole(out), m) == errc::ok);
  CHECK(m.name == "sluice_7");
  CHECK(m.sql == "SELECT $1");
  CHECK(m.nparams == 1);
  // The unnamed statement is a statement too: its name is empty.
  const bytes unnamed = wire::msg('P', body{}.cstr("").cstr("SELECT 1").i16(0));
  CHECK(renamed(unnamed, "x", "") == wire::msg('P', body{}.cstr("x").cstr("SELECT 1").i16(0)));
}

TEST_CASE("statements: Bind renames the statement, not the portal", "[statements]") {
  const bytes in = wire::msg('B', body{}.cstr("p1").cstr("s1").i16(1).i16(0).i16(2).i32(1).raw("7")
                                      .i32(-1).i16(1).i16(1));
  const bytes out = renamed(in, "sluice_42", "s1");
  CHECK(out == wire::msg('B', body{}.cstr("p1").cstr("sluice_42").i16(1).i16(0).i16(2).i32(1)
                                  .raw("7").i32(-1).i16(1).i16(1)));
  pgwire::bind_msg m;
  REQUIRE(pgwire::decode(wire::frame_whole(out), m) == errc::ok);
  CHECK(m.portal == "p1");
  CHECK(m.statement == "sluice_42");
  CHECK(m.nparams == 2);
  CHECK(m.nresult_formats == 1);
}

TEST_CASE("statements: Describe and Close of a statement, not of a portal", "[statements]") {
  CHECK(renamed(wire::msg('D', body{}.u8('S').cstr("s1")), "n", "s1") ==
        wire::msg('D', body{}.u8('S').cstr("n")));
  CHECK(renamed(wire::msg('C', body{}.u8('S').cstr("s1")), "n", "s1") ==
        wire::msg('C', body{}.u8('S').cstr("n")));
  for (char tag : {'D', 'C'}) {
    pgwire::statement_ref ref;
    const bytes portal = wire::msg(tag, body{}.u8('P').cstr("p1"));
    CHECK(pgwire::find_statement(wire::frame_whole(portal), ref) == errc::ok);
    CHECK_FALSE(ref.present);
    const bytes bad_kind = wire::msg(tag, body{}.u8('X').cstr("p1"));
    CHECK(pgwire::find_statement(wire::frame_whole(bad_kind), ref) == errc::bad_field);
  }
}

TEST_CASE("statements: other messages name no statement", "[statements]") {
  pgwire::statement_ref ref;
  for (const bytes& m : {wire::msg('Q', body{}.cstr("SELECT 1")), wire::msg('E', body{}.cstr("").i32(0)),
                         wire::msg('S', body{}), wire::msg('H', body{})}) {
    CHECK(pgwire::find_statement(wire::frame_whole(m), ref) == errc::ok);
    CHECK_FALSE(ref.present);
  }
}

TEST_CASE("statements: a name without its NUL is truncated, at every cut", "[statements]") {
  const bytes full[] = {wire::msg('P', body{}.cstr("stmt").cstr("SELECT 1").i16(0)),
                        wire::msg('B', body{}.cstr("portal").cstr("stmt").i16(0).i16(0).i16(0)),
                        wire::msg('D', body{}.u8('S').cstr("stmt")),
                        wire::msg('C', body{}.u8('S').cstr("stmt"))};
  for (const bytes& m : full) {
    const pgwire::frame whole = wire::frame_whole(m);
    pgwire::statement_ref ref;
    REQUIRE(pgwire::find_statement(whole, ref) == errc::ok);
    const std::size_t name_end = ref.offset + ref.name.size() + 1;
    // Every body cut before the name's NUL fails; from the NUL on, the name is found.
    for (std::size_t cut = 0; cut < whole.body.size(); ++cut) {
      pgwire::frame f = whole;
      f.body = whole.body.subspan(0, cut);
      INFO("tag " << whole.tag << " cut " << cut);
      CHECK(pgwire::find_statement(f, ref) == (cut < name_end ? errc::truncated : errc::ok));
    }
  }
}

TEST_CASE("statements: renaming appends after what the buffer holds", "[statements]") {
  const bytes parse = wire::msg('P', body{}.cstr("a").cstr("SELECT 1").i16(0));
  const bytes bind = wire::msg('B', body{}.cstr("").cstr("a").i16(0).i16(0).i16(0));
  bytes out = {0xAA};
  for (const bytes* m : {&parse, &bind}) {
    const pgwire::frame f = wire::frame_whole(*m);
    pgwire::statement_ref ref;
    REQUIRE(pgwire::find_statement(f, ref) == errc::ok);
    pgwire::write_renamed(out, f, ref, "longer_name");
  }
  const bytes expected = wire::cat(
      wire::cat(bytes{0xAA}, wire::msg('P', body{}.cstr("longer_name").cstr("SELECT 1").i16(0))),
      wire::msg('B', body{}.cstr("").cstr("longer_name").i16(0).i16(0).i16(0)));
  CHECK(out == expected);
}

TEST_CASE("statements: equal text and types make one key, anything else another",
          "[statements]") {
  auto key = [](const bytes& m) {
    pgwire::parse_msg p;
    REQUIRE(pgwire::decode(wire::frame_whole(m), p) == errc::ok);
    return pgwire::statement_key(p);
  };
  const std::string a = key(wire::msg('P', body{}.cstr("s1").cstr("SELECT $1").i16(1).i32(23)));
  // The client's name is not part of the statement.
  CHECK(a == key(wire::msg('P', body{}.cstr("other").cstr("SELECT $1").i16(1).i32(23))));
  CHECK(a != key(wire::msg('P', body{}.cstr("s1").cstr("SELECT $1").i16(1).i32(25))));
  CHECK(a != key(wire::msg('P', body{}.cstr("s1").cstr("SELECT $1").i16(0))));
  CHECK(a != key(wire::msg('P', body{}.cstr("s1").cstr("SELECT $2").i16(1).i32(23))));
}

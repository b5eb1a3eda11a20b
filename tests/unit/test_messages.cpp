// Unit tests of the message decoders. Input bytes are assembled by hand (wire_helpers.hpp),
// never with pgwire's writers.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catch.hpp"
#include "pgwire/framer.hpp"
#include "pgwire/messages.hpp"
#include "wire_helpers.hpp"

using pgwire::errc;
using pgwire::frame_status;
using wire::body;
using wire::bytes;

namespace {

/// Frames and decodes a startup-phase packet occupying all of `m`.
errc decode_startup_bytes(const bytes& m, pgwire::startup_packet& out) {
  const pgwire::frame f = wire::frame_whole_startup(m);
  return pgwire::decode_startup(f, out);
}

}  // namespace

// =============================================================== body_reader

TEST_CASE("body_reader reads fields in order and never past the end", "[messages][reader]") {
  const bytes b = body{}.u8(7).i16(-2).i32(-5).cstr("hi").raw("xyz").b;
  pgwire::body_reader r(b);
  std::uint8_t u8 = 0;
  std::int16_t i16 = 0;
  std::int32_t i32 = 0;
  std::string_view s;
  pgwire::bytes_view v;
  REQUIRE(r.u8(u8));
  CHECK(u8 == 7);
  REQUIRE(r.i16(i16));
  CHECK(i16 == -2);
  REQUIRE(r.i32(i32));
  CHECK(i32 == -5);
  REQUIRE(r.cstr(s));
  CHECK(s == "hi");
  CHECK(r.remaining() == 3);
  CHECK_FALSE(r.bytes(4, v));
  CHECK(r.remaining() == 3);
  CHECK_FALSE(r.cstr(s));  // no NUL in what is left
  CHECK(r.remaining() == 3);
  CHECK_FALSE(r.i32(i32));
  REQUIRE(r.bytes(1, v));
  CHECK(wire::str(v) == "x");
  CHECK_FALSE(r.done());
  CHECK(wire::str(r.rest()) == "yz");
  CHECK(r.done());
  CHECK_FALSE(r.u8(u8));
  CHECK_FALSE(r.i16(i16));
  CHECK_FALSE(r.cstr(s));
  CHECK(r.rest().empty());

  pgwire::body_reader empty{pgwire::bytes_view{}};
  CHECK(empty.done());
  CHECK_FALSE(empty.cstr(s));
  CHECK_FALSE(empty.u8(u8));
  CHECK(empty.bytes(0, v));
}

// =============================================================== startup phase

TEST_CASE("decode StartupMessage 3.0", "[messages][startup]") {
  const bytes b = body{}
                      .u32(pgwire::protocol_3_0)
                      .cstr("user")
                      .cstr("alice")
                      .cstr("database")
                      .cstr("shop")
                      .cstr("application_name")
                      .cstr("")
                      .cstr("options")
                      .cstr("-c search_path=x")
                      .u8(0)
                      .b;
  const bytes m = wire::startup(b);
  wire::check_every_split_startup(m);

  pgwire::startup_packet p;
  REQUIRE(decode_startup_bytes(m, p) == errc::ok);
  CHECK(p.kind == pgwire::startup_kind::startup);
  CHECK(p.startup.version == 196608u);
  REQUIRE(p.startup.params.size() == 4);
  CHECK(p.startup.params[0] == std::make_pair(std::string_view("user"), std::string_view("alice")));
  CHECK(p.startup.params[1] == std::make_pair(std::string_view("database"), std::string_view("shop")));
  CHECK(p.startup.params[2].first == "application_name");
  CHECK(p.startup.params[2].second.empty());
  CHECK(p.startup.params[3].second == "-c search_path=x");
  CHECK(p.startup.get("user") == "alice");
  CHECK(p.startup.get("database") == "shop");
  CHECK(p.startup.get("options") == "-c search_path=x");
  CHECK(p.startup.get("missing").empty());

  SECTION("decoding again replaces the parameters") {
    const bytes m2 = wire::startup(body{}.u32(pgwire::protocol_3_0).cstr("user").cstr("bob").u8(0));
    REQUIRE(decode_startup_bytes(m2, p) == errc::ok);
    REQUIRE(p.startup.params.size() == 1);
    CHECK(p.startup.get("user") == "bob");
  }
  SECTION("no parameters at all") {
    const bytes m2 = wire::startup(body{}.u32(pgwire::protocol_3_0).u8(0));
    REQUIRE(decode_startup_bytes(m2, p) == errc::ok);
    CHECK(p.startup.params.empty());
  }
  SECTION("minor versions of 3 are accepted") {
    const bytes m2 = wire::startup(body{}.u32((3u << 16) | 2u).cstr("user").cstr("u").u8(0));
    REQUIRE(decode_startup_bytes(m2, p) == errc::ok);
    CHECK(p.startup.version == ((3u << 16) | 2u));
  }
  SECTION("every cut of the body is truncated") {
    for (std::size_t k = 4; k < b.size(); ++k) {
      CAPTURE(k);
      const bytes cut = wire::startup(wire::prefix(b, k));
      pgwire::startup_packet q;
      CHECK(decode_startup_bytes(cut, q) == errc::truncated);
    }
  }
  SECTION("bytes after the terminator") {
    const bytes extra = wire::startup(wire::cat(b, bytes{'x'}));
    CHECK(decode_startup_bytes(extra, p) == errc::trailing_bytes);
  }
  SECTION("two packets in one buffer") {
    const bytes two = wire::cat(m, m);
    const auto r1 = pgwire::frame_startup(two);
    REQUIRE(r1.status == frame_status::message);
    REQUIRE(r1.msg.size == m.size());
    const auto r2 = pgwire::frame_startup(pgwire::bytes_view(two).subspan(r1.msg.size));
    REQUIRE(r2.status == frame_status::message);
    pgwire::startup_packet q;
    REQUIRE(pgwire::decode_startup(r2.msg, q) == errc::ok);
    CHECK(q.startup.get("database") == "shop");
  }
}

TEST_CASE("decode StartupMessage with an unsupported protocol version", "[messages][startup]") {
  for (std::uint32_t v : {2u << 16, 1u << 16, 4u << 16, 0u, 1234u << 16, 0xFFFFFFFFu}) {
    CAPTURE(v);
    const bytes m = wire::startup(body{}.u32(v).cstr("user").cstr("u").u8(0));
    pgwire::startup_packet p;
    CHECK(decode_startup_bytes(m, p) == errc::unsupported_protocol);
  }
}

TEST_CASE("decode SSLRequest", "[messages][startup]") {
  const bytes m = {0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F};
  wire::check_every_split_startup(m);
  pgwire::startup_packet p;
  REQUIRE(decode_startup_bytes(m, p) == errc::ok);
  CHECK(p.kind == pgwire::startup_kind::ssl_request);
  const bytes extra = wire::startup(body{}.u32(pgwire::ssl_request_code).u8(0).b);
  CHECK(decode_startup_bytes(extra, p) == errc::trailing_bytes);
}

TEST_CASE("decode GSSENCRequest", "[messages][startup]") {
  const bytes m = {0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x30};
  wire::check_every_split_startup(m);
  pgwire::startup_packet p;
  REQUIRE(decode_startup_bytes(m, p) == errc::ok);
  CHECK(p.kind == pgwire::startup_kind::gssenc_request);
  const bytes extra = wire::startup(body{}.u32(pgwire::gssenc_request_code).i32(0).b);
  CHECK(decode_startup_bytes(extra, p) == errc::trailing_bytes);
}

TEST_CASE("decode CancelRequest", "[messages][startup]") {
  const bytes m = {0, 0, 0, 16, 0x04, 0xD2, 0x16, 0x2E, 0x00, 0x00, 0x30, 0x39,
                   0xDE, 0xAD, 0xBE, 0xEF};
  wire::check_every_split_startup(m);
  pgwire::startup_packet p;
  REQUIRE(decode_startup_bytes(m, p) == errc::ok);
  CHECK(p.kind == pgwire::startup_kind::cancel);
  CHECK(p.cancel.pid == 12345u);
  CHECK(p.cancel.secret == 0xDEADBEEFu);

  const bytes no_secret = wire::startup(body{}.u32(pgwire::cancel_request_code).u32(12345).b);
  CHECK(decode_startup_bytes(no_secret, p) == errc::truncated);
  const bytes half_secret =
      wire::startup(body{}.u32(pgwire::cancel_request_code).u32(12345).i16(1).b);
  CHECK(decode_startup_bytes(half_secret, p) == errc::truncated);
  const bytes extra =
      wire::startup(body{}.u32(pgwire::cancel_request_code).u32(1).u32(2).u8(0).b);
  CHECK(decode_startup_bytes(extra, p) == errc::trailing_bytes);
}

// =============================================================== frontend

TEST_CASE("decode Query", "[messages][frontend]") {
  const bytes b = body{}.cstr("SELECT 1; SELECT 'ü'").b;
  const bytes m = wire::msg('Q', b);
  REQUIRE(m[0] == 'Q');
  REQUIRE(pgwire::load_be32(m.data() + 1) == b.size() + 4);
  wire::check_every_split(m);
  pgwire::query_msg q;
  REQUIRE(wire::decode_bytes(m, q) == errc::ok);
  CHECK(q.sql == "SELECT 1; SELECT 'ü'");
  CHECK(reinterpret_cast<const std::uint8_t*>(q.sql.data()) == m.data() + 5);  // a view
  wire::check_two_in_a_row<pgwire::query_msg>(m, [](const pgwire::query_msg& x) {
    CHECK(x.sql == "SELECT 1; SELECT 'ü'");
  });
  wire::check_body_prefixes_rejected<pgwire::query_msg>('Q', b);
  wire::check_trailing_and_tag<pgwire::query_msg>('Q', b, 'P');
  // Empty query string is valid.
  const bytes empty = wire::msg('Q', bytes{0});
  REQUIRE(wire::decode_bytes(empty, q) == errc::ok);
  CHECK(q.sql.empty());
}

TEST_CASE("decode Parse", "[messages][frontend]") {
  const bytes b = body{}.cstr("stmt1").cstr("SELECT $1::int, $2").i16(2).i32(23).i32(-1).b;
  const bytes m = wire::msg('P', b);
  wire::check_every_split(m);
  auto check = [](const pgwire::parse_msg& p) {
    CHECK(p.name == "stmt1");
    CHECK(p.sql == "SELECT $1::int, $2");
    CHECK(p.nparams == 2);
    CHECK(wire::i32s(p.param_oids) == std::vector<std::int32_t>{23, -1});
    CHECK(p.param_oids.size() == 8);
  };
  pgwire::parse_msg p;
  REQUIRE(wire::decode_bytes(m, p) == errc::ok);
  check(p);
  wire::check_two_in_a_row<pgwire::parse_msg>(m, check);
  wire::check_body_prefixes_rejected<pgwire::parse_msg>('P', b);
  wire::check_trailing_and_tag<pgwire::parse_msg>('P', b, 'B');

  SECTION("missing parameter count") {
    const bytes cut = wire::msg('P', body{}.cstr("").cstr("SELECT 1").b);
    CHECK(wire::decode_bytes(cut, p) == errc::truncated);
  }
  SECTION("more parameter types announced than present") {
    const bytes cut = wire::msg('P', body{}.cstr("").cstr("SELECT $1").i16(3).i32(23).i32(25).b);
    CHECK(wire::decode_bytes(cut, p) == errc::truncated);
  }
  SECTION("negative parameter count") {
    const bytes bad = wire::msg('P', body{}.cstr("").cstr("SELECT 1").i16(-1).b);
    CHECK(wire::decode_bytes(bad, p) == errc::bad_field);
  }
  SECTION("no parameters, unnamed statement") {
    const bytes ok = wire::msg('P', body{}.cstr("").cstr("SELECT 1").i16(0).b);
    REQUIRE(wire::decode_bytes(ok, p) == errc::ok);
    CHECK(p.name.empty());
    CHECK(p.nparams == 0);
    CHECK(p.param_oids.empty());
  }
}

TEST_CASE("decode Bind", "[messages][frontend]") {
  // portal "p1", statement "s1", formats [1, 0], params ["42", NULL, ""], result formats [1]
  const bytes b = body{}
                      .cstr("p1")
                      .cstr("s1")
                      .i16(2)
                      .i16(1)
                      .i16(0)
                      .i16(3)
                      .i32(2)
                      .raw("42")
                      .i32(-1)
                      .i32(0)
                      .i16(1)
                      .i16(1)
                      .b;
  const bytes m = wire::msg('B', b);
  wire::check_every_split(m);
  auto check = [](const pgwire::bind_msg& x) {
    CHECK(x.portal == "p1");
    CHECK(x.statement == "s1");
    CHECK(x.nformats == 2);
    CHECK(wire::i16s(x.formats) == std::vector<std::int16_t>{1, 0});
    CHECK(x.nparams == 3);
    CHECK(wire::vec(x.params) == body{}.i32(2).raw("42").i32(-1).i32(0).b);
    CHECK(x.nresult_formats == 1);
    CHECK(wire::i16s(x.result_formats) == std::vector<std::int16_t>{1});
  };
  pgwire::bind_msg x;
  REQUIRE(wire::decode_bytes(m, x) == errc::ok);
  check(x);
  wire::check_two_in_a_row<pgwire::bind_msg>(m, check);
  wire::check_body_prefixes_rejected<pgwire::bind_msg>('B', b);
  wire::check_trailing_and_tag<pgwire::bind_msg>('B', b, 'P');

  SECTION("more parameters announced than present") {
    const bytes cut =
        wire::msg('B', body{}.cstr("").cstr("").i16(0).i16(2).i32(1).raw("x").i16(0).b);
    CHECK(wire::decode_bytes(cut, x) == errc::truncated);
  }
  SECTION("parameter length beyond the body") {
    const bytes cut = wire::msg('B', body{}.cstr("").cstr("").i16(0).i16(1).i32(100).raw("x").i16(0).b);
    CHECK(wire::decode_bytes(cut, x) == errc::truncated);
  }
  SECTION("parameter length below -1") {
    const bytes bad = wire::msg('B', body{}.cstr("").cstr("").i16(0).i16(1).i32(-2).i16(0).b);
    const auto e = wire::decode_bytes(bad, x);
    CHECK((e == errc::bad_field || e == errc::truncated));
  }
  SECTION("negative counts") {
    const bytes f = wire::msg('B', body{}.cstr("").cstr("").i16(-1).i16(0).i16(0).b);
    CHECK(wire::decode_bytes(f, x) == errc::bad_field);
    const bytes p = wire::msg('B', body{}.cstr("").cstr("").i16(0).i16(-1).i16(0).b);
    CHECK(wire::decode_bytes(p, x) == errc::bad_field);
    const bytes r = wire::msg('B', body{}.cstr("").cstr("").i16(0).i16(0).i16(-1).b);
    CHECK(wire::decode_bytes(r, x) == errc::bad_field);
  }
  SECTION("more formats announced than present") {
    const bytes cut = wire::msg('B', body{}.cstr("").cstr("").i16(5).i16(0).i16(0).b);
    CHECK(wire::decode_bytes(cut, x) == errc::truncated);
  }
  SECTION("minimal Bind") {
    const bytes ok = wire::msg('B', body{}.cstr("").cstr("").i16(0).i16(0).i16(0).b);
    REQUIRE(wire::decode_bytes(ok, x) == errc::ok);
    CHECK(x.portal.empty());
    CHECK(x.statement.empty());
    CHECK(x.nformats == 0);
    CHECK(x.formats.empty());
    CHECK(x.nparams == 0);
    CHECK(x.params.empty());
    CHECK(x.nresult_formats == 0);
    CHECK(x.result_formats.empty());
  }
}

TEST_CASE("decode Describe", "[messages][frontend]") {
  const bytes b = body{}.ch('P').cstr("portal_7").b;
  const bytes m = wire::msg('D', b);
  wire::check_every_split(m);
  pgwire::describe_msg d;
  REQUIRE(wire::decode_bytes(m, d) == errc::ok);
  CHECK(d.kind == 'P');
  CHECK(d.name == "portal_7");
  wire::check_two_in_a_row<pgwire::describe_msg>(m, [](const pgwire::describe_msg& x) {
    CHECK(x.kind == 'P');
    CHECK(x.name == "portal_7");
  });
  wire::check_body_prefixes_rejected<pgwire::describe_msg>('D', b);
  wire::check_trailing_and_tag<pgwire::describe_msg>('D', b, 'C');
  const bytes s = wire::msg('D', body{}.ch('S').cstr("").b);
  REQUIRE(wire::decode_bytes(s, d) == errc::ok);
  CHECK(d.kind == 'S');
  CHECK(d.name.empty());
  const bytes bad = wire::msg('D', body{}.ch('X').cstr("n").b);
  CHECK(wire::decode_bytes(bad, d) == errc::bad_field);
}

TEST_CASE("decode Close", "[messages][frontend]") {
  const bytes b = body{}.ch('S').cstr("stmt").b;
  const bytes m = wire::msg('C', b);
  wire::check_every_split(m);
  pgwire::close_msg c;
  REQUIRE(wire::decode_bytes(m, c) == errc::ok);
  CHECK(c.kind == 'S');
  CHECK(c.name == "stmt");
  wire::check_two_in_a_row<pgwire::close_msg>(m, [](const pgwire::close_msg& x) {
    CHECK(x.kind == 'S');
    CHECK(x.name == "stmt");
  });
  wire::check_body_prefixes_rejected<pgwire::close_msg>('C', b);
  wire::check_trailing_and_tag<pgwire::close_msg>('C', b, 'D');
  const bytes p = wire::msg('C', body{}.ch('P').cstr("x").b);
  REQUIRE(wire::decode_bytes(p, c) == errc::ok);
  CHECK(c.kind == 'P');
  const bytes bad = wire::msg('C', body{}.ch('s').cstr("x").b);
  CHECK(wire::decode_bytes(bad, c) == errc::bad_field);
}

TEST_CASE("decode Execute", "[messages][frontend]") {
  const bytes b = body{}.cstr("portal").i32(1000).b;
  const bytes m = wire::msg('E', b);
  wire::check_every_split(m);
  pgwire::execute_msg e;
  REQUIRE(wire::decode_bytes(m, e) == errc::ok);
  CHECK(e.portal == "portal");
  CHECK(e.max_rows == 1000);
  wire::check_two_in_a_row<pgwire::execute_msg>(m, [](const pgwire::execute_msg& x) {
    CHECK(x.portal == "portal");
    CHECK(x.max_rows == 1000);
  });
  wire::check_body_prefixes_rejected<pgwire::execute_msg>('E', b);
  wire::check_trailing_and_tag<pgwire::execute_msg>('E', b, 'Q');
  const bytes all = wire::msg('E', body{}.cstr("").i32(0).b);
  REQUIRE(wire::decode_bytes(all, e) == errc::ok);
  CHECK(e.portal.empty());
  CHECK(e.max_rows == 0);
}

TEST_CASE("decode the empty frontend messages: Sync, Flush, Terminate, CopyDone",
          "[messages][frontend]") {
  for (char tag : {pgwire::fe::sync, pgwire::fe::flush, pgwire::fe::terminate, pgwire::fe::copy_done}) {
    CAPTURE(tag);
    const bytes m = {static_cast<std::uint8_t>(tag), 0, 0, 0, 4};
    wire::check_every_split(m);
    const auto f = wire::frame_whole(m);
    CHECK(pgwire::decode_empty(f, tag) == errc::ok);
    CHECK(pgwire::decode_empty(f, 'Q') == errc::unexpected_message);
    const bytes extra = wire::msg(tag, bytes{0});
    CHECK(pgwire::decode_empty(wire::frame_whole(extra), tag) == errc::trailing_bytes);
    // Two in a row.
    const bytes two = wire::cat(m, m);
    const auto r1 = pgwire::frame_message(two, wire::default_max);
    REQUIRE(r1.status == frame_status::message);
    REQUIRE(r1.msg.size == 5);
    const auto r2 = pgwire::frame_message(pgwire::bytes_view(two).subspan(5), wire::default_max);
    REQUIRE(r2.status == frame_status::message);
    CHECK(pgwire::decode_empty(r2.msg, tag) == errc::ok);
  }
  CHECK(pgwire::fe::sync == 'S');
  CHECK(pgwire::fe::flush == 'H');
  CHECK(pgwire::fe::terminate == 'X');
  CHECK(pgwire::fe::copy_done == 'c');
}

TEST_CASE("decode CopyData", "[messages][frontend][backend]") {
  const bytes payload = {'1', '\t', 'a', '\n', 0, 0xFF};
  const bytes m = wire::msg('d', payload);
  wire::check_every_split(m);
  pgwire::copy_data_msg c;
  REQUIRE(wire::decode_bytes(m, c) == errc::ok);
  CHECK(wire::vec(c.data) == payload);
  wire::check_two_in_a_row<pgwire::copy_data_msg>(
      m, [&](const pgwire::copy_data_msg& x) { CHECK(wire::vec(x.data) == payload); });
  const bytes empty = wire::msg('d', {});
  REQUIRE(wire::decode_bytes(empty, c) == errc::ok);
  CHECK(c.data.empty());
  const bytes wrong = wire::msg('D', payload);
  CHECK(wire::decode_bytes(wrong, c) == errc::unexpected_message);
}

TEST_CASE("decode CopyFail", "[messages][frontend]") {
  const bytes b = body{}.cstr("client gave up").b;
  const bytes m = wire::msg('f', b);
  wire::check_every_split(m);
  pgwire::copy_fail_msg c;
  REQUIRE(wire::decode_bytes(m, c) == errc::ok);
  CHECK(c.message == "client gave up");
  wire::check_two_in_a_row<pgwire::copy_fail_msg>(
      m, [](const pgwire::copy_fail_msg& x) { CHECK(x.message == "client gave up"); });
  wire::check_body_prefixes_rejected<pgwire::copy_fail_msg>('f', b);
  wire::check_trailing_and_tag<pgwire::copy_fail_msg>('f', b, 'c');
}

TEST_CASE("decode FunctionCall", "[messages][frontend]") {
  // oid 1598, formats [1], args [4 bytes, NULL], result format 1
  const bytes b = body{}
                      .i32(1598)
                      .i16(1)
                      .i16(1)
                      .i16(2)
                      .i32(4)
                      .u32(0x01020304)
                      .i32(-1)
                      .i16(1)
                      .b;
  const bytes m = wire::msg('F', b);
  wire::check_every_split(m);
  auto check = [](const pgwire::function_call_msg& x) {
    CHECK(x.oid == 1598);
    CHECK(x.nformats == 1);
    CHECK(wire::i16s(x.formats) == std::vector<std::int16_t>{1});
    CHECK(x.nargs == 2);
    CHECK(wire::vec(x.args) == body{}.i32(4).u32(0x01020304).i32(-1).b);
    CHECK(x.result_format == 1);
  };
  pgwire::function_call_msg x;
  REQUIRE(wire::decode_bytes(m, x) == errc::ok);
  check(x);
  wire::check_two_in_a_row<pgwire::function_call_msg>(m, check);
  wire::check_body_prefixes_rejected<pgwire::function_call_msg>('F', b);
  wire::check_trailing_and_tag<pgwire::function_call_msg>('F', b, 'f');
  const bytes neg = wire::msg('F', body{}.i32(1).i16(0).i16(-3).i16(0).b);
  CHECK(wire::decode_bytes(neg, x) == errc::bad_field);
  const bytes negf = wire::msg('F', body{}.i32(1).i16(-1).i16(0).i16(0).b);
  CHECK(wire::decode_bytes(negf, x) == errc::bad_field);
  const bytes toomany = wire::msg('F', body{}.i32(1).i16(0).i16(3).i32(0).i32(0).i16(0).b);
  CHECK(wire::decode_bytes(toomany, x) == errc::truncated);
}

TEST_CASE("decode PasswordMessage", "[messages][frontend]") {
  const bytes b = body{}.cstr("md5a3556571e93b0d20722ba62be61e8c2d").b;
  const bytes m = wire::msg('p', b);
  wire::check_every_split(m);
  pgwire::password_msg p;
  REQUIRE(wire::decode_bytes(m, p) == errc::ok);
  CHECK(p.password == "md5a3556571e93b0d20722ba62be61e8c2d");
  wire::check_two_in_a_row<pgwire::password_msg>(m, [](const pgwire::password_msg& x) {
    CHECK(x.password == "md5a3556571e93b0d20722ba62be61e8c2d");
  });
  wire::check_body_prefixes_rejected<pgwire::password_msg>('p', b);
  wire::check_trailing_and_tag<pgwire::password_msg>('p', b, 'P');
}

TEST_CASE("decode SASLInitialResponse", "[messages][frontend]") {
  const std::string_view first = "n,,n=,r=rOprNGfwEbeRWgbNEkqO";
  const bytes b =
      body{}.cstr("SCRAM-SHA-256").i32(static_cast<std::int32_t>(first.size())).raw(first).b;
  const bytes m = wire::msg('p', b);
  wire::check_every_split(m);
  auto check = [&](const pgwire::sasl_initial_response_msg& x) {
    CHECK(x.mechanism == "SCRAM-SHA-256");
    REQUIRE(x.data.has_value());
    CHECK(wire::str(*x.data) == first);
  };
  pgwire::sasl_initial_response_msg s;
  REQUIRE(wire::decode_bytes(m, s) == errc::ok);
  check(s);
  wire::check_two_in_a_row<pgwire::sasl_initial_response_msg>(m, check);
  wire::check_body_prefixes_rejected<pgwire::sasl_initial_response_msg>('p', b);
  wire::check_trailing_and_tag<pgwire::sasl_initial_response_msg>('p', b, 'R');

  SECTION("length -1 means no data") {
    const bytes none = wire::msg('p', body{}.cstr("SCRAM-SHA-256").i32(-1).b);
    REQUIRE(wire::decode_bytes(none, s) == errc::ok);
    CHECK(s.mechanism == "SCRAM-SHA-256");
    CHECK_FALSE(s.data.has_value());
  }
  SECTION("length 0 means empty data") {
    const bytes empty = wire::msg('p', body{}.cstr("PLAIN").i32(0).b);
    REQUIRE(wire::decode_bytes(empty, s) == errc::ok);
    REQUIRE(s.data.has_value());
    CHECK(s.data->empty());
  }
  SECTION("length below -1") {
    const bytes bad = wire::msg('p', body{}.cstr("SCRAM-SHA-256").i32(-2).b);
    CHECK(wire::decode_bytes(bad, s) == errc::bad_field);
  }
  SECTION("length beyond the body") {
    const bytes cut = wire::msg('p', body{}.cstr("SCRAM-SHA-256").i32(100).raw("abc").b);
    CHECK(wire::decode_bytes(cut, s) == errc::truncated);
  }
}

TEST_CASE("decode SASLResponse", "[messages][frontend]") {
  const std::string_view final_msg = "c=biws,r=abc,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
  const bytes m = wire::msg('p', wire::of(final_msg));
  wire::check_every_split(m);
  pgwire::sasl_response_msg s;
  REQUIRE(wire::decode_bytes(m, s) == errc::ok);
  CHECK(wire::str(s.data) == final_msg);
  wire::check_two_in_a_row<pgwire::sasl_response_msg>(
      m, [&](const pgwire::sasl_response_msg& x) { CHECK(wire::str(x.data) == final_msg); });
  const bytes wrong = wire::msg('R', wire::of(final_msg));
  CHECK(wire::decode_bytes(wrong, s) == errc::unexpected_message);
}

// =============================================================== backend

TEST_CASE("decode AuthenticationOk and the other bodiless authentication requests",
          "[messages][backend][auth]") {
  const bytes m = {'R', 0, 0, 0, 8, 0, 0, 0, 0};
  wire::check_every_split(m);
  pgwire::authentication_msg a;
  a.mechanisms = {"stale"};
  REQUIRE(wire::decode_bytes(m, a) == errc::ok);
  CHECK(a.code == pgwire::auth_code::ok);
  CHECK(a.mechanisms.empty());
  CHECK(a.data.empty());
  wire::check_two_in_a_row<pgwire::authentication_msg>(
      m, [](const pgwire::authentication_msg& x) { CHECK(x.code == pgwire::auth_code::ok); });
  wire::check_body_prefixes_rejected<pgwire::authentication_msg>('R', body{}.i32(0));
  wire::check_trailing_and_tag<pgwire::authentication_msg>('R', body{}.i32(0), 'E');
  for (auto code : {pgwire::auth_code::kerberos_v5, pgwire::auth_code::gss, pgwire::auth_code::sspi}) {
    const bytes k = wire::msg('R', body{}.i32(static_cast<std::int32_t>(code)));
    REQUIRE(wire::decode_bytes(k, a) == errc::ok);
    CHECK(a.code == code);
  }
  for (std::int32_t bad : {1, 4, 6, 13, 99, -1}) {
    CAPTURE(bad);
    const bytes k = wire::msg('R', body{}.i32(bad));
    CHECK(wire::decode_bytes(k, a) == errc::bad_field);
  }
}

TEST_CASE("decode AuthenticationCleartextPassword", "[messages][backend][auth]") {
  const bytes m = {'R', 0, 0, 0, 8, 0, 0, 0, 3};
  wire::check_every_split(m);
  pgwire::authentication_msg a;
  REQUIRE(wire::decode_bytes(m, a) == errc::ok);
  CHECK(a.code == pgwire::auth_code::cleartext);
  CHECK(a.data.empty());
  wire::check_trailing_and_tag<pgwire::authentication_msg>('R', body{}.i32(3), 'p');
}

TEST_CASE("decode AuthenticationMD5Password", "[messages][backend][auth]") {
  const bytes m = {'R', 0, 0, 0, 12, 0, 0, 0, 5, 0x01, 0xAB, 0x00, 0xFF};
  wire::check_every_split(m);
  pgwire::authentication_msg a;
  REQUIRE(wire::decode_bytes(m, a) == errc::ok);
  CHECK(a.code == pgwire::auth_code::md5);
  CHECK(a.md5_salt[0] == 0x01);
  CHECK(a.md5_salt[1] == 0xAB);
  CHECK(a.md5_salt[2] == 0x00);
  CHECK(a.md5_salt[3] == 0xFF);
  wire::check_two_in_a_row<pgwire::authentication_msg>(m, [](const pgwire::authentication_msg& x) {
    CHECK(x.code == pgwire::auth_code::md5);
    CHECK(x.md5_salt[3] == 0xFF);
  });
  const bytes b = body{}.i32(5).u32(0x01AB00FF).b;
  wire::check_body_prefixes_rejected<pgwire::authentication_msg>('R', b);
  wire::check_trailing_and_tag<pgwire::authentication_msg>('R', b, 'r');
}

TEST_CASE("decode AuthenticationSASL", "[messages][backend][auth]") {
  const bytes b = body{}.i32(10).cstr("SCRAM-SHA-256-PLUS").cstr("SCRAM-SHA-256").u8(0).b;
  const bytes m = wire::msg('R', b);
  wire::check_every_split(m);
  auto check = [](const pgwire::authentication_msg& x) {
    CHECK(x.code == pgwire::auth_code::sasl);
    CHECK(x.mechanisms == std::vector<std::string_view>{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"});
  };
  pgwire::authentication_msg a;
  REQUIRE(wire::decode_bytes(m, a) == errc::ok);
  check(a);
  wire::check_two_in_a_row<pgwire::authentication_msg>(m, check);
  wire::check_body_prefixes_rejected<pgwire::authentication_msg>('R', b);
  wire::check_trailing_and_tag<pgwire::authentication_msg>('R', b, 'S');
  // Decoding again does not accumulate mechanisms.
  REQUIRE(wire::decode_bytes(m, a) == errc::ok);
  CHECK(a.mechanisms.size() == 2);
  const bytes none = wire::msg('R', body{}.i32(10).u8(0).b);
  REQUIRE(wire::decode_bytes(none, a) == errc::ok);
  CHECK(a.mechanisms.empty());
}

TEST_CASE("decode AuthenticationSASLContinue and AuthenticationSASLFinal",
          "[messages][backend][auth]") {
  const std::string_view cont = "r=abcdef,s=QSXCR+Q6sek8bf92,i=4096";
  const std::string_view fin = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
  const bytes mc = wire::msg('R', body{}.i32(11).raw(cont));
  const bytes mf = wire::msg('R', body{}.i32(12).raw(fin));
  wire::check_every_split(mc);
  wire::check_every_split(mf);
  pgwire::authentication_msg a;
  REQUIRE(wire::decode_bytes(mc, a) == errc::ok);
  CHECK(a.code == pgwire::auth_code::sasl_continue);
  CHECK(wire::str(a.data) == cont);
  CHECK(a.data.data() == mc.data() + 9);
  REQUIRE(wire::decode_bytes(mf, a) == errc::ok);
  CHECK(a.code == pgwire::auth_code::sasl_final);
  CHECK(wire::str(a.data) == fin);
  wire::check_two_in_a_row<pgwire::authentication_msg>(mf, [&](const pgwire::authentication_msg& x) {
    CHECK(x.code == pgwire::auth_code::sasl_final);
    CHECK(wire::str(x.data) == fin);
  });
  const bytes gss = wire::msg('R', body{}.i32(8).raw("tok"));
  REQUIRE(wire::decode_bytes(gss, a) == errc::ok);
  CHECK(a.code == pgwire::auth_code::gss_continue);
  CHECK(wire::str(a.data) == "tok");
  // A later message without data resets the view.
  const bytes ok = wire::msg('R', body{}.i32(0));
  REQUIRE(wire::decode_bytes(ok, a) == errc::ok);
  CHECK(a.data.empty());
  const bytes cut = wire::msg('R', bytes{0, 0, 0});
  CHECK(wire::decode_bytes(cut, a) == errc::truncated);
}

TEST_CASE("decode BackendKeyData", "[messages][backend]") {
  const bytes b = body{}.u32(0x80000001).u32(0xDEADBEEF).b;
  const bytes m = wire::msg('K', b);
  REQUIRE(m.size() == 13);
  wire::check_every_split(m);
  pgwire::backend_key_data_msg k;
  REQUIRE(wire::decode_bytes(m, k) == errc::ok);
  CHECK(k.pid == 0x80000001u);
  CHECK(k.secret == 0xDEADBEEFu);
  wire::check_two_in_a_row<pgwire::backend_key_data_msg>(m, [](const pgwire::backend_key_data_msg& x) {
    CHECK(x.pid == 0x80000001u);
    CHECK(x.secret == 0xDEADBEEFu);
  });
  wire::check_body_prefixes_rejected<pgwire::backend_key_data_msg>('K', b);
  wire::check_trailing_and_tag<pgwire::backend_key_data_msg>('K', b, 'k');
}

TEST_CASE("decode ParameterStatus", "[messages][backend]") {
  const bytes b = body{}.cstr("server_version").cstr("16.2").b;
  const bytes m = wire::msg('S', b);
  wire::check_every_split(m);
  auto check = [](const pgwire::parameter_status_msg& x) {
    CHECK(x.name == "server_version");
    CHECK(x.value == "16.2");
  };
  pgwire::parameter_status_msg p;
  REQUIRE(wire::decode_bytes(m, p) == errc::ok);
  check(p);
  wire::check_two_in_a_row<pgwire::parameter_status_msg>(m, check);
  wire::check_body_prefixes_rejected<pgwire::parameter_status_msg>('S', b);
  wire::check_trailing_and_tag<pgwire::parameter_status_msg>('S', b, 's');
  const bytes empty_value = wire::msg('S', body{}.cstr("application_name").cstr("").b);
  REQUIRE(wire::decode_bytes(empty_value, p) == errc::ok);
  CHECK(p.value.empty());
}

TEST_CASE("decode ReadyForQuery", "[messages][backend]") {
  for (char s : {'I', 'T', 'E'}) {
    CAPTURE(s);
    const bytes m = {'Z', 0, 0, 0, 5, static_cast<std::uint8_t>(s)};
    wire::check_every_split(m);
    pgwire::ready_for_query_msg z;
    z.status = '?';
    REQUIRE(wire::decode_bytes(m, z) == errc::ok);
    CHECK(z.status == s);
    wire::check_two_in_a_row<pgwire::ready_for_query_msg>(
        m, [&](const pgwire::ready_for_query_msg& x) { CHECK(x.status == s); });
    wire::check_trailing_and_tag<pgwire::ready_for_query_msg>('Z', bytes{static_cast<std::uint8_t>(s)}, 'z');
  }
  pgwire::ready_for_query_msg z;
  for (std::uint8_t bad : {std::uint8_t('X'), std::uint8_t('i'), std::uint8_t(0), std::uint8_t(0xFF)}) {
    CAPTURE(bad);
    const bytes m = {'Z', 0, 0, 0, 5, bad};
    CHECK(wire::decode_bytes(m, z) == errc::bad_field);
  }
  const bytes empty = {'Z', 0, 0, 0, 4};
  CHECK(wire::decode_bytes(empty, z) == errc::truncated);
}

TEST_CASE("decode ErrorResponse", "[messages][backend]") {
  const bytes b = body{}
                      .ch('S')
                      .cstr("FATAL")
                      .ch('V')
                      .cstr("FATAL")
                      .ch('C')
                      .cstr("28P01")
                      .ch('M')
                      .cstr("password authentication failed for user \"bob\"")
                      .ch('D')
                      .cstr("some detail")
                      .ch('H')
                      .cstr("a hint")
                      .ch('F')
                      .cstr("auth.c")
                      .ch('L')
                      .cstr("326")
                      .ch('R')
                      .cstr("auth_failed")
                      .u8(0)
                      .b;
  const bytes m = wire::msg('E', b);
  wire::check_every_split(m);
  auto check = [](const pgwire::error_fields& e) {
    CHECK(e.severity == "FATAL");
    CHECK(e.severity_nonlocalized == "FATAL");
    CHECK(e.sqlstate == "28P01");
    CHECK(e.message == "password authentication failed for user \"bob\"");
    CHECK(e.detail == "some detail");
    CHECK(e.hint == "a hint");
    REQUIRE(e.fields.size() == 9);
    CHECK(e.fields[0] == std::make_pair('S', std::string_view("FATAL")));
    CHECK(e.fields[2] == std::make_pair('C', std::string_view("28P01")));
    CHECK(e.fields[6] == std::make_pair('F', std::string_view("auth.c")));
    CHECK(e.fields[7] == std::make_pair('L', std::string_view("326")));
    CHECK(e.fields[8] == std::make_pair('R', std::string_view("auth_failed")));
  };
  pgwire::error_fields e;
  REQUIRE(wire::decode_bytes(m, e) == errc::ok);
  check(e);
  wire::check_two_in_a_row<pgwire::error_fields>(m, check);
  wire::check_body_prefixes_rejected<pgwire::error_fields>('E', b);
  wire::check_trailing_and_tag<pgwire::error_fields>('E', b, 'Z');

  // A later decode starts from scratch.
  const bytes minimal = wire::msg('E', body{}.ch('S').cstr("ERROR").ch('M').cstr("m").u8(0).b);
  REQUIRE(wire::decode_bytes(minimal, e) == errc::ok);
  CHECK(e.severity == "ERROR");
  CHECK(e.message == "m");
  CHECK(e.sqlstate.empty());
  CHECK(e.detail.empty());
  CHECK(e.hint.empty());
  CHECK(e.fields.size() == 2);
  const bytes nothing = wire::msg('E', bytes{0});
  REQUIRE(wire::decode_bytes(nothing, e) == errc::ok);
  CHECK(e.fields.empty());
}

TEST_CASE("decode NoticeResponse", "[messages][backend]") {
  const bytes b = body{}
                      .ch('S')
                      .cstr("AVISO")
                      .ch('V')
                      .cstr("WARNING")
                      .ch('C')
                      .cstr("01000")
                      .ch('M')
                      .cstr("careful")
                      .u8(0)
                      .b;
  const bytes m = wire::msg('N', b);
  wire::check_every_split(m);
  pgwire::error_fields n;
  REQUIRE(wire::decode_bytes(m, n) == errc::ok);
  CHECK(n.severity == "AVISO");
  CHECK(n.severity_nonlocalized == "WARNING");
  CHECK(n.sqlstate == "01000");
  CHECK(n.message == "careful");
  CHECK(n.fields.size() == 4);
  wire::check_two_in_a_row<pgwire::error_fields>(
      m, [](const pgwire::error_fields& x) { CHECK(x.message == "careful"); });
  wire::check_body_prefixes_rejected<pgwire::error_fields>('N', b);
  wire::check_trailing_and_tag<pgwire::error_fields>('N', b, 'A');
}

TEST_CASE("decode RowDescription", "[messages][backend]") {
  const bytes b = body{}
                      .i16(2)
                      .cstr("id")
                      .i32(16384)
                      .i16(1)
                      .i32(23)
                      .i16(4)
                      .i32(-1)
                      .i16(0)
                      .cstr("payload")
                      .i32(0)
                      .i16(0)
                      .i32(17)
                      .i16(-1)
                      .i32(12345)
                      .i16(1)
                      .b;
  const bytes m = wire::msg('T', b);
  wire::check_every_split(m);
  auto check = [](const pgwire::row_description_msg& r) {
    CHECK(r.nfields == 2);
    REQUIRE(r.fields.size() == 2);
    const auto& a = r.fields[0];
    CHECK(a.name == "id");
    CHECK(a.table_oid == 16384);
    CHECK(a.column == 1);
    CHECK(a.type_oid == 23);
    CHECK(a.type_len == 4);
    CHECK(a.type_mod == -1);
    CHECK(a.format == 0);
    const auto& c = r.fields[1];
    CHECK(c.name == "payload");
    CHECK(c.table_oid == 0);
    CHECK(c.column == 0);
    CHECK(c.type_oid == 17);
    CHECK(c.type_len == -1);
    CHECK(c.type_mod == 12345);
    CHECK(c.format == 1);
  };
  pgwire::row_description_msg r;
  REQUIRE(wire::decode_bytes(m, r) == errc::ok);
  check(r);
  wire::check_two_in_a_row<pgwire::row_description_msg>(m, check);
  wire::check_body_prefixes_rejected<pgwire::row_description_msg>('T', b);
  wire::check_trailing_and_tag<pgwire::row_description_msg>('T', b, 't');

  SECTION("nfields larger than the fields present") {
    bytes more = b;
    more[1] = 3;
    const bytes cut = wire::msg('T', more);
    CHECK(wire::decode_bytes(cut, r) == errc::truncated);
    const bytes huge = wire::msg('T', body{}.i16(32767).cstr("x").b);
    CHECK(wire::decode_bytes(huge, r) == errc::truncated);
  }
  SECTION("negative nfields") {
    const bytes neg = wire::msg('T', body{}.i16(-1).b);
    CHECK(wire::decode_bytes(neg, r) == errc::bad_field);
  }
  SECTION("no fields") {
    const bytes none = wire::msg('T', body{}.i16(0).b);
    REQUIRE(wire::decode_bytes(none, r) == errc::ok);
    CHECK(r.nfields == 0);
    CHECK(r.fields.empty());
  }
}

TEST_CASE("decode DataRow", "[messages][backend]") {
  const bytes b = body{}.i16(4).i32(3).raw("abc").i32(-1).i32(0).i32(2).u8(0).u8(0xFF).b;
  const bytes m = wire::msg('D', b);
  wire::check_every_split(m);
  auto check = [](const pgwire::data_row_msg& d) {
    CHECK(d.ncolumns == 4);
    REQUIRE(d.columns.size() == 4);
    REQUIRE(d.columns[0].has_value());
    CHECK(wire::str(*d.columns[0]) == "abc");
    CHECK_FALSE(d.columns[1].has_value());
    REQUIRE(d.columns[2].has_value());
    CHECK(d.columns[2]->empty());
    REQUIRE(d.columns[3].has_value());
    CHECK(wire::vec(*d.columns[3]) == bytes{0, 0xFF});
  };
  pgwire::data_row_msg d;
  REQUIRE(wire::decode_bytes(m, d) == errc::ok);
  check(d);
  CHECK(d.columns[0]->data() == m.data() + 5 + 2 + 4);
  wire::check_two_in_a_row<pgwire::data_row_msg>(m, check);
  wire::check_body_prefixes_rejected<pgwire::data_row_msg>('D', b);
  wire::check_trailing_and_tag<pgwire::data_row_msg>('D', b, 'd');

  SECTION("column length beyond the body") {
    const bytes cut = wire::msg('D', body{}.i16(1).i32(10).raw("abc").b);
    CHECK(wire::decode_bytes(cut, d) == errc::truncated);
    const bytes huge = wire::msg('D', body{}.i16(1).i32(0x7FFFFFFF).raw("abc").b);
    CHECK(wire::decode_bytes(huge, d) == errc::truncated);
  }
  SECTION("more columns than present") {
    const bytes cut = wire::msg('D', body{}.i16(3).i32(-1).i32(-1).b);
    CHECK(wire::decode_bytes(cut, d) == errc::truncated);
    const bytes huge = wire::msg('D', body{}.i16(32767).i32(-1).b);
    CHECK(wire::decode_bytes(huge, d) == errc::truncated);
  }
  SECTION("column length below -1") {
    const bytes bad = wire::msg('D', body{}.i16(1).i32(-2).b);
    CHECK(wire::decode_bytes(bad, d) == errc::bad_field);
  }
  SECTION("negative ncolumns") {
    const bytes bad = wire::msg('D', body{}.i16(-1).b);
    CHECK(wire::decode_bytes(bad, d) == errc::bad_field);
  }
  SECTION("zero columns, and decoding again replaces the columns") {
    const bytes zero = wire::msg('D', body{}.i16(0).b);
    REQUIRE(wire::decode_bytes(zero, d) == errc::ok);
    CHECK(d.ncolumns == 0);
    CHECK(d.columns.empty());
  }
}

TEST_CASE("decode CommandComplete", "[messages][backend]") {
  const bytes b = body{}.cstr("INSERT 0 5").b;
  const bytes m = wire::msg('C', b);
  wire::check_every_split(m);
  pgwire::command_complete_msg c;
  REQUIRE(wire::decode_bytes(m, c) == errc::ok);
  CHECK(c.tag == "INSERT 0 5");
  wire::check_two_in_a_row<pgwire::command_complete_msg>(
      m, [](const pgwire::command_complete_msg& x) { CHECK(x.tag == "INSERT 0 5"); });
  wire::check_body_prefixes_rejected<pgwire::command_complete_msg>('C', b);
  wire::check_trailing_and_tag<pgwire::command_complete_msg>('C', b, 'c');
}

TEST_CASE("decode the empty backend messages", "[messages][backend]") {
  struct item {
    char tag;
    char expected;
  };
  for (const item it : {item{pgwire::be::parse_complete, '1'}, item{pgwire::be::bind_complete, '2'},
                        item{pgwire::be::close_complete, '3'}, item{pgwire::be::no_data, 'n'},
                        item{pgwire::be::portal_suspended, 's'},
                        item{pgwire::be::empty_query_response, 'I'},
                        item{pgwire::be::copy_done, 'c'}}) {
    CAPTURE(it.expected);
    CHECK(it.tag == it.expected);
    const bytes m = {static_cast<std::uint8_t>(it.expected), 0, 0, 0, 4};
    wire::check_every_split(m);
    const auto f = wire::frame_whole(m);
    CHECK(pgwire::decode_empty(f, it.expected) == errc::ok);
    CHECK(pgwire::decode_empty(f, 'Z') == errc::unexpected_message);
    const bytes extra = {static_cast<std::uint8_t>(it.expected), 0, 0, 0, 6, 1, 2};
    CHECK(pgwire::decode_empty(wire::frame_whole(extra), it.expected) == errc::trailing_bytes);
  }
  // ParseComplete, BindComplete in one buffer.
  const bytes two = {'1', 0, 0, 0, 4, '2', 0, 0, 0, 4};
  const auto r1 = pgwire::frame_message(two, wire::default_max);
  REQUIRE(r1.status == frame_status::message);
  CHECK(pgwire::decode_empty(r1.msg, '1') == errc::ok);
  const auto r2 = pgwire::frame_message(pgwire::bytes_view(two).subspan(r1.msg.size), wire::default_max);
  REQUIRE(r2.status == frame_status::message);
  CHECK(pgwire::decode_empty(r2.msg, '2') == errc::ok);
}

TEST_CASE("decode ParameterDescription", "[messages][backend]") {
  const bytes b = body{}.i16(3).i32(23).i32(25).i32(1043).b;
  const bytes m = wire::msg('t', b);
  wire::check_every_split(m);
  auto check = [](const pgwire::parameter_description_msg& p) {
    CHECK(p.nparams == 3);
    CHECK(wire::i32s(p.oids) == std::vector<std::int32_t>{23, 25, 1043});
    CHECK(p.oids.size() == 12);
  };
  pgwire::parameter_description_msg p;
  REQUIRE(wire::decode_bytes(m, p) == errc::ok);
  check(p);
  wire::check_two_in_a_row<pgwire::parameter_description_msg>(m, check);
  wire::check_body_prefixes_rejected<pgwire::parameter_description_msg>('t', b);
  wire::check_trailing_and_tag<pgwire::parameter_description_msg>('t', b, 'T');
  const bytes neg = wire::msg('t', body{}.i16(-1).b);
  CHECK(wire::decode_bytes(neg, p) == errc::bad_field);
  const bytes none = wire::msg('t', body{}.i16(0).b);
  REQUIRE(wire::decode_bytes(none, p) == errc::ok);
  CHECK(p.oids.empty());
}

TEST_CASE("decode CopyInResponse, CopyOutResponse and CopyBothResponse", "[messages][backend]") {
  for (char tag : {'G', 'H', 'W'}) {
    CAPTURE(tag);
    const bytes b = body{}.u8(1).i16(3).i16(1).i16(1).i16(0).b;
    const bytes m = wire::msg(tag, b);
    wire::check_every_split(m);
    auto check = [](const pgwire::copy_response_msg& c) {
      CHECK(c.format == 1);
      CHECK(c.ncolumns == 3);
      CHECK(wire::i16s(c.column_formats) == std::vector<std::int16_t>{1, 1, 0});
    };
    pgwire::copy_response_msg c;
    REQUIRE(wire::decode_bytes(m, c) == errc::ok);
    check(c);
    wire::check_two_in_a_row<pgwire::copy_response_msg>(m, check);
    wire::check_body_prefixes_rejected<pgwire::copy_response_msg>(tag, b);
    wire::check_trailing_and_tag<pgwire::copy_response_msg>(tag, b, 'd');

    const bytes text = wire::msg(tag, body{}.u8(0).i16(1).i16(0).b);
    REQUIRE(wire::decode_bytes(text, c) == errc::ok);
    CHECK(c.format == 0);
    CHECK(c.ncolumns == 1);
    const bytes bad_format = wire::msg(tag, body{}.u8(2).i16(0).b);
    CHECK(wire::decode_bytes(bad_format, c) == errc::bad_field);
    const bytes neg = wire::msg(tag, body{}.u8(0).i16(-1).b);
    CHECK(wire::decode_bytes(neg, c) == errc::bad_field);
    const bytes cut = wire::msg(tag, body{}.u8(0).i16(4).i16(0).b);
    CHECK(wire::decode_bytes(cut, c) == errc::truncated);
  }
}

TEST_CASE("decode NotificationResponse", "[messages][backend]") {
  const bytes b = body{}.u32(0xFFFF0001).cstr("jobs").cstr("{\"id\":1}").b;
  const bytes m = wire::msg('A', b);
  wire::check_every_split(m);
  auto check = [](const pgwire::notification_msg& n) {
    CHECK(n.pid == 0xFFFF0001u);
    CHECK(n.channel == "jobs");
    CHECK(n.payload == "{\"id\":1}");
  };
  pgwire::notification_msg n;
  REQUIRE(wire::decode_bytes(m, n) == errc::ok);
  check(n);
  wire::check_two_in_a_row<pgwire::notification_msg>(m, check);
  wire::check_body_prefixes_rejected<pgwire::notification_msg>('A', b);
  wire::check_trailing_and_tag<pgwire::notification_msg>('A', b, 'N');
}

TEST_CASE("decode NegotiateProtocolVersion", "[messages][backend]") {
  const bytes b = body{}.i32(0).i32(2).cstr("_pq_.compression").cstr("_pq_.other").b;
  const bytes m = wire::msg('v', b);
  wire::check_every_split(m);
  auto check = [](const pgwire::negotiate_protocol_version_msg& v) {
    CHECK(v.newest_minor == 0);
    CHECK(v.unrecognized == std::vector<std::string_view>{"_pq_.compression", "_pq_.other"});
  };
  pgwire::negotiate_protocol_version_msg v;
  REQUIRE(wire::decode_bytes(m, v) == errc::ok);
  check(v);
  wire::check_two_in_a_row<pgwire::negotiate_protocol_version_msg>(m, check);
  wire::check_body_prefixes_rejected<pgwire::negotiate_protocol_version_msg>('v', b);
  wire::check_trailing_and_tag<pgwire::negotiate_protocol_version_msg>('v', b, 'V');

  const bytes none = wire::msg('v', body{}.i32(2).i32(0).b);
  REQUIRE(wire::decode_bytes(none, v) == errc::ok);
  CHECK(v.newest_minor == 2);
  CHECK(v.unrecognized.empty());
  const bytes neg = wire::msg('v', body{}.i32(0).i32(-1).b);
  CHECK(wire::decode_bytes(neg, v) == errc::bad_field);
  const bytes huge = wire::msg('v', body{}.i32(0).i32(0x7FFFFFFF).cstr("x").b);
  CHECK(wire::decode_bytes(huge, v) == errc::bad_field);
  const bytes cut = wire::msg('v', body{}.i32(0).i32(2).cstr("a").raw("b").b);
  CHECK(wire::decode_bytes(cut, v) == errc::truncated);
}

// Unit tests of the writers: exact bytes against hand-assembled expectations, then a round
// trip writer -> framer -> decoder.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "pgwire/framer.hpp"
#include "pgwire/messages.hpp"
#include "pgwire/writer.hpp"
#include "wire_helpers.hpp"

using pgwire::errc;
using pgwire::frame_status;
using wire::body;
using wire::bytes;

namespace {

/// Frames the single typed message `out` must contain and decodes it.
template <class M>
M round_trip(const bytes& out) {
  const pgwire::frame f = wire::frame_whole(out);
  M m{};
  REQUIRE(pgwire::decode(f, m) == errc::ok);
  return m;
}

pgwire::startup_packet round_trip_startup(const bytes& out) {
  const pgwire::frame f = wire::frame_whole_startup(out);
  pgwire::startup_packet p;
  REQUIRE(pgwire::decode_startup(f, p) == errc::ok);
  return p;
}

}  // namespace

TEST_CASE("message_writer patches the length of each message in a shared buffer", "[writer]") {
  bytes out = {0xAA, 0xBB};  // whatever was already queued
  {
    pgwire::message_writer w(out, 'x');
    w.u8(1).i16(-2).i32(0x01020304).cstr("ab").bytes(std::string_view("cd"));
    const std::uint8_t raw[] = {9, 8};
    w.bytes(std::span<const std::uint8_t>(raw));
  }  // destructor finishes
  {
    pgwire::message_writer w(out, 0);
    w.i32(7);
    w.finish();
    w.finish();  // idempotent
  }
  const bytes expected = wire::cat(
      wire::cat(bytes{0xAA, 0xBB},
                wire::msg('x', body{}.u8(1).i16(-2).i32(0x01020304).cstr("ab").raw("cd").u8(9).u8(8))),
      wire::startup(body{}.i32(7)));
  CHECK(out == expected);
  // Spot-check the first length word by hand: 4 + 1 + 2 + 4 + 3 + 2 + 2 = 18.
  CHECK(out[2] == 'x');
  CHECK(pgwire::load_be32(out.data() + 3) == 18u);
}

TEST_CASE("message_writer writes an empty message as tag + length 4", "[writer]") {
  bytes out;
  { pgwire::message_writer w(out, 'S'); }
  CHECK(out == bytes{'S', 0, 0, 0, 4});
}

TEST_CASE("write_error bytes and round trip", "[writer]") {
  SECTION("without detail") {
    bytes out;
    pgwire::write_error(out, "FATAL", "28P01", "password authentication failed");
    const bytes expected = wire::msg('E', body{}
                                              .ch('S')
                                              .cstr("FATAL")
                                              .ch('V')
                                              .cstr("FATAL")
                                              .ch('C')
                                              .cstr("28P01")
                                              .ch('M')
                                              .cstr("password authentication failed")
                                              .u8(0));
    CHECK(out == expected);
    const auto e = round_trip<pgwire::error_fields>(out);
    CHECK(e.severity == "FATAL");
    CHECK(e.severity_nonlocalized == "FATAL");
    CHECK(e.sqlstate == "28P01");
    CHECK(e.message == "password authentication failed");
    CHECK(e.detail.empty());
    CHECK(e.fields.size() == 4);
  }
  SECTION("with detail") {
    bytes out;
    pgwire::write_error(out, "ERROR", "53300", "too many clients", "pool \"db\" is full");
    const bytes expected = wire::msg('E', body{}
                                              .ch('S')
                                              .cstr("ERROR")
                                              .ch('V')
                                              .cstr("ERROR")
                                              .ch('C')
                                              .cstr("53300")
                                              .ch('M')
                                              .cstr("too many clients")
                                              .ch('D')
                                              .cstr("pool \"db\" is full")
                                              .u8(0));
    CHECK(out == expected);
    const auto e = round_trip<pgwire::error_fields>(out);
    CHECK(e.detail == "pool \"db\" is full");
    CHECK(e.fields.size() == 5);
  }
  SECTION("as a notice") {
    bytes out;
    pgwire::write_error(out, "WARNING", "01000", "hm", {}, 'N');
    const bytes expected = wire::msg('N', body{}
                                              .ch('S')
                                              .cstr("WARNING")
                                              .ch('V')
                                              .cstr("WARNING")
                                              .ch('C')
                                              .cstr("01000")
                                              .ch('M')
                                              .cstr("hm")
                                              .u8(0));
    CHECK(out == expected);
    const auto e = round_trip<pgwire::error_fields>(out);
    CHECK(e.message == "hm");
  }
}

TEST_CASE("write_auth_* bytes and round trip", "[writer][auth]") {
  SECTION("ok") {
    bytes out;
    pgwire::write_auth_ok(out);
    CHECK(out == bytes{'R', 0, 0, 0, 8, 0, 0, 0, 0});
    CHECK(round_trip<pgwire::authentication_msg>(out).code == pgwire::auth_code::ok);
  }
  SECTION("cleartext") {
    bytes out;
    pgwire::write_auth_cleartext(out);
    CHECK(out == bytes{'R', 0, 0, 0, 8, 0, 0, 0, 3});
    CHECK(round_trip<pgwire::authentication_msg>(out).code == pgwire::auth_code::cleartext);
  }
  SECTION("md5") {
    bytes out;
    const std::uint8_t salt[4] = {0xDE, 0x00, 0x7F, 0x80};
    pgwire::write_auth_md5(out, salt);
    CHECK(out == bytes{'R', 0, 0, 0, 12, 0, 0, 0, 5, 0xDE, 0x00, 0x7F, 0x80});
    const auto a = round_trip<pgwire::authentication_msg>(out);
    CHECK(a.code == pgwire::auth_code::md5);
    CHECK(bytes(a.md5_salt, a.md5_salt + 4) == bytes(salt, salt + 4));
  }
  SECTION("sasl") {
    bytes out;
    pgwire::write_auth_sasl(out, {"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"});
    CHECK(out == wire::msg('R', body{}.i32(10).cstr("SCRAM-SHA-256-PLUS").cstr("SCRAM-SHA-256").u8(0)));
    const auto a = round_trip<pgwire::authentication_msg>(out);
    CHECK(a.code == pgwire::auth_code::sasl);
    CHECK(a.mechanisms == std::vector<std::string_view>{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"});
  }
  SECTION("sasl continue") {
    bytes out;
    pgwire::write_auth_sasl_continue(out, "r=nonce,s=c2FsdA==,i=4096");
    CHECK(out == wire::msg('R', body{}.i32(11).raw("r=nonce,s=c2FsdA==,i=4096")));
    const auto a = round_trip<pgwire::authentication_msg>(out);
    CHECK(a.code == pgwire::auth_code::sasl_continue);
    CHECK(wire::str(a.data) == "r=nonce,s=c2FsdA==,i=4096");
  }
  SECTION("sasl final") {
    bytes out;
    pgwire::write_auth_sasl_final(out, "v=c2lnbmF0dXJl");
    CHECK(out == wire::msg('R', body{}.i32(12).raw("v=c2lnbmF0dXJl")));
    const auto a = round_trip<pgwire::authentication_msg>(out);
    CHECK(a.code == pgwire::auth_code::sasl_final);
    CHECK(wire::str(a.data) == "v=c2lnbmF0dXJl");
  }
}

TEST_CASE("write_parameter_status bytes and round trip", "[writer]") {
  bytes out;
  pgwire::write_parameter_status(out, "client_encoding", "UTF8");
  const bytes expected = {'S', 0, 0, 0, 25, 'c', 'l', 'i', 'e', 'n', 't', '_', 'e', 'n', 'c', 'o',
                          'd', 'i', 'n', 'g', 0, 'U', 'T', 'F', '8', 0};
  CHECK(out == expected);
  const auto p = round_trip<pgwire::parameter_status_msg>(out);
  CHECK(p.name == "client_encoding");
  CHECK(p.value == "UTF8");
}

TEST_CASE("write_backend_key_data bytes and round trip", "[writer]") {
  bytes out;
  pgwire::write_backend_key_data(out, 0x01020304u, 0xF1F2F3F4u);
  CHECK(out == bytes{'K', 0, 0, 0, 12, 1, 2, 3, 4, 0xF1, 0xF2, 0xF3, 0xF4});
  const auto k = round_trip<pgwire::backend_key_data_msg>(out);
  CHECK(k.pid == 0x01020304u);
  CHECK(k.secret == 0xF1F2F3F4u);
}

TEST_CASE("write_ready_for_query bytes and round trip", "[writer]") {
  for (char s : {'I', 'T', 'E'}) {
    CAPTURE(s);
    bytes out;
    pgwire::write_ready_for_query(out, s);
    CHECK(out == bytes{'Z', 0, 0, 0, 5, static_cast<std::uint8_t>(s)});
    CHECK(round_trip<pgwire::ready_for_query_msg>(out).status == s);
  }
}

TEST_CASE("write_row_description bytes and round trip", "[writer]") {
  const std::array<pgwire::column_desc, 2> cols = {
      pgwire::column_desc{"name", 25, -1}, pgwire::column_desc{"n", 20, 8}};
  bytes out;
  pgwire::write_row_description(out, cols);
  const bytes expected = wire::msg('T', body{}
                                            .i16(2)
                                            .cstr("name")
                                            .i32(0)
                                            .i16(0)
                                            .i32(25)
                                            .i16(-1)
                                            .i32(-1)
                                            .i16(0)
                                            .cstr("n")
                                            .i32(0)
                                            .i16(0)
                                            .i32(20)
                                            .i16(8)
                                            .i32(-1)
                                            .i16(0));
  CHECK(out == expected);
  const auto r = round_trip<pgwire::row_description_msg>(out);
  REQUIRE(r.nfields == 2);
  REQUIRE(r.fields.size() == 2);
  CHECK(r.fields[0].name == "name");
  CHECK(r.fields[0].type_oid == 25);
  CHECK(r.fields[0].type_len == -1);
  CHECK(r.fields[0].type_mod == -1);
  CHECK(r.fields[0].format == 0);
  CHECK(r.fields[1].name == "n");
  CHECK(r.fields[1].type_oid == 20);
  CHECK(r.fields[1].type_len == 8);
  CHECK(r.fields[1].table_oid == 0);
  CHECK(r.fields[1].column == 0);

  SECTION("no columns") {
    bytes empty;
    pgwire::write_row_description(empty, {});
    CHECK(empty == bytes{'T', 0, 0, 0, 6, 0, 0});
    CHECK(round_trip<pgwire::row_description_msg>(empty).fields.empty());
  }
}

TEST_CASE("write_data_row bytes and round trip, including NULL", "[writer]") {
  const std::array<std::optional<std::string_view>, 4> values = {
      std::optional<std::string_view>("pool"), std::nullopt, std::optional<std::string_view>(""),
      std::optional<std::string_view>("42")};
  bytes out;
  pgwire::write_data_row(out, values);
  const bytes expected =
      wire::msg('D', body{}.i16(4).i32(4).raw("pool").i32(-1).i32(0).i32(2).raw("42"));
  CHECK(out == expected);
  CHECK(out.size() == 1 + 4 + 2 + 8 + 4 + 4 + 6);
  const auto d = round_trip<pgwire::data_row_msg>(out);
  REQUIRE(d.ncolumns == 4);
  REQUIRE(d.columns.size() == 4);
  REQUIRE(d.columns[0]);
  CHECK(wire::str(*d.columns[0]) == "pool");
  CHECK_FALSE(d.columns[1]);
  REQUIRE(d.columns[2]);
  CHECK(d.columns[2]->empty());
  REQUIRE(d.columns[3]);
  CHECK(wire::str(*d.columns[3]) == "42");
}

TEST_CASE("write_command_complete bytes and round trip", "[writer]") {
  bytes out;
  pgwire::write_command_complete(out, "SHOW");
  CHECK(out == bytes{'C', 0, 0, 0, 9, 'S', 'H', 'O', 'W', 0});
  CHECK(round_trip<pgwire::command_complete_msg>(out).tag == "SHOW");
}

TEST_CASE("write_startup bytes and round trip", "[writer][startup]") {
  const std::array<std::pair<std::string_view, std::string_view>, 2> params = {
      std::pair<std::string_view, std::string_view>{"user", "app"},
      std::pair<std::string_view, std::string_view>{"database", "db1"}};
  bytes out;
  pgwire::write_startup(out, params);
  const bytes expected = {0,   0,   0,   31,  0x00, 0x03, 0x00, 0x00, 'u', 's', 'e',
                          'r', 0,   'a', 'p', 'p',  0,    'd',  'a',  't', 'a', 'b',
                          'a', 's', 'e', 0,   'd',  'b',  '1',  0,    0};
  CHECK(out == expected);
  const auto p = round_trip_startup(out);
  CHECK(p.kind == pgwire::startup_kind::startup);
  CHECK(p.startup.version == pgwire::protocol_3_0);
  REQUIRE(p.startup.params.size() == 2);
  CHECK(p.startup.get("user") == "app");
  CHECK(p.startup.get("database") == "db1");
}

TEST_CASE("write_ssl_request and write_cancel_request bytes and round trip", "[writer][startup]") {
  bytes ssl;
  pgwire::write_ssl_request(ssl);
  CHECK(ssl == bytes{0, 0, 0, 8, 0x04, 0xD2, 0x16, 0x2F});
  CHECK(round_trip_startup(ssl).kind == pgwire::startup_kind::ssl_request);

  bytes cancel;
  pgwire::write_cancel_request(cancel, 4242u, 0x89ABCDEFu);
  CHECK(cancel ==
        bytes{0, 0, 0, 16, 0x04, 0xD2, 0x16, 0x2E, 0, 0, 0x10, 0x92, 0x89, 0xAB, 0xCD, 0xEF});
  const auto p = round_trip_startup(cancel);
  CHECK(p.kind == pgwire::startup_kind::cancel);
  CHECK(p.cancel.pid == 4242u);
  CHECK(p.cancel.secret == 0x89ABCDEFu);
}

TEST_CASE("write_query and write_terminate bytes and round trip", "[writer]") {
  bytes out;
  pgwire::write_query(out, "SELECT 1");
  CHECK(out == bytes{'Q', 0, 0, 0, 13, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1', 0});
  CHECK(round_trip<pgwire::query_msg>(out).sql == "SELECT 1");

  bytes term;
  pgwire::write_terminate(term);
  CHECK(term == bytes{'X', 0, 0, 0, 4});
  CHECK(pgwire::decode_empty(wire::frame_whole(term), pgwire::fe::terminate) == errc::ok);
}

TEST_CASE("write_password and the SASL client messages round trip", "[writer][auth]") {
  SECTION("password") {
    bytes out;
    pgwire::write_password(out, "secret");
    CHECK(out == bytes{'p', 0, 0, 0, 11, 's', 'e', 'c', 'r', 'e', 't', 0});
    CHECK(round_trip<pgwire::password_msg>(out).password == "secret");
  }
  SECTION("SASLInitialResponse") {
    bytes out;
    pgwire::write_sasl_initial_response(out, "SCRAM-SHA-256", "n,,n=,r=abc");
    CHECK(out == wire::msg('p', body{}.cstr("SCRAM-SHA-256").i32(11).raw("n,,n=,r=abc")));
    const auto s = round_trip<pgwire::sasl_initial_response_msg>(out);
    CHECK(s.mechanism == "SCRAM-SHA-256");
    REQUIRE(s.data);
    CHECK(wire::str(*s.data) == "n,,n=,r=abc");
  }
  SECTION("SASLResponse") {
    bytes out;
    pgwire::write_sasl_response(out, "c=biws,r=abc,p=xyz");
    CHECK(out == wire::msg('p', wire::of("c=biws,r=abc,p=xyz")));
    CHECK(wire::str(round_trip<pgwire::sasl_response_msg>(out).data) == "c=biws,r=abc,p=xyz");
  }
}

TEST_CASE("a batch of writer output frames message by message", "[writer]") {
  bytes out;
  pgwire::write_auth_ok(out);
  pgwire::write_parameter_status(out, "server_version", "16.0");
  pgwire::write_backend_key_data(out, 1, 2);
  pgwire::write_ready_for_query(out, 'I');
  const std::vector<char> expected_tags = {'R', 'S', 'K', 'Z'};
  std::vector<char> tags;
  pgwire::bytes_view rest(out);
  while (!rest.empty()) {
    const auto r = pgwire::frame_message(rest, wire::default_max);
    REQUIRE(r.status == frame_status::message);
    tags.push_back(r.msg.tag);
    rest = rest.subspan(r.msg.size);
  }
  CHECK(tags == expected_tags);
}

TEST_CASE("write_parse bytes and round trip, with and without parameter types", "[writer][extended]") {
  bytes out;
  const std::int32_t oids[] = {25, 23};
  pgwire::write_parse(out, "s1", "SELECT $1, $2", oids);
  CHECK(out == wire::msg('P', body{}.cstr("s1").cstr("SELECT $1, $2").i16(2).i32(25).i32(23)));
  const auto p = round_trip<pgwire::parse_msg>(out);
  CHECK(p.name == "s1");
  CHECK(p.sql == "SELECT $1, $2");
  CHECK(p.nparams == 2);
  CHECK(p.param_oids.size() == 8);

  bytes unnamed;
  pgwire::write_parse(unnamed, "", "SELECT 1");
  CHECK(unnamed == wire::msg('P', body{}.cstr("").cstr("SELECT 1").i16(0)));
  CHECK(round_trip<pgwire::parse_msg>(unnamed).nparams == 0);
}

TEST_CASE("write_bind bytes and round trip: text parameters, NULL, text results", "[writer][extended]") {
  const std::array<std::optional<std::string_view>, 2> params = {
      std::optional<std::string_view>("alice"), std::nullopt};
  bytes out;
  pgwire::write_bind(out, "", "s1", params);
  CHECK(out == wire::msg('B', body{}.cstr("").cstr("s1").i16(0).i16(2).i32(5).raw("alice").i32(-1).i16(0)));
  const auto b = round_trip<pgwire::bind_msg>(out);
  CHECK(b.portal.empty());
  CHECK(b.statement == "s1");
  CHECK(b.nformats == 0);
  CHECK(b.nparams == 2);
  CHECK(b.nresult_formats == 0);
}

TEST_CASE("write_describe, write_close, write_execute, write_sync, write_flush bytes", "[writer][extended]") {
  bytes out;
  pgwire::write_describe(out, 'S', "s1");
  CHECK(out == wire::msg('D', body{}.u8('S').cstr("s1")));
  const auto d = round_trip<pgwire::describe_msg>(out);
  CHECK(d.kind == 'S');
  CHECK(d.name == "s1");

  bytes close;
  pgwire::write_close(close, 'P', "");
  CHECK(close == wire::msg('C', body{}.u8('P').cstr("")));
  CHECK(round_trip<pgwire::close_msg>(close).kind == 'P');

  bytes exec;
  pgwire::write_execute(exec, "p", 10);
  CHECK(exec == wire::msg('E', body{}.cstr("p").i32(10)));
  const auto e = round_trip<pgwire::execute_msg>(exec);
  CHECK(e.portal == "p");
  CHECK(e.max_rows == 10);

  bytes sync, flush;
  pgwire::write_sync(sync);
  pgwire::write_flush(flush);
  CHECK(sync == bytes{'S', 0, 0, 0, 4});
  CHECK(flush == bytes{'H', 0, 0, 0, 4});
}

TEST_CASE("write_bare and write_parameter_description bytes and round trip", "[writer][extended]") {
  bytes out;
  pgwire::write_bare(out, pgwire::be::parse_complete);
  pgwire::write_bare(out, pgwire::be::no_data);
  CHECK(out == bytes{'1', 0, 0, 0, 4, 'n', 0, 0, 0, 4});

  bytes pd;
  const std::int32_t oids[] = {25};
  pgwire::write_parameter_description(pd, oids);
  CHECK(pd == wire::msg('t', body{}.i16(1).i32(25)));
  const auto m = round_trip<pgwire::parameter_description_msg>(pd);
  CHECK(m.nparams == 1);
}

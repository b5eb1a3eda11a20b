// Unit tests of the incremental framer: frame_message, peek_header, frame_startup.

#include <cstdint>
#include <vector>

#include "catch.hpp"
#include "pgwire/framer.hpp"
#include "wire_helpers.hpp"

using pgwire::errc;
using pgwire::frame_status;
using wire::bytes;

TEST_CASE("load_be32 and load_be16 read big-endian words", "[framer]") {
  const std::uint8_t b[] = {0x12, 0x34, 0x56, 0x78, 0xFF, 0xFE};
  CHECK(pgwire::load_be32(b) == 0x12345678u);
  CHECK(pgwire::load_be32(b + 2) == 0x5678FFFEu);
  CHECK(pgwire::load_be16(b) == 0x1234u);
  CHECK(pgwire::load_be16(b + 4) == 0xFFFEu);
  CHECK(static_cast<std::int16_t>(pgwire::load_be16(b + 4)) == -2);
}

TEST_CASE("frame_message needs the five header bytes before anything", "[framer]") {
  const bytes m = wire::msg('Q', wire::body{}.cstr("SELECT 1"));
  for (std::size_t k = 0; k < 5; ++k) {
    CAPTURE(k);
    const auto r = pgwire::frame_message(pgwire::bytes_view(m.data(), k), wire::default_max);
    CHECK(r.status == frame_status::need_more);
    CHECK(r.need == 5);
    CHECK(r.error == errc::ok);
  }
  // An empty span with no storage at all.
  const auto r = pgwire::frame_message(pgwire::bytes_view{}, wire::default_max);
  CHECK(r.status == frame_status::need_more);
  CHECK(r.need == 5);
}

TEST_CASE("frame_message at every split point", "[framer]") {
  const bytes m = wire::msg('Q', wire::body{}.cstr("SELECT * FROM pg_class"));
  REQUIRE(m.size() == 5 + 23);
  wire::check_every_split(m);
  const auto f = wire::frame_whole(m);
  CHECK(f.tag == 'Q');
  CHECK(wire::str(f.body) == std::string("SELECT * FROM pg_class", 22) + '\0');
}

TEST_CASE("frame_message with an empty body (length 4)", "[framer]") {
  const bytes m = {'S', 0, 0, 0, 4};
  const auto r = pgwire::frame_message(m, wire::default_max);
  REQUIRE(r.status == frame_status::message);
  CHECK(r.msg.tag == 'S');
  CHECK(r.msg.size == 5);
  CHECK(r.msg.body.empty());
  const auto h = pgwire::peek_header(m, wire::default_max);
  REQUIRE(h.status == frame_status::message);
  CHECK(h.tag == 'S');
  CHECK(h.body_len == 0);
}

TEST_CASE("frame_message ignores bytes after the frame and frames consecutive messages",
          "[framer]") {
  const bytes a = wire::msg('P', wire::body{}.cstr("s1").cstr("SELECT $1").i16(1).i32(23));
  const bytes b = wire::msg('B', wire::body{}.cstr("").cstr("s1").i16(0).i16(1).i32(1).raw("7").i16(0));
  const bytes c = {'S', 0, 0, 0, 4};
  bytes stream = wire::cat(wire::cat(a, b), c);
  // Followed by the first 3 bytes of another message.
  stream.insert(stream.end(), {'H', 0, 0});

  std::vector<std::pair<char, std::size_t>> seen;
  pgwire::bytes_view rest(stream);
  for (;;) {
    const auto r = pgwire::frame_message(rest, wire::default_max);
    if (r.status != frame_status::message) {
      CHECK(r.status == frame_status::need_more);
      CHECK(r.need == 5);
      break;
    }
    CHECK(r.msg.body.data() == rest.data() + 5);
    seen.emplace_back(r.msg.tag, r.msg.size);
    rest = rest.subspan(r.msg.size);
  }
  REQUIRE(seen.size() == 3);
  CHECK(seen[0] == std::make_pair('P', a.size()));
  CHECK(seen[1] == std::make_pair('B', b.size()));
  CHECK(seen[2] == std::make_pair('S', c.size()));
  CHECK(rest.size() == 3);
}

TEST_CASE("frame_message rejects lengths above max_len", "[framer]") {
  const std::uint32_t max_len = 1000;
  SECTION("exactly max_len frames") {
    const bytes m = wire::msg('d', bytes(max_len - 4, 0xAB));
    REQUIRE(m.size() == max_len + 1);
    const auto r = pgwire::frame_message(m, max_len);
    REQUIRE(r.status == frame_status::message);
    CHECK(r.msg.body.size() == max_len - 4);
    // A prefix still just asks for the rest.
    const auto p = pgwire::frame_message(pgwire::bytes_view(m.data(), 5), max_len);
    CHECK(p.status == frame_status::need_more);
    CHECK(p.need == max_len + 1);
  }
  SECTION("one above max_len is refused from the header alone") {
    for (std::uint32_t len : {max_len + 1, max_len * 2, 0x7FFFFFFFu}) {
      CAPTURE(len);
      const bytes hdr = wire::msg_with_len('d', len, {});
      const auto r = pgwire::frame_message(hdr, max_len);
      CHECK(r.status == frame_status::error);
      CHECK(r.error == errc::length_too_large);
      const auto h = pgwire::peek_header(hdr, max_len);
      CHECK(h.status == frame_status::error);
      CHECK(h.error == errc::length_too_large);
    }
  }
}

TEST_CASE("frame_message rejects lengths below 4, including negative ones", "[framer]") {
  for (std::uint32_t len : {0u, 1u, 2u, 3u, 0xFFFFFFFFu, 0xFFFFFFFCu, 0x80000000u}) {
    CAPTURE(len);
    const bytes hdr = wire::msg_with_len('Q', len, wire::of("abc"));
    // A generous max_len must not turn a negative length into a "large" one.
    for (std::uint32_t max_len : {wire::default_max, 0xFFFFFFFFu}) {
      CAPTURE(max_len);
      const auto r = pgwire::frame_message(hdr, max_len);
      CHECK(r.status == frame_status::error);
      CHECK(r.error == errc::length_too_small);
      const auto h = pgwire::peek_header(hdr, max_len);
      CHECK(h.status == frame_status::error);
      CHECK(h.error == errc::length_too_small);
    }
  }
}

TEST_CASE("peek_header reports the header before the body arrives", "[framer]") {
  const bytes m = wire::msg('D', bytes(300, 1));
  const auto h = pgwire::peek_header(pgwire::bytes_view(m.data(), 5), wire::default_max);
  REQUIRE(h.status == frame_status::message);
  CHECK(h.tag == 'D');
  CHECK(h.body_len == 300);
  CHECK(h.error == errc::ok);
  CHECK(pgwire::peek_header(pgwire::bytes_view(m.data(), 4), wire::default_max).status ==
        frame_status::need_more);
}

TEST_CASE("frame_startup at every split point", "[framer][startup]") {
  const bytes m = wire::startup(
      wire::body{}.u32(pgwire::protocol_3_0).cstr("user").cstr("alice").cstr("database").cstr("db").u8(0));
  wire::check_every_split_startup(m);
  const auto f = wire::frame_whole_startup(m);
  CHECK(pgwire::load_be32(f.body.data()) == pgwire::protocol_3_0);
}

TEST_CASE("frame_startup frames an SSLRequest followed by a StartupMessage", "[framer][startup]") {
  const bytes ssl = wire::startup(wire::body{}.u32(pgwire::ssl_request_code));
  REQUIRE(ssl.size() == 8);
  const bytes st = wire::startup(wire::body{}.u32(pgwire::protocol_3_0).cstr("user").cstr("u").u8(0));
  const bytes both = wire::cat(ssl, st);
  const auto r1 = pgwire::frame_startup(both);
  REQUIRE(r1.status == frame_status::message);
  CHECK(r1.msg.size == 8);
  CHECK(r1.msg.tag == 0);
  CHECK(pgwire::load_be32(r1.msg.body.data()) == pgwire::ssl_request_code);
  const auto r2 = pgwire::frame_startup(pgwire::bytes_view(both).subspan(r1.msg.size));
  REQUIRE(r2.status == frame_status::message);
  CHECK(r2.msg.size == st.size());
  CHECK(r2.msg.body.data() == both.data() + 8 + 4);
  CHECK(pgwire::frame_startup(pgwire::bytes_view(both).subspan(8 + st.size())).status ==
        frame_status::need_more);
}

TEST_CASE("frame_startup length limits", "[framer][startup]") {
  SECTION("below 8 and negative lengths are too small") {
    for (std::uint32_t len : {0u, 1u, 4u, 7u, 0xFFFFFFFFu, 0xFFFFFFF8u, 0x80000000u}) {
      CAPTURE(len);
      const bytes m = wire::body{}.u32(len).u32(pgwire::protocol_3_0).b;
      const auto r = pgwire::frame_startup(m);
      CHECK(r.status == frame_status::error);
      CHECK(r.error == errc::length_too_small);
    }
  }
  SECTION("above 10000 is too large") {
    for (std::uint32_t len : {pgwire::max_startup_packet + 1, 65536u, 0x7FFFFFFFu}) {
      CAPTURE(len);
      const bytes m = wire::body{}.u32(len).b;
      const auto r = pgwire::frame_startup(m);
      CHECK(r.status == frame_status::error);
      CHECK(r.error == errc::length_too_large);
    }
  }
  SECTION("exactly 8 and exactly 10000 are accepted") {
    const bytes small = wire::body{}.u32(8).u32(pgwire::ssl_request_code).b;
    CHECK(pgwire::frame_startup(small).status == frame_status::message);
    const bytes big = wire::startup(bytes(pgwire::max_startup_packet - 4, 'x'));
    REQUIRE(big.size() == pgwire::max_startup_packet);
    const auto r = pgwire::frame_startup(big);
    REQUIRE(r.status == frame_status::message);
    CHECK(r.msg.size == pgwire::max_startup_packet);
    const auto p = pgwire::frame_startup(pgwire::bytes_view(big.data(), 4));
    CHECK(p.status == frame_status::need_more);
    CHECK(p.need == pgwire::max_startup_packet);
  }
}

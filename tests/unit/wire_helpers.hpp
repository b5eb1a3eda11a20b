#pragma once
/// @file wire_helpers.hpp
/// Test helpers that assemble protocol bytes by hand (independently of pgwire's writers) and
/// drive the framer and the decoders over them.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "catch.hpp"
#include "pgwire/errc.hpp"
#include "pgwire/framer.hpp"
#include "pgwire/messages.hpp"

namespace pgwire {
// So that failing CHECK(a == b) on these enums prints something readable.
inline std::ostream& operator<<(std::ostream& os, errc e) {
  return os << "errc(" << static_cast<int>(e) << ": " << make_error_code(e).message() << ")";
}
inline std::ostream& operator<<(std::ostream& os, frame_status s) {
  switch (s) {
    case frame_status::message: return os << "message";
    case frame_status::need_more: return os << "need_more";
    case frame_status::error: return os << "error";
  }
  return os << "frame_status(?)";
}
}  // namespace pgwire

namespace wire {

using bytes = std::vector<std::uint8_t>;

/// Appends big-endian integers, C strings and raw bytes.
struct body {
  bytes b;
  body& u8(std::uint8_t v) {
    b.push_back(v);
    return *this;
  }
  body& ch(char c) { return u8(static_cast<std::uint8_t>(c)); }
  body& i16(std::int16_t v) {
    const auto u = static_cast<std::uint16_t>(v);
    b.push_back(static_cast<std::uint8_t>(u >> 8));
    b.push_back(static_cast<std::uint8_t>(u & 0xFF));
    return *this;
  }
  body& u32(std::uint32_t u) {
    b.push_back(static_cast<std::uint8_t>(u >> 24));
    b.push_back(static_cast<std::uint8_t>((u >> 16) & 0xFF));
    b.push_back(static_cast<std::uint8_t>((u >> 8) & 0xFF));
    b.push_back(static_cast<std::uint8_t>(u & 0xFF));
    return *this;
  }
  body& i32(std::int32_t v) { return u32(static_cast<std::uint32_t>(v)); }
  body& raw(std::string_view s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  body& raw(const bytes& s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  body& cstr(std::string_view s) {
    raw(s);
    return u8(0);
  }
  operator const bytes&() const { return b; }  // NOLINT(google-explicit-constructor)
};

/// tag + big-endian int32 (4 + body size) + body.
inline bytes msg(char tag, const bytes& b) {
  body out;
  out.ch(tag).u32(static_cast<std::uint32_t>(b.size() + 4)).raw(b);
  return out.b;
}
/// tag + an arbitrary declared length word + body.
inline bytes msg_with_len(char tag, std::uint32_t len, const bytes& b) {
  body out;
  out.ch(tag).u32(len).raw(b);
  return out.b;
}
/// Startup-phase packet: big-endian int32 (4 + body size) + body.
inline bytes startup(const bytes& b) {
  body out;
  out.u32(static_cast<std::uint32_t>(b.size() + 4)).raw(b);
  return out.b;
}
inline bytes cat(bytes a, const bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
inline bytes prefix(const bytes& a, std::size_t n) {
  return bytes(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(n));
}
inline bytes of(std::string_view s) { return bytes(s.begin(), s.end()); }
inline std::string str(pgwire::bytes_view v) { return std::string(v.begin(), v.end()); }
inline bytes vec(pgwire::bytes_view v) { return bytes(v.begin(), v.end()); }

inline constexpr std::uint32_t default_max = 1u << 20;

/// Frames a complete typed message that must occupy all of `m`.
inline pgwire::frame frame_whole(const bytes& m, std::uint32_t max_len = default_max) {
  const auto r = pgwire::frame_message(m, max_len);
  REQUIRE(r.status == pgwire::frame_status::message);
  REQUIRE(r.error == pgwire::errc::ok);
  REQUIRE(r.msg.size == m.size());
  REQUIRE(r.msg.body.size() == m.size() - 5);
  REQUIRE(r.msg.body.data() == m.data() + 5);
  REQUIRE(r.msg.tag == static_cast<char>(m[0]));
  return r.msg;
}

/// Frames a complete startup-phase packet that must occupy all of `m`.
inline pgwire::frame frame_whole_startup(const bytes& m) {
  const auto r = pgwire::frame_startup(m);
  REQUIRE(r.status == pgwire::frame_status::message);
  REQUIRE(r.msg.size == m.size());
  REQUIRE(r.msg.tag == 0);
  REQUIRE(r.msg.body.size() == m.size() - 4);
  REQUIRE(r.msg.body.data() == m.data() + 4);
  return r.msg;
}

/// Every proper prefix of the typed message `m` must ask for more: 5 bytes while the header is
/// incomplete, then exactly m.size(). The whole buffer must frame as one message.
inline void check_every_split(const bytes& m, std::uint32_t max_len = default_max) {
  for (std::size_t k = 0; k < m.size(); ++k) {
    CAPTURE(k, m.size());
    const pgwire::bytes_view part(m.data(), k);
    const auto r = pgwire::frame_message(part, max_len);
    REQUIRE(r.status == pgwire::frame_status::need_more);
    CHECK(r.error == pgwire::errc::ok);
    CHECK(r.need == (k < 5 ? std::size_t(5) : m.size()));
    const auto h = pgwire::peek_header(part, max_len);
    if (k < 5) {
      CHECK(h.status == pgwire::frame_status::need_more);
    } else {
      CHECK(h.status == pgwire::frame_status::message);
      CHECK(h.tag == static_cast<char>(m[0]));
      CHECK(h.body_len == m.size() - 5);
    }
  }
  frame_whole(m, max_len);
}

/// Same for startup-phase packets: 8 bytes while the length is unknown, then m.size().
inline void check_every_split_startup(const bytes& m) {
  for (std::size_t k = 0; k < m.size(); ++k) {
    CAPTURE(k, m.size());
    const auto r = pgwire::frame_startup(pgwire::bytes_view(m.data(), k));
    REQUIRE(r.status == pgwire::frame_status::need_more);
    CHECK(r.need == (k < 4 ? std::size_t(8) : m.size()));
  }
  frame_whole_startup(m);
}

/// Frames `m` and decodes it into `out`. The views in `out` point into `m`.
template <class M>
pgwire::errc decode_bytes(const bytes& m, M& out) {
  const pgwire::frame f = frame_whole(m);
  return pgwire::decode(f, out);
}

/// A message and its copy in the same buffer: the first frame's size locates the second, and
/// both decode to the same result as the single message (checked by `check`).
template <class M, class Check>
void check_two_in_a_row(const bytes& m, Check check) {
  const bytes two = cat(m, m);
  const auto r1 = pgwire::frame_message(two, default_max);
  REQUIRE(r1.status == pgwire::frame_status::message);
  REQUIRE(r1.msg.size == m.size());
  const pgwire::bytes_view rest = pgwire::bytes_view(two).subspan(r1.msg.size);
  const auto r2 = pgwire::frame_message(rest, default_max);
  REQUIRE(r2.status == pgwire::frame_status::message);
  REQUIRE(r2.msg.size == m.size());
  CHECK(r2.msg.body.data() == two.data() + m.size() + 5);
  for (const auto* f : {&r1.msg, &r2.msg}) {
    M out{};
    REQUIRE(pgwire::decode(*f, out) == pgwire::errc::ok);
    check(out);
  }
  // Nothing left after the second one.
  CHECK(pgwire::frame_message(rest.subspan(r2.msg.size), default_max).status ==
        pgwire::frame_status::need_more);
}

/// Every proper prefix of a body, sent as a complete frame, must be rejected by the decoder as
/// truncated (or bad_field where a count no longer fits the shorter body).
template <class M>
void check_body_prefixes_rejected(char tag, const bytes& b) {
  for (std::size_t k = 0; k < b.size(); ++k) {
    CAPTURE(k, b.size());
    const bytes m = msg(tag, prefix(b, k));
    M out{};
    const auto e = decode_bytes(m, out);
    CHECK((e == pgwire::errc::truncated || e == pgwire::errc::bad_field));
  }
}

/// The body plus one more byte is trailing_bytes; the same body under another tag is
/// unexpected_message.
template <class M>
void check_trailing_and_tag(char tag, const bytes& b, char wrong_tag) {
  {
    const bytes m = msg(tag, cat(b, bytes{0x7F}));
    M out{};
    CHECK(decode_bytes(m, out) == pgwire::errc::trailing_bytes);
  }
  {
    const bytes m = msg(wrong_tag, b);
    M out{};
    CHECK(decode_bytes(m, out) == pgwire::errc::unexpected_message);
  }
}

/// Big-endian int16 / int32 array from a view.
inline std::vector<std::int16_t> i16s(pgwire::bytes_view v) {
  std::vector<std::int16_t> out;
  for (std::size_t i = 0; i + 2 <= v.size(); i += 2)
    out.push_back(static_cast<std::int16_t>(pgwire::load_be16(v.data() + i)));
  return out;
}
inline std::vector<std::int32_t> i32s(pgwire::bytes_view v) {
  std::vector<std::int32_t> out;
  for (std::size_t i = 0; i + 4 <= v.size(); i += 4)
    out.push_back(static_cast<std::int32_t>(pgwire::load_be32(v.data() + i)));
  return out;
}

}  // namespace wire

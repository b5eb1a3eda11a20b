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

TEST_CASE("statements: equal text and types make one tail, anything else another",
          "[statements]") {
  auto tail = [](const bytes& m) {
    const pgwire::frame f = wire::frame_whole(m);
    pgwire::statement_ref ref;
    REQUIRE(pgwire::find_statement(f, ref) == errc::ok);
    const pgwire::bytes_view t = pgwire::parse_tail(f, ref);
    return bytes(t.begin(), t.end());
  };
  const bytes a = tail(wire::msg('P', body{}.cstr("s1").cstr("SELECT $1").i16(1).i32(23)));
  CHECK(a == body{}.cstr("SELECT $1").i16(1).i32(23).b);
  // The client's name is not part of the statement.
  CHECK(a == tail(wire::msg('P', body{}.cstr("other").cstr("SELECT $1").i16(1).i32(23))));
  CHECK(a != tail(wire::msg('P', body{}.cstr("s1").cstr("SELECT $1").i16(1).i32(25))));
  CHECK(a != tail(wire::msg('P', body{}.cstr("s1").cstr("SELECT $1").i16(0))));
  CHECK(a != tail(wire::msg('P', body{}.cstr("s1").cstr("SELECT $2").i16(1).i32(23))));
  // The injected Parse is the client's Parse under another name.
  bytes injected;
  pgwire::write_parse_tail(injected, "sluice_3", a);
  CHECK(injected == wire::msg('P', body{}.cstr("sluice_3").cstr("SELECT $1").i16(1).i32(23)));
}

namespace {

/// A hook as a pooler writes one: statement "a" becomes "srv_a", a Close of "gone" is dropped
/// and Terminate stops. It records every tag it sees, in order.
struct test_hook {
  std::string seen;
  pgwire::message_action operator()(char tag, const pgwire::frame* f, pgwire::rewrite_emitter* em) {
    seen.push_back(tag);
    if (tag == 'X') return pgwire::message_action::stop;
    if (!f) return pgwire::message_action::keep;
    pgwire::statement_ref ref;
    REQUIRE(pgwire::find_statement(*f, ref) == errc::ok);
    if (!ref.present) return pgwire::message_action::keep;
    if (tag == 'C' && ref.name == "gone") {
      em->replace();
      return pgwire::message_action::replaced;
    }
    if (ref.name != "a") return pgwire::message_action::keep;
    pgwire::write_renamed(em->replace(), *f, ref, "srv_a");
    return pgwire::message_action::replaced;
  }
};

/// Feeds `stream` in pieces cut at `cuts` and returns everything that would be sent, with the
/// hook's record of tags; `copy_free` tells whether every piece went out uncopied.
struct fed {
  bytes sent;
  std::string seen;
  bool copy_free = true;
  bool stopped = false;
  bool at_boundary = false;  ///< the scanner ended between messages
};
fed feed_in_pieces(const bytes& stream, std::vector<std::size_t> cuts,
                   std::uint32_t max_len = 1 << 20, std::uint32_t keep = 1 << 20) {
  pgwire::stream_scanner sc(max_len, keep);
  test_hook hook;
  fed r;
  pgwire::byte_buffer out;
  cuts.push_back(stream.size());
  std::size_t from = 0;
  for (const std::size_t to : cuts) {
    const pgwire::bytes_view in(stream.data() + from, to - from);
    const pgwire::rewrite_result res = pgwire::rewrite_stream(sc, in, out, hook);
    REQUIRE(res.error == errc::ok);
    if (res.copied) {
      r.copy_free = false;
      r.sent.insert(r.sent.end(), out.begin(), out.begin() + std::ptrdiff_t(res.length));
    } else {
      r.sent.insert(r.sent.end(), in.begin(), in.begin() + std::ptrdiff_t(res.length));
    }
    from = to;
    if (res.stopped) {
      r.stopped = true;
      break;
    }
  }
  r.seen = hook.seen;
  r.at_boundary = sc.at_boundary();
  return r;
}

const bytes parse_a = wire::msg('P', body{}.cstr("a").cstr("SELECT $1").i16(1).i32(23));
const bytes parse_srv_a = wire::msg('P', body{}.cstr("srv_a").cstr("SELECT $1").i16(1).i32(23));
const bytes bind_a = wire::msg('B', body{}.cstr("").cstr("a").i16(0).i16(1).i32(1).raw("7").i16(0));
const bytes bind_srv_a =
    wire::msg('B', body{}.cstr("").cstr("srv_a").i16(0).i16(1).i32(1).raw("7").i16(0));
const bytes bind_unnamed = wire::msg('B', body{}.cstr("").cstr("").i16(0).i16(0).i16(0));
const bytes parse_unnamed = wire::msg('P', body{}.cstr("").cstr("SELECT 1").i16(0));
const bytes describe_portal = wire::msg('D', body{}.u8('P').cstr(""));
const bytes execute_msg = wire::msg('E', body{}.cstr("").i32(0));
const bytes sync_msg = wire::msg('S', body{});
const bytes close_gone = wire::msg('C', body{}.u8('S').cstr("gone"));
const bytes query = wire::msg('Q', body{}.cstr("SELECT 1"));
const bytes terminate_msg = wire::msg('X', body{});

bytes cat_all(std::initializer_list<const bytes*> parts) {
  bytes r;
  for (const bytes* p : parts) r.insert(r.end(), p->begin(), p->end());
  return r;
}

}  // namespace

TEST_CASE("statements: a pipelined batch is renamed the same at every split point",
          "[statements]") {
  const bytes stream = cat_all({&parse_a, &bind_a, &execute_msg, &sync_msg, &parse_unnamed, &bind_unnamed,
                                &describe_portal, &execute_msg, &close_gone, &sync_msg, &query});
  const bytes expected = cat_all({&parse_srv_a, &bind_srv_a, &execute_msg, &sync_msg, &parse_unnamed,
                                  &bind_unnamed, &describe_portal, &execute_msg, &sync_msg, &query});
  const std::string tags = "PBESPBDECSQ";
  const fed whole = feed_in_pieces(stream, {});
  CHECK(whole.sent == expected);
  CHECK(whole.seen == tags);
  CHECK_FALSE(whole.copy_free);
  for (std::size_t cut = 1; cut < stream.size(); ++cut) {
    const fed r = feed_in_pieces(stream, {cut});
    INFO("cut at " << cut);
    CHECK(r.sent == expected);
    CHECK(r.seen == tags);
  }
  // Two cuts: every pair of split points within the first messages.
  for (std::size_t a = 1; a < 40; ++a) {
    for (std::size_t b = a + 1; b < 60; ++b) {
      INFO("cuts at " << a << ", " << b);
      CHECK(feed_in_pieces(stream, {a, b}).sent == expected);
    }
  }
  // One byte at a time.
  std::vector<std::size_t> every;
  for (std::size_t i = 1; i < stream.size(); ++i) every.push_back(i);
  CHECK(feed_in_pieces(stream, every).sent == expected);
}

TEST_CASE("statements: the simple-query and unnamed paths go out uncopied", "[statements]") {
  const bytes stream = cat_all({&query, &parse_unnamed, &bind_unnamed, &describe_portal, &execute_msg,
                                &sync_msg});
  const fed r = feed_in_pieces(stream, {});
  CHECK(r.sent == stream);
  CHECK(r.copy_free);
  // A message that does not name a statement may be cut anywhere and still goes out as it came.
  const bytes q = cat_all({&query, &execute_msg, &sync_msg});
  for (std::size_t cut = 1; cut < q.size(); ++cut) {
    const fed piece = feed_in_pieces(q, {cut});
    CHECK(piece.sent == q);
    CHECK(piece.copy_free);
  }
}

TEST_CASE("statements: a statement message is held until whole, then sent in one piece",
          "[statements]") {
  pgwire::stream_scanner sc(1 << 20, 1 << 20);
  test_hook hook;
  pgwire::byte_buffer out;
  const bytes stream = cat_all({&execute_msg, &bind_a});
  // Everything up to the Bind goes at once; the Bind's first bytes stay with the scanner.
  const std::size_t cut = execute_msg.size() + 3;
  pgwire::rewrite_result r = pgwire::rewrite_stream(sc, pgwire::bytes_view(stream.data(), cut), out, hook);
  REQUIRE(r.error == errc::ok);
  CHECK_FALSE(r.copied);
  CHECK(r.length == execute_msg.size());
  CHECK_FALSE(sc.at_boundary());
  r = pgwire::rewrite_stream(sc, pgwire::bytes_view(stream.data() + cut, stream.size() - cut), out,
                             hook);
  REQUIRE(r.error == errc::ok);
  CHECK(r.copied);
  CHECK(bytes(out.begin(), out.begin() + std::ptrdiff_t(r.length)) == bind_srv_a);
  CHECK(sc.at_boundary());
}

TEST_CASE("statements: Terminate stops what is sent", "[statements]") {
  const bytes stream = cat_all({&bind_a, &sync_msg, &terminate_msg, &query});
  const fed r = feed_in_pieces(stream, {});
  CHECK(r.sent == cat_all({&bind_srv_a, &sync_msg}));
  CHECK(r.stopped);
  CHECK(r.seen == "BSX");
  for (std::size_t cut = 1; cut < bind_a.size() + sync_msg.size(); ++cut) {
    CHECK(feed_in_pieces(stream, {cut}).sent == cat_all({&bind_srv_a, &sync_msg}));
  }
}

TEST_CASE("statements: a statement message over the scanner's limit is a framing error",
          "[statements]") {
  pgwire::stream_scanner sc(1 << 20, 16);
  test_hook hook;
  pgwire::byte_buffer out;
  const pgwire::rewrite_result r =
      pgwire::rewrite_stream(sc, pgwire::bytes_view(parse_a.data(), parse_a.size()), out, hook);
  CHECK(r.error == errc::length_too_large);
}

// ---- statement messages larger than anything the scanner keeps: only their names are
// collected; the parameters and an unnamed Parse's query text stream through.

namespace {

/// A Bind of statement `stmt` with one text parameter of `n` bytes.
bytes big_bind(std::string_view stmt, std::size_t n) {
  return wire::msg('B', body{}.cstr("").cstr(stmt).i16(0).i16(1).i32(std::int32_t(n))
                            .raw(std::string(n, 'v')).i16(0));
}

/// Feeds `stream` cut at `cuts` through a scanner that keeps at most `keep` bytes.
fed feed_kept(const bytes& stream, std::vector<std::size_t> cuts, std::uint32_t keep) {
  fed r = feed_in_pieces(stream, std::move(cuts), 1u << 30, keep);
  CHECK(r.at_boundary);
  return r;
}

/// Where to cut a message: every byte of its first `head` bytes (header, names, the start of
/// the parameters), a few in the body, and every byte of its last 8.
std::vector<std::size_t> cut_points(std::size_t size, std::size_t head) {
  std::vector<std::size_t> at;
  for (std::size_t i = 1; i < std::min(head, size); ++i) at.push_back(i);
  for (std::size_t i = head; i + 8 < size; i += size / 7 + 1) at.push_back(i);
  for (std::size_t i = size > 8 ? size - 8 : 1; i < size; ++i) at.push_back(i);
  return at;
}

}  // namespace

TEST_CASE("statements: a Bind above the keep limit streams, renamed, at every kind of cut",
          "[statements]") {
  // 200 KiB of parameter through a scanner that keeps at most 64 bytes: only the names are
  // collected, so keeping the body would be a framing error.
  const bytes bind = big_bind("a", 200 << 10);
  const bytes renamed = big_bind("srv_a", 200 << 10);
  const bytes stream = cat_all({&bind, &execute_msg, &sync_msg});
  const bytes expected = cat_all({&renamed, &execute_msg, &sync_msg});
  CHECK(feed_kept(stream, {}, 64).sent == expected);
  for (const std::size_t cut : cut_points(bind.size(), 40)) {
    INFO("cut at " << cut);
    const fed r = feed_kept(stream, {cut}, 64);
    CHECK(r.sent == expected);
    CHECK(r.seen == "BES");
  }
  // Two cuts, one in the names and one in the parameters; then in 1000-byte pieces.
  for (std::size_t a = 1; a < 16; ++a) {
    INFO("cuts at " << a << " and 100000");
    CHECK(feed_kept(stream, {a, 100000}, 64).sent == expected);
  }
  std::vector<std::size_t> pieces;
  for (std::size_t i = 1000; i < stream.size(); i += 1000) pieces.push_back(i);
  CHECK(feed_kept(stream, pieces, 64).sent == expected);
}

TEST_CASE("statements: a Bind that keeps its name streams uncopied", "[statements]") {
  // The unnamed statement, or a name the hook leaves alone, needs no copy of 1 MB.
  const bytes stream = cat_all({&parse_unnamed, &bind_unnamed});
  const bytes bind = big_bind("", 1 << 20);
  const bytes all = cat_all({&stream, &bind, &sync_msg});
  const fed r = feed_kept(all, {}, 64);
  CHECK(r.sent == all);
  CHECK(r.copy_free);
  const fed cut = feed_kept(all, {stream.size() + 3, stream.size() + 100}, 64);
  CHECK(cut.sent == all);
}

TEST_CASE("statements: a Bind of 65535 parameters streams", "[statements]") {
  body b;
  b.cstr("").cstr("a").i16(0).i16(-1);  // 65535 as the int16 the protocol sends
  for (int i = 0; i < 65535; ++i) b.i32(1).raw("x");
  b.i16(0);
  const bytes bind = wire::msg('B', b);
  body rb;
  rb.cstr("").cstr("srv_a").i16(0).i16(-1);
  for (int i = 0; i < 65535; ++i) rb.i32(1).raw("x");
  rb.i16(0);
  const bytes renamed = wire::msg('B', rb);
  CHECK(feed_kept(bind, {}, 64).sent == renamed);
  CHECK(feed_kept(bind, {9, 300000}, 64).sent == renamed);
}

TEST_CASE("statements: an unnamed Parse streams its query text; a named one is kept whole",
          "[statements]") {
  const std::string text = "SELECT '" + std::string(300 << 10, 'q') + "'";
  const bytes unnamed = wire::msg('P', body{}.cstr("").cstr(text).i16(0));
  for (const std::size_t cut : cut_points(unnamed.size(), 12)) {
    INFO("cut at " << cut);
    const fed r = feed_kept(unnamed, {cut}, 64);
    CHECK(r.sent == unnamed);
    CHECK(r.seen == "P");
  }
  // Named: the query text is the statement, so it is collected whole (up to the keep limit)
  // and the hook renames it.
  const bytes named = wire::msg('P', body{}.cstr("a").cstr(text).i16(0));
  const bytes renamed = wire::msg('P', body{}.cstr("srv_a").cstr(text).i16(0));
  for (const std::size_t cut : cut_points(named.size(), 12)) {
    INFO("cut at " << cut);
    CHECK(feed_kept(named, {cut}, 1u << 20).sent == renamed);
  }
  pgwire::stream_scanner sc(1u << 30, 64 << 10);
  test_hook hook;
  pgwire::byte_buffer out;
  CHECK(pgwire::rewrite_stream(sc, pgwire::bytes_view(named.data(), named.size()), out, hook).error ==
        errc::length_too_large);
}

TEST_CASE("scanner: a head is reported once its strings have arrived, the rest streams",
          "[statements]") {
  const bytes bind = big_bind("stmt", 1000);
  for (std::size_t cut = 1; cut < bind.size(); ++cut) {
    pgwire::stream_scanner sc(1u << 20, 32);
    std::vector<std::string> heads;
    std::vector<std::uint32_t> lengths;
    auto on = [&](char, pgwire::bytes_view b, std::size_t) {
      heads.emplace_back(reinterpret_cast<const char*>(b.data()), b.size());
      lengths.push_back(sc.message_length());
    };
    auto want = [](char) { return pgwire::collect::head(2); };
    REQUIRE(sc.feed(pgwire::bytes_view(bind.data(), cut), want, on) == errc::ok);
    REQUIRE(sc.feed(pgwire::bytes_view(bind.data() + cut, bind.size() - cut), want, on) ==
            errc::ok);
    INFO("cut at " << cut);
    REQUIRE(heads.size() == 1);
    CHECK(heads[0] == std::string("\0stmt\0", 6));
    CHECK(lengths[0] == bind.size() - 5);
    CHECK(sc.at_boundary());
  }
  // Names longer than the keep limit are a framing error, as a body over it is.
  pgwire::stream_scanner sc(1u << 20, 4);
  CHECK(sc.feed(pgwire::bytes_view(bind.data(), bind.size()),
                [](char) { return pgwire::collect::head(2); },
                [](char, pgwire::bytes_view, std::size_t) {}) == errc::length_too_large);
}

// Statement renaming (rewrite_stream) on arbitrary client bytes cut into arbitrary chunks:
// whatever the cuts, what goes out is the same as for the whole buffer at once, and equals
// the reference: every whole message framed and, where it names a statement, renamed; a
// message cut short at the end goes out as far as it came, renamed, once what
// statement_collect asks for of it has come (a Bind's names), and not at all before.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "pgwire/framer.hpp"
#include "pgwire/scanner.hpp"
#include "pgwire/statements.hpp"

namespace {

constexpr std::uint32_t max_len = 1 << 20;  // above 64 KiB: large Binds stream

/// Renames every named statement to "s_<name>"; a Close of "drop" is replaced by nothing.
pgwire::message_action rename(const pgwire::frame& f, pgwire::rewrite_emitter& em) {
  pgwire::statement_ref ref;
  if (pgwire::find_statement(f, ref) != pgwire::errc::ok || !ref.present || ref.name.empty())
    return pgwire::message_action::keep;
  if (f.tag == 'C' && ref.name == "drop") {
    em.replace();
    return pgwire::message_action::replaced;
  }
  pgwire::write_renamed(em.replace(), f, ref, "s_" + std::string(ref.name));
  return pgwire::message_action::replaced;
}

std::vector<std::uint8_t> run(pgwire::bytes_view in, const std::vector<std::size_t>& cuts,
                              bool& error) {
  pgwire::stream_scanner sc(max_len, max_len);
  pgwire::byte_buffer out;
  std::vector<std::uint8_t> sent;
  std::size_t from = 0;
  for (std::size_t k = 0; k <= cuts.size(); ++k) {
    const std::size_t to = k < cuts.size() ? cuts[k] : in.size();
    const pgwire::bytes_view part = in.subspan(from, to - from);
    const auto r = pgwire::rewrite_stream(sc, part, out, [](char, const pgwire::frame* f,
                                                            pgwire::rewrite_emitter* em) {
      return f ? rename(*f, *em) : pgwire::message_action::keep;
    });
    if (r.error != pgwire::errc::ok) {
      error = true;
      return sent;
    }
    const std::uint8_t* src = r.copied ? out.data() : part.data();
    if (r.length > (r.copied ? out.size() : part.size())) std::abort();
    sent.insert(sent.end(), src, src + r.length);
    from = to;
  }
  return sent;
}

/// The reference for a statement message cut short: held unless its head is all there.
void expected_cut_short(pgwire::bytes_view rest, std::vector<std::uint8_t>& expected) {
  const char tag = static_cast<char>(rest[0]);
  const pgwire::collect c = pgwire::statement_collect(tag);
  if (c.m != pgwire::collect::mode::head) return;  // collected whole: nothing went out
  const pgwire::bytes_view body = rest.subspan(5);
  std::size_t p = 0;
  for (int n = 0; n < c.strings; ++n) {
    while (p < body.size() && body[p] != 0) ++p;
    if (p == body.size()) return;  // the head is not all there
    ++p;
  }
  if (c.whole_if_named && body[0] != 0) return;  // a named Parse: held until whole
  const std::uint32_t declared = (std::uint32_t(rest[1]) << 24 | std::uint32_t(rest[2]) << 16 |
                                  std::uint32_t(rest[3]) << 8 | rest[4]) - 4;
  const pgwire::frame head{tag, body.subspan(0, p), 5 + std::size_t(declared)};
  pgwire::statement_ref ref;
  if (pgwire::find_statement(head, ref) == pgwire::errc::ok && ref.present && !ref.name.empty()) {
    pgwire::byte_buffer one;
    pgwire::write_renamed(one, head, ref, "s_" + std::string(ref.name));
    expected.insert(expected.end(), one.begin(), one.end());
  } else {
    expected.insert(expected.end(), rest.begin(), rest.begin() + 5 + std::ptrdiff_t(p));
  }
  expected.insert(expected.end(), body.begin() + std::ptrdiff_t(p), body.end());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t step = std::size_t(data[0] % 23) + 1;
  const pgwire::bytes_view in(data + 1, size - 1);
  std::vector<std::size_t> cuts;
  for (std::size_t at = step; at < in.size(); at += step + (at % 5)) cuts.push_back(at);

  bool whole_error = false, cut_error = false;
  const auto whole = run(in, {}, whole_error);
  const auto pieces = run(in, cuts, cut_error);
  if (whole_error != cut_error) std::abort();
  if (whole_error) return 0;

  // The reference, message by message. A message not whole at the end goes out as far as it
  // came unless it names a statement (held back until whole).
  std::vector<std::uint8_t> expected;
  std::size_t off = 0;
  while (off < in.size()) {
    const auto r = pgwire::frame_message(in.subspan(off), max_len);
    if (r.status == pgwire::frame_status::error) std::abort();  // the scanner failed too
    if (r.status == pgwire::frame_status::need_more) {
      const pgwire::bytes_view rest = in.subspan(off);
      if (!pgwire::names_statement(static_cast<char>(rest[0]))) {
        expected.insert(expected.end(), rest.begin(), rest.end());
      } else if (rest.size() >= 5) {
        expected_cut_short(rest, expected);
      }
      break;
    }
    pgwire::byte_buffer one;
    if (pgwire::names_statement(r.msg.tag)) {
      pgwire::statement_ref ref;
      if (pgwire::find_statement(r.msg, ref) == pgwire::errc::ok && ref.present && !ref.name.empty()) {
        if (!(r.msg.tag == 'C' && ref.name == "drop"))
          pgwire::write_renamed(one, r.msg, ref, "s_" + std::string(ref.name));
      } else {
        one.assign(in.begin() + std::ptrdiff_t(off), in.begin() + std::ptrdiff_t(off + r.msg.size));
      }
    } else {
      one.assign(in.begin() + std::ptrdiff_t(off), in.begin() + std::ptrdiff_t(off + r.msg.size));
    }
    expected.insert(expected.end(), one.begin(), one.end());
    off += r.msg.size;
  }
  if (whole != expected || pieces != expected) std::abort();
  return 0;
}

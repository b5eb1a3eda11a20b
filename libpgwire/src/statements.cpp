#include "pgwire/statements.hpp"

namespace pgwire {

errc find_statement(const frame& f, statement_ref& out) noexcept {
  out = {};
  body_reader r(f.body);
  std::string_view skip;
  std::uint8_t kind = 0;
  switch (f.tag) {
    case fe::parse:
      break;
    case fe::bind:
      if (!r.cstr(skip)) return errc::truncated;  // the portal comes first
      break;
    case fe::describe:
    case fe::close:
      if (!r.u8(kind)) return errc::truncated;
      if (kind == 'P') return errc::ok;
      if (kind != 'S') return errc::bad_field;
      break;
    default:
      return errc::ok;
  }
  out.offset = f.body.size() - r.remaining();
  if (!r.cstr(out.name)) return errc::truncated;
  out.present = true;
  return errc::ok;
}

namespace {

void write_header(byte_buffer& out, char tag, std::size_t body_len) {
  const auto len = static_cast<std::uint32_t>(body_len + 4);
  out.push_back(static_cast<std::uint8_t>(tag));
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(len >> shift));
}

/// The declared body length: f.size when the framer set it, else the body's.
std::size_t declared_body(const frame& f) {
  return f.size >= 5 + f.body.size() ? f.size - 5 : f.body.size();
}

}  // namespace

void write_renamed(byte_buffer& out, const frame& f, const statement_ref& ref,
                   std::string_view new_name) {
  const std::size_t after = ref.offset + ref.name.size() + 1;  // past the name's NUL
  write_header(out, f.tag, declared_body(f) - ref.name.size() + new_name.size());
  out.insert(out.end(), f.body.begin(), f.body.begin() + std::ptrdiff_t(ref.offset));
  out.insert(out.end(), new_name.begin(), new_name.end());
  out.push_back(0);
  out.insert(out.end(), f.body.begin() + std::ptrdiff_t(after), f.body.end());
}

void write_frame_start(byte_buffer& out, const frame& f) {
  write_header(out, f.tag, declared_body(f));
  out.insert(out.end(), f.body.begin(), f.body.end());
}

bytes_view parse_tail(const frame& f, const statement_ref& ref) noexcept {
  return f.body.subspan(ref.offset + ref.name.size() + 1);
}

void write_parse_tail(byte_buffer& out, std::string_view name, bytes_view tail) {
  message_writer w(out, fe::parse);
  w.cstr(name);
  w.bytes(tail);
}

}  // namespace pgwire

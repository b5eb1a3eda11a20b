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

void write_renamed(byte_buffer& out, const frame& f, const statement_ref& ref,
                   std::string_view new_name) {
  const std::size_t after = ref.offset + ref.name.size() + 1;  // past the name's NUL
  message_writer w(out, f.tag);
  w.bytes(f.body.subspan(0, ref.offset));
  w.cstr(new_name);
  w.bytes(f.body.subspan(after));
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

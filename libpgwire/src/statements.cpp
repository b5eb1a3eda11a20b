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

std::string statement_key(const parse_msg& m) {
  std::string key;
  key.reserve(m.sql.size() + 1 + m.param_oids.size());
  key.append(m.sql);
  key.push_back('\0');  // a query text cannot contain NUL: the types cannot run into it
  key.append(reinterpret_cast<const char*>(m.param_oids.data()), m.param_oids.size());
  return key;
}

}  // namespace pgwire

#include "pgwire/messages.hpp"

#include <cstring>

namespace pgwire {

// ---------------------------------------------------------------- body_reader

bool body_reader::u8(std::uint8_t& v) noexcept {
  if (remaining() < 1) return false;
  v = b_[pos_++];
  return true;
}
bool body_reader::i16(std::int16_t& v) noexcept {
  if (remaining() < 2) return false;
  v = static_cast<std::int16_t>(load_be16(b_.data() + pos_));
  pos_ += 2;
  return true;
}
bool body_reader::i32(std::int32_t& v) noexcept {
  if (remaining() < 4) return false;
  v = static_cast<std::int32_t>(load_be32(b_.data() + pos_));
  pos_ += 4;
  return true;
}
bool body_reader::cstr(std::string_view& v) noexcept {
  if (remaining() == 0) return false;  // also keeps a null data() away from memchr
  const void* nul = std::memchr(b_.data() + pos_, 0, remaining());
  if (!nul) return false;
  const auto len = static_cast<std::size_t>(static_cast<const std::uint8_t*>(nul) - (b_.data() + pos_));
  v = std::string_view(reinterpret_cast<const char*>(b_.data() + pos_), len);
  pos_ += len + 1;
  return true;
}
bool body_reader::bytes(std::size_t n, bytes_view& v) noexcept {
  if (remaining() < n) return false;
  v = b_.subspan(pos_, n);
  pos_ += n;
  return true;
}
bytes_view body_reader::rest() noexcept {
  bytes_view v = b_.subspan(pos_);
  pos_ = b_.size();
  return v;
}

namespace {

errc finish(const body_reader& r) { return r.done() ? errc::ok : errc::trailing_bytes; }

/// n big-endian int16 values; n must be >= 0.
bool int16_array(body_reader& r, std::int16_t n, bytes_view& out) {
  return n >= 0 && r.bytes(std::size_t(n) * 2, out);
}

/// n length-prefixed values (int32 length, -1 = NULL); validates each length.
bool value_array(body_reader& r, std::int16_t n, bytes_view& out) {
  if (n < 0) return false;
  const bytes_view all = r.rest();
  body_reader sub(all);
  for (std::int16_t i = 0; i < n; ++i) {
    std::int32_t len;
    bytes_view skip;
    if (!sub.i32(len)) return false;
    if (len < -1) return false;
    if (len > 0 && !sub.bytes(std::size_t(len), skip)) return false;
  }
  const std::size_t used = all.size() - sub.remaining();
  out = all.first(used);
  // Give back what the values did not use.
  r = body_reader(all.subspan(used));
  return true;
}

}  // namespace

// ---------------------------------------------------------------- startup

std::string_view startup_message::get(std::string_view name) const noexcept {
  for (const auto& [k, v] : params)
    if (k == name) return v;
  return {};
}

errc decode_startup(const frame& f, startup_packet& out) {
  body_reader r(f.body);
  std::int32_t code;
  if (!r.i32(code)) return errc::truncated;
  const auto ucode = static_cast<std::uint32_t>(code);
  switch (ucode) {
    case ssl_request_code:
      out.kind = startup_kind::ssl_request;
      return finish(r);
    case gssenc_request_code:
      out.kind = startup_kind::gssenc_request;
      return finish(r);
    case cancel_request_code: {
      std::int32_t pid, secret;
      if (!r.i32(pid) || !r.i32(secret)) return errc::truncated;
      out.kind = startup_kind::cancel;
      out.cancel = {static_cast<std::uint32_t>(pid), static_cast<std::uint32_t>(secret)};
      return finish(r);
    }
    default: break;
  }
  if ((ucode >> 16) != 3) return errc::unsupported_protocol;
  out.kind = startup_kind::startup;
  out.startup.version = ucode;
  out.startup.params.clear();
  for (;;) {
    std::string_view k, v;
    if (!r.cstr(k)) return errc::truncated;
    if (k.empty()) break;  // the list ends with an empty name
    if (!r.cstr(v)) return errc::truncated;
    out.startup.params.emplace_back(k, v);
  }
  return finish(r);
}

// ---------------------------------------------------------------- frontend

errc decode(const frame& f, query_msg& m) {
  if (f.tag != fe::query) return errc::unexpected_message;
  body_reader r(f.body);
  if (!r.cstr(m.sql)) return errc::truncated;
  return finish(r);
}

errc decode(const frame& f, parse_msg& m) {
  if (f.tag != fe::parse) return errc::unexpected_message;
  body_reader r(f.body);
  if (!r.cstr(m.name) || !r.cstr(m.sql) || !r.i16(m.nparams)) return errc::truncated;
  if (m.nparams < 0) return errc::bad_field;
  if (!r.bytes(std::size_t(m.nparams) * 4, m.param_oids)) return errc::truncated;
  return finish(r);
}

errc decode(const frame& f, bind_msg& m) {
  if (f.tag != fe::bind) return errc::unexpected_message;
  body_reader r(f.body);
  if (!r.cstr(m.portal) || !r.cstr(m.statement) || !r.i16(m.nformats)) return errc::truncated;
  if (m.nformats < 0) return errc::bad_field;
  if (!int16_array(r, m.nformats, m.formats) || !r.i16(m.nparams)) return errc::truncated;
  if (m.nparams < 0) return errc::bad_field;
  if (!value_array(r, m.nparams, m.params)) return errc::truncated;
  if (!r.i16(m.nresult_formats)) return errc::truncated;
  if (m.nresult_formats < 0) return errc::bad_field;
  if (!int16_array(r, m.nresult_formats, m.result_formats)) return errc::truncated;
  return finish(r);
}

namespace {
template <class M>
errc decode_kind_name(const frame& f, char tag, M& m) {
  if (f.tag != tag) return errc::unexpected_message;
  body_reader r(f.body);
  std::uint8_t k;
  if (!r.u8(k) || !r.cstr(m.name)) return errc::truncated;
  if (k != 'S' && k != 'P') return errc::bad_field;
  m.kind = static_cast<char>(k);
  return finish(r);
}
}  // namespace

errc decode(const frame& f, describe_msg& m) { return decode_kind_name(f, fe::describe, m); }
errc decode(const frame& f, close_msg& m) { return decode_kind_name(f, fe::close, m); }

errc decode(const frame& f, execute_msg& m) {
  if (f.tag != fe::execute) return errc::unexpected_message;
  body_reader r(f.body);
  if (!r.cstr(m.portal) || !r.i32(m.max_rows)) return errc::truncated;
  return finish(r);
}

errc decode(const frame& f, copy_data_msg& m) {
  if (f.tag != fe::copy_data) return errc::unexpected_message;
  m.data = f.body;
  return errc::ok;
}

errc decode(const frame& f, copy_fail_msg& m) {
  if (f.tag != fe::copy_fail) return errc::unexpected_message;
  body_reader r(f.body);
  if (!r.cstr(m.message)) return errc::truncated;
  return finish(r);
}

errc decode(const frame& f, function_call_msg& m) {
  if (f.tag != fe::function_call) return errc::unexpected_message;
  body_reader r(f.body);
  if (!r.i32(m.oid) || !r.i16(m.nformats)) return errc::truncated;
  if (m.nformats < 0) return errc::bad_field;
  if (!int16_array(r, m.nformats, m.formats) || !r.i16(m.nargs)) return errc::truncated;
  if (m.nargs < 0) return errc::bad_field;
  if (!value_array(r, m.nargs, m.args) || !r.i16(m.result_format)) return errc::truncated;
  return finish(r);
}

errc decode(const frame& f, password_msg& m) {
  if (f.tag != fe::password) return errc::unexpected_message;
  body_reader r(f.body);
  if (!r.cstr(m.password)) return errc::truncated;
  return finish(r);
}

errc decode(const frame& f, sasl_initial_response_msg& m) {
  if (f.tag != fe::password) return errc::unexpected_message;
  body_reader r(f.body);
  std::int32_t len;
  if (!r.cstr(m.mechanism) || !r.i32(len)) return errc::truncated;
  if (len < -1) return errc::bad_field;
  if (len == -1) {
    m.data.reset();
  } else {
    bytes_view d;
    if (!r.bytes(std::size_t(len), d)) return errc::truncated;
    m.data = d;
  }
  return finish(r);
}

errc decode(const frame& f, sasl_response_msg& m) {
  if (f.tag != fe::password) return errc::unexpected_message;
  m.data = f.body;
  return errc::ok;
}

errc decode_empty(const frame& f, char tag) {
  if (f.tag != tag) return errc::unexpected_message;
  return f.body.empty() ? errc::ok : errc::trailing_bytes;
}

// ---------------------------------------------------------------- backend

errc decode(const frame& f, authentication_msg& m) {
  if (f.tag != be::authentication) return errc::unexpected_message;
  body_reader r(f.body);
  std::int32_t code;
  if (!r.i32(code)) return errc::truncated;
  m.code = static_cast<auth_code>(code);
  m.mechanisms.clear();
  m.data = {};
  switch (m.code) {
    case auth_code::ok:
    case auth_code::kerberos_v5:
    case auth_code::cleartext:
    case auth_code::gss:
    case auth_code::sspi:
      return finish(r);
    case auth_code::md5: {
      bytes_view salt;
      if (!r.bytes(4, salt)) return errc::truncated;
      std::memcpy(m.md5_salt, salt.data(), 4);
      return finish(r);
    }
    case auth_code::sasl:
      for (;;) {
        std::string_view mech;
        if (!r.cstr(mech)) return errc::truncated;
        if (mech.empty()) break;
        m.mechanisms.push_back(mech);
      }
      return finish(r);
    case auth_code::sasl_continue:
    case auth_code::sasl_final:
    case auth_code::gss_continue:
      m.data = r.rest();
      return errc::ok;
  }
  return errc::bad_field;
}

errc decode(const frame& f, backend_key_data_msg& m) {
  if (f.tag != be::backend_key_data) return errc::unexpected_message;
  body_reader r(f.body);
  std::int32_t pid, secret;
  if (!r.i32(pid) || !r.i32(secret)) return errc::truncated;
  m.pid = static_cast<std::uint32_t>(pid);
  m.secret = static_cast<std::uint32_t>(secret);
  return finish(r);
}

errc decode(const frame& f, parameter_status_msg& m) {
  if (f.tag != be::parameter_status) return errc::unexpected_message;
  body_reader r(f.body);
  if (!r.cstr(m.name) || !r.cstr(m.value)) return errc::truncated;
  return finish(r);
}

errc decode(const frame& f, ready_for_query_msg& m) {
  if (f.tag != be::ready_for_query) return errc::unexpected_message;
  body_reader r(f.body);
  std::uint8_t s;
  if (!r.u8(s)) return errc::truncated;
  if (s != 'I' && s != 'T' && s != 'E') return errc::bad_field;
  m.status = static_cast<char>(s);
  return finish(r);
}

errc decode(const frame& f, error_fields& m) {
  if (f.tag != be::error_response && f.tag != be::notice_response) return errc::unexpected_message;
  body_reader r(f.body);
  m = error_fields{};
  for (;;) {
    std::uint8_t code;
    if (!r.u8(code)) return errc::truncated;
    if (code == 0) break;
    std::string_view v;
    if (!r.cstr(v)) return errc::truncated;
    m.fields.emplace_back(static_cast<char>(code), v);
    switch (code) {
      case 'S': m.severity = v; break;
      case 'V': m.severity_nonlocalized = v; break;
      case 'C': m.sqlstate = v; break;
      case 'M': m.message = v; break;
      case 'D': m.detail = v; break;
      case 'H': m.hint = v; break;
      default: break;
    }
  }
  return finish(r);
}

errc decode(const frame& f, row_description_msg& m) {
  if (f.tag != be::row_description) return errc::unexpected_message;
  body_reader r(f.body);
  if (!r.i16(m.nfields)) return errc::truncated;
  if (m.nfields < 0) return errc::bad_field;
  m.fields.clear();
  // Each field takes at least 19 bytes: refuse counts the body cannot hold before reserving.
  if (std::size_t(m.nfields) * 19 > r.remaining()) return errc::truncated;
  m.fields.reserve(std::size_t(m.nfields));
  for (std::int16_t i = 0; i < m.nfields; ++i) {
    row_description_msg::field fd{};
    if (!r.cstr(fd.name) || !r.i32(fd.table_oid) || !r.i16(fd.column) || !r.i32(fd.type_oid) ||
        !r.i16(fd.type_len) || !r.i32(fd.type_mod) || !r.i16(fd.format))
      return errc::truncated;
    m.fields.push_back(fd);
  }
  return finish(r);
}

errc decode(const frame& f, data_row_msg& m) {
  if (f.tag != be::data_row) return errc::unexpected_message;
  body_reader r(f.body);
  if (!r.i16(m.ncolumns)) return errc::truncated;
  if (m.ncolumns < 0) return errc::bad_field;
  m.columns.clear();
  if (std::size_t(m.ncolumns) * 4 > r.remaining()) return errc::truncated;
  m.columns.reserve(std::size_t(m.ncolumns));
  for (std::int16_t i = 0; i < m.ncolumns; ++i) {
    std::int32_t len;
    if (!r.i32(len)) return errc::truncated;
    if (len < -1) return errc::bad_field;
    if (len == -1) {
      m.columns.emplace_back(std::nullopt);
      continue;
    }
    bytes_view v;
    if (!r.bytes(std::size_t(len), v)) return errc::truncated;
    m.columns.emplace_back(v);
  }
  return finish(r);
}

errc decode(const frame& f, command_complete_msg& m) {
  if (f.tag != be::command_complete) return errc::unexpected_message;
  body_reader r(f.body);
  if (!r.cstr(m.tag)) return errc::truncated;
  return finish(r);
}

errc decode(const frame& f, parameter_description_msg& m) {
  if (f.tag != be::parameter_description) return errc::unexpected_message;
  body_reader r(f.body);
  if (!r.i16(m.nparams)) return errc::truncated;
  if (m.nparams < 0) return errc::bad_field;
  if (!r.bytes(std::size_t(m.nparams) * 4, m.oids)) return errc::truncated;
  return finish(r);
}

errc decode(const frame& f, copy_response_msg& m) {
  if (f.tag != be::copy_in_response && f.tag != be::copy_out_response &&
      f.tag != be::copy_both_response)
    return errc::unexpected_message;
  body_reader r(f.body);
  if (!r.u8(m.format) || !r.i16(m.ncolumns)) return errc::truncated;
  if (m.format > 1 || m.ncolumns < 0) return errc::bad_field;
  if (!int16_array(r, m.ncolumns, m.column_formats)) return errc::truncated;
  return finish(r);
}

errc decode(const frame& f, notification_msg& m) {
  if (f.tag != be::notification_response) return errc::unexpected_message;
  body_reader r(f.body);
  std::int32_t pid;
  if (!r.i32(pid) || !r.cstr(m.channel) || !r.cstr(m.payload)) return errc::truncated;
  m.pid = static_cast<std::uint32_t>(pid);
  return finish(r);
}

errc decode(const frame& f, negotiate_protocol_version_msg& m) {
  if (f.tag != be::negotiate_protocol_version) return errc::unexpected_message;
  body_reader r(f.body);
  std::int32_t n;
  if (!r.i32(m.newest_minor) || !r.i32(n)) return errc::truncated;
  if (n < 0 || std::size_t(n) > r.remaining()) return errc::bad_field;
  m.unrecognized.clear();
  for (std::int32_t i = 0; i < n; ++i) {
    std::string_view s;
    if (!r.cstr(s)) return errc::truncated;
    m.unrecognized.push_back(s);
  }
  return finish(r);
}

}  // namespace pgwire

#include "pgwire/writer.hpp"

#include "pgwire/framer.hpp"

namespace pgwire {

message_writer::message_writer(byte_buffer& out, char tag) : out_(out) {
  if (tag != 0) out_.push_back(static_cast<std::uint8_t>(tag));
  len_pos_ = out_.size();
  out_.insert(out_.end(), 4, 0);
}

message_writer& message_writer::u8(std::uint8_t v) {
  out_.push_back(v);
  return *this;
}
message_writer& message_writer::i16(std::int16_t v) {
  const auto u = static_cast<std::uint16_t>(v);
  out_.push_back(static_cast<std::uint8_t>(u >> 8));
  out_.push_back(static_cast<std::uint8_t>(u));
  return *this;
}
message_writer& message_writer::i32(std::int32_t v) {
  const auto u = static_cast<std::uint32_t>(v);
  for (int s = 24; s >= 0; s -= 8) out_.push_back(static_cast<std::uint8_t>(u >> s));
  return *this;
}
message_writer& message_writer::cstr(std::string_view s) {
  bytes(s);
  out_.push_back(0);
  return *this;
}
message_writer& message_writer::bytes(std::span<const std::uint8_t> b) {
  out_.insert(out_.end(), b.begin(), b.end());
  return *this;
}
message_writer& message_writer::bytes(std::string_view b) {
  out_.insert(out_.end(), b.begin(), b.end());
  return *this;
}
void message_writer::finish() {
  if (done_) return;
  done_ = true;
  const auto len = static_cast<std::uint32_t>(out_.size() - len_pos_);
  for (int i = 0; i < 4; ++i) out_[len_pos_ + i] = static_cast<std::uint8_t>(len >> (24 - 8 * i));
}

void write_error(byte_buffer& out, std::string_view severity, std::string_view sqlstate,
                 std::string_view message, std::string_view detail, char tag) {
  message_writer w(out, tag);
  w.u8('S').cstr(severity).u8('V').cstr(severity).u8('C').cstr(sqlstate).u8('M').cstr(message);
  if (!detail.empty()) w.u8('D').cstr(detail);
  w.u8(0);
}

void write_auth_ok(byte_buffer& out) { message_writer(out, 'R').i32(0); }
void write_auth_cleartext(byte_buffer& out) { message_writer(out, 'R').i32(3); }
void write_auth_md5(byte_buffer& out, const std::uint8_t salt[4]) {
  message_writer(out, 'R').i32(5).bytes(std::span<const std::uint8_t>(salt, 4));
}
void write_auth_sasl(byte_buffer& out, std::initializer_list<std::string_view> mechanisms) {
  message_writer w(out, 'R');
  w.i32(10);
  for (auto m : mechanisms) w.cstr(m);
  w.u8(0);
}
void write_auth_sasl_continue(byte_buffer& out, std::string_view data) {
  message_writer(out, 'R').i32(11).bytes(data);
}
void write_auth_sasl_final(byte_buffer& out, std::string_view data) {
  message_writer(out, 'R').i32(12).bytes(data);
}
void write_parameter_status(byte_buffer& out, std::string_view name, std::string_view value) {
  message_writer(out, 'S').cstr(name).cstr(value);
}
void write_backend_key_data(byte_buffer& out, std::uint32_t pid, std::uint32_t secret) {
  message_writer(out, 'K').i32(static_cast<std::int32_t>(pid)).i32(static_cast<std::int32_t>(secret));
}
void write_ready_for_query(byte_buffer& out, char status) {
  message_writer(out, 'Z').u8(static_cast<std::uint8_t>(status));
}

void write_row_description(byte_buffer& out, std::span<const column_desc> cols) {
  message_writer w(out, 'T');
  w.i16(static_cast<std::int16_t>(cols.size()));
  for (const auto& c : cols) w.cstr(c.name).i32(0).i16(0).i32(c.type_oid).i16(c.type_len).i32(-1).i16(0);
}
void write_data_row(byte_buffer& out, std::span<const std::optional<std::string_view>> values) {
  message_writer w(out, 'D');
  w.i16(static_cast<std::int16_t>(values.size()));
  for (const auto& v : values) {
    if (!v) {
      w.i32(-1);
      continue;
    }
    w.i32(static_cast<std::int32_t>(v->size())).bytes(*v);
  }
}
void write_command_complete(byte_buffer& out, std::string_view tag) {
  message_writer(out, 'C').cstr(tag);
}
void write_bare(byte_buffer& out, char tag) { message_writer(out, tag); }
void write_parameter_description(byte_buffer& out, std::span<const std::int32_t> oids) {
  message_writer w(out, 't');
  w.i16(static_cast<std::int16_t>(oids.size()));
  for (const std::int32_t oid : oids) w.i32(oid);
}

void write_startup(byte_buffer& out,
                   std::span<const std::pair<std::string_view, std::string_view>> params) {
  message_writer w(out, 0);
  w.i32(static_cast<std::int32_t>(protocol_3_0));
  for (const auto& [k, v] : params) w.cstr(k).cstr(v);
  w.u8(0);
}
void write_ssl_request(byte_buffer& out) {
  message_writer(out, 0).i32(static_cast<std::int32_t>(ssl_request_code));
}
void write_cancel_request(byte_buffer& out, std::uint32_t pid, std::uint32_t secret) {
  message_writer(out, 0)
      .i32(static_cast<std::int32_t>(cancel_request_code))
      .i32(static_cast<std::int32_t>(pid))
      .i32(static_cast<std::int32_t>(secret));
}
void write_query(byte_buffer& out, std::string_view sql) { message_writer(out, 'Q').cstr(sql); }
void write_terminate(byte_buffer& out) { message_writer(out, 'X'); }
void write_password(byte_buffer& out, std::string_view password) {
  message_writer(out, 'p').cstr(password);
}
void write_sasl_initial_response(byte_buffer& out, std::string_view mechanism,
                                 std::string_view data) {
  message_writer(out, 'p').cstr(mechanism).i32(static_cast<std::int32_t>(data.size())).bytes(data);
}
void write_sasl_response(byte_buffer& out, std::string_view data) {
  message_writer(out, 'p').bytes(data);
}

void write_parse(byte_buffer& out, std::string_view name, std::string_view sql,
                 std::span<const std::int32_t> param_oids) {
  message_writer w(out, 'P');
  w.cstr(name).cstr(sql).i16(static_cast<std::int16_t>(param_oids.size()));
  for (const std::int32_t oid : param_oids) w.i32(oid);
}
void write_bind(byte_buffer& out, std::string_view portal, std::string_view statement,
                std::span<const std::optional<std::string_view>> params) {
  message_writer w(out, 'B');
  w.cstr(portal).cstr(statement).i16(0);  // no format codes: all parameters are text
  w.i16(static_cast<std::int16_t>(params.size()));
  for (const auto& p : params) {
    if (!p) {
      w.i32(-1);
      continue;
    }
    w.i32(static_cast<std::int32_t>(p->size())).bytes(*p);
  }
  w.i16(0);  // no result format codes: all results are text
}
void write_describe(byte_buffer& out, char kind, std::string_view name) {
  message_writer(out, 'D').u8(static_cast<std::uint8_t>(kind)).cstr(name);
}
void write_close(byte_buffer& out, char kind, std::string_view name) {
  message_writer(out, 'C').u8(static_cast<std::uint8_t>(kind)).cstr(name);
}
void write_execute(byte_buffer& out, std::string_view portal, std::int32_t max_rows) {
  message_writer(out, 'E').cstr(portal).i32(max_rows);
}
void write_sync(byte_buffer& out) { message_writer(out, 'S'); }
void write_flush(byte_buffer& out) { message_writer(out, 'H'); }

}  // namespace pgwire

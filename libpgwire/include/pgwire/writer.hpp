#pragma once
/// @file writer.hpp
/// Writers for the messages sluice sends itself. Each appends one complete message to a
/// byte vector, so a batch of messages goes out in one write.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace pgwire {

using byte_buffer = std::vector<std::uint8_t>;

/// Builds one message in place: the constructor writes the tag and a length placeholder,
/// finish() (or the destructor) patches the length.
class message_writer {
 public:
  message_writer(byte_buffer& out, char tag);  ///< tag 0 = startup-phase packet (no tag byte)
  ~message_writer() { finish(); }
  message_writer(const message_writer&) = delete;
  message_writer& operator=(const message_writer&) = delete;

  message_writer& u8(std::uint8_t v);
  message_writer& i16(std::int16_t v);
  message_writer& i32(std::int32_t v);
  message_writer& cstr(std::string_view s);  ///< appends s and a NUL
  message_writer& bytes(std::span<const std::uint8_t> b);
  message_writer& bytes(std::string_view b);
  void finish();

 private:
  byte_buffer& out_;
  std::size_t len_pos_;
  bool done_ = false;
};

// ---- backend messages (sluice as a server)

/// ErrorResponse or NoticeResponse: severity (ERROR, FATAL, WARNING...), SQLSTATE, message.
void write_error(byte_buffer& out, std::string_view severity, std::string_view sqlstate,
                 std::string_view message, std::string_view detail = {}, char tag = 'E');
void write_auth_ok(byte_buffer& out);
void write_auth_cleartext(byte_buffer& out);
void write_auth_md5(byte_buffer& out, const std::uint8_t salt[4]);
void write_auth_sasl(byte_buffer& out, std::initializer_list<std::string_view> mechanisms);
void write_auth_sasl_continue(byte_buffer& out, std::string_view data);
void write_auth_sasl_final(byte_buffer& out, std::string_view data);
void write_parameter_status(byte_buffer& out, std::string_view name, std::string_view value);
void write_backend_key_data(byte_buffer& out, std::uint32_t pid, std::uint32_t secret);
void write_ready_for_query(byte_buffer& out, char status);

struct column_desc {
  std::string_view name;
  std::int32_t type_oid = 25;  ///< text
  std::int16_t type_len = -1;
};
void write_row_description(byte_buffer& out, std::span<const column_desc> cols);
void write_data_row(byte_buffer& out, std::span<const std::optional<std::string_view>> values);
void write_command_complete(byte_buffer& out, std::string_view tag);
/// A message without a body: ParseComplete, BindComplete, CloseComplete, NoData,
/// EmptyQueryResponse, PortalSuspended (tags in messages.hpp, namespace be).
void write_bare(byte_buffer& out, char tag);
/// ParameterDescription with these parameter type OIDs.
void write_parameter_description(byte_buffer& out, std::span<const std::int32_t> oids);

// ---- frontend messages (sluice as a client of PostgreSQL)

void write_startup(byte_buffer& out,
                   std::span<const std::pair<std::string_view, std::string_view>> params);
void write_ssl_request(byte_buffer& out);
void write_cancel_request(byte_buffer& out, std::uint32_t pid, std::uint32_t secret);
void write_query(byte_buffer& out, std::string_view sql);
void write_terminate(byte_buffer& out);
void write_password(byte_buffer& out, std::string_view password);
void write_sasl_initial_response(byte_buffer& out, std::string_view mechanism,
                                 std::string_view data);
void write_sasl_response(byte_buffer& out, std::string_view data);

// Extended query protocol. Parameters and results are in text format.

/// Parse: `name` empty = the unnamed statement; `param_oids` may be empty (server infers).
void write_parse(byte_buffer& out, std::string_view name, std::string_view sql,
                 std::span<const std::int32_t> param_oids = {});
/// Bind with text parameters (nullopt = SQL NULL) and text results.
void write_bind(byte_buffer& out, std::string_view portal, std::string_view statement,
                std::span<const std::optional<std::string_view>> params);
/// Describe or Close of a statement ('S') or portal ('P').
void write_describe(byte_buffer& out, char kind, std::string_view name);
void write_close(byte_buffer& out, char kind, std::string_view name);
/// Execute: `max_rows` 0 = all rows.
void write_execute(byte_buffer& out, std::string_view portal, std::int32_t max_rows = 0);
void write_sync(byte_buffer& out);
void write_flush(byte_buffer& out);

}  // namespace pgwire

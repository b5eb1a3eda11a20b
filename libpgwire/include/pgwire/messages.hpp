#pragma once
/// @file messages.hpp
/// Decoders for the protocol 3.0 messages a pooler reads. Every decoded value is a view into
/// the frame it came from: keep the buffer alive while using it. Decoders validate the whole
/// body (every field present, no trailing bytes) and return an errc instead of throwing.

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "pgwire/framer.hpp"

namespace pgwire {

/// Message tags, by direction.
namespace fe {
inline constexpr char query = 'Q', parse = 'P', bind = 'B', describe = 'D', execute = 'E',
                      sync = 'S', flush = 'H', close = 'C', terminate = 'X', copy_data = 'd',
                      copy_done = 'c', copy_fail = 'f', function_call = 'F', password = 'p';
}
namespace be {
inline constexpr char authentication = 'R', backend_key_data = 'K', parameter_status = 'S',
                      ready_for_query = 'Z', error_response = 'E', notice_response = 'N',
                      row_description = 'T', data_row = 'D', command_complete = 'C',
                      parse_complete = '1', bind_complete = '2', close_complete = '3',
                      no_data = 'n', parameter_description = 't', portal_suspended = 's',
                      empty_query_response = 'I', copy_in_response = 'G',
                      copy_out_response = 'H', copy_both_response = 'W', copy_data = 'd',
                      copy_done = 'c', notification_response = 'A',
                      negotiate_protocol_version = 'v';
}

/// Bounds-checked reader over a message body. Every getter fails (returns false) instead of
/// reading past the end.
class body_reader {
 public:
  explicit body_reader(bytes_view b) noexcept : b_(b) {}
  bool u8(std::uint8_t& v) noexcept;
  bool i16(std::int16_t& v) noexcept;
  bool i32(std::int32_t& v) noexcept;
  bool cstr(std::string_view& v) noexcept;       ///< NUL-terminated string
  bool bytes(std::size_t n, bytes_view& v) noexcept;
  bytes_view rest() noexcept;                    ///< everything left, consumes it
  bool done() const noexcept { return pos_ == b_.size(); }
  std::size_t remaining() const noexcept { return b_.size() - pos_; }

 private:
  bytes_view b_;
  std::size_t pos_ = 0;
};

// ---------------------------------------------------------------- startup phase (frontend)

struct startup_message {
  std::uint32_t version = 0;
  /// name/value pairs in the order sent (user, database, options, application_name, ...)
  std::vector<std::pair<std::string_view, std::string_view>> params;
  std::string_view get(std::string_view name) const noexcept;
};
struct cancel_request {
  std::uint32_t pid = 0, secret = 0;
};
enum class startup_kind { startup, ssl_request, gssenc_request, cancel };
struct startup_packet {
  startup_kind kind = startup_kind::startup;
  startup_message startup;  ///< when kind == startup
  cancel_request cancel;    ///< when kind == cancel
};
/// Decodes a frame from frame_startup(). Only protocol 3.x startup messages are accepted.
errc decode_startup(const frame& f, startup_packet& out);

// ---------------------------------------------------------------- frontend messages

struct query_msg { std::string_view sql; };
struct parse_msg {
  std::string_view name, sql;
  std::int16_t nparams = 0;
  bytes_view param_oids;  ///< nparams big-endian int32
};
struct bind_msg {
  std::string_view portal, statement;
  std::int16_t nformats = 0;
  bytes_view formats;     ///< nformats int16
  std::int16_t nparams = 0;
  bytes_view params;      ///< nparams x (int32 len, bytes), len -1 = NULL
  std::int16_t nresult_formats = 0;
  bytes_view result_formats;
};
struct describe_msg { char kind = 'S'; std::string_view name; };  ///< 'S' statement, 'P' portal
struct close_msg { char kind = 'S'; std::string_view name; };
struct execute_msg { std::string_view portal; std::int32_t max_rows = 0; };
struct copy_data_msg { bytes_view data; };
struct copy_fail_msg { std::string_view message; };
struct function_call_msg {
  std::int32_t oid = 0;
  std::int16_t nformats = 0;
  bytes_view formats;
  std::int16_t nargs = 0;
  bytes_view args;
  std::int16_t result_format = 0;
};
struct password_msg { std::string_view password; };
struct sasl_initial_response_msg {
  std::string_view mechanism;
  std::optional<bytes_view> data;  ///< absent when the length is -1
};
struct sasl_response_msg { bytes_view data; };

errc decode(const frame& f, query_msg& m);
errc decode(const frame& f, parse_msg& m);
errc decode(const frame& f, bind_msg& m);
errc decode(const frame& f, describe_msg& m);
errc decode(const frame& f, close_msg& m);
errc decode(const frame& f, execute_msg& m);
errc decode(const frame& f, copy_data_msg& m);
errc decode(const frame& f, copy_fail_msg& m);
errc decode(const frame& f, function_call_msg& m);
errc decode(const frame& f, password_msg& m);
errc decode(const frame& f, sasl_initial_response_msg& m);
errc decode(const frame& f, sasl_response_msg& m);
/// Sync, Flush, Terminate, CopyDone and the empty backend messages: tag checked, body empty.
errc decode_empty(const frame& f, char tag);

// ---------------------------------------------------------------- backend messages

enum class auth_code : std::int32_t {
  ok = 0, kerberos_v5 = 2, cleartext = 3, md5 = 5, gss = 7, gss_continue = 8, sspi = 9,
  sasl = 10, sasl_continue = 11, sasl_final = 12,
};
struct authentication_msg {
  auth_code code = auth_code::ok;
  std::uint8_t md5_salt[4] = {};  ///< when code == md5
  std::vector<std::string_view> mechanisms;  ///< when code == sasl
  bytes_view data;  ///< sasl_continue / sasl_final / gss_continue payload
};
struct backend_key_data_msg { std::uint32_t pid = 0, secret = 0; };
struct parameter_status_msg { std::string_view name, value; };
struct ready_for_query_msg { char status = 'I'; };  ///< 'I' idle, 'T' in transaction, 'E' failed
/// ErrorResponse / NoticeResponse. The common fields are pulled out; `fields` holds them all.
struct error_fields {
  std::string_view severity, severity_nonlocalized, sqlstate, message, detail, hint;
  std::vector<std::pair<char, std::string_view>> fields;
};
struct row_description_msg {
  std::int16_t nfields = 0;
  struct field {
    std::string_view name;
    std::int32_t table_oid; std::int16_t column; std::int32_t type_oid;
    std::int16_t type_len; std::int32_t type_mod; std::int16_t format;
  };
  std::vector<field> fields;
};
struct data_row_msg {
  std::int16_t ncolumns = 0;
  std::vector<std::optional<bytes_view>> columns;  ///< nullopt = SQL NULL
};
struct command_complete_msg { std::string_view tag; };
struct parameter_description_msg { std::int16_t nparams = 0; bytes_view oids; };
struct copy_response_msg {  ///< CopyInResponse / CopyOutResponse / CopyBothResponse
  std::uint8_t format = 0;
  std::int16_t ncolumns = 0;
  bytes_view column_formats;
};
struct notification_msg { std::uint32_t pid = 0; std::string_view channel, payload; };
struct negotiate_protocol_version_msg {
  std::int32_t newest_minor = 0;
  std::vector<std::string_view> unrecognized;
};

errc decode(const frame& f, authentication_msg& m);
errc decode(const frame& f, backend_key_data_msg& m);
errc decode(const frame& f, parameter_status_msg& m);
errc decode(const frame& f, ready_for_query_msg& m);
errc decode(const frame& f, error_fields& m);  ///< 'E' or 'N'
errc decode(const frame& f, row_description_msg& m);
errc decode(const frame& f, data_row_msg& m);
errc decode(const frame& f, command_complete_msg& m);
errc decode(const frame& f, parameter_description_msg& m);
errc decode(const frame& f, copy_response_msg& m);  ///< 'G', 'H' or 'W'
errc decode(const frame& f, notification_msg& m);
errc decode(const frame& f, negotiate_protocol_version_msg& m);

}  // namespace pgwire

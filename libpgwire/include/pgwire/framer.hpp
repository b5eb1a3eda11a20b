#pragma once
/// @file framer.hpp
/// Incremental framing of the PostgreSQL v3 byte stream. The caller owns the buffer; the
/// framer only looks at the bytes it is given and says how many make up the next message.
/// Lengths are validated before any arithmetic, and nothing is ever allocated from a
/// declared length.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "pgwire/errc.hpp"

namespace pgwire {

using bytes_view = std::span<const std::uint8_t>;

/// Startup-phase packets are capped as PostgreSQL caps them (MAX_STARTUP_PACKET_LENGTH).
inline constexpr std::uint32_t max_startup_packet = 10000;
/// The longest authentication message a client may send (a password, a SCRAM response):
/// PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH, which also bounds pgbouncer's passwords.
inline constexpr std::uint32_t max_auth_message = 65535;
/// Protocol version codes of the startup phase.
inline constexpr std::uint32_t protocol_3_0 = 196608;          // 3 << 16
inline constexpr std::uint32_t cancel_request_code = 80877102;  // 1234 << 16 | 5678
inline constexpr std::uint32_t ssl_request_code = 80877103;     // 1234 << 16 | 5679
inline constexpr std::uint32_t gssenc_request_code = 80877104;  // 1234 << 16 | 5680

enum class frame_status { message, need_more, error };

/// One framed message: `tag` is 0 for startup-phase packets, `body` excludes the tag and the
/// length word, `size` is the number of stream bytes the message occupies.
struct frame {
  char tag = 0;
  bytes_view body;
  std::size_t size = 0;
};

struct frame_result {
  frame_status status = frame_status::need_more;
  frame msg;                     ///< valid when status == message
  std::size_t need = 0;          ///< when need_more: total bytes the message needs (>= 5 or 8)
  errc error = errc::ok;         ///< valid when status == error
};

/// Frames one startup-phase packet (int32 length including itself, then the body).
frame_result frame_startup(bytes_view in) noexcept;

/// Frames one typed message (tag byte, int32 length including itself, then the body).
/// `max_len` bounds the declared length (pgbouncer's max_packet_size).
frame_result frame_message(bytes_view in, std::uint32_t max_len) noexcept;

/// The header of a typed message whose body may not have arrived yet. Used by the relay,
/// which forwards bodies without holding them whole.
struct header_result {
  frame_status status = frame_status::need_more;
  char tag = 0;
  std::uint32_t body_len = 0;  ///< declared length minus the 4 length bytes
  errc error = errc::ok;
};
header_result peek_header(bytes_view in, std::uint32_t max_len) noexcept;

/// Reads a big-endian int32/int16 from the first bytes of `p` (caller checks the size).
inline std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
         std::uint32_t(p[3]);
}
inline std::uint16_t load_be16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

}  // namespace pgwire

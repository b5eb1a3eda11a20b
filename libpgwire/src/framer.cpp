#include "pgwire/framer.hpp"

namespace pgwire {

frame_result frame_startup(bytes_view in) noexcept {
  frame_result r;
  if (in.size() < 4) {
    r.need = 8;
    return r;
  }
  const std::uint32_t len = load_be32(in.data());
  // A "negative" int32 length is malformed, not large.
  if (static_cast<std::int32_t>(len) < 8) return {frame_status::error, {}, 0, errc::length_too_small};
  if (len > max_startup_packet) return {frame_status::error, {}, 0, errc::length_too_large};
  if (in.size() < len) {
    r.need = len;
    return r;
  }
  r.status = frame_status::message;
  r.msg = frame{0, in.subspan(4, len - 4), len};
  return r;
}

header_result peek_header(bytes_view in, std::uint32_t max_len) noexcept {
  header_result r;
  if (in.size() < 5) return r;
  const std::uint32_t len = load_be32(in.data() + 1);
  // The length word counts itself; anything below 4 (including "negative" values, which are
  // huge as unsigned) is malformed.
  if (static_cast<std::int32_t>(len) < 4) return {frame_status::error, 0, 0, errc::length_too_small};
  if (len > max_len) return {frame_status::error, 0, 0, errc::length_too_large};
  r.status = frame_status::message;
  r.tag = static_cast<char>(in[0]);
  r.body_len = len - 4;
  return r;
}

frame_result frame_message(bytes_view in, std::uint32_t max_len) noexcept {
  frame_result r;
  const header_result h = peek_header(in, max_len);
  if (h.status == frame_status::error) return {frame_status::error, {}, 0, h.error};
  if (h.status == frame_status::need_more) {
    r.need = 5;
    return r;
  }
  const std::size_t total = std::size_t(h.body_len) + 5;
  if (in.size() < total) {
    r.need = total;
    return r;
  }
  r.status = frame_status::message;
  r.msg = frame{h.tag, in.subspan(5, h.body_len), total};
  return r;
}

}  // namespace pgwire

#pragma once
// Shared by the typed-message fuzz targets: the framing loop with its invariants, and the
// checks applied to what the decoders return.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "pgwire/framer.hpp"
#include "pgwire/messages.hpp"

namespace fuzz {

constexpr std::uint32_t max_len = 1u << 20;

/// Decodes f as M; the result only has to not crash.
template <class M>
void run(const pgwire::frame& f) {
  M m{};
  (void)pgwire::decode(f, m);
}

/// A decoded view must point inside the frame's body.
inline void check_view(pgwire::bytes_view v, const pgwire::frame& f) {
  if (v.empty()) return;
  if (v.data() < f.body.data() || v.data() + v.size() > f.body.data() + f.body.size()) std::abort();
}

/// Frames every whole message of `in`, checking the framer's invariants, and hands each to
/// `decode`.
template <class Decode>
void for_each_frame(pgwire::bytes_view in, Decode decode) {
  for (;;) {
    const pgwire::frame_result r = pgwire::frame_message(in, max_len);
    if (r.status == pgwire::frame_status::error) {
      if (r.error == pgwire::errc::ok) std::abort();
      return;
    }
    if (r.status == pgwire::frame_status::need_more) {
      if (r.need <= in.size() || r.need < 5 || r.need > std::size_t(max_len) + 1) std::abort();
      return;
    }
    const pgwire::frame& f = r.msg;
    if (f.size < 5 || f.size > in.size() || f.body.size() != f.size - 5 ||
        f.body.data() != in.data() + 5)
      std::abort();
    decode(f);
    in = in.subspan(f.size);
  }
}

}  // namespace fuzz

// libFuzzer target: startup-phase framing and decoding (StartupMessage, SSLRequest,
// GSSENCRequest, CancelRequest) over an arbitrary byte stream.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "pgwire/framer.hpp"
#include "pgwire/messages.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pgwire::bytes_view in(data, size);
  for (;;) {
    const pgwire::frame_result r = pgwire::frame_startup(in);
    if (r.status == pgwire::frame_status::error) {
      if (r.error == pgwire::errc::ok) std::abort();
      break;
    }
    if (r.status == pgwire::frame_status::need_more) {
      // The framer must ask for more than it was given, and at least a minimal packet.
      if (r.need <= in.size() || r.need < 8 || r.need > pgwire::max_startup_packet) std::abort();
      break;
    }
    const pgwire::frame& f = r.msg;
    if (f.size < 8 || f.size > in.size() || f.size > pgwire::max_startup_packet ||
        f.body.size() != f.size - 4 || f.body.data() != in.data() + 4 || f.tag != 0)
      std::abort();

    pgwire::startup_packet p;
    if (pgwire::decode_startup(f, p) == pgwire::errc::ok) {
      if (p.kind == pgwire::startup_kind::startup) {
        if ((p.startup.version >> 16) != 3) std::abort();
        const auto body_begin = reinterpret_cast<const char*>(f.body.data());
        const auto body_end = body_begin + f.body.size();
        for (const auto& [k, v] : p.startup.params) {
          // Every name and value is a view inside the body.
          if (k.empty() || k.data() < body_begin || k.data() + k.size() > body_end) std::abort();
          if (v.data() < body_begin || v.data() + v.size() > body_end) std::abort();
        }
        (void)p.startup.get("user");
        (void)p.startup.get("database");
      }
    }
    in = in.subspan(f.size);
  }
  return 0;
}

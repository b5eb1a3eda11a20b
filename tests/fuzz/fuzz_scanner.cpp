// The relay's stream scanner against the framer: fed the same bytes in arbitrary chunks, it
// must see the same message tags and bodies as framing the whole buffer at once.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "pgwire/framer.hpp"
#include "pgwire/scanner.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t chunk = std::size_t(data[0] % 17) + 1;
  const pgwire::bytes_view in(data + 1, size - 1);
  constexpr std::uint32_t max_len = 1 << 16;

  // Reference: whole-buffer framing.
  std::vector<std::pair<char, std::vector<std::uint8_t>>> expected;
  bool framing_error = false;
  for (std::size_t off = 0; off < in.size();) {
    const auto r = pgwire::frame_message(in.subspan(off), max_len);
    if (r.status == pgwire::frame_status::error) {
      framing_error = true;
      break;
    }
    if (r.status == pgwire::frame_status::need_more) break;
    expected.emplace_back(r.msg.tag, std::vector<std::uint8_t>(r.msg.body.begin(), r.msg.body.end()));
    off += r.msg.size;
  }

  pgwire::stream_scanner sc(max_len, max_len);
  std::size_t seen = 0;
  bool scan_error = false;
  for (std::size_t off = 0; off < in.size() && !scan_error; off += chunk) {
    const auto part = in.subspan(off, std::min(chunk, in.size() - off));
    const auto err = sc.feed(
        part, [](char tag) { return tag != 'D'; },
        [&](char tag, pgwire::bytes_view body, std::size_t) {
          if (seen < expected.size()) {
            if (expected[seen].first != tag) std::abort();
            if (tag != 'D' && std::vector<std::uint8_t>(body.begin(), body.end()) != expected[seen].second)
              std::abort();
          }
          ++seen;
        });
    scan_error = err != pgwire::errc::ok;
  }
  // Every message the framer found whole was reported by the scanner.
  if (seen < expected.size()) std::abort();
  // The scanner fails only where the framer failed too.
  if (scan_error && !framing_error) std::abort();
  return 0;
}

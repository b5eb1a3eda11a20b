// Cancel keys as pgbouncer 1.21+ lays them out, peering on and off (pool/cancel_key.hpp).
#include <array>
#include <cstdint>

#include "catch.hpp"
#include "pool/cancel_key.hpp"

namespace ck = sluice::cancel_key;

TEST_CASE("cancel keys: the peer id in bytes 1-2, the TTL in the secret's low bits") {
  const std::array<std::uint8_t, 8> r{0xff, 0xaa, 0xbb, 0xcc, 0x11, 0x22, 0x33, 0x40};
  std::uint32_t pid = 0, secret = 0;

  ck::make(0, r, pid, secret);  // peering off: all random but the sign bit
  CHECK(pid == 0x7faabbccu);
  CHECK(secret == 0x11223340u);

  ck::make(1, r, pid, secret);
  CHECK(pid == 0x7f0100ccu);  // byte 1 = id's low byte, byte 2 = its high byte
  CHECK(secret == 0x11223343u);
  CHECK(ck::peer_of(pid) == 1);

  ck::make(16383, r, pid, secret);
  CHECK(ck::peer_of(pid) == 16383);
  CHECK((pid & 0x00ffff00u) == 0x00ff3f00u);
  CHECK((secret & ck::ttl_mask) == 3);

  ck::make(258, r, pid, secret);  // 0x0102
  CHECK(((pid >> 16) & 0xff) == 0x02);
  CHECK(((pid >> 8) & 0xff) == 0x01);
  CHECK(ck::peer_of(pid) == 258);
  CHECK(pid < 0x80000000u);  // a positive process id, whatever the random bytes
}

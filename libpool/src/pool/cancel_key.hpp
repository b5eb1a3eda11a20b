#pragma once
// Cancel keys (BackendKeyData) as pgbouncer gives them out, peering on or off. Sans-io.

#include <cstdint>
#include <span>

namespace sluice {

/// The 8-byte cancel key as pgbouncer lays it out with peering on: bytes 1 and 2 (the process
/// id's second and third bytes) hold the peer id, little end first; the secret's low two
/// bits a forwarding TTL, 3 when given out and one less at each forward. The process id is
/// kept positive (some clients misread a negative one). 45 bits stay random with peering
/// on, 63 without.
namespace cancel_key {

constexpr std::uint32_t ttl_mask = 0x3;

/// A key for a new client of peer `peer_id` (0 = peering off) from 8 random bytes.
inline void make(int peer_id, std::span<const std::uint8_t, 8> random, std::uint32_t& pid,
                 std::uint32_t& secret) noexcept {
  std::uint8_t k[8];
  for (int i = 0; i < 8; ++i) k[i] = random[i];
  if (peer_id > 0) {
    k[1] = std::uint8_t(peer_id & 0xFF);
    k[2] = std::uint8_t((peer_id >> 8) & 0xFF);
    k[7] |= ttl_mask;
  }
  k[0] &= 0x7F;
  // BackendKeyData writes pid then secret, each with its high byte first.
  pid = std::uint32_t(k[0]) << 24 | std::uint32_t(k[1]) << 16 | std::uint32_t(k[2]) << 8 | k[3];
  secret = std::uint32_t(k[4]) << 24 | std::uint32_t(k[5]) << 16 | std::uint32_t(k[6]) << 8 | k[7];
}
/// The peer id a key names (meaningful when peering is on).
inline int peer_of(std::uint32_t pid) noexcept {
  return int(((pid >> 16) & 0xFF) | (((pid >> 8) & 0xFF) << 8));
}

}  // namespace cancel_key

}  // namespace sluice

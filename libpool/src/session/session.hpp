#pragma once
// What the runtime needs from client sessions: start one, and reach the ones on a shard.

#include <sys/socket.h>

#include <cstdint>

#include "shard/shard.hpp"

namespace sluice {

class pool_registry;

/// Starts a client session on shard s for an accepted socket.
/// `peer`: the address accept() gave (unused for a Unix socket).
void start_client(pool_registry& registry, shard& s, stream_socket sock, bool is_unix,
                  const sockaddr_storage& peer);
/// The janitor's per-second check of one client's login, idle and transaction timeouts.
void client_check_timeouts(client_link* c, const config& cfg);
/// A fresh random key (pid, secret) for a client's BackendKeyData, naming this process's
/// peer_id when peering is on (pool/cancel_key.hpp).
void new_cancel_key(const config& cfg, std::uint32_t& pid, std::uint32_t& secret);
/// A cancel request arrived on shard s. A key that names another peer is forwarded to it;
/// otherwise the client with this key, on any shard, has its query cancelled. Keys carry at
/// least 45 random bits and a cancel is rare, so each shard scans its own clients: no key
/// index is kept. Unknown keys are dropped, as PostgreSQL does.
void route_cancel(shard& s, pool_registry& registry, std::uint32_t pid, std::uint32_t secret);

}  // namespace sluice

#pragma once
// Peering (pgbouncer's [peers], 1.21+ key layout): processes behind one load balancer forward
// to each other the cancel requests that land on the wrong one. A client's cancel key names
// the process that gave it out; a cancel for another peer goes out on a connection of that
// peer's small pool (at most pool_size in flight, the rest queued).

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pool/cancel_key.hpp"
#include "sluice/config.hpp"

namespace sluice {

struct shard;

/// What SHOW PEER_POOLS, /stats and /metrics show of one peer's pool.
struct peer_pool_row {
  int peer_id = 0;
  int waiting = 0;      ///< cl_waiting_cancel_req: cancels not yet sent (queued or connecting)
  int active = 0;       ///< cl_active_cancel_req: sent, waiting for the peer to close
  int connecting = 0;   ///< sv_login: connections to the peer being opened
  std::uint64_t forwarded = 0;  ///< cancels sent to this peer since start
  std::uint64_t failed = 0;     ///< forwards that could not be sent (connect or timeout)
};

/// The peers of this process and their cancel pools. Shared by every shard; one mutex, taken
/// only on the (rare) forwarding path and by snapshots.
class peer_pools {
 public:
  /// Startup and every reload: peers added, changed (their pools keep their counters, new
  /// connections use the new address) or removed (forwards in flight to them finish).
  void configure(const config& cfg);

  /// A cancel whose key names peer `peer_id` (not this process) arrived on shard s: forwards
  /// it with the TTL one lower. Dropped, with a log line, when the TTL is spent or the peer
  /// is unknown.
  void forward(shard& s, int peer_id, std::uint32_t pid, std::uint32_t secret);

  /// Pools of the configured peers other than this process, in id order.
  std::vector<peer_pool_row> pool_rows() const;

 private:
  struct request {
    shard* on;
    std::uint32_t pid, secret;
  };
  struct peer_pool {
    peer_config peer;
    int limit = 1;  ///< pool_size, or default_pool_size
    int connecting = 0, sent = 0;
    std::deque<request> queued;
    std::uint64_t forwarded = 0, failed = 0;
  };
  /// Under mu_: starts r on its shard (a slot is free).
  void start(const std::shared_ptr<peer_pool>& p, request r);
  /// A forward has ended (sent: it reached the peer): frees its slot, starts the next.
  void finished(const std::shared_ptr<peer_pool>& p, bool sent);

  mutable std::mutex mu_;
  int own_id_ = 0;
  double timeout_ = 10;  ///< cancel_wait_timeout
  std::map<int, std::shared_ptr<peer_pool>> pools_;
};

}  // namespace sluice

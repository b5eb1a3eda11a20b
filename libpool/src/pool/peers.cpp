// Peering: forwarding cancel requests to the process of a peered group that gave out the key.
#include "pool/peers.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "pool/server_conn.hpp"
#include "shard/shard.hpp"
#include "sluice/log.hpp"

namespace sluice {

void peer_pools::configure(const config& cfg) {
  std::lock_guard lock(mu_);
  own_id_ = cfg.peer_id;
  timeout_ = cfg.cancel_wait_timeout;
  std::map<int, std::shared_ptr<peer_pool>> next;
  for (const auto& [id, pc] : cfg.peers) {
    if (id == cfg.peer_id) continue;  // this process itself: allowed, never used
    auto it = pools_.find(id);
    auto p = it != pools_.end() ? it->second : std::make_shared<peer_pool>();
    p->peer = pc;
    p->limit = std::max(1, pc.pool_size.value_or(cfg.default_pool_size));
    next.emplace(id, std::move(p));
  }
  // A removed peer's forwards in flight hold its pool and finish; its queue goes with it.
  for (auto& [id, p] : pools_)
    if (!next.contains(id) && !p->queued.empty()) {
      log::warning("peer {} removed: {} queued cancel request(s) dropped", id, p->queued.size());
      p->queued.clear();
    }
  pools_ = std::move(next);
}

void peer_pools::forward(shard& s, int peer_id, std::uint32_t pid, std::uint32_t secret) {
  if ((secret & cancel_key::ttl_mask) == 0) {
    log::info("cancel request for peer {} dropped: forwarded too often (TTL exhausted)", peer_id);
    return;
  }
  --secret;  // the TTL lives in the low bits: one forward fewer left
  std::lock_guard lock(mu_);
  auto it = pools_.find(peer_id);
  if (it == pools_.end()) {
    log::info("cancel request for unknown peer {} dropped", peer_id);
    return;
  }
  peer_pool& p = *it->second;
  if (p.connecting + p.sent < p.limit)
    start(it->second, {&s, pid, secret});
  else
    p.queued.push_back({&s, pid, secret});
}

void peer_pools::start(const std::shared_ptr<peer_pool>& p, request r) {
  ++p->connecting;
  pool_target t;
  t.host = p->peer.host;
  t.port = p->peer.port;
  t.hosts = {host_port{t.host, t.port}};
  const double timeout = timeout_;
  log::debug("forwarding cancel request to peer {} ({}:{})", p->peer.id, t.host, t.port);
  r.on->post_fn([this, p, r, t = std::move(t), timeout](shard& s) mutable {
    asio::co_spawn(
        s.io,
        [](peer_pools* self, std::shared_ptr<peer_pool> p, asio::io_context& io, pool_target t,
           request r, double timeout) -> awaitable<void> {
          const bool sent = co_await send_cancel(io, std::move(t), r.pid, r.secret, timeout, [&] {
            std::lock_guard lock(self->mu_);
            --p->connecting;
            ++p->sent;
            ++p->forwarded;
          });
          self->finished(p, sent);
        }(this, std::move(p), s.io, std::move(t), r, timeout),
        asio::detached);
  });
}

void peer_pools::finished(const std::shared_ptr<peer_pool>& p, bool sent) {
  std::lock_guard lock(mu_);
  if (sent) {
    --p->sent;
  } else {
    --p->connecting;
    ++p->failed;
  }
  if (!p->queued.empty() && p->connecting + p->sent < p->limit) {
    request next = p->queued.front();
    p->queued.pop_front();
    start(p, next);
  }
}

std::vector<peer_pool_row> peer_pools::pool_rows() const {
  std::lock_guard lock(mu_);
  std::vector<peer_pool_row> rows;
  for (const auto& [id, p] : pools_)
    rows.push_back({id, p->connecting + int(p->queued.size()), p->sent, p->connecting,
                    p->forwarded, p->failed});
  return rows;
}

}  // namespace sluice

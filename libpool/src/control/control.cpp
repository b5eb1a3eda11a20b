#include "control/control.hpp"

#include <atomic>

namespace sluice {

awaitable<void> control::on_every_shard(shard_set& set, asio::io_context& home,
                                        std::function<void(shard&)> fn) {
  struct state {
    explicit state(asio::io_context& io) : wake(io) {}
    asio::steady_timer wake;
    std::atomic<std::size_t> left{0};
    bool done = false;  // touched on `home` only
    std::function<void(shard&)> fn;
  };
  auto st = std::make_shared<state>(home);
  st->fn = std::move(fn);
  st->left.store(set.size());
  for (auto& sp : set.shards) {
    sp->post_fn([st, &home](shard& s) {
      st->fn(s);
      if (st->left.fetch_sub(1) == 1) {
        asio::post(home, [st] {
          st->done = true;
          st->wake.cancel();
        });
      }
    });
  }
  while (!st->done) {
    st->wake.expires_at(clock::time_point::max());
    co_await st->wake.async_wait(nothrow);
  }
}

}  // namespace sluice

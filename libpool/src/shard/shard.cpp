// A shard's mailbox: mail from other threads, drained on the shard's own thread.
#include "shard/shard.hpp"

#include <boost/asio/post.hpp>

namespace sluice {

shard::shard(shard_set& s, int i, config_ptr cfg, std::shared_ptr<const userlist> users)
    : set(s),
      id(i),
      janitor(io),
      buffer_size(std::size_t(std::max(cfg->pkt_buf, 512))),
      cfg_(std::move(cfg)),
      users_(std::move(users)) {}

void shard::send(mail* m) {
  // The queue allocates nodes when its freelist is empty; push fails only when that fails.
  while (!mailbox.push(m)) std::this_thread::yield();
  if (!wake_pending.exchange(true)) asio::post(io, [this] { drain(); });
}

void shard::drain() {
  wake_pending.store(false);
  mail* m;
  while (mailbox.pop(m)) {
    struct destroy_after {
      mail* m;
      ~destroy_after() { m->destroy(); }
    } guard{m};
    m->run(*this);
  }
}

}  // namespace sluice

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
  inbox.push(m);
  // After the push: a drain that has not yet cleared the flag will find m; one that has
  // lets this exchange see false and post another.
  if (!wake_pending.exchange(true)) asio::post(io, [this] { drain(); });
}

void shard::drain() {
  // An exchange, not a store: it reads the flag a sender set after its push and so sees that
  // push (acquire), whatever else the sender's thread did.
  wake_pending.exchange(false);
  while (mail_link* link = inbox.pop()) {
    mail* m = static_cast<mail*>(link);
    struct destroy_after {
      mail* m;
      ~destroy_after() { m->destroy(); }
    } guard{m};
    m->run(*this);
  }
}

}  // namespace sluice

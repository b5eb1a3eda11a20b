// The pooled listening connection of LISTEN/NOTIFY in transaction mode (see notify_hub.hpp).
#include "pool/notify_hub.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <algorithm>

#include "net/stream.hpp"
#include "pgwire/messages.hpp"
#include "pgwire/statements.hpp"
#include "pgwire/writer.hpp"
#include "pool/listen_sql.hpp"
#include "pool/pool.hpp"
#include "sluice/log.hpp"

namespace sluice {

std::shared_ptr<notify_hub> pool::notifications() {
  std::lock_guard lock(mu);
  if (!hub_) hub_ = std::make_shared<notify_hub>(*this, shards);
  return hub_;
}

std::shared_ptr<notify_hub> pool::notifications_if_any() const {
  std::lock_guard lock(mu);
  return hub_;
}

notify_hub::notify_hub(pool& p, shard_set& shards)
    : pool_(p), shards_(shards), subs_(shards.size()), scan_(0x7fffffff, 1u << 20) {}

notify_hub::~notify_hub() = default;

void notify_hub::subscribe(shard& s, const std::string& ch, notify_sink* sink) {
  auto& v = subs_[std::size_t(s.id)][ch];
  if (std::find(v.begin(), v.end(), sink) != v.end()) return;
  v.push_back(sink);
  bool first = false;
  {
    std::lock_guard lock(mu_);
    first = ++want_[ch] == 1;
  }
  if (first) home().post_fn([self = shared_from_this()](shard&) { self->sync(); });
}

void notify_hub::unsubscribe(shard& s, const std::string& ch, notify_sink* sink) {
  auto& table = subs_[std::size_t(s.id)];
  auto it = table.find(ch);
  if (it == table.end()) return;
  auto& v = it->second;
  auto pos = std::find(v.begin(), v.end(), sink);
  if (pos == v.end()) return;
  v.erase(pos);
  if (v.empty()) table.erase(it);
  bool last = false;
  {
    std::lock_guard lock(mu_);
    auto w = want_.find(ch);
    if (w != want_.end() && --w->second == 0) {
      want_.erase(w);
      delivered_.erase(ch);
      last = true;
    }
  }
  if (last) home().post_fn([self = shared_from_this()](shard&) { self->sync(); });
}

std::vector<notify_hub::channel_row> notify_hub::channel_rows() const {
  std::lock_guard lock(mu_);
  std::vector<channel_row> rows;
  for (const auto& [ch, n] : want_) {
    auto d = delivered_.find(ch);
    rows.push_back({ch, n, d == delivered_.end() ? 0 : d->second});
  }
  return rows;
}

void notify_hub::sync() {
  if (closed_) return;
  std::set<std::string> want;
  {
    std::lock_guard lock(mu_);
    for (const auto& [ch, n] : want_) want.insert(ch);
  }
  if (!srv_) {
    if (want.empty() && !connecting_) {
      keep_.reset();  // nothing open, nothing wanted: the pool is free to go (this is last)
      return;
    }
    if (!want.empty() && !connecting_) {
      connecting_ = true;
      keep_ = pool_.shared_from_this();  // the pool stays while its listening connection is
      asio::co_spawn(home().io, connect(), asio::detached);
    }
    return;
  }
  if (writing_ || releasing_) return;  // sync() runs again when the write ends
  std::string sql;
  for (const auto& ch : want)
    if (!active_.contains(ch)) sql += "LISTEN " + quote_channel(ch) + ";";
  for (const auto& ch : active_)
    if (!want.contains(ch)) sql += "UNLISTEN " + quote_channel(ch) + ";";
  if (sql.empty()) {
    if (want.empty() && replies_owed_ == 0) {
      // Nobody listens any more: the server goes back to the pool once the read is off it.
      releasing_ = true;
      error_code ignored;
      srv_->sock.cancel(ignored);
    }
    return;
  }
  active_ = std::move(want);
  out_.clear();
  pgwire::write_query(out_, sql);
  ++replies_owed_;
  writing_ = true;
  asio::co_spawn(
      home().io,
      [](std::shared_ptr<notify_hub> self, std::uint64_t gen) -> awaitable<void> {
        const error_code ec =
            co_await net::write_all(self->srv_->sock, self->srv_->tls.get(), self->out_);
        self->writing_ = false;
        if (gen != self->gen_) co_return;  // that connection is gone already
        if (ec) {
          self->lost(ec.message());
          co_return;
        }
        self->sync();
      }(shared_from_this(), gen_),
      asio::detached);
}

awaitable<void> notify_hub::connect() {
  auto self = shared_from_this();
  shard& s = home();
  server_ptr srv = co_await pool_.acquire_idle(s);
  if (!srv) {
    wait_error error;
    srv = co_await pool_.queue_for_server(s, error);
    if (!srv) {
      connecting_ = false;
      log::warning("{}/{}: no server for the listening connection: {}; retrying", pool_.db_name,
                   pool_.user_name, error.message);
      lost("");
      co_return;
    }
  }
  connecting_ = false;
  if (closed_) {
    pool_.release(std::move(srv), s);
    co_return;
  }
  srv_ = std::move(srv);
  ++gen_;
  active_.clear();
  replies_owed_ = 0;
  scan_ = pgwire::stream_scanner(0x7fffffff, 1u << 20);
  if (in_.empty()) in_.resize(16 * 1024);
  log::debug("{}/{}: listening connection S-0x{:x}", pool_.db_name, pool_.user_name, srv_->id);
  asio::co_spawn(s.io, read_loop(self, gen_), asio::detached);
  sync();
}

awaitable<void> notify_hub::read_loop(std::shared_ptr<notify_hub> self, std::uint64_t gen) {
  (void)self;  // held: the hub outlives the read pending on its connection
  for (;;) {
    // sync() asks for the server back by cancelling the read; when it asked while no read
    // was pending (from this loop's own call below), the next read is not started.
    error_code ec;
    std::size_t n = 0;
    if (!releasing_) {
      auto [rec, m] = co_await net::read_some(srv_->sock, srv_->tls.get(), in_);
      if (gen != gen_) co_return;
      ec = rec;
      n = m;
    }
    if (releasing_) {
      releasing_ = false;
      pool_.release(take_connection(), home());
      const auto hold = std::move(keep_);
      sync();  // someone may have subscribed meanwhile
      co_return;
    }
    if (ec) {
      lost(ec == asio::error::eof ? "server closed the connection" : ec.message());
      co_return;
    }
    bool broken = false;
    const auto err = scan_.feed(
        pgwire::bytes_view(in_.data(), n),
        [](char tag) {
          return tag == pgwire::be::notification_response || tag == pgwire::be::error_response;
        },
        [&](char tag, pgwire::bytes_view body, std::size_t) {
          const pgwire::frame f{tag, body, body.size() + 5};
          if (tag == pgwire::be::notification_response) {
            pgwire::notification_msg m;
            if (pgwire::decode(f, m) != pgwire::errc::ok) {
              broken = true;
              return;
            }
            auto note = std::make_shared<notification>();
            note->channel = m.channel;
            note->message.reserve(f.size);
            pgwire::write_frame_start(note->message, f);  // the message as PostgreSQL sent it
            counters.received.fetch_add(1, std::memory_order_relaxed);
            dispatch(std::move(note));
          } else if (tag == pgwire::be::error_response) {
            pgwire::error_fields e;
            if (pgwire::decode(f, e) == pgwire::errc::ok)
              log::warning("{}/{}: listening connection: {} {}", pool_.db_name, pool_.user_name,
                           e.sqlstate, e.message);
          } else if (tag == pgwire::be::ready_for_query) {
            if (replies_owed_ > 0) --replies_owed_;
          }
        });
    if (err != pgwire::errc::ok || broken) {
      lost("server sent a malformed message");
      co_return;
    }
    if (replies_owed_ == 0) sync();
  }
}

server_ptr notify_hub::take_connection() {
  ++gen_;
  active_.clear();
  replies_owed_ = 0;
  return std::move(srv_);
}

void notify_hub::lost(const std::string& why) {
  if (srv_) {
    log::warning(
        "{}/{}: listening connection lost ({}): notifications sent until it is back are lost",
        pool_.db_name, pool_.user_name, why);
    pool_.discard(take_connection(), home(), "listening connection lost");
    counters.reconnects.fetch_add(1, std::memory_order_relaxed);
  }
  active_.clear();  // also when no connection came at all
  replies_owed_ = 0;
  writing_ = false;
  releasing_ = false;
  if (closed_) return;
  // Again after a pause, with every channel wanted then.
  if (!retry_) retry_ = std::make_unique<asio::steady_timer>(home().io);
  retry_->expires_after(std::chrono::seconds(1));
  retry_->async_wait([self = shared_from_this()](error_code ec) {
    if (!ec) self->sync();
  });
}

void notify_hub::tidy(shard& s) {
  if (&s != &home() || !srv_ || writing_ || releasing_) return;
  const char* why = pool_.surplus(*srv_);
  if (!why) why = pool_.role_changed(*srv_);
  if (!why) return;
  log::info("{}/{}: listening connection S-0x{:x} replaced: {}", pool_.db_name, pool_.user_name,
            srv_->id, why);
  pool_.discard(take_connection(), s, why);
  sync();
}

void notify_hub::close() {
  closed_ = true;
  if (retry_) retry_->cancel();
  if (srv_) pool_.discard(take_connection(), home(), "pool closed");
  keep_.reset();
}

void notify_hub::dispatch(notification_ptr n) {
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    shards_.at(i).post_fn([self = shared_from_this(), n](shard& s) {
      auto& table = self->subs_[std::size_t(s.id)];
      auto it = table.find(n->channel);
      if (it == table.end()) return;
      // A copy: a delivery may end its client (not reading), which unsubscribes it.
      const std::vector<notify_sink*> sinks = it->second;
      self->counters.delivered.fetch_add(sinks.size(), std::memory_order_relaxed);
      {
        std::lock_guard lock(self->mu_);
        self->delivered_[n->channel] += sinks.size();
      }
      for (notify_sink* k : sinks) k->deliver(n);
    });
  }
}

}  // namespace sluice

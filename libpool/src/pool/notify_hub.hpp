#pragma once
// LISTEN/NOTIFY in transaction and statement mode: per pool, one server connection LISTENs
// to the union of its clients' channels, and each NotificationResponse it gets is mailed to
// the shards whose clients listen to that channel. The subscriptions themselves are the
// clients' (session/); a client is a notify_sink here.
//
// Threads: subscribe/unsubscribe run on the subscriber's shard and touch that shard's table
// only, plus the channel counts under mu_. The listening connection lives on the pool's
// home shard (shard 0): its reads, writes and reconnects run there only.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "pgwire/scanner.hpp"
#include "pool/server_conn.hpp"
#include "shard/shard.hpp"

namespace sluice {

struct pool;

/// One NotificationResponse as PostgreSQL sent it (the notifying backend's pid included).
struct notification {
  std::vector<std::uint8_t> message;  ///< the whole 'A' message
  std::string channel;
};
using notification_ptr = std::shared_ptr<const notification>;

/// A client that listens; deliver() runs on the client's own shard.
struct notify_sink {
  virtual void deliver(const notification_ptr& n) = 0;

 protected:
  ~notify_sink() = default;
};

/// Counters for /metrics (all shards).
struct notify_counters {
  std::atomic<std::uint64_t> received{0};   ///< notifications the listening connection got
  std::atomic<std::uint64_t> delivered{0};  ///< copies queued to clients
  std::atomic<std::uint64_t> dropped_clients{0};  ///< clients closed for not reading
  std::atomic<std::uint64_t> reconnects{0};       ///< listening connections re-established
};

class notify_hub : public std::enable_shared_from_this<notify_hub> {
 public:
  notify_hub(pool& p, shard_set& shards);
  ~notify_hub();

  /// On shard s: sink receives ch's notifications from now on. Idempotent per (ch, sink).
  void subscribe(shard& s, const std::string& ch, notify_sink* sink);
  /// On shard s: no more of ch for sink.
  void unsubscribe(shard& s, const std::string& ch, notify_sink* sink);
  struct channel_row {
    std::string channel;
    int clients = 0;
    std::uint64_t delivered = 0;  ///< copies queued to its clients since it was first listened to
  };
  /// SHOW LISTENERS: the channels listened to now.
  std::vector<channel_row> channel_rows() const;
  /// The janitor's pass on the home shard: a listening server the pool no longer wants (a
  /// failover, a changed target) is replaced.
  void tidy(shard& s);
  /// Drops the listening connection (the pool is going away).
  void close();

  notify_counters counters;

 private:
  shard& home() const { return shards_.at(0); }
  /// On the home shard: brings the listening connection in line with want_.
  void sync();
  awaitable<void> connect();
  awaitable<void> read_loop(std::shared_ptr<notify_hub> self, std::uint64_t gen);
  /// Forgets srv_ (coroutines of it stop at their next resume, nothing is LISTENed) and
  /// hands it over, to be released or discarded.
  server_ptr take_connection();
  void lost(const std::string& why);
  void dispatch(notification_ptr n);

  pool& pool_;
  shard_set& shards_;
  /// Per shard, its own thread only: channel -> its listening clients there.
  std::vector<std::unordered_map<std::string, std::vector<notify_sink*>>> subs_;
  mutable std::mutex mu_;
  std::map<std::string, int> want_;  ///< channel -> subscribers, all shards (under mu_)
  std::map<std::string, std::uint64_t> delivered_;  ///< channel -> copies queued (under mu_)

  // ---- the listening connection, home shard only
  server_ptr srv_;
  /// The pool, held while a listening connection is open or being opened (the pool would
  /// otherwise be dropped under it); the hub holds no reference to it otherwise.
  std::shared_ptr<pool> keep_;
  bool connecting_ = false, writing_ = false, releasing_ = false, closed_ = false;
  std::uint64_t gen_ = 0;  ///< bumped when srv_ changes: coroutines of an older one stop
  int replies_owed_ = 0;                ///< ReadyForQuery still due for what was sent
  std::set<std::string> active_;        ///< channels LISTENed on srv_ (as sent)
  std::vector<std::uint8_t> in_;
  pgwire::byte_buffer out_;
  pgwire::stream_scanner scan_;
  std::unique_ptr<asio::steady_timer> retry_;
};

}  // namespace sluice

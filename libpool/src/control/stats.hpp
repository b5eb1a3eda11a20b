#pragma once
// Statistics as SHOW STATS, STATS_TOTALS, STATS_AVERAGES, TOTALS and log_stats report them.
//
// Totals are read straight from the pools' per-shard counters (relaxed loads: each counter is
// written by one shard only, and a reader may see a slightly older value). Averages follow
// pgbouncer: a period ends every stats_period seconds; the totals at the end of the last two
// periods are kept, and an average is taken from the older of them up to now (so it covers
// between one and two periods).

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "control/stats_counters.hpp"
#include "pool/pool.hpp"
#include "shard/shard.hpp"

namespace sluice {

/// One pool's counters summed over its shards.
stats_counters pool_totals(const pool& p);

/// One pool's counters and histograms, summed over its shards (HTTP /metrics).
struct pool_metrics {
  std::string database, user;
  pool_mode mode = pool_mode::session;
  stats_counters totals;
  histogram_totals xact_time, query_time, wait_time;
  /// LISTEN/NOTIFY in transaction mode (pool/notify_hub.hpp); all zero before any LISTEN.
  bool notify = false;  ///< the pool has had listeners
  std::uint64_t notifications_received = 0, notifications_delivered = 0;
  std::uint64_t notify_clients_dropped = 0, listen_reconnects = 0;
  int listen_channels = 0;
};

/// Every pool but the console's, read without mailing the shards (relaxed loads).
std::vector<pool_metrics> snapshot_pool_metrics(pool_registry& registry);

/// What one shard holds (per-shard gauges of /metrics).
struct shard_info {
  int id = 0;
  long long clients = 0;  ///< client sessions, logging in or logged in
  long long servers = 0;  ///< server connections living on the shard
};

/// Gathered on every shard's own thread; resumes on `home`.
awaitable<std::vector<shard_info>> snapshot_shards(shard_set& set, asio::io_context& home);

/// One database's row of SHOW STATS.
struct database_stats {
  std::string database;
  stats_counters total, average;
};

class stats_keeper {
 public:
  explicit stats_keeper(pool_registry& registry);

  /// A console statement ran (the `pgbouncer` database's query and xact counts).
  void console_statement();
  /// A client logged into the console.
  void console_login();

  /// Every database with pools, and `pgbouncer` (the console), by name.
  std::vector<database_stats> snapshot(clock::time_point now = clock::now());
  /// All databases summed (SHOW TOTALS): totals and averages.
  database_stats overall(clock::time_point now = clock::now());

  /// Called about once a second (the janitor on shard 0): when stats_period has passed since
  /// the last period ended, ends one, and with log_stats logs the averages over it.
  void tick(const config& c, clock::time_point now = clock::now());

 private:
  /// The totals now, by database.
  std::map<std::string, stats_counters> gather() const;

  pool_registry& registry_;
  // The console is no data path: shared counters are fine there.
  std::atomic<std::uint64_t> console_statements_{0}, console_logins_{0};
  std::mutex mu_;  // the period state below; never taken on the data path
  std::map<std::string, stats_counters> older_, newer_;  ///< totals at the last two period ends
  clock::time_point older_at_, newer_at_;
};

}  // namespace sluice

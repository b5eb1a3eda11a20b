#pragma once
// /metrics: the control API's snapshots in Prometheus' text exposition format 0.0.4. Every
// name starts with sluice_; counters end in _total; times are in seconds and sizes in bytes;
// pools are labelled database, user and pool_mode, databases database and pool_mode.

#include <string>
#include <vector>

#include "control/pools.hpp"
#include "control/stats.hpp"

namespace sluice::http {

/// What one scrape reports, gathered by the HTTP server from the control API.
struct metrics_input {
  std::string version;
  pooler_state state;
  pool_mode default_mode = pool_mode::session;  ///< [pgbouncer] pool_mode
  long long client_connections = 0;             ///< client sockets open
  long long max_client_conn = 0;
  std::vector<pool_info> pools;
  std::vector<database_info> databases;
  std::vector<pool_metrics> pool_stats;
  std::vector<shard_info> shards;
  std::vector<peer_info> peers;
};

std::string render_metrics(const metrics_input& in);

/// The content type of render_metrics' text.
inline constexpr const char* metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace sluice::http

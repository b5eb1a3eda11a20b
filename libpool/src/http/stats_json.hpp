#pragma once
// /stats: the data of SHOW POOLS, STATS, DATABASES, CLIENTS and SERVERS as one JSON document
// (Boost.JSON), with SHOW's column names as keys. Times are microseconds, as in SHOW;
// timestamps are ISO 8601 in UTC.

#include <string>
#include <vector>

#include "control/connections.hpp"
#include "control/pools.hpp"
#include "control/stats.hpp"

namespace sluice::http {

struct stats_input {
  std::string version;
  pooler_state state;
  std::vector<pool_info> pools;
  std::vector<database_stats> stats;
  std::vector<database_info> databases;
  connections_snapshot connections;
  std::vector<peer_info> peers;
};

std::string render_stats(const stats_input& in);

}  // namespace sluice::http

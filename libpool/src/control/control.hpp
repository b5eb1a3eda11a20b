#pragma once
// The one control API behind the admin console and the HTTP endpoint: snapshots gathered by
// mailing every shard (the hot path takes no lock for statistics) and commands posted the
// same way. Above session/ and pool/; below admin/ and runtime/.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "control/stats.hpp"
#include "pool/pool.hpp"
#include "shard/shard.hpp"
#include "sluice/pooler.hpp"

namespace sluice {

class control {
 public:
  /// reload: re-reads the configuration files (the runtime's, which logs as SIGHUP does).
  control(shard_set& shards, pool_registry& registry, std::function<reload_result()> reload,
          std::function<void(shutdown_mode)> shutdown)
      : shards_(shards), registry_(registry), reload_(std::move(reload)),
        shutdown_(std::move(shutdown)) {}

  shard_set& shards() noexcept { return shards_; }
  /// SHOW STATS and log_stats: totals and per-period averages.
  stats_keeper& stats() noexcept { return stats_; }
  pool_registry& registry() noexcept { return registry_; }

  /// Runs fn(shard) on every shard's own thread, all at once, and resumes the caller on
  /// `home` (any io_context: a shard's, or the HTTP thread's) when all have run. fn writes
  /// only into per-shard slots of its own (indexed by shard id), so it needs no lock.
  static awaitable<void> on_every_shard(shard_set& set, asio::io_context& home,
                                        std::function<void(shard&)> fn);

  reload_result reload() { return reload_(); }
  void shutdown(shutdown_mode m) { shutdown_(m); }

 private:
  shard_set& shards_;
  pool_registry& registry_;
  std::function<reload_result()> reload_;
  std::function<void(shutdown_mode)> shutdown_;
  stats_keeper stats_{registry_};
};

}  // namespace sluice

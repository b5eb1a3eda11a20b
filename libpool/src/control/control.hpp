#pragma once
// The one control API behind the admin console and the HTTP endpoint: snapshots gathered by
// mailing every shard (the hot path takes no lock for statistics) and commands posted the
// same way. Above session/ and pool/; below admin/ and runtime/.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "control/stats.hpp"
#include "pool/pool.hpp"
#include "shard/shard.hpp"
#include "sluice/pooler.hpp"

namespace sluice {

/// What a command did: nothing to report, or pgbouncer's error text.
struct command_result {
  std::string error;
  bool ok() const noexcept { return error.empty(); }
  static command_result fail(std::string e) { return {std::move(e)}; }
};

/// The pooler as a whole (SHOW STATE).
struct pooler_state {
  bool paused = false;         ///< PAUSE without a database
  bool shutting_down = false;  ///< SHUTDOWN WAIT_FOR_SERVERS or WAIT_FOR_CLIENTS in progress
};

/// What SET key = value did: `error` empty if the value was taken; `notice` what the client
/// should hear besides (a TLS setting taken whose contexts could not be rebuilt yet).
struct set_result {
  std::string error, notice;
};

class control {
 public:
  /// SET key = value for one [pgbouncer] setting.
  using set_fn = std::function<set_result(std::string_view key, std::string_view value)>;

  /// reload: re-reads the configuration files (the runtime's, which logs as SIGHUP does).
  control(shard_set& shards, pool_registry& registry, std::function<reload_result()> reload,
          std::function<void(shutdown_mode)> shutdown, set_fn set = {})
      : shards_(shards), registry_(registry), reload_(std::move(reload)),
        shutdown_(std::move(shutdown)), set_(std::move(set)) {}

  shard_set& shards() noexcept { return shards_; }
  /// SHOW STATS and log_stats: totals and per-period averages.
  stats_keeper& stats() noexcept { return stats_; }
  pool_registry& registry() noexcept { return registry_; }

  /// Runs fn(shard) on every shard's own thread, all at once, and resumes the caller on
  /// `home` (any io_context: a shard's, or the HTTP thread's) when all have run. fn writes
  /// only into per-shard slots of its own (indexed by shard id), so it needs no lock.
  static awaitable<void> on_every_shard(shard_set& set, asio::io_context& home,
                                        std::function<void(shard&)> fn);

  /// The configuration snapshot a front-end running on shard `home` acts on: home's own,
  /// read on home's thread only (a reload replaces it there). The pointer keeps it alive
  /// across a suspension.
  static config_ptr config_of(const shard& home) { return home.cfg_ptr(); }
  /// The userlist (auth_file) that goes with config_of(home); a reference, so to be read
  /// before the caller suspends.
  static const userlist& users_of(const shard& home) { return home.users(); }

  /// PAUSE and SHUTDOWN as they stand (SUSPEND is refused: never suspended).
  pooler_state state() const noexcept {
    return {shards_.paused.load(), shards_.shutting_down.load()};
  }

  reload_result reload() { return reload_(); }
  void shutdown(shutdown_mode m) { shutdown_(m); }

  // ---- commands that act (commands.cpp). `db` empty = every database; `cfg` is the caller's
  // configuration snapshot (which databases exist). The begin_/wait_ pairs let a caller that
  // cannot wait (a signal) only start; the console and HTTP start, then wait on `home`.

  /// PAUSE: no server is opened for those databases; idle servers close now, busy ones as
  /// they are released; clients wait. Not for an already paused pooler.
  command_result begin_pause(const config& cfg, std::string_view db);
  /// Resumes once no server of those databases is left.
  awaitable<void> wait_paused(std::string db, asio::io_context& home);
  /// RESUME: after PAUSE or KILL; waiting clients are served again.
  command_result resume(const config& cfg, std::string_view db);
  /// RECONNECT: every server of those databases closes once released (idle ones at once).
  command_result reconnect(const config& cfg, std::string_view db);
  /// KILL: closes every client and server of those databases now and leaves them paused.
  command_result kill(const config& cfg, std::string_view db);
  /// KILL_CLIENT: closes the client session with this id; false if there is none.
  awaitable<bool> kill_client(std::uint64_t id, asio::io_context& home);
  /// DISABLE / ENABLE: new client logins to db are refused / admitted again.
  command_result disable(const config& cfg, std::string_view db);
  command_result enable(const config& cfg, std::string_view db);
  /// WAIT_CLOSE: checks db; wait_closed resumes once no server a RECONNECT or a reload marked
  /// for closing is left.
  command_result check_wait_close(const config& cfg, std::string_view db);
  awaitable<void> wait_closed(std::string db, asio::io_context& home);
  /// SET key = value at run time, as a RELOAD with that one setting changed would apply it.
  set_result set(std::string_view key, std::string_view value) {
    return set_ ? set_(key, value) : set_result{"SET failed", {}};
  }

 private:
  /// "" if db names a database the commands may act on, else pgbouncer's error (`verb` is
  /// the word its admin-db error uses: "pause", "kill"...).
  std::string check_db(const config& cfg, std::string_view db, std::string_view verb);
  /// Every pool of db (all pools if empty).
  std::vector<std::shared_ptr<pool>> pools_of(std::string_view db);
  /// Every server of these pools is replaced (PAUSE, RECONNECT): a generation bump, the
  /// cached addresses of their hosts forgotten, and the idle servers closed at once.
  void renew_servers(const std::vector<std::shared_ptr<pool>>& pools);
  /// Closes the idle servers that no longer fit on every shard (after a generation bump).
  void tidy_everywhere(const std::vector<std::shared_ptr<pool>>& pools);

  shard_set& shards_;
  pool_registry& registry_;
  std::function<reload_result()> reload_;
  std::function<void(shutdown_mode)> shutdown_;
  set_fn set_;
  stats_keeper stats_{registry_};
};

}  // namespace sluice

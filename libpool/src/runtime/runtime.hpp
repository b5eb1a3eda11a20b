#pragma once
// The whole pooler: shards and their threads, listeners, the pool registry, shutdown.

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "admin/admin.hpp"
#include "control/control.hpp"
#include "http/server.hpp"
#include "pool/pool.hpp"
#include "shard/shard.hpp"
#include "sluice/pooler.hpp"

namespace sluice {

class runtime final : public pooler {
 public:
  runtime(config_ptr cfg, std::shared_ptr<const userlist> users);
  ~runtime() override;
  void start() override;
  void wait() override;
  void shutdown(shutdown_mode mode) override;
  int shards() const override { return int(shards_.size()); }
  void reload(config_ptr cfg, std::shared_ptr<const userlist> users) override;
  reload_result reload_files() override;
  pause_state pause() override;
  pause_state resume() override;
  bool shutting_down() const override { return shutdown_mode_.load() >= 0; }
  /// The console's SET: the current configuration with one [pgbouncer] setting changed,
  /// applied as a reload applies it. "" on success, else why not.
  set_result set_setting(std::string_view key, std::string_view value);
  /// The configuration in effect, from any thread (the HTTP endpoint's).
  config_ptr current_config() const {
    std::lock_guard lk(snapshot_mu_);
    return cfg_;
  }

 private:
  struct listener;
  void start_listeners();
  static void apply_defer_accept(listener& l, const config& c);
  awaitable<void> accept_loop(listener& l);
  awaitable<void> janitor_loop(shard& s);
  void shutdown_poll();
  void stop_all();

  /// Switches to a new configuration (under reload_mu_).
  void set_current(config_ptr cfg);
  /// The HTTP token of cfg: nullptr without http_auth_token_file. Throws std::runtime_error.
  static std::shared_ptr<const std::string> token_of(const config& cfg);

  std::mutex reload_mu_;  // one reload at a time; guards cfg_ and users_ after start
  // cfg_ and token_ are also read by the HTTP thread: they are written under this mutex too
  // (set_current, reload_files), and read there under it.
  mutable std::mutex snapshot_mu_;
  config_ptr cfg_;
  std::shared_ptr<const std::string> token_;
  std::shared_ptr<const userlist> users_;
  // Declared before the registry: pools hold idle servers whose sockets belong to the
  // shards' io_contexts, so the registry goes first.
  shard_set shards_;
  pool_registry registry_{shards_};
  control control_{shards_, registry_, [this] { return reload_files(); },
                   [this](shutdown_mode m) { shutdown(m); },
                   [this](std::string_view k, std::string_view v) { return set_setting(k, v); }};
  admin_console console_{control_};
  std::unique_ptr<http::server> http_;
  std::atomic<bool> listening_{false};

  std::atomic<bool> stopping_done_{false};
  std::vector<std::unique_ptr<listener>> listeners_;
  std::atomic<unsigned> rr_{0};
  std::atomic<int> shutdown_mode_{-1};
  std::unique_ptr<asio::steady_timer> shutdown_timer_;
  std::vector<std::string> unix_paths_;
};

}  // namespace sluice

#pragma once
/// @file pooler.hpp
/// The pooler as the executable sees it: start, stop, wait. Asio stays behind this header.

#include <memory>
#include <string>
#include <vector>

#include "sluice/config.hpp"

namespace sluice {

enum class shutdown_mode {
  wait_for_servers,  ///< stop accepting, let transactions in flight finish, exit (SIGINT)
  wait_for_clients,  ///< stop accepting, exit when the last client has left (SIGTERM)
  immediate,         ///< exit now (second signal, SIGQUIT)
};

/// Whether the pooler serves or is paused (PAUSE, SIGUSR1). sluice has no suspended state:
/// the console refuses SUSPEND, as there is no online restart (-R) for it to prepare.
enum class pause_state { running, paused };

/// What a reload from the files did.
struct reload_result {
  bool ok = false;
  std::vector<std::string> errors;         ///< "file:line: message", when !ok
  std::vector<std::string> changes;        ///< as the log line lists them
  std::vector<std::string> needs_restart;  ///< changed settings only a restart applies
};

class pooler {
 public:
  virtual ~pooler() = default;
  /// Opens the listeners and starts one thread per shard. Throws std::runtime_error when a
  /// listener cannot be opened.
  virtual void start() = 0;
  /// Blocks until shutdown has completed and every shard thread has stopped.
  virtual void wait() = 0;
  /// Thread-safe and async-signal-unsafe: call from a signal-handling thread, not a handler.
  virtual void shutdown(shutdown_mode mode) = 0;
  /// Number of shards actually running.
  virtual int shards() const = 0;
  /// Online reload with a configuration and userlist already loaded and validated: every
  /// shard switches to them (new logins see new databases and users at once), every pool
  /// takes its new limits and target. Settings that only a restart changes keep their old
  /// effect. No client is dropped. Thread-safe.
  virtual void reload(config_ptr cfg, std::shared_ptr<const userlist> users) = 0;
  /// SIGHUP and the console's RELOAD: reads and validates the configuration file and its
  /// auth_file again; on success switches to them (reload() above) and logs what changed; on
  /// failure logs every error and changes nothing. Thread-safe.
  virtual reload_result reload_files() = 0;
  /// SIGUSR1, the console's PAUSE without a database: no server is opened, servers close as
  /// they are released, clients wait; does not wait for the servers. Returns the state
  /// before: anything but running means nothing was done. Thread-safe.
  virtual pause_state pause() = 0;
  /// SIGUSR2, the console's RESUME without a database: serving again after PAUSE.
  /// Returns the state before (running: nothing to resume). Thread-safe.
  virtual pause_state resume() = 0;
  /// A shutdown has been requested (RESUME is refused then).
  virtual bool shutting_down() const = 0;
};

std::unique_ptr<pooler> make_pooler(config_ptr cfg, std::shared_ptr<const userlist> users);

}  // namespace sluice

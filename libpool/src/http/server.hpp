#pragma once
// The HTTP endpoint (Boost.Beast): health, readiness, Prometheus metrics, JSON stats, and the
// console's commands for failover hooks. It runs on its own thread and io_context and reaches
// the pools only through the control API, so a slow scrape or a stuck client never blocks a
// shard. Beast stays behind this header.

#include <functional>
#include <memory>
#include <string>

#include "control/control.hpp"

namespace sluice::http {

/// What the server asks of the process it serves; each callable is thread-safe.
struct server_hooks {
  std::function<config_ptr()> config;                         ///< the current snapshot
  std::function<std::shared_ptr<const std::string>()> token;  ///< nullptr: no token file
  std::function<bool()> listening;  ///< the pooler's listeners are open
  std::function<bool()> shutting_down;  ///< a SHUTDOWN (any mode) has begun
};

/// Limits of the endpoint. Beyond max_connections a connection is answered 503 and closed.
struct server_limits {
  std::size_t max_connections = 64;
  std::size_t header_limit = 8 * 1024;  ///< request line and headers, bytes (431 beyond)
  std::size_t body_limit = 64 * 1024;   ///< request body, bytes (413 beyond)
  std::chrono::seconds request_timeout{10};  ///< to read one request, and idle keep-alive
};

class server {
 public:
  server(control& ctl, server_hooks hooks, server_limits limits = {});
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Listens on addr:port and starts the server's thread. Throws std::runtime_error when the
  /// address does not resolve or cannot be bound.
  void start(const std::string& addr, int port);
  /// Stops serving and joins the thread (what is in flight is dropped).
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sluice::http

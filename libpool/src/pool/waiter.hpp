#pragma once
// A client waiting for a server connection, and how the wait ends.

#include <memory>
#include <optional>
#include <string>

#include "pool/rules.hpp"
#include "pool/server_conn.hpp"
#include "shard/io.hpp"

namespace sluice {

struct shard;
struct pool;

/// Why a wait for a server ended without one: what the client is told.
struct wait_error {
  std::string sqlstate = "08P01";
  std::string message;
};

/// What a wait for a server ends with: the server, or nullptr and the reason. A function
/// pointer and the object it is for, so that a wait allocates nothing for its callback
/// (std::function would: a shared_ptr capture is not stored in place).
struct wait_done {
  using fn_type = void (*)(std::shared_ptr<void> ctx, server_ptr srv, wait_error error);
  /// Called (on the home shard, ctx still held) when the waiter has been queued for
  /// query_wait_notify; nullptr = the waiter is not told (a client not yet logged in).
  using notify_type = void (*)(const std::shared_ptr<void>& ctx);
  fn_type fn = nullptr;
  std::shared_ptr<void> ctx;
  notify_type notify = nullptr;
  void operator()(server_ptr srv, wait_error error) {
    fn(std::move(ctx), std::move(srv), std::move(error));
  }
};

/// A client waiting for a server. Shared so a hand-off in flight keeps it alive.
struct waiter {
  waiter(pool& p, shard& s, wait_done d);
  pool& owner;  ///< the pool it waits in
  shard& home;
  asio::steady_timer timer;  ///< expires at the next deadline; cancelled on delivery
  wait_done done;            ///< called once, on the home shard, from the timer's handler
  server_ptr delivered;
  std::optional<wait_error> failed;  ///< set when the pool gives up on this waiter
  clock::time_point since;
  /// query_wait_timeout, reserve_pool_timeout and query_wait_notify, from `since`; each is
  /// set to never once it has acted.
  pool_rules::wait_deadlines deadlines;
};

}  // namespace sluice

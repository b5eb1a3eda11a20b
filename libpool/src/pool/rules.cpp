// The pool's decisions (rules.hpp): pure functions of the values pool.cpp reads.
#include "pool/rules.hpp"

#include <algorithm>

namespace sluice::pool_rules {

duration to_duration(double seconds) noexcept {
  return std::chrono::duration_cast<duration>(std::chrono::duration<double>(seconds));
}

double seconds_between(time_point from, time_point now) noexcept {
  return std::chrono::duration<double>(now - from).count();
}

// ------------------------------------------------------------------------ launching servers

launch_verdict check_own_limits(bool held, bool reserve, int total,
                                const launch_limits& limits) noexcept {
  if (held) return launch_verdict::held;
  // The reserve is only for a waiter that waited reserve_pool_timeout: the queue's own
  // launches stop at pool_size.
  const int limit = limits.pool_size + (reserve ? limits.reserve_size : 0);
  if (total >= limit) return launch_verdict::pool_full;
  return launch_verdict::go;
}

bool needs_totals(const launch_limits& limits) noexcept {
  return limits.max_db_connections > 0 || limits.max_user_connections > 0;
}

launch_verdict check_totals(const launch_limits& limits, int db_total, int user_total) noexcept {
  if (limits.max_db_connections > 0 && db_total >= limits.max_db_connections)
    return launch_verdict::db_full;
  if (limits.max_user_connections > 0 && user_total >= limits.max_user_connections)
    return launch_verdict::user_full;
  return launch_verdict::go;
}

starve_reason starved_by(launch_verdict v) noexcept {
  switch (v) {
    case launch_verdict::db_full:
      return starve_reason::db;
    case launch_verdict::user_full:
      return starve_reason::user;
    default:
      return starve_reason::none;
  }
}

serve_plan plan_serving(int waiting, int coming, int total, int pool_size,
                        time_point last_login_failure, double server_login_retry,
                        bool retry_scheduled, time_point now) noexcept {
  serve_plan plan;
  if (waiting <= 0) return plan;
  plan.failing = last_login_failure != time_point{} &&
                 seconds_between(last_login_failure, now) < server_login_retry;
  if (plan.failing) {
    // One retry timer at a time serves the queue again when server_login_retry has passed.
    plan.schedule_retry = !retry_scheduled;
    return plan;
  }
  // As many as there are waiters not yet covered by a server on its way.
  plan.launch = std::max(0, std::min(waiting - coming, pool_size - total));
  return plan;
}

// --------------------------------------------------------------- keeping or closing a server

server_verdict surplus(const server_view& srv, const pool_view& p) noexcept {
  // After a failover or a changed target an older server points at the wrong place: it
  // never serves again, whatever the counts.
  if (srv.generation != p.generation) return server_verdict::old_generation;
  if (p.total > p.pool_size + p.reserve_size) return server_verdict::pool_shrunk;
  return server_verdict::keep;
}

server_verdict on_release(const server_view& srv, const pool_view& p, time_point now) noexcept {
  // server_lifetime = 0: a server is used once, then closed (pgbouncer's rule); a server
  // fresh from its login is not used yet.
  if (p.server_lifetime == 0 ? srv.used
                             : seconds_between(srv.connected_at, now) > p.server_lifetime)
    return server_verdict::lifetime_over;
  return surplus(srv, p);
}

server_verdict on_idle(const server_view& srv, const pool_view& p, time_point now) noexcept {
  // min_pool_size servers stay however long they idle: closing them would only make the
  // top-up open them again.
  if (p.server_idle_timeout > 0 && seconds_between(srv.idle_since, now) > p.server_idle_timeout &&
      p.total > p.min_pool_size)
    return server_verdict::idle_timeout;
  // (server_lifetime = 0: an idle server waits for its one use.)
  if (p.server_lifetime > 0 && seconds_between(srv.connected_at, now) > p.server_lifetime)
    return server_verdict::lifetime_over;
  return surplus(srv, p);
}

const char* reason(server_verdict v, bool held) noexcept {
  switch (v) {
    case server_verdict::keep:
      return nullptr;
    case server_verdict::old_generation:
      return held ? "pause mode" : "database configuration changed";
    case server_verdict::pool_shrunk:
      return "pool size reduced";
    case server_verdict::lifetime_over:
      return "server lifetime over";
    case server_verdict::idle_timeout:
      return "server idle timeout";
  }
  return nullptr;
}

// ------------------------------------------------------------ the reserve and min_pool_size

time_point wait_deadlines::next() const noexcept { return std::min({wait, reserve, notify}); }

wait_deadlines deadlines_for(time_point since, double query_wait_timeout, int reserve_size,
                             double reserve_pool_timeout, bool notify_wanted,
                             double query_wait_notify) noexcept {
  wait_deadlines d;
  if (query_wait_timeout > 0) d.wait = since + to_duration(query_wait_timeout);
  if (reserve_size > 0) d.reserve = since + to_duration(reserve_pool_timeout);
  if (notify_wanted && query_wait_notify > 0) d.notify = since + to_duration(query_wait_notify);
  return d;
}

waiter_due due(const wait_deadlines& d, time_point now) noexcept {
  waiter_due w;
  w.notify = now >= d.notify;
  w.reserve = now >= d.reserve;
  // A waiter whose reserve moment and wait deadline both passed asks the reserve first; the
  // timer fires again at once and then ends the wait if no server came.
  w.time_out = !w.reserve && now >= d.wait;
  return w;
}

bool tops_up(int shard_id, int min_pool_size, bool draining, bool held) noexcept {
  return shard_id == 0 && min_pool_size > 0 && !draining && !held;
}

int top_up_count(int min_pool_size, int pool_size, int total, bool have_welcome) noexcept {
  if (!have_welcome) return 0;
  return std::max(0, std::min(min_pool_size, pool_size) - total);
}

bool may_top_up(bool have_welcome, bool forced_user, time_point last_login_failure,
                double server_login_retry, time_point now) noexcept {
  if (have_welcome) return true;
  if (!forced_user) return false;  // a pool nobody has used yet
  return last_login_failure == time_point{} ||
         seconds_between(last_login_failure, now) >= server_login_retry;
}

}  // namespace sluice::pool_rules

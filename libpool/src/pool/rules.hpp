#pragma once
// The pool's decisions, apart from the sockets, shards and timers that carry them out:
// whether a server may be opened, which waiter a released server goes to, whether a server
// is kept or closed, when a waiter may draw on the reserve, how many servers min_pool_size
// asks for. Sans-io and Asio-free: every input is a value, every time is passed in, so the
// unit tests drive these with a fake clock. pool.cpp reads the pool's atomics, calls these
// and acts on the answer.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>

namespace sluice::pool_rules {

/// The pool's clock (steady); the rules never read it themselves.
using time_point = std::chrono::steady_clock::time_point;
using duration = std::chrono::steady_clock::duration;

/// A setting in seconds as a duration of the pool's clock.
duration to_duration(double seconds) noexcept;
/// Seconds from `from` to `now`, as seconds_since() measures ages and timeouts.
double seconds_between(time_point from, time_point now) noexcept;

// ------------------------------------------------------------------------ launching servers

/// The limits a new server connection must fit in; 0 = no limit for the last two.
struct launch_limits {
  int pool_size = 0;             ///< servers of this pool, reserve not counted
  int reserve_size = 0;          ///< more, for a waiter that waited reserve_pool_timeout
  int max_db_connections = 0;    ///< servers of all pools of this database
  int max_user_connections = 0;  ///< servers of all pools of this server login user
};

/// Whether a server may be opened, and if not, which rule said no.
enum class launch_verdict {
  go,         ///< open it
  held,       ///< PAUSE or KILL is in effect: waiters wait for RESUME
  pool_full,  ///< pool_size (plus reserve_size for a reserve launch) servers open or opening
  db_full,    ///< max_db_connections reached across the database's pools
  user_full,  ///< max_user_connections reached across the user's pools
  /// A launch for the queue finds every waiter covered by a connection being opened (another
  /// shard launched for them since the plan was made).
  covered,
};

/// Why a server is opened (pool::launch_server).
enum class launch_for : std::uint8_t {
  queue,    ///< a waiter not covered by a connection being opened
  reserve,  ///< a waiter's reserve_pool_timeout
  top_up,   ///< min_pool_size
};

/// A launch for the queue is still wanted: more clients wait than servers are on their way to
/// them (`coming`: connections being opened, and idle servers on other shards, which are
/// asked to come). The caller holds the lock that counts the waiters and the logins, so that
/// two shards serving the same queue at once open one connection per waiter, not one each.
constexpr bool uncovered_waiter(int waiting, int coming) noexcept { return waiting > coming; }

/// The checks that need this pool alone. `total` counts servers open or still logging in;
/// `reserve` is set only for a launch a waiter's reserve_pool_timeout asked for.
launch_verdict check_own_limits(bool held, bool reserve, int total,
                                const launch_limits& limits) noexcept;
/// True when max_db_connections or max_user_connections is set: only then are the totals
/// over all pools worth counting (that walks the registry under its lock).
bool needs_totals(const launch_limits& limits) noexcept;
/// The checks across pools: servers open or opening for the database and for the user.
launch_verdict check_totals(const launch_limits& limits, int db_total, int user_total) noexcept;

/// Both steps: `totals(int& db_total, int& user_total)` is called only when needs_totals().
template <class Totals>
launch_verdict may_launch(bool held, bool reserve, int total, const launch_limits& limits,
                          Totals&& totals) {
  const launch_verdict own = check_own_limits(held, reserve, total, limits);
  if (own != launch_verdict::go || !needs_totals(limits)) return own;
  int db_total = 0, user_total = 0;
  totals(db_total, user_total);
  return check_totals(limits, db_total, user_total);
}

/// Which limit across pools keeps a pool's waiters from a server (the reason a sibling's idle
/// server may be evicted for them): none, max_db_connections, max_user_connections.
enum class starve_reason : int { none = 0, db = 1, user = 2 };
/// The starve_reason of a refused launch: db_full and user_full only (a pool's own pool_size,
/// PAUSE and a go are none).
starve_reason starved_by(launch_verdict v) noexcept;

/// What serving the queue does now (pool::try_serve_waiters).
struct serve_plan {
  int launch = 0;               ///< servers to open (each still goes through may_launch)
  bool failing = false;         ///< a login failed less than server_login_retry ago: none
  bool schedule_retry = false;  ///< failing and no retry timer armed yet: arm one
};

/// What the pool's counts say when `waiting` clients are queued: open one server per waiter
/// not covered by one on its way (`coming`, as uncovered_waiter counts it), up to pool_size;
/// none while the last login failure is younger than server_login_retry.
/// `last_login_failure` is time_point{} when there is none.
serve_plan plan_serving(int waiting, int coming, int total, int pool_size,
                        time_point last_login_failure, double server_login_retry,
                        bool retry_scheduled, time_point now) noexcept;

// -------------------------------------------------------------------------- the waiters

/// How much longer than strict FIFO order a waiter on another shard may wait so that a
/// released server goes to a waiter on its own shard instead of being handed over.
inline constexpr duration local_window = std::chrono::milliseconds(2);

/// The pool's one FIFO of waiters across shards. `Traits` reads an element:
/// `Traits::since(const T&) -> time_point` (when it queued) and
/// `Traits::shard_of(const T&) -> int` (the shard it lives on). Not thread-safe: the pool
/// keeps it under its mutex. Whatever leaves the queue leaves it once: take_for, leave and
/// take_all each hand an element to exactly one caller.
template <class T, class Traits>
class waiter_queue {
 public:
  using container = std::deque<T>;

  bool empty() const noexcept { return q_.empty(); }
  std::size_t size() const noexcept { return q_.size(); }
  /// The oldest waiter (SHOW POOLS' maxwait). Not empty.
  const T& front() const { return q_.front(); }
  typename container::const_iterator begin() const noexcept { return q_.begin(); }
  typename container::const_iterator end() const noexcept { return q_.end(); }

  /// Queues w last.
  void push(T w) { q_.push_back(std::move(w)); }
  /// Queues w first again: a server taken for it could not be handed over.
  void push_front(T w) { q_.push_front(std::move(w)); }

  /// Takes the first waiter `match` accepts out of the queue (its client has gone, or its
  /// wait timed out). False if none is queued: a server is already on its way to it, and
  /// ends its wait as usual.
  template <class Match>
  bool leave(Match&& match) {
    for (auto it = q_.begin(); it != q_.end(); ++it) {
      if (!match(*it)) continue;
      q_.erase(it);
      return true;
    }
    return false;
  }

  /// The waiter that gets a server released on shard `here`, out of the queue: among those
  /// that queued within `window` of the oldest, the first on `here` (no hand-over); else the
  /// oldest. nullopt if nobody waits (the server stays idle).
  std::optional<T> take_for(int here, duration window = local_window) {
    if (q_.empty()) return std::nullopt;
    auto pick = q_.begin();
    const time_point horizon = Traits::since(q_.front()) + window;
    // The walk stops at the first waiter past the horizon, not at the last: the queue is in
    // arrival order, so later ones are (nearly) all past it too.
    for (auto it = q_.begin(); it != q_.end() && Traits::since(*it) <= horizon; ++it) {
      if (Traits::shard_of(*it) == here) {
        pick = it;
        break;
      }
    }
    std::optional<T> w(std::move(*pick));
    q_.erase(pick);
    return w;
  }

  /// Everyone, out of the queue (a first login failed; the registry is cleared).
  container take_all() {
    container out;
    out.swap(q_);
    return out;
  }

 private:
  container q_;
};

// --------------------------------------------------------------- keeping or closing a server

/// What becomes of a server coming back to the pool (released) or sitting idle.
enum class server_verdict {
  keep,            ///< back to the idle list
  old_generation,  ///< RECONNECT, PAUSE or KILL, or a reload that changed the target
  pool_shrunk,     ///< more servers than pool_size + reserve_size (a reload made it smaller)
  lifetime_over,   ///< connected longer than server_lifetime
  idle_timeout,    ///< idle longer than server_idle_timeout, above min_pool_size
};

/// The pool's side of the decision, read once by the caller.
struct pool_view {
  std::uint64_t generation = 0;  ///< bumped by a changed target, RECONNECT, PAUSE, KILL
  int total = 0;                 ///< servers open or opening, this one included
  int pool_size = 0, reserve_size = 0, min_pool_size = 0;
  double server_lifetime = 0;      ///< seconds; 0 = each server serves one client, once
  double server_idle_timeout = 0;  ///< seconds; 0 = none (the janitor's pass only)
};

/// The server's side.
struct server_view {
  std::uint64_t generation = 0;  ///< the pool's generation when it was launched
  time_point connected_at{}, idle_since{};
  bool used = false;  ///< has served a client (not just logged in)
};

/// Why a server must not be kept whatever its age: an older generation, or a pool that has
/// more servers than it may have now. keep otherwise.
server_verdict surplus(const server_view& srv, const pool_view& p) noexcept;
/// A server released by a client (or just logged in): server_lifetime, then surplus().
server_verdict on_release(const server_view& srv, const pool_view& p, time_point now) noexcept;
/// An idle server on the janitor's pass, once it is known to be alive: server_idle_timeout
/// (only while the pool has more than min_pool_size servers), server_lifetime, then surplus().
server_verdict on_idle(const server_view& srv, const pool_view& p, time_point now) noexcept;
/// The reason logged when the server is closed; nullptr for keep. An old generation while
/// `held` is PAUSE's or KILL's doing.
const char* reason(server_verdict v, bool held) noexcept;

// ------------------------------------------------------------ the reserve and min_pool_size

/// When a waiter's timer must act: the end of its wait, the moment it may draw on the
/// reserve, the moment it is told it is queued. time_point::max() = never.
struct wait_deadlines {
  time_point wait = time_point::max(), reserve = time_point::max(), notify = time_point::max();
  /// The earliest of the three: when the timer expires next.
  time_point next() const noexcept;
};

/// The deadlines of a waiter queued at `since`: query_wait_timeout (0 = none); the reserve
/// after reserve_pool_timeout, only when the pool has a reserve; query_wait_notify (0 = none)
/// only for a waiter that is told (`notify_wanted`).
wait_deadlines deadlines_for(time_point since, double query_wait_timeout, int reserve_size,
                             double reserve_pool_timeout, bool notify_wanted,
                             double query_wait_notify) noexcept;

/// What a waiter's timer does at `now`, given its deadlines.
struct waiter_due {
  bool notify = false;    ///< send the "client being queued" notice (once)
  bool reserve = false;   ///< ask for a server from the reserve (once)
  bool time_out = false;  ///< query_wait_timeout: end the wait (not when drawing on the reserve)
};
waiter_due due(const wait_deadlines& d, time_point now) noexcept;

/// Whether this janitor pass tops the pool up to min_pool_size: on shard 0 only (one shard
/// does it for all), with min_pool_size set, not while the pool is drained or paused.
bool tops_up(int shard_id, int min_pool_size, bool draining, bool held) noexcept;
/// How many servers the top-up opens: up to min(min_pool_size, pool_size), counting those
/// open or opening; none before a first login has worked (a pool nobody has used yet, or one
/// whose server refuses the login, is not hammered). Never negative.
int top_up_count(int min_pool_size, int pool_size, int total, bool have_welcome) noexcept;
/// The `have_welcome` top_up_count takes: a pool that has logged in once; or the pool of an
/// entry with a forced user (user=), which holds min_pool_size before any client comes, as
/// pgbouncer, but not while its last login failure is younger than server_login_retry.
bool may_top_up(bool have_welcome, bool forced_user, time_point last_login_failure,
                double server_login_retry, time_point now) noexcept;

}  // namespace sluice::pool_rules

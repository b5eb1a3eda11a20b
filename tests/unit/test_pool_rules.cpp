// Unit tests of the pool's decisions (pool/rules.hpp) with a fake clock, and of a server
// connection's statement LRU (pool/statements.hpp): no sockets, no Asio, no shards.

#include <chrono>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "catch.hpp"
#include "pool/rules.hpp"
#include "pool/statements.hpp"

namespace rules = sluice::pool_rules;
using namespace std::chrono_literals;
using rules::launch_verdict;
using rules::server_verdict;

namespace {

/// A clock the test moves by hand. It starts well past time_point{}, which the rules read as
/// "no login failure yet".
struct fake_clock {
  rules::time_point now = rules::time_point{} + 1h;
  void advance(rules::duration d) { now += d; }
};

/// A waiter as the queue sees it: who it is, when it queued, where it lives.
struct test_waiter {
  int id = 0;
  rules::time_point since;
  int shard = 0;
};
struct test_traits {
  static rules::time_point since(const test_waiter& w) { return w.since; }
  static int shard_of(const test_waiter& w) { return w.shard; }
};
using queue = rules::waiter_queue<test_waiter, test_traits>;

std::optional<int> id_of(const std::optional<test_waiter>& w) {
  if (!w) return std::nullopt;
  return w->id;
}

bool leave(queue& q, int id) {
  return q.leave([id](const test_waiter& w) { return w.id == id; });
}

/// pool_size 5, reserve 2, min 1, lifetime 1 h, idle timeout 10 min, generation 7.
rules::pool_view some_pool(int total) {
  rules::pool_view p;
  p.generation = 7;
  p.total = total;
  p.pool_size = 5;
  p.reserve_size = 2;
  p.min_pool_size = 1;
  p.server_lifetime = 3600;
  p.server_idle_timeout = 600;
  return p;
}

sluice::statement_ptr stmt(std::string_view text) {
  return std::make_shared<const sluice::statement_def>(pgwire::bytes_view(
      reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

}  // namespace

// ------------------------------------------------------------------------ launching servers

TEST_CASE("pool rules: servers open up to pool_size, the reserve only for a reserve launch",
          "[pool]") {
  const rules::launch_limits lim{5, 2, 0, 0};
  CHECK(rules::check_own_limits(false, false, 4, lim) == launch_verdict::go);
  CHECK(rules::check_own_limits(false, false, 5, lim) == launch_verdict::pool_full);
  CHECK(rules::check_own_limits(false, true, 5, lim) == launch_verdict::go);
  CHECK(rules::check_own_limits(false, true, 6, lim) == launch_verdict::go);
  CHECK(rules::check_own_limits(false, true, 7, lim) == launch_verdict::pool_full);
  // No reserve configured: a reserve launch stops at pool_size too.
  CHECK(rules::check_own_limits(false, true, 5, {5, 0, 0, 0}) == launch_verdict::pool_full);
}

TEST_CASE("pool rules: PAUSE opens nothing, whatever the counts", "[pool]") {
  const rules::launch_limits lim{5, 2, 0, 0};
  CHECK(rules::check_own_limits(true, false, 0, lim) == launch_verdict::held);
  CHECK(rules::check_own_limits(true, true, 0, lim) == launch_verdict::held);
  int asked = 0;
  auto totals = [&](int&, int&) { ++asked; };
  CHECK(rules::may_launch(true, false, 0, {5, 2, 10, 10}, totals) == launch_verdict::held);
  CHECK(asked == 0);
}

TEST_CASE("pool rules: max_db_connections and max_user_connections count every pool",
          "[pool]") {
  int asked = 0;
  int db_total = 0, user_total = 0;
  auto totals = [&](int& db, int& user) {
    ++asked;
    db = db_total;
    user = user_total;
  };
  SECTION("no limit: the registry is not walked") {
    CHECK_FALSE(rules::needs_totals({5, 0, 0, 0}));
    db_total = user_total = 1000;
    CHECK(rules::may_launch(false, false, 0, {5, 0, 0, 0}, totals) == launch_verdict::go);
    CHECK(asked == 0);
  }
  SECTION("the database's limit") {
    const rules::launch_limits lim{5, 0, 8, 0};
    CHECK(rules::needs_totals(lim));
    db_total = 7;
    user_total = 100;
    CHECK(rules::may_launch(false, false, 0, lim, totals) == launch_verdict::go);
    db_total = 8;
    CHECK(rules::may_launch(false, false, 0, lim, totals) == launch_verdict::db_full);
    CHECK(asked == 2);
  }
  SECTION("the user's limit") {
    const rules::launch_limits lim{5, 0, 0, 3};
    user_total = 3;
    db_total = 100;
    CHECK(rules::may_launch(false, false, 0, lim, totals) == launch_verdict::user_full);
    user_total = 2;
    CHECK(rules::may_launch(false, false, 0, lim, totals) == launch_verdict::go);
  }
  SECTION("a full pool says so before the other pools are counted") {
    CHECK(rules::may_launch(false, false, 5, {5, 0, 8, 3}, totals) == launch_verdict::pool_full);
    CHECK(asked == 0);
  }
}

TEST_CASE("pool rules: the queue opens one server per waiter not covered by a login",
          "[pool]") {
  fake_clock clk;
  const auto none = rules::time_point{};
  // 5 waiting, 2 logging in: 3 more, room for 8.
  CHECK(rules::plan_serving(5, 2, 2, 10, none, 15, false, clk.now).launch == 3);
  // Room for only 1 below pool_size.
  CHECK(rules::plan_serving(5, 0, 9, 10, none, 15, false, clk.now).launch == 1);
  // A pool a reload shrank below its count opens nothing.
  CHECK(rules::plan_serving(5, 0, 12, 10, none, 15, false, clk.now).launch == 0);
  // Logins in progress cover every waiter.
  CHECK(rules::plan_serving(2, 3, 3, 10, none, 15, false, clk.now).launch == 0);
  CHECK(rules::plan_serving(0, 0, 0, 10, none, 15, false, clk.now).launch == 0);
  // Two shards plan at once from the same counts (2 waiting, none logging in): each launch
  // checks again, under the lock that counts it, so the second shard's plan of 2 opens none.
  CHECK(rules::plan_serving(2, 0, 0, 10, none, 15, false, clk.now).launch == 2);
  CHECK(rules::uncovered_waiter(2, 0));
  CHECK(rules::uncovered_waiter(2, 1));
  CHECK_FALSE(rules::uncovered_waiter(2, 2));
  CHECK_FALSE(rules::uncovered_waiter(0, 0));
}

TEST_CASE("pool rules: after a failed login nothing opens until server_login_retry", "[pool]") {
  fake_clock clk;
  const rules::time_point failed_at = clk.now;
  clk.advance(14s);
  auto plan = rules::plan_serving(3, 0, 0, 10, failed_at, 15, false, clk.now);
  CHECK(plan.failing);
  CHECK(plan.launch == 0);
  CHECK(plan.schedule_retry);
  // One retry timer at a time.
  plan = rules::plan_serving(3, 0, 0, 10, failed_at, 15, true, clk.now);
  CHECK(plan.failing);
  CHECK_FALSE(plan.schedule_retry);
  clk.advance(2s);
  plan = rules::plan_serving(3, 0, 0, 10, failed_at, 15, true, clk.now);
  CHECK_FALSE(plan.failing);
  CHECK_FALSE(plan.schedule_retry);
  CHECK(plan.launch == 3);
}

// -------------------------------------------------------------------------- the waiters

TEST_CASE("pool rules: a released server goes to a waiter on its shard within 2 ms", "[pool]") {
  fake_clock clk;
  queue q;
  q.push({1, clk.now, 1});
  clk.advance(1ms);
  q.push({2, clk.now, 0});
  clk.advance(1ms);  // exactly at the window's edge: still in it
  q.push({3, clk.now, 2});
  CHECK(id_of(q.take_for(2)) == 3);
  CHECK(id_of(q.take_for(0)) == 2);
  CHECK(id_of(q.take_for(0)) == 1);  // nobody on shard 0 left: the oldest, handed over
  CHECK(q.empty());
  CHECK_FALSE(q.take_for(0));  // nobody waits: the server stays idle

  // Among several on the shard, FIFO still: the oldest of them.
  q.push({4, clk.now, 1});
  q.push({5, clk.now + 1ms, 0});
  q.push({6, clk.now + 1ms, 0});
  CHECK(id_of(q.take_for(0)) == 5);
  CHECK(id_of(q.take_for(0)) == 6);
}

TEST_CASE("pool rules: past the window the oldest waiter goes first, whatever its shard",
          "[pool]") {
  fake_clock clk;
  queue q;
  q.push({1, clk.now, 1});
  clk.advance(3ms);
  q.push({2, clk.now, 0});
  CHECK(id_of(q.take_for(0)) == 1);
  CHECK(id_of(q.take_for(0)) == 2);

  SECTION("the walk stops at the first waiter past the window") {
    // Queue order is arrival under the pool's lock; `since` was read before it, so it may be
    // slightly out of order. A local waiter behind one past the horizon is not looked at.
    queue r;
    const auto t0 = clk.now;
    r.push({1, t0, 1});
    r.push({2, t0 + 5ms, 1});
    r.push({3, t0 + 1ms, 0});
    CHECK(id_of(r.take_for(0)) == 1);
  }
}

TEST_CASE("pool rules: a waiter that leaves before a server is taken for it gets none",
          "[pool]") {
  fake_clock clk;
  queue q;
  q.push({1, clk.now, 1});
  q.push({2, clk.now, 0});
  CHECK(leave(q, 1));
  CHECK(q.size() == 1);
  CHECK(id_of(q.take_for(1)) == 2);  // the next waiter, handed over
  CHECK_FALSE(leave(q, 2));
  q.push({3, clk.now, 0});
  CHECK(leave(q, 3));
  CHECK_FALSE(q.take_for(0));  // the last one left: the server stays idle
}

TEST_CASE("pool rules: a waiter that leaves while its server is handed over: one owner",
          "[pool]") {
  // release() takes the waiter out of the queue, then the server travels to its shard. The
  // client leaving now (cancel_wait) finds it no longer queued: the server ends the wait and
  // the closing session releases it, to the next waiter.
  fake_clock clk;
  queue q;
  q.push({1, clk.now, 1});
  q.push({2, clk.now, 0});
  const auto taken = q.take_for(1);
  REQUIRE(id_of(taken) == 1);
  CHECK_FALSE(leave(q, 1));  // in flight: cancel_wait does nothing, the server comes
  CHECK(q.size() == 1);      // waiter 2 was not given the same server
  // Waiter 1's session is closing: the server comes back and goes to waiter 2.
  CHECK(id_of(q.take_for(1)) == 2);
  CHECK(q.empty());
}

TEST_CASE("pool rules: a hand-over that fails puts its waiter first again", "[pool]") {
  fake_clock clk;
  queue q;
  q.push({1, clk.now, 1});
  q.push({2, clk.now + 1ms, 2});
  auto w = q.take_for(2);  // picked within the window, not the oldest
  REQUIRE(id_of(w) == 2);
  q.push_front(*w);  // the socket could not be released: the server is closed instead
  CHECK(q.front().id == 2);
  CHECK(id_of(q.take_for(0)) == 2);
  CHECK(id_of(q.take_for(0)) == 1);
}

TEST_CASE("pool rules: everyone leaves the queue at once, in order", "[pool]") {
  fake_clock clk;
  queue q;
  for (int i = 1; i <= 3; ++i) q.push({i, clk.now, i % 2});
  const auto all = q.take_all();
  CHECK(q.empty());
  REQUIRE(all.size() == 3);
  CHECK(all[0].id == 1);
  CHECK(all[2].id == 3);
  CHECK_FALSE(q.take_for(0));
}

TEST_CASE("pool rules: waiters leave and servers come back at random: none lost or shared",
          "[pool]") {
  // Three shards, waiters arriving and leaving, servers released, in a random order. Each
  // server is idle or with exactly one waiter; a waiter is served at most once, never after it
  // left the queue, and only while nobody older than the window waits on another shard.
  std::mt19937 rng(12345);
  fake_clock clk;
  queue q;
  std::vector<int> idle;                // servers nobody waits for
  std::map<int, int> owner;             // server -> waiter it was given to
  std::set<int> served, left, queued;   // waiters
  constexpr int servers = 4;
  for (int s = 0; s < servers; ++s) idle.push_back(s);
  int next_id = 1, local_picks = 0;
  for (int step = 0; step < 5000; ++step) {
    clk.advance(std::chrono::microseconds(rng() % 1000));
    // Arrivals outnumber releases so that a queue forms; some of the queued leave.
    const unsigned what = rng() % 8;
    if (what < 4) {  // a client wants a server: an idle one, else it queues
      if (!idle.empty()) {
        // Nobody is queued while a server is idle: a server comes back idle only to an
        // empty queue, and a client queues only when none is idle.
        REQUIRE(queued.empty());
        owner[idle.back()] = -1;
        idle.pop_back();
      } else {
        const int id = next_id++;
        q.push({id, clk.now, int(rng() % 3)});
        queued.insert(id);
      }
    } else if (what == 4 && !queued.empty()) {  // a queued client goes away
      auto it = queued.begin();
      std::advance(it, rng() % queued.size());
      const int id = *it;
      CHECK(leave(q, id));
      queued.erase(id);
      left.insert(id);
    } else if (what > 4 && !owner.empty()) {  // a server comes back on a shard: to a waiter, or idle
      auto it = owner.begin();
      std::advance(it, rng() % owner.size());
      const int srv = it->first;
      owner.erase(it);
      const int shard = int(rng() % 3);
      const std::optional<test_waiter> oldest =
          q.empty() ? std::nullopt : std::optional<test_waiter>(q.front());
      if (auto w = q.take_for(shard)) {
        // Not the oldest: a waiter on this shard, within the window of the oldest.
        if (w->id != oldest->id) {
          ++local_picks;
          CHECK(w->shard == shard);
          CHECK(w->since <= oldest->since + rules::local_window);
        }
        CHECK(queued.count(w->id) == 1);
        CHECK(left.count(w->id) == 0);
        CHECK(served.insert(w->id).second);
        queued.erase(w->id);
        owner[srv] = w->id;
      } else {
        idle.push_back(srv);
      }
    }
    REQUIRE(int(idle.size() + owner.size()) == servers);
    REQUIRE(q.size() == queued.size());
  }
  // The run went through the hand-off, the local window and departures, not only the idle path.
  CHECK(served.size() > 100);
  CHECK(local_picks > 10);
  CHECK(left.size() > 100);
}

// --------------------------------------------------------------- keeping or closing a server

TEST_CASE("pool rules: a server of an older generation is closed, as PAUSE's when held",
          "[pool]") {
  fake_clock clk;
  const rules::server_view old_srv{6, clk.now, clk.now};
  const rules::server_view cur_srv{7, clk.now, clk.now};
  const auto p = some_pool(3);
  CHECK(rules::surplus(old_srv, p) == server_verdict::old_generation);
  CHECK(rules::on_release(old_srv, p, clk.now) == server_verdict::old_generation);
  CHECK(rules::on_idle(old_srv, p, clk.now) == server_verdict::old_generation);
  CHECK(std::string(rules::reason(server_verdict::old_generation, false)) ==
        "database configuration changed");
  CHECK(std::string(rules::reason(server_verdict::old_generation, true)) == "pause mode");
  CHECK(rules::on_release(cur_srv, p, clk.now) == server_verdict::keep);
  CHECK(rules::reason(server_verdict::keep, true) == nullptr);
}

TEST_CASE("pool rules: a pool above pool_size plus reserve closes what comes back", "[pool]") {
  fake_clock clk;
  const rules::server_view srv{7, clk.now, clk.now};
  CHECK(rules::on_release(srv, some_pool(7), clk.now) == server_verdict::keep);
  CHECK(rules::on_release(srv, some_pool(8), clk.now) == server_verdict::pool_shrunk);
  CHECK(rules::on_idle(srv, some_pool(8), clk.now) == server_verdict::pool_shrunk);
  CHECK(std::string(rules::reason(server_verdict::pool_shrunk, false)) == "pool size reduced");
}

TEST_CASE("pool rules: server_lifetime closes released and idle servers; 0 is use once",
          "[pool]") {
  fake_clock clk;
  const rules::server_view srv{7, clk.now, clk.now};
  auto p = some_pool(3);
  p.server_idle_timeout = 0;
  clk.advance(3600s);
  CHECK(rules::on_release(srv, p, clk.now) == server_verdict::keep);
  clk.advance(1ms);
  CHECK(rules::on_release(srv, p, clk.now) == server_verdict::lifetime_over);
  CHECK(rules::on_idle(srv, p, clk.now) == server_verdict::lifetime_over);
  CHECK(std::string(rules::reason(server_verdict::lifetime_over, false)) ==
        "server lifetime over");
  // Old and surplus too: the lifetime is named first.
  CHECK(rules::on_release({6, srv.connected_at, srv.idle_since}, some_pool(9), clk.now) ==
        server_verdict::lifetime_over);
  p.server_lifetime = 0;
  clk.advance(1000h);
  // Fresh from its login (or lent for a login's parameters): kept, idle or released.
  CHECK(rules::on_release(srv, p, clk.now) == server_verdict::keep);
  CHECK(rules::on_idle(srv, p, clk.now) == server_verdict::keep);
  // Once it has served a client it is closed when released.
  const rules::server_view used{7, clk.now, clk.now, true};
  CHECK(rules::on_release(used, p, clk.now) == server_verdict::lifetime_over);
}

TEST_CASE("pool rules: server_idle_timeout closes idle servers above min_pool_size", "[pool]") {
  fake_clock clk;
  rules::server_view srv{7, clk.now, clk.now};
  clk.advance(601s);
  CHECK(rules::on_idle(srv, some_pool(2), clk.now) == server_verdict::idle_timeout);
  CHECK(std::string(rules::reason(server_verdict::idle_timeout, false)) == "server idle timeout");
  // min_pool_size 1: the last one stays.
  CHECK(rules::on_idle(srv, some_pool(1), clk.now) == server_verdict::keep);
  // Idle timeout is the janitor's: a release never closes for it.
  CHECK(rules::on_release(srv, some_pool(2), clk.now) == server_verdict::keep);
  // Idle for less than the timeout.
  srv.idle_since = clk.now - 599s;
  CHECK(rules::on_idle(srv, some_pool(2), clk.now) == server_verdict::keep);
  // 0 = never.
  auto p = some_pool(2);
  p.server_idle_timeout = 0;
  srv.idle_since = clk.now - 100h;
  p.server_lifetime = 0;
  CHECK(rules::on_idle(srv, p, clk.now) == server_verdict::keep);
}

TEST_CASE("pool rules: a reload shrinks a pool with servers in flight: none kept over the limit",
          "[pool]") {
  // pool_size 10, reserve 0: 3 idle, 5 linked to clients, 2 still logging in. The reload
  // makes it 4. The janitor pass over the idle ones, then every release (a login that ends
  // is a release too) closes while the count is over the limit; nothing opens meanwhile.
  fake_clock clk;
  rules::pool_view p;
  p.generation = 1;
  p.total = 10;
  p.pool_size = 10;
  const rules::server_view srv{1, clk.now, clk.now};
  p.pool_size = 4;  // the reload
  int kept = 0, closed = 0;
  auto come_back = [&](bool idle_pass) {
    const auto v = idle_pass ? rules::on_idle(srv, p, clk.now) : rules::on_release(srv, p, clk.now);
    if (v == server_verdict::keep) {
      ++kept;
      return;
    }
    CHECK(v == server_verdict::pool_shrunk);
    ++closed;
    --p.total;  // discard() frees the slot
  };
  for (int i = 0; i < 3; ++i) come_back(true);
  CHECK(closed == 3);
  CHECK(rules::may_launch(false, false, p.total, {p.pool_size, 0, 0, 0}, [](int&, int&) {}) ==
        launch_verdict::pool_full);
  for (int i = 0; i < 7; ++i) come_back(false);
  CHECK(closed == 6);
  CHECK(kept == 4);
  CHECK(p.total == 4);
  CHECK(rules::may_launch(false, false, p.total, {p.pool_size, 0, 0, 0}, [](int&, int&) {}) ==
        launch_verdict::pool_full);
  SECTION("a target change closes every server of the old generation, fitting or not") {
    p.generation = 2;
    CHECK(rules::on_release(srv, p, clk.now) == server_verdict::old_generation);
    CHECK(rules::on_release({2, clk.now, clk.now}, p, clk.now) == server_verdict::keep);
  }
}

// ------------------------------------------------------------ the reserve and min_pool_size

TEST_CASE("pool rules: a waiter draws on the reserve after reserve_pool_timeout", "[pool]") {
  fake_clock clk;
  const auto since = clk.now;
  auto d = rules::deadlines_for(since, 120, 2, 5, false, 5);
  CHECK(d.reserve == since + 5s);
  CHECK(d.notify == rules::time_point::max());  // a waiter that is not told
  CHECK(d.next() == since + 5s);
  clk.advance(4999ms);
  CHECK_FALSE(rules::due(d, clk.now).reserve);
  clk.advance(1ms);
  const auto now_due = rules::due(d, clk.now);
  CHECK(now_due.reserve);
  CHECK_FALSE(now_due.time_out);
  // The reserve launch may go over pool_size; the queue's own may not.
  const rules::launch_limits lim{5, 2, 0, 0};
  CHECK(rules::check_own_limits(false, true, 5, lim) == launch_verdict::go);
  CHECK(rules::check_own_limits(false, false, 5, lim) == launch_verdict::pool_full);
  // Without a reserve there is nothing to wait for.
  d = rules::deadlines_for(since, 120, 0, 5, false, 5);
  CHECK(d.reserve == rules::time_point::max());
  CHECK(d.next() == since + 120s);
}

TEST_CASE("pool rules: query_wait_timeout and query_wait_notify", "[pool]") {
  fake_clock clk;
  const auto since = clk.now;
  auto d = rules::deadlines_for(since, 10, 1, 3, true, 1);
  CHECK(d.next() == since + 1s);
  clk.advance(1s);
  auto w = rules::due(d, clk.now);
  CHECK(w.notify);
  CHECK_FALSE(w.reserve);
  CHECK_FALSE(w.time_out);
  d.notify = rules::time_point::max();  // told once
  clk.advance(20s);
  // Reserve and timeout both passed: the reserve is asked first, the timeout next time.
  w = rules::due(d, clk.now);
  CHECK(w.reserve);
  CHECK_FALSE(w.time_out);
  d.reserve = rules::time_point::max();
  w = rules::due(d, clk.now);
  CHECK(w.time_out);
  CHECK_FALSE(w.notify);
  // 0 = wait forever, no notice.
  d = rules::deadlines_for(since, 0, 0, 3, true, 0);
  CHECK(d.next() == rules::time_point::max());
  CHECK_FALSE(rules::due(d, clk.now + 1000h).time_out);
}

TEST_CASE("pool rules: min_pool_size is topped up from shard 0 after a first login", "[pool]") {
  CHECK(rules::tops_up(0, 3, false, false));
  CHECK_FALSE(rules::tops_up(1, 3, false, false));  // one shard does it for all
  CHECK_FALSE(rules::tops_up(0, 0, false, false));
  CHECK_FALSE(rules::tops_up(0, 3, true, false));   // being dropped
  CHECK_FALSE(rules::tops_up(0, 3, false, true));   // paused
  CHECK(rules::top_up_count(3, 10, 1, true) == 2);
  CHECK(rules::top_up_count(3, 10, 1, false) == 0);  // never logged in yet
  CHECK(rules::top_up_count(8, 5, 2, true) == 3);    // capped by pool_size
  CHECK(rules::top_up_count(3, 10, 7, true) == 0);   // more than enough already
}

TEST_CASE("pool rules: a forced user's pool is topped up before any login, with backoff",
          "[pool]") {
  fake_clock clk;
  CHECK(rules::may_top_up(true, false, {}, 15, clk.now));
  CHECK_FALSE(rules::may_top_up(false, false, {}, 15, clk.now));  // nobody has used it
  CHECK(rules::may_top_up(false, true, {}, 15, clk.now));         // user=: from the start
  const rules::time_point failed = clk.now;
  CHECK_FALSE(rules::may_top_up(false, true, failed, 15, clk.now + 14s));
  CHECK(rules::may_top_up(false, true, failed, 15, clk.now + 15s));
}

TEST_CASE("pool rules: only the limits across pools starve a queue", "[pool]") {
  using rules::starve_reason;
  CHECK(rules::starved_by(launch_verdict::db_full) == starve_reason::db);
  CHECK(rules::starved_by(launch_verdict::user_full) == starve_reason::user);
  CHECK(rules::starved_by(launch_verdict::pool_full) == starve_reason::none);
  CHECK(rules::starved_by(launch_verdict::held) == starve_reason::none);
  CHECK(rules::starved_by(launch_verdict::go) == starve_reason::none);
}

// ---------------------------------------------------------------- server statements (LRU)

TEST_CASE("pool rules: server statements: the least recently used is evicted", "[pool]") {
  sluice::server_statements s;
  std::vector<std::uint64_t> evicted;
  const auto a = stmt("SELECT 1"), b = stmt("SELECT 2"), c = stmt("SELECT 3");
  const std::uint64_t ia = s.add(a, 2, evicted);
  const std::uint64_t ib = s.add(b, 2, evicted);
  CHECK(evicted.empty());
  CHECK(ia != ib);
  CHECK(s.find(*stmt("SELECT 1")) == ia);  // found by content; a is now the most recent
  const std::uint64_t ic = s.add(c, 2, evicted);
  REQUIRE(evicted.size() == 1);
  CHECK(evicted[0] == ib);
  CHECK(s.find(*b) == 0);
  CHECK(s.find(*a) == ia);
  CHECK(s.find(*c) == ic);
  CHECK(s.size() == 2);
}

TEST_CASE("pool rules: server statements: numbers are never reused; 0 keeps one", "[pool]") {
  sluice::server_statements s;
  std::vector<std::uint64_t> evicted;
  const auto a = stmt("SELECT 1");
  const std::uint64_t first = s.add(a, 0, evicted);
  CHECK(first != 0);
  CHECK(s.size() == 1);
  s.erase(first);
  CHECK(s.find(*a) == 0);
  const std::uint64_t again = s.add(a, 0, evicted);
  CHECK(again > first);  // a server could still hold sluice_<first>: a new name
  const std::uint64_t other = s.add(stmt("SELECT 2"), 0, evicted);
  CHECK(s.size() == 1);
  REQUIRE(evicted.size() == 1);
  CHECK(evicted[0] == again);
  s.forget(*stmt("SELECT 2"));
  CHECK(s.size() == 0);
  CHECK(s.find(*stmt("SELECT 2")) == 0);
  s.add(a, 5, evicted);
  s.add(stmt("SELECT 2"), 5, evicted);
  s.clear();  // DISCARD ALL
  CHECK(s.size() == 0);
  CHECK(s.find(*a) == 0);
  CHECK(s.add(a, 5, evicted) > other);
}

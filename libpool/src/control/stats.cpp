#include "control/stats.hpp"

#include <algorithm>
#include <tuple>

#include "control/control.hpp"

#include "sluice/log.hpp"

namespace sluice {

namespace {

std::uint64_t load(const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); }

}  // namespace

stats_counters pool_totals(const pool& p) {
  stats_counters t;
  for (std::size_t i = 0; i < p.nshards; ++i) {
    const pool::local& l = p.locals[i];
    t.server_assignment_count += load(l.server_assignment_count);
    t.xact_count += load(l.xact_count);
    t.query_count += load(l.query_count);
    t.bytes_received += load(l.bytes_in);
    t.bytes_sent += load(l.bytes_out);
    t.xact_time_us += load(l.xact_time_us);
    t.query_time_us += load(l.query_time_us);
    t.wait_time_us += load(l.wait_time_us);
    t.client_parse_count += load(l.client_parse_count);
    t.server_parse_count += load(l.server_parse_count);
    t.bind_count += load(l.bind_count);
    t.client_login_count += load(l.client_login_count);
  }
  return t;
}

std::vector<pool_metrics> snapshot_pool_metrics(pool_registry& registry) {
  std::vector<pool_metrics> out;
  for (const auto& p : registry.all()) {
    // The console has no server side; auth_query's pools serve no client (and may share a
    // (database, user) with a client pool: their series would collide).
    if (p->db_name == "pgbouncer" || p->for_auth) continue;
    pool_metrics& m = out.emplace_back();
    m.database = p->db_name;
    m.user = p->user_name;
    m.mode = p->mode.load(std::memory_order_relaxed);
    m.totals = pool_totals(*p);
    for (std::size_t i = 0; i < p->nshards; ++i) {
      p->locals[i].xact_hist.add_to(m.xact_time);
      p->locals[i].query_hist.add_to(m.query_time);
      p->locals[i].wait_hist.add_to(m.wait_time);
    }
    if (const auto hub = p->notifications_if_any()) {
      const notify_counters& n = hub->counters;
      m.notify = true;
      m.notifications_received = n.received.load(std::memory_order_relaxed);
      m.notifications_delivered = n.delivered.load(std::memory_order_relaxed);
      m.notify_clients_dropped = n.dropped_clients.load(std::memory_order_relaxed);
      m.listen_reconnects = n.reconnects.load(std::memory_order_relaxed);
      m.listen_channels = int(hub->channel_rows().size());
    }
  }
  std::sort(out.begin(), out.end(), [](const pool_metrics& a, const pool_metrics& b) {
    return std::tie(a.database, a.user) < std::tie(b.database, b.user);
  });
  return out;
}

awaitable<std::vector<shard_info>> snapshot_shards(shard_set& set, asio::io_context& home) {
  // Each shard writes its own slot. The lambda captures by reference only: GCC 12 destroys a
  // temporary's captures twice when it sits in a co_await expression.
  std::vector<shard_info> out(set.size());
  co_await control::on_every_shard(set, home, [&out](shard& s) {
    shard_info& i = out[std::size_t(s.id)];
    i.id = s.id;
    for (const client_link* l = s.clients.next; l != &s.clients; l = l->next) ++i.clients;
    for (const client_link* l = s.servers.next; l != &s.servers; l = l->next) ++i.servers;
  });
  co_return out;
}

// ---------------------------------------------------------------------------- stats_keeper

stats_keeper::stats_keeper(pool_registry& registry)
    : registry_(registry), newer_at_(clock::now()) {
  // As pgbouncer: the first average, before any period has ended, is over the time since
  // start plus one second.
  older_at_ = newer_at_ - std::chrono::seconds(1);
}

void stats_keeper::console_statement() {
  console_statements_.fetch_add(1, std::memory_order_relaxed);
}

void stats_keeper::console_login() { console_logins_.fetch_add(1, std::memory_order_relaxed); }

std::map<std::string, stats_counters> stats_keeper::gather() const {
  std::map<std::string, stats_counters> by_db;
  for (const auto& p : registry_.all()) by_db[p->db_name] += pool_totals(*p);
  // The console's own row. Unlike pgbouncer, which counts one query and one transaction per
  // console session (its console never ends one), every console statement counts as both.
  stats_counters& con = by_db["pgbouncer"];
  const std::uint64_t n = load(console_statements_);
  con.query_count += n;
  con.xact_count += n;
  con.client_login_count += load(console_logins_);
  return by_db;
}

std::vector<database_stats> stats_keeper::snapshot(clock::time_point now) {
  std::map<std::string, stats_counters> cur = gather();
  std::lock_guard lk(mu_);
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(now - older_at_).count();
  std::vector<database_stats> out;
  out.reserve(cur.size());
  for (auto& [db, total] : cur) {
    auto it = older_.find(db);
    const stats_counters then = it == older_.end() ? stats_counters{} : it->second;
    out.push_back({db, total, stats_average(total, then, us)});
  }
  return out;
}

database_stats stats_keeper::overall(clock::time_point now) {
  database_stats all;
  stats_counters then;
  for (const auto& [db, t] : gather()) all.total += t;
  std::lock_guard lk(mu_);
  for (const auto& [db, t] : older_) then += t;
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(now - older_at_).count();
  all.average = stats_average(all.total, then, us);
  return all;
}

void stats_keeper::tick(const config& c, clock::time_point now) {
  // stats_period = 0 would end a period on every pass: once a second is the finest.
  const auto period = std::chrono::seconds(std::max(1, c.stats_period));
  std::map<std::string, stats_counters> cur;
  {
    std::lock_guard lk(mu_);
    if (now - newer_at_ < period) return;
  }
  cur = gather();
  stats_counters all_now, all_then;
  std::int64_t us = 0;
  {
    std::lock_guard lk(mu_);
    older_ = std::move(newer_);
    older_at_ = newer_at_;
    newer_ = cur;
    newer_at_ = now;
    for (const auto& [db, t] : cur) all_now += t;
    for (const auto& [db, t] : older_) all_then += t;
    us = std::chrono::duration_cast<std::chrono::microseconds>(now - older_at_).count();
  }
  if (c.log_stats) log::info("{}", stats_log_line(stats_average(all_now, all_then, us)));
}

}  // namespace sluice

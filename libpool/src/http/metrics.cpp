#include "http/metrics.hpp"

#include <fmt/format.h>

#include <initializer_list>
#include <string_view>
#include <utility>

namespace sluice::http {

namespace {

/// A label value with \, " and newline escaped, as the text format requires.
std::string escaped(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
  return out;
}

using label = std::pair<std::string_view, std::string_view>;

/// Writes one family at a time: HELP and TYPE once, then its samples.
class writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(std::string_view name, std::initializer_list<label> labels, double value,
              const label* extra = nullptr) {
    out_.append(name);
    if (labels.size() > 0 || extra) {
      out_.push_back('{');
      bool first = true;
      auto put = [&](const label& l) {
        if (!first) out_.push_back(',');
        first = false;
        fmt::format_to(std::back_inserter(out_), "{}=\"{}\"", l.first, escaped(l.second));
      };
      for (const label& l : labels) put(l);
      if (extra) put(*extra);
      out_.push_back('}');
    }
    fmt::format_to(std::back_inserter(out_), " {}\n", value);
  }
  /// A histogram's _bucket (cumulative, in seconds), _sum and _count samples.
  void histogram(std::string_view name, std::initializer_list<label> labels,
                 const histogram_totals& h) {
    const std::string bucket = fmt::format("{}_bucket", name);
    std::uint64_t running = 0;
    for (std::size_t i = 0; i < latency_bounds_us.size(); ++i) {
      running += h.buckets[i];
      const std::string le = fmt::format("{}", double(latency_bounds_us[i]) / 1e6);
      const label l{"le", le};
      sample(bucket, labels, double(running), &l);
    }
    running += h.buckets.back();
    const label inf{"le", "+Inf"};
    sample(bucket, labels, double(running), &inf);
    sample(fmt::format("{}_sum", name), labels, double(h.sum_us) / 1e6);
    sample(fmt::format("{}_count", name), labels, double(running));
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

double seconds(std::uint64_t us) { return double(us) / 1e6; }

}  // namespace

std::string render_metrics(const metrics_input& in) {
  writer w;
  w.family("sluice_build_info", "gauge", "Always 1; the version sluice was built as.");
  w.sample("sluice_build_info", {{"version", in.version}}, 1);
  w.family("sluice_shards", "gauge", "Shards (event loops, one thread each) serving clients.");
  w.sample("sluice_shards", {}, double(in.shards.size()));
  w.family("sluice_paused", "gauge", "1 while PAUSE (without a database) is in effect.");
  w.sample("sluice_paused", {}, in.state.paused ? 1 : 0);
  w.family("sluice_shutting_down", "gauge", "1 once a shutdown has been requested.");
  w.sample("sluice_shutting_down", {}, in.state.shutting_down ? 1 : 0);
  w.family("sluice_client_connections", "gauge", "Client connections open, all databases.");
  w.sample("sluice_client_connections", {}, double(in.client_connections));
  w.family("sluice_max_client_connections", "gauge", "max_client_conn.");
  w.sample("sluice_max_client_connections", {}, double(in.max_client_conn));

  // ---- per shard
  w.family("sluice_shard_client_connections", "gauge", "Client connections on each shard.");
  for (const shard_info& s : in.shards)
    w.sample("sluice_shard_client_connections", {{"shard", fmt::format("{}", s.id)}},
             double(s.clients));
  w.family("sluice_shard_server_connections", "gauge", "Server connections on each shard.");
  for (const shard_info& s : in.shards)
    w.sample("sluice_shard_server_connections", {{"shard", fmt::format("{}", s.id)}},
             double(s.servers));

  // ---- pools: connection states (SHOW POOLS)
  w.family("sluice_pool_client_connections", "gauge",
           "Logged-in clients of each pool: active (not queued) or waiting for a server.");
  for (const pool_info& p : in.pools) {
    if (p.console || p.for_auth) continue;
    const std::string_view mode = to_string(p.mode);
    for (auto [state, n] : {std::pair{"active", p.cl_active}, std::pair{"waiting", p.cl_waiting}})
      w.sample("sluice_pool_client_connections",
               {{"database", p.database}, {"user", p.user}, {"pool_mode", mode}, {"state", state}},
               double(n));
  }
  w.family("sluice_pool_server_connections", "gauge",
           "Server connections of each pool by state (SHOW POOLS' sv_ columns).");
  for (const pool_info& p : in.pools) {
    if (p.console || p.for_auth) continue;
    const std::string_view mode = to_string(p.mode);
    for (auto [state, n] : {std::pair{"active", p.sv_active}, std::pair{"idle", p.sv_idle},
                            std::pair{"used", p.sv_used}, std::pair{"tested", p.sv_tested},
                            std::pair{"login", p.sv_login}})
      w.sample("sluice_pool_server_connections",
               {{"database", p.database}, {"user", p.user}, {"pool_mode", mode}, {"state", state}},
               double(n));
  }
  w.family("sluice_pool_client_maxwait_seconds", "gauge",
           "How long the oldest client queued in each pool has waited.");
  for (const pool_info& p : in.pools) {
    if (p.console || p.for_auth) continue;
    w.sample("sluice_pool_client_maxwait_seconds",
             {{"database", p.database}, {"user", p.user}, {"pool_mode", to_string(p.mode)}},
             double(p.maxwait_us) / 1e6);
  }

  // ---- databases: sizes and limits (SHOW DATABASES)
  struct db_gauge {
    const char* name;
    const char* help;
    double (*value)(const database_info&);
  };
  static constexpr db_gauge db_gauges[] = {
      {"sluice_database_pool_size", "Server connections a pool of the database may open.",
       [](const database_info& d) { return double(d.pool_size); }},
      {"sluice_database_min_pool_size", "Server connections kept open per pool.",
       [](const database_info& d) { return double(d.min_pool_size); }},
      {"sluice_database_reserve_pool_size", "Extra server connections for waiting clients.",
       [](const database_info& d) { return double(d.reserve_pool_size); }},
      {"sluice_database_max_connections", "Server connections allowed (0 = no limit).",
       [](const database_info& d) { return double(d.max_connections); }},
      {"sluice_database_server_connections", "Server connections open.",
       [](const database_info& d) { return double(d.current_connections); }},
      {"sluice_database_max_client_connections", "Client connections allowed (0 = no limit).",
       [](const database_info& d) { return double(d.max_client_connections); }},
      {"sluice_database_client_connections", "Client connections logged in.",
       [](const database_info& d) { return double(d.current_client_connections); }},
      {"sluice_database_paused", "1 while the database is paused.",
       [](const database_info& d) { return d.paused ? 1.0 : 0.0; }},
      {"sluice_database_disabled", "1 while new logins to the database are refused.",
       [](const database_info& d) { return d.disabled ? 1.0 : 0.0; }},
  };
  for (const db_gauge& g : db_gauges) {
    w.family(g.name, "gauge", g.help);
    for (const database_info& d : in.databases) {
      if (d.console) continue;
      w.sample(g.name, {{"database", d.name}, {"pool_mode", to_string(d.mode.value_or(in.default_mode))}},
               g.value(d));
    }
  }

  // ---- host lists: each host as the database's pools last saw it, and role changes
  w.family("sluice_server_host_up", "gauge",
           "1 if the host of a database's list logged in at the last attempt, with the role it "
           "reported (primary, standby, read-only, unknown).");
  for (const database_info& d : in.databases) {
    for (const auto& h : d.hosts) {
      const std::string host = fmt::format("{}:{}", h.host, h.port);
      w.sample("sluice_server_host_up", {{"database", d.name}, {"host", host}, {"role", h.role}},
               h.up ? 1.0 : 0.0);
    }
  }
  w.family("sluice_server_role_changes_total", "counter",
           "Servers closed because they reported a role target_session_attrs does not take.");
  for (const database_info& d : in.databases) {
    if (d.console) continue;
    w.sample("sluice_server_role_changes_total", {{"database", d.name}}, double(d.role_changes));
  }

  // ---- peers' cancel pools (SHOW PEER_POOLS), this process's own entry left out
  w.family("sluice_peer_cancel_requests", "gauge",
           "Cancel requests for a peer in flight (active: sent) or not yet sent (waiting).");
  for (const peer_info& p : in.peers) {
    if (p.self) continue;
    const std::string id = std::to_string(p.peer_id);
    w.sample("sluice_peer_cancel_requests", {{"peer_id", id}, {"state", "active"}}, p.pool.active);
    w.sample("sluice_peer_cancel_requests", {{"peer_id", id}, {"state", "waiting"}},
             p.pool.waiting);
  }
  w.family("sluice_peer_cancels_forwarded_total", "counter",
           "Cancel requests forwarded to a peer (sent on a connection to it).");
  for (const peer_info& p : in.peers)
    if (!p.self)
      w.sample("sluice_peer_cancels_forwarded_total", {{"peer_id", std::to_string(p.peer_id)}},
               double(p.pool.forwarded));
  w.family("sluice_peer_cancel_forward_failures_total", "counter",
           "Cancel requests for a peer that could not be sent (connect failed, timed out).");
  for (const peer_info& p : in.peers)
    if (!p.self)
      w.sample("sluice_peer_cancel_forward_failures_total",
               {{"peer_id", std::to_string(p.peer_id)}}, double(p.pool.failed));

  // ---- counters (SHOW STATS), per pool
  struct counter {
    const char* name;
    const char* help;
    std::uint64_t stats_counters::*field;
    bool micros;  ///< the field counts microseconds: reported in seconds
  };
  static constexpr counter counters[] = {
      {"sluice_server_assignments_total", "Times a server was linked to a client.",
       &stats_counters::server_assignment_count, false},
      {"sluice_transactions_total", "Transactions completed.", &stats_counters::xact_count, false},
      {"sluice_queries_total", "Queries completed.", &stats_counters::query_count, false},
      {"sluice_received_bytes_total", "Bytes received from clients.",
       &stats_counters::bytes_received, false},
      {"sluice_sent_bytes_total", "Bytes sent to clients.", &stats_counters::bytes_sent, false},
      {"sluice_transaction_time_seconds_total", "Time spent in transactions.",
       &stats_counters::xact_time_us, true},
      {"sluice_query_time_seconds_total", "Time spent in queries.",
       &stats_counters::query_time_us, true},
      {"sluice_client_wait_time_seconds_total", "Time clients spent waiting for a server.",
       &stats_counters::wait_time_us, true},
      {"sluice_client_parses_total", "Parse messages from clients.",
       &stats_counters::client_parse_count, false},
      {"sluice_server_parses_total", "Parse messages sent to servers.",
       &stats_counters::server_parse_count, false},
      {"sluice_binds_total", "Bind messages from clients.", &stats_counters::bind_count, false},
      {"sluice_client_logins_total", "Client logins.", &stats_counters::client_login_count,
       false},
  };
  for (const counter& c : counters) {
    w.family(c.name, "counter", c.help);
    for (const pool_metrics& p : in.pool_stats) {
      const std::uint64_t v = p.totals.*c.field;
      w.sample(c.name, {{"database", p.database}, {"user", p.user}, {"pool_mode", to_string(p.mode)}},
               c.micros ? seconds(v) : double(v));
    }
  }

  // ---- LISTEN/NOTIFY in transaction mode, per pool that has had listeners
  struct notify_series {
    const char* name;
    const char* type;
    const char* help;
    double (*value)(const pool_metrics&);
  };
  static constexpr notify_series notify[] = {
      {"sluice_notifications_received_total", "counter",
       "Notifications the pool's listening connection received.",
       [](const pool_metrics& p) { return double(p.notifications_received); }},
      {"sluice_notifications_delivered_total", "counter",
       "Notifications queued to listening clients (one per client).",
       [](const pool_metrics& p) { return double(p.notifications_delivered); }},
      {"sluice_notify_clients_dropped_total", "counter",
       "Clients closed for leaving more than 1 MiB of notifications unread.",
       [](const pool_metrics& p) { return double(p.notify_clients_dropped); }},
      {"sluice_listen_reconnects_total", "counter",
       "Listening connections lost and opened again (notifications in the gap are lost).",
       [](const pool_metrics& p) { return double(p.listen_reconnects); }},
      {"sluice_listen_channels", "gauge", "Channels at least one client of the pool listens to.",
       [](const pool_metrics& p) { return double(p.listen_channels); }},
  };
  for (const notify_series& n : notify) {
    w.family(n.name, n.type, n.help);
    for (const pool_metrics& p : in.pool_stats)
      if (p.notify) w.sample(n.name, {{"database", p.database}, {"user", p.user}}, n.value(p));
  }

  // ---- histograms, per pool, merged over the shards
  struct hist {
    const char* name;
    const char* help;
    histogram_totals pool_metrics::*field;
  };
  static constexpr hist hists[] = {
      {"sluice_transaction_duration_seconds", "Transaction times.", &pool_metrics::xact_time},
      {"sluice_query_duration_seconds", "Query times.", &pool_metrics::query_time},
      {"sluice_client_wait_duration_seconds",
       "Waits of clients for a server (0 when one was idle).", &pool_metrics::wait_time},
  };
  for (const hist& h : hists) {
    w.family(h.name, "histogram", h.help);
    for (const pool_metrics& p : in.pool_stats)
      w.histogram(h.name, {{"database", p.database}, {"user", p.user}, {"pool_mode", to_string(p.mode)}},
                  p.*h.field);
  }
  return w.take();
}

}  // namespace sluice::http

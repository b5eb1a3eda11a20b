#pragma once
// pgbouncer's statistics counters and the arithmetic on them: pure, so that it is tested on
// its own (tests/unit/test_stats.cpp). Gathering them is stats.hpp's job.

#include <fmt/format.h>

#include <cstdint>
#include <iterator>
#include <string>

namespace sluice {

/// pgbouncer's counters (SHOW STATS_TOTALS' columns, in order). In an average, counts and
/// bytes are per second and times are per query (query_time), per transaction (xact_time) or
/// per server assignment (wait_time).
struct stats_counters {
  std::uint64_t server_assignment_count = 0, xact_count = 0, query_count = 0;
  std::uint64_t bytes_received = 0, bytes_sent = 0;
  std::uint64_t xact_time_us = 0, query_time_us = 0, wait_time_us = 0;
  std::uint64_t client_parse_count = 0, server_parse_count = 0, bind_count = 0;
  std::uint64_t client_login_count = 0;

  using field = std::uint64_t stats_counters::*;
  /// Every counter, in SHOW STATS_TOTALS' column order.
  static constexpr field fields[] = {
      &stats_counters::server_assignment_count,
      &stats_counters::xact_count,
      &stats_counters::query_count,
      &stats_counters::bytes_received,
      &stats_counters::bytes_sent,
      &stats_counters::xact_time_us,
      &stats_counters::query_time_us,
      &stats_counters::wait_time_us,
      &stats_counters::client_parse_count,
      &stats_counters::server_parse_count,
      &stats_counters::bind_count,
      &stats_counters::client_login_count,
  };

  /// Their names, as SHOW STATS_TOTALS' columns (times in microseconds).
  static constexpr const char* names[] = {
      "server_assignment_count", "xact_count", "query_count", "bytes_received",
      "bytes_sent",              "xact_time",  "query_time",  "wait_time",
      "client_parse_count",      "server_parse_count", "bind_count", "client_login_count"};
  static_assert(std::size(names) == std::size(fields));

  stats_counters& operator+=(const stats_counters& o) {
    for (field f : fields) this->*f += o.*f;
    return *this;
  }
  bool operator==(const stats_counters&) const = default;
};

/// The averages between two totals `elapsed_us` apart (`then` the older): rates per second,
/// truncated as pgbouncer truncates them, and mean times. A counter that went down (a pool
/// dropped meanwhile) counts as unchanged; elapsed_us <= 0 gives all zeros.
inline stats_counters stats_average(const stats_counters& now, const stats_counters& then,
                                    std::int64_t elapsed_us) {
  __extension__ using u128 = unsigned __int128;
  stats_counters avg;
  if (elapsed_us <= 0) return avg;
  stats_counters d;
  for (auto f : stats_counters::fields) d.*f = now.*f > then.*f ? now.*f - then.*f : 0;
  for (auto f : stats_counters::fields)  // per second; the product may not fit 64 bits
    avg.*f = std::uint64_t(u128(d.*f) * 1000000u / u128(elapsed_us));
  avg.query_time_us = d.query_count > 0 ? d.query_time_us / d.query_count : 0;
  avg.xact_time_us = d.xact_count > 0 ? d.xact_time_us / d.xact_count : 0;
  avg.wait_time_us =
      d.server_assignment_count > 0 ? d.wait_time_us / d.server_assignment_count : 0;
  return avg;
}

/// pgbouncer's log_stats line for these averages ("stats: 12 xacts/s, ...").
inline std::string stats_log_line(const stats_counters& a) {
  return fmt::format(
      "stats: {} xacts/s, {} queries/s, {} client parses/s, {} server parses/s, {} binds/s, "
      "{} client logins/s, in {} B/s, out {} B/s, xact {} us, query {} us, wait {} us",
      a.xact_count, a.query_count, a.client_parse_count, a.server_parse_count, a.bind_count,
      a.client_login_count, a.bytes_received, a.bytes_sent, a.xact_time_us, a.query_time_us,
      a.wait_time_us);
}

}  // namespace sluice
